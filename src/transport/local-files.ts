/** Local files written whole or not at all: a temp file beside the target, then a rename. */
import {randomBytes} from 'node:crypto'
import {rename, rm, writeFile} from 'node:fs/promises'

import {NexusError} from '../errors.js'

/** Writes `content` to `path` atomically; private (0600) unless told otherwise. */
export async function writeFileAtomic(path: string, content: string, mode = 0o600): Promise<void> {
  const temporary = `${path}.${randomBytes(4).toString('hex')}.tmp`
  try {
    await writeFile(temporary, content, {mode, flag: 'wx'})
    await rename(temporary, path)
  } catch (error) {
    await rm(temporary, {force: true})
    throw new NexusError('write_failed', `cannot write ${path}: ${(error as Error).message}`)
  }
}
