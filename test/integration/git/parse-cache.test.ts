/** The parse cache under .nexus/cache/parse: exact hits, misses for changed files, positions on hits. */
import {readdirSync, readFileSync, writeFileSync} from 'node:fs'
import {join} from 'node:path'

import {afterAll, describe, expect, it} from 'vitest'

import {loadRepo} from '../../../src/app/load-repo.js'
import {PARSE_CACHE_DIR, ParseCache} from '../../../src/git/parse-cache.js'
import {readDeclarationFiles} from '../../../src/git/working-tree.js'
import {loadInventory} from '../../../src/inventory/load.js'
import {exampleCopy} from '../../helpers/cli.js'
import {tempDir} from '../../helpers/tools.js'

const tmp = tempDir('nexus-parse-cache-')
afterAll(() => tmp.cleanup())

let count = 0
const copy = () => exampleCopy('quickstart', join(tmp.path, `repo-${++count}`))

async function cachedLoad(root: string) {
  const files = await readDeclarationFiles(root)
  const cache = await ParseCache.open(root, files)
  const inventory = loadInventory(files, {parse: cache.parse})
  await cache.save()
  return {inventory, hits: cache.hitCount, files: files.length}
}

const entries = (root: string) => readdirSync(join(root, PARSE_CACHE_DIR)).sort()

describe('parse cache', () => {
  it('answers a second load from the cache, with the same model as a load without it', async () => {
    const root = copy()
    const first = await cachedLoad(root)
    expect(first.hits).toBe(0)
    expect(entries(root)).toHaveLength(first.files)
    const second = await cachedLoad(root)
    expect(second.hits).toBe(second.files)
    const uncached = await loadRepo(root, {cache: false})
    expect(second.inventory.desired).toEqual(uncached.desired)
    expect(second.inventory.diagnostics).toEqual(uncached.diagnostics)
  })

  it('parses a changed file again and drops its old entry', async () => {
    const root = copy()
    await cachedLoad(root)
    const before = entries(root)
    const path = join(root, 'users/bob.yaml')
    writeFileSync(path, readFileSync(path, 'utf8').replace('tariff: basic', 'tariff: pro'))
    const run = await cachedLoad(root)
    expect(run.hits).toBe(run.files - 1)
    expect(run.inventory.desired?.users.find((u) => u.name === 'bob')?.tariff).toBe('pro')
    const after = entries(root)
    expect(after).toHaveLength(before.length)
    expect(after.filter((e) => !before.includes(e))).toHaveLength(1)
  })

  it('reports problems at the same file:line:col from a hit as from a fresh parse', async () => {
    const root = copy()
    const path = join(root, 'peers/bob-laptop.yaml')
    writeFileSync(path, readFileSync(path, 'utf8').replace('tunnel: split', 'tunnel: splitt\nmtu: 0123'))
    const fresh = await cachedLoad(root)
    const hit = await cachedLoad(root)
    expect(hit.hits).toBe(hit.files)
    expect(fresh.inventory.diagnostics.length).toBeGreaterThan(0)
    expect(hit.inventory.diagnostics).toEqual(fresh.inventory.diagnostics)
    expect(hit.inventory.diagnostics.map((d) => `${d.file}:${d.line}`)).toContain('peers/bob-laptop.yaml:8')
  })

  it('treats a damaged entry as a miss', async () => {
    const root = copy()
    await cachedLoad(root)
    for (const entry of entries(root)) writeFileSync(join(root, PARSE_CACHE_DIR, entry), 'not a cache entry')
    const run = await cachedLoad(root)
    expect(run.hits).toBe(0)
    expect(run.inventory.desired).toBeDefined()
  })
})
