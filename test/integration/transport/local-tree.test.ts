/** writeRenderTree on a real filesystem: many files at once, all or nothing. */
import {readdirSync, readFileSync, statSync} from 'node:fs'
import {join} from 'node:path'

import {afterAll, describe, expect, it} from 'vitest'

import type {RenderedFile} from '../../../src/render/types.js'
import {writeRenderTree} from '../../../src/transport/local-tree.js'
import {tempDir} from '../../helpers/tools.js'

const tmp = tempDir('nexus-local-tree-')
afterAll(() => tmp.cleanup())

const file = (path: string, content: string, mode = 0o600): RenderedFile => ({
  path,
  kind: 'client',
  node: 'fra-1',
  content,
  mode,
})

function* many(count: number): Generator<RenderedFile> {
  for (let i = 0; i < count; i++) {
    yield file(`clients/d${i % 7}/peer-${i}.conf`, `peer ${i}\n`, i % 2 === 0 ? 0o600 : 0o644)
  }
}

describe('writeRenderTree', () => {
  it('writes every file of a long stream with its content and mode', async () => {
    const out = join(tmp.path, 'many')
    await writeRenderTree(out, many(500))
    for (let i = 0; i < 500; i += 37) {
      const path = join(out, `clients/d${i % 7}/peer-${i}.conf`)
      expect(readFileSync(path, 'utf8')).toBe(`peer ${i}\n`)
      expect(statSync(path).mode & 0o777).toBe(i % 2 === 0 ? 0o600 : 0o644)
    }
    const written = readdirSync(out, {recursive: true}).filter((p) => String(p).endsWith('.conf'))
    expect(written).toHaveLength(500)
  })

  it('leaves neither the target nor a staging directory when a write fails midway', async () => {
    const dir = join(tmp.path, 'failing')
    const out = join(dir, 'render')
    function* broken(): Generator<RenderedFile> {
      yield* many(100)
      yield file('nodes/fra-1', 'a file where a directory is needed\n')
      yield file('nodes/fra-1/nftables/nexus.nft', 'table inet nexus {}\n')
      yield* many(100)
    }
    await expect(writeRenderTree(out, broken())).rejects.toThrow()
    expect(readdirSync(dir)).toEqual([])
  })

  it('keeps the earlier render when the new one fails', async () => {
    const out = join(tmp.path, 'kept')
    await writeRenderTree(out, [file('clients/a.conf', 'first\n')])
    await expect(writeRenderTree(out, [file('x', 'file\n'), file('x/y', 'under a file\n')])).rejects.toThrow()
    expect(readFileSync(join(out, 'clients/a.conf'), 'utf8')).toBe('first\n')
    expect(readdirSync(tmp.path).filter((name) => name.startsWith('.kept'))).toEqual([])
  })
})
