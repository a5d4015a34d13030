/**
 * Parsed declaration files kept under `.nexus/cache/parse/`, one entry per
 * file content: a run parses only the files that changed since an earlier
 * run. Parsing YAML is most of the cost of loading a large repo.
 *
 * An entry is named by the sha256 of the parse format, the file's path and
 * its bytes, so a hit is exact by construction; entries are written
 * atomically and anything unreadable is treated as a miss. The cache is an
 * optimisation only: when it cannot be read or written, nexus parses.
 */
import {createHash} from 'node:crypto'
import {mkdir, readdir, readFile, rename, rm, writeFile} from 'node:fs/promises'
import {join} from 'node:path'
import {deserialize, serialize} from 'node:v8'

import type {SourceFile} from '../inventory/load.js'
import {
  PARSE_FORMAT,
  type ParsedFile,
  type ParseSummary,
  parseYamlFile,
  restoreParse,
  summarizeParse,
} from '../inventory/parse-yaml.js'
import {ensurePrivateDir, PRIVATE_DIR} from '../state/private-dir.js'

export const PARSE_CACHE_DIR = join(PRIVATE_DIR, 'cache', 'parse')

export class ParseCache {
  private readonly fresh = new Map<string, ParseSummary>()

  private constructor(
    private readonly root: string,
    private readonly dir: string | undefined,
    private readonly keys: ReadonlyMap<SourceFile, string>,
    private readonly hits: ReadonlyMap<string, ParseSummary>,
  ) {}

  /** Looks up every file; `enabled: false` parses everything and keeps nothing. */
  static async open(root: string, files: readonly SourceFile[], enabled = true): Promise<ParseCache> {
    if (!enabled) return new ParseCache(root, undefined, new Map(), new Map())
    const dir = join(root, PARSE_CACHE_DIR)
    const keys = new Map(files.map((file) => [file, entryKey(file)]))
    const hits = new Map<string, ParseSummary>()
    await Promise.all(
      [...keys.values()].map(async (key) => {
        const summary = await readFile(join(dir, key)).then(decode, () => undefined)
        if (summary) hits.set(key, summary)
      }),
    )
    return new ParseCache(root, dir, keys, hits)
  }

  get hitCount(): number {
    return this.hits.size
  }

  readonly parse = (file: SourceFile): ParsedFile => {
    const key = this.keys.get(file)
    const hit = key === undefined ? undefined : this.hits.get(key)
    if (hit) return restoreParse(file.path, file.bytes, hit)
    const parsed = parseYamlFile(file.path, file.bytes, file.size)
    if (key !== undefined) this.fresh.set(key, summarizeParse(parsed))
    return parsed
  }

  /** Writes the new entries and drops those no file of this run uses (older versions of the files). */
  async save(): Promise<void> {
    if (!this.dir || this.fresh.size === 0) return
    const dir = this.dir
    try {
      await ensurePrivateDir(join(this.root, PRIVATE_DIR))
      await mkdir(dir, {recursive: true, mode: 0o700})
      await Promise.all(
        [...this.fresh].map(async ([key, summary]) => {
          const temporary = join(dir, `.${key}.${process.pid}`)
          await writeFile(temporary, serialize(summary), {mode: 0o600})
          await rename(temporary, join(dir, key))
        }),
      )
      const used = new Set(this.keys.values())
      const stale = (await readdir(dir)).filter((name) => !used.has(name) && !name.startsWith('.'))
      await Promise.all(stale.map((name) => rm(join(dir, name), {force: true})))
    } catch {
      // A read-only checkout, a full disk: the next run parses again, nothing else changes.
    }
  }
}

function entryKey(file: SourceFile): string {
  return createHash('sha256')
    .update(`${PARSE_FORMAT}\0${file.path}\0${file.size ?? file.bytes.byteLength}\0`)
    .update(file.bytes)
    .digest('hex')
}

function decode(bytes: Buffer): ParseSummary | undefined {
  try {
    const value = deserialize(bytes) as ParseSummary
    return Array.isArray(value?.documents) && Array.isArray(value?.diagnostics) ? value : undefined
  } catch {
    return undefined
  }
}
