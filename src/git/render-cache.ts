/**
 * The digests of each node's rendered files, kept under `.nexus/cache/` with
 * the digest of the render inputs they came from (src/render/inputs.ts): the
 * next plan renders only the nodes whose inputs changed. At 100 nodes the
 * render is most of a plan's time and memory.
 *
 * Entries are tied to the code that rendered them (a fingerprint of nexus's
 * own modules and templates), so an upgrade, or a rebuild during
 * development, starts over. Like the parse cache, it is an optimisation only:
 * anything unreadable is a miss, and a failed write changes nothing else.
 */
import {createHash} from 'node:crypto'
import {mkdir, readdir, readFile, rename, writeFile} from 'node:fs/promises'
import {join} from 'node:path'
import {fileURLToPath} from 'node:url'
import {deserialize, serialize} from 'node:v8'

import type {NodeRenderEntry, RenderCache} from '../plan/index.js'
import {ensurePrivateDir, PRIVATE_DIR} from '../state/private-dir.js'

export const RENDER_CACHE_FILE = join(PRIVATE_DIR, 'cache', 'render')

const FORMAT = 'nexus-render-cache/1'

interface Stored {
  readonly format: string
  readonly code: string
  readonly nodes: ReadonlyMap<string, NodeRenderEntry>
}

/** The cache as it was left by the last plan, or an empty one; undefined when the code cannot be fingerprinted. */
export async function openRenderCache(root: string): Promise<RenderCache | undefined> {
  // Without a fingerprint nothing could be told apart from another version's entries: plan without the cache.
  const code = await codeFingerprint().catch(() => undefined)
  if (code === undefined) return undefined
  const stored = await readFile(join(root, RENDER_CACHE_FILE)).then(decode, () => undefined)
  return {code, nodes: stored?.code === code ? stored.nodes : new Map()}
}

/** Keeps this plan's entries for the next one (written only when something changed). */
export async function saveRenderCache(
  root: string,
  cache: RenderCache | undefined,
  entries: ReadonlyMap<string, NodeRenderEntry> | undefined,
): Promise<void> {
  if (!cache || !entries || sameEntries(cache.nodes, entries)) return
  const path = join(root, RENDER_CACHE_FILE)
  const temporary = `${path}.${process.pid}`
  try {
    await ensurePrivateDir(join(root, PRIVATE_DIR))
    await mkdir(join(root, PRIVATE_DIR, 'cache'), {recursive: true, mode: 0o700})
    const stored: Stored = {format: FORMAT, code: cache.code, nodes: entries}
    await writeFile(temporary, serialize(stored), {mode: 0o600})
    await rename(temporary, path)
  } catch {
    // A read-only checkout, a full disk: the next plan renders everything, nothing else changes.
  }
}

function sameEntries(a: ReadonlyMap<string, NodeRenderEntry>, b: ReadonlyMap<string, NodeRenderEntry>): boolean {
  if (a.size !== b.size) return false
  for (const [node, entry] of b) if (a.get(node)?.inputs !== entry.inputs) return false
  return true
}

function decode(bytes: Buffer): Stored | undefined {
  try {
    const value = deserialize(bytes) as Stored
    return value?.format === FORMAT && typeof value.code === 'string' && value.nodes instanceof Map ? value : undefined
  } catch {
    return undefined
  }
}

let fingerprint: Promise<string> | undefined

/**
 * A sha256 over nexus's own code (this build's src or dist tree), its
 * templates and package.json. Computed once per process; a few hundred small
 * files.
 */
export function codeFingerprint(): Promise<string> {
  fingerprint ??= (async () => {
    const hash = createHash('sha256')
    const code = fileURLToPath(new URL('..', import.meta.url))
    const packageRoot = fileURLToPath(new URL('../..', import.meta.url))
    for (const dir of [code, join(packageRoot, 'templates')]) {
      const entries = await readdir(dir, {recursive: true, withFileTypes: true}).catch(() => [])
      const files = entries
        .filter((entry) => entry.isFile() && !entry.name.endsWith('.map') && !entry.name.endsWith('.d.ts'))
        .map((entry) => join(entry.parentPath ?? entry.path, entry.name))
        .sort()
      for (const file of files)
        hash
          .update(file.slice(packageRoot.length))
          .update('\0')
          .update(await readFile(file))
    }
    hash.update(await readFile(join(packageRoot, 'package.json')).catch(() => Buffer.alloc(0)))
    return hash.digest('hex')
  })()
  return fingerprint
}
