/**
 * Where the state key comes from: NEXUS_SECRET_KEY, else `.nexus/secret.key`
 * in the repo. With the embedded database and neither present, a key file is
 * created (mode 0600). A Postgres state is shared, so its key must be given.
 */
import {readFile, writeFile} from 'node:fs/promises'
import {dirname} from 'node:path'

import {NexusError} from '../errors.js'
import {ensurePrivateDir} from './private-dir.js'
import {SecretBox} from './secret-box.js'

export interface SecretKey {
  readonly box: SecretBox
  readonly source: 'environment' | 'key file'
  /** Set when this run created the key file. */
  readonly created?: string
}

export async function loadSecretKey(options: {
  env: NodeJS.ProcessEnv
  keyFile: string
  /** Create the key file when there is no key (embedded database only). */
  create: boolean
}): Promise<SecretKey | undefined> {
  const fromEnv = options.env.NEXUS_SECRET_KEY
  if (fromEnv !== undefined && fromEnv !== '') return {box: SecretBox.fromText(fromEnv), source: 'environment'}
  const text = await readFile(options.keyFile, 'utf8').catch((error: NodeJS.ErrnoException) => {
    if (error.code === 'ENOENT') return undefined
    throw new NexusError('secret_key_unreadable', `cannot read ${options.keyFile}: ${error.message}`)
  })
  if (text !== undefined) return {box: SecretBox.fromText(text), source: 'key file'}
  if (!options.create) return undefined
  const key = SecretBox.generateKeyText()
  await ensurePrivateDir(dirname(options.keyFile))
  await writeFile(options.keyFile, `${key}\n`, {mode: 0o600, flag: 'wx'})
  return {box: SecretBox.fromText(key), source: 'key file', created: options.keyFile}
}
