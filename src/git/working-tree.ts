/**
 * Reads the declaration files (`*.yaml`, `*.yml`, any case) of a repo's
 * working tree. Hidden entries (.git, .nexus, .github, …) and node_modules
 * are skipped. A symlink to a file is read under the link's own path (its
 * target may live anywhere); symlinked directories are not followed, so a
 * link loop cannot hang a run; dangling links are skipped.
 */
import {open, readdir, stat} from 'node:fs/promises'
import {join, relative, sep} from 'node:path'

import {NexusError} from '../errors.js'
import type {SourceFile} from '../inventory/load.js'
import {MAX_FILE_BYTES} from '../inventory/parse-yaml.js'

const SKIPPED_DIRECTORIES = new Set(['node_modules'])
const DECLARATION_FILE = /\.ya?ml$/i

export async function readDeclarationFiles(root: string): Promise<SourceFile[]> {
  const rootStat = await stat(root).catch(() => undefined)
  if (!rootStat?.isDirectory()) {
    throw new NexusError(
      'repo_not_found',
      `${root} is not a directory`,
      'pass --repo DIR, or run nexus init DIR to create one',
    )
  }
  const paths: string[] = []
  await walk(root, paths)
  paths.sort()
  return Promise.all(paths.map((path) => readCapped(root, path)))
}

async function walk(directory: string, into: string[]): Promise<void> {
  const entries = await readdir(directory, {withFileTypes: true})
  await Promise.all(
    entries.map(async (entry) => {
      if (entry.name.startsWith('.')) return
      const path = join(directory, entry.name)
      if (entry.isDirectory()) {
        if (!SKIPPED_DIRECTORIES.has(entry.name)) await walk(path, into)
      } else if ((entry.isFile() || entry.isSymbolicLink()) && DECLARATION_FILE.test(entry.name)) {
        const target = entry.isSymbolicLink() ? await stat(path).catch(() => undefined) : undefined
        if (entry.isFile() || target?.isFile()) into.push(path)
      }
    }),
  )
}

/** Reads at most one byte more than the cap, so an oversized file is reported without loading it. */
async function readCapped(root: string, path: string): Promise<SourceFile> {
  const handle = await open(path, 'r')
  try {
    const {size} = await handle.stat()
    const length = Math.min(size, MAX_FILE_BYTES + 1)
    const bytes = new Uint8Array(length)
    await handle.read(bytes, 0, length, 0)
    return {path: relative(root, path).split(sep).join('/'), bytes, size}
  } finally {
    await handle.close()
  }
}
