import {readFileSync} from 'node:fs'
import {dirname, join} from 'node:path'
import {fileURLToPath} from 'node:url'

import {describe, expect, it} from 'vitest'

import {missingNftables} from '../../../src/apply/node-apply.js'

const rendered = readFileSync(
  join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'golden', 'nftables', 'fra-1.nft'),
  'utf8',
)

describe('missingNftables', () => {
  it('finds nothing missing when the listing holds the rendered table', () => {
    expect(missingNftables(rendered, rendered)).toEqual([])
  })

  it('names a missing chain and a missing rule by its comment', () => {
    const listing = rendered
      .replace('\tchain nx_antispoof {', '\tchain renamed {')
      .replace(/^.*comment "block-smtp"\n/m, '')
    expect(missingNftables(rendered, listing)).toEqual([
      'table inet nexus: chain nx_antispoof not loaded',
      'table inet nexus: rule comment "block-smtp" not loaded',
    ])
  })

  it('reports a stale table that has only some of the rules, counting the rest', () => {
    const stale = 'table inet nexus {\n\tchain nx_input {\n\t}\n}\n'
    const [structure, rules] = missingNftables(rendered, stale)
    expect(structure).toMatch(/^table inet nexus: set g_admins_v4, .* and \d+ more not loaded$/)
    expect(rules).toMatch(/^table inet nexus: rule comment "nexus ssh management", .* and \d+ more not loaded$/)
  })
})
