/** The render cache file under .nexus/cache/: kept between runs, private, and a miss whenever in doubt. */
import {mkdirSync, statSync, writeFileSync} from 'node:fs'
import {join} from 'node:path'

import {afterAll, describe, expect, it} from 'vitest'

import {codeFingerprint, openRenderCache, RENDER_CACHE_FILE, saveRenderCache} from '../../../src/git/render-cache.js'
import type {NodeRenderEntry} from '../../../src/plan/index.js'
import {tempDir} from '../../helpers/tools.js'

const tmp = tempDir('nexus-render-cache-')
afterAll(() => tmp.cleanup())

let count = 0
const root = () => {
  const dir = join(tmp.path, `repo-${++count}`)
  mkdirSync(dir)
  return dir
}

const entries: ReadonlyMap<string, NodeRenderEntry> = new Map([
  [
    'fra-1',
    {
      inputs: 'a'.repeat(64),
      files: [
        {
          path: 'nodes/fra-1/nftables/nexus.nft',
          kind: 'nftables',
          mode: 0o644,
          target: {artifact: 'nftables', path: '/etc/nftables.d/nexus.nft'},
          hashes: {'file:/etc/nftables.d/nexus.nft': 'b'.repeat(64)},
        },
      ],
    },
  ],
])

describe('render cache file', () => {
  it('starts empty, and gives back what the last plan kept, in a private file', async () => {
    const dir = root()
    const cold = await openRenderCache(dir)
    expect(cold?.nodes.size).toBe(0)
    expect(cold?.code).toBe(await codeFingerprint())
    await saveRenderCache(dir, cold, entries)
    expect(statSync(join(dir, RENDER_CACHE_FILE)).mode & 0o777).toBe(0o600)
    expect(statSync(join(dir, '.nexus')).mode & 0o777).toBe(0o700)
    const warm = await openRenderCache(dir)
    expect(warm?.nodes).toEqual(entries)
  })

  it('does not rewrite the file when nothing changed', async () => {
    const dir = root()
    await saveRenderCache(dir, await openRenderCache(dir), entries)
    const written = statSync(join(dir, RENDER_CACHE_FILE)).mtimeMs
    await new Promise((resolve) => setTimeout(resolve, 20))
    await saveRenderCache(dir, await openRenderCache(dir), entries)
    expect(statSync(join(dir, RENDER_CACHE_FILE)).mtimeMs).toBe(written)
  })

  it('forgets entries kept by other rendering code', async () => {
    const dir = root()
    const code = await codeFingerprint()
    await saveRenderCache(dir, {code: 'another version of nexus', nodes: new Map()}, entries)
    const opened = await openRenderCache(dir)
    expect(opened).toEqual({code, nodes: new Map()})
  })

  it('treats an unreadable file as empty', async () => {
    const dir = root()
    mkdirSync(join(dir, '.nexus', 'cache'), {recursive: true})
    writeFileSync(join(dir, RENDER_CACHE_FILE), 'not a cache')
    expect((await openRenderCache(dir))?.nodes.size).toBe(0)
  })
})
