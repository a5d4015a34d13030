/**
 * Writes a render tree to a local directory, all or nothing: the tree is
 * built next to the target and swapped in with renames, so a failed or
 * interrupted render never leaves half a tree. A directory that nexus did
 * not create is never overwritten.
 */
import {randomBytes} from 'node:crypto'
import {mkdir, readdir, rename, rm, stat, writeFile} from 'node:fs/promises'
import {basename, dirname, join, resolve} from 'node:path'

import {NexusError} from '../errors.js'
import type {RenderedFile} from '../render/types.js'

const MARKER = '.nexus-render'

export async function writeRenderTree(outDir: string, files: Iterable<RenderedFile>): Promise<void> {
  const target = resolve(outDir)
  const existing = await readdir(target).catch((error: NodeJS.ErrnoException) => {
    if (error.code === 'ENOENT') return undefined
    if (error.code === 'ENOTDIR')
      throw new NexusError('out_not_directory', `${outDir} is a file`, 'pass a directory to --out')
    throw error
  })
  if (existing && existing.length > 0 && !existing.includes(MARKER)) {
    throw new NexusError(
      'out_not_empty',
      `${outDir} is not empty and was not written by nexus render`,
      'pass an empty or new directory to --out',
    )
  }
  await mkdir(dirname(target), {recursive: true})
  const suffix = randomBytes(4).toString('hex')
  const staging = join(dirname(target), `.${basename(target)}.new-${suffix}`)
  const previous = join(dirname(target), `.${basename(target)}.old-${suffix}`)
  try {
    await mkdir(staging, {recursive: true})
    await writeFile(
      join(staging, MARKER),
      'written by nexus render; the whole directory is replaced on the next render\n',
    )
    await writeAll(staging, files)
    if (existing) await rename(target, previous)
    await rename(staging, target)
    if (existing) await rm(previous, {recursive: true, force: true})
  } catch (error) {
    await rm(staging, {recursive: true, force: true})
    if (existing && !(await stat(target).catch(() => undefined))) await rename(previous, target).catch(() => {})
    throw error
  }
}

/** Files written at once: one at a time, 50k small files spend most of their time waiting on the disk. */
const IN_FLIGHT = 32

/** Writes every file under `dir`, a bounded number at a time, and fails with the first error once all have settled. */
async function writeAll(dir: string, files: Iterable<RenderedFile>): Promise<void> {
  // One mkdir per directory, which every file in it waits for.
  const directories = new Map<string, Promise<unknown>>()
  const pending = new Set<Promise<void>>()
  let failure: {error: unknown} | undefined
  const write = async (file: RenderedFile) => {
    const path = join(dir, file.path)
    const parent = dirname(path)
    let made = directories.get(parent)
    if (!made) {
      made = mkdir(parent, {recursive: true})
      directories.set(parent, made)
    }
    await made
    await writeFile(path, file.content, {mode: file.mode})
  }
  for (const file of files) {
    if (failure) break
    const task: Promise<void> = write(file)
      .catch((error: unknown) => {
        failure ??= {error}
      })
      .finally(() => pending.delete(task))
    pending.add(task)
    if (pending.size >= IN_FLIGHT) await Promise.race(pending)
  }
  await Promise.all(pending)
  if (failure) throw failure.error
}
