import {readdirSync, readFileSync} from 'node:fs'
import {join, relative} from 'node:path'
import {fileURLToPath} from 'node:url'

import {describe, expect, it} from 'vitest'

import {loadInventory, type SourceFile} from '../../../src/inventory/load.js'

const ROOT = fileURLToPath(new URL('../../../examples/quickstart', import.meta.url))

function readRepo(root: string): SourceFile[] {
  const files: SourceFile[] = []
  const walk = (dir: string): void => {
    for (const entry of readdirSync(dir, {withFileTypes: true})) {
      const path = join(dir, entry.name)
      if (entry.isDirectory()) walk(path)
      else if (/\.ya?ml$/.test(entry.name)) {
        files.push({path: relative(root, path).split('\\').join('/'), bytes: new Uint8Array(readFileSync(path))})
      }
    }
  }
  walk(root)
  return files.sort((a, b) => (a.path < b.path ? -1 : 1))
}

describe('examples/quickstart', () => {
  it('loads with zero diagnostics into a complete desired model', () => {
    const inventory = loadInventory(readRepo(ROOT))
    expect(inventory.diagnostics).toEqual([])
    expect(inventory.fileCount).toBe(15)
    expect(inventory.documentCount).toBe(15)
    const desired = inventory.desired
    expect(desired?.project.name).toBe('quickstart')
    expect(desired?.nodes.map((n) => n.name)).toEqual(['gw-1'])
    expect(desired?.users.map((u) => u.name)).toEqual(['alice', 'bob', 'carol'])
    expect(desired?.peers.map((p) => [p.name, p.node])).toEqual([
      ['alice-laptop', 'gw-1'],
      ['alice-phone', 'gw-1'],
      ['bob-laptop', 'gw-1'],
      ['carol-phone', 'gw-1'],
    ])
    expect(desired?.rules.map((r) => r.name)).toEqual(['no-smtp', 'limit-dns'])
    expect(desired?.tariffs.find((t) => t.name === 'basic')?.trafficLimit).toBe(100 * 2 ** 30)
  })
})
