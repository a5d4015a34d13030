/**
 * Opening the state: Postgres when a database URL is given, else the
 * embedded PGlite under `<repo>/.nexus/state`. Read mode (validate, render)
 * never creates or migrates anything and finds no state where there is none;
 * write mode (plan, apply, state restore) creates and migrates on first use.
 */
import {randomUUID} from 'node:crypto'
import {access} from 'node:fs/promises'
import {join} from 'node:path'

import {NexusError} from '../errors.js'
import type {SqlDriver} from './driver.js'
import {migrate, MIGRATIONS} from './migrations.js'
import {openPgDriver} from './pg-driver.js'
import {openPgliteDriver} from './pglite-driver.js'
import {PRIVATE_DIR} from './private-dir.js'
import {loadSecretKey} from './secret-key.js'
import {StateStore} from './store.js'

export type StateLocation =
  | {readonly kind: 'pg'; readonly url: string; readonly schema: string; readonly keyFile: string}
  | {readonly kind: 'pglite'; readonly dataDir: string; readonly keyFile: string}

export const DEFAULT_SCHEMA = 'nexus'

export function stateLocation(repoRoot: string, options: {databaseUrl?: string; schema?: string}): StateLocation {
  const keyFile = join(repoRoot, PRIVATE_DIR, 'secret.key')
  if (options.databaseUrl)
    return {kind: 'pg', url: options.databaseUrl, schema: options.schema ?? DEFAULT_SCHEMA, keyFile}
  return {kind: 'pglite', dataDir: join(repoRoot, PRIVATE_DIR, 'state'), keyFile}
}

export interface OpenOptions {
  readonly mode: 'read' | 'write'
  readonly env: NodeJS.ProcessEnv
  /** One-line notices for stderr (e.g. a key file was created). */
  readonly notice?: (text: string) => void
}

export async function openState(location: StateLocation, options: OpenOptions): Promise<StateStore | undefined> {
  if (location.kind === 'pglite' && options.mode === 'read' && !(await exists(location.dataDir))) return undefined
  const driver =
    location.kind === 'pg'
      ? await openPgDriver(location.url, location.schema, {createSchema: options.mode === 'write'})
      : await openPgliteDriver(location.dataDir, {schema: DEFAULT_SCHEMA})
  try {
    if (options.mode === 'read') {
      if (!(await hasSchema(driver))) {
        await driver.close()
        return undefined
      }
      await refuseNewerSchema(driver)
    } else {
      await migrate(driver, randomUUID)
    }
    const key = await loadSecretKey({
      env: options.env,
      keyFile: location.keyFile,
      create: options.mode === 'write' && location.kind === 'pglite',
    })
    if (key?.created) {
      options.notice?.(
        `nexus: created ${key.created} (mode 0600); it decrypts the state's secrets, so back it up and keep it out of git`,
      )
    }
    if (!key && options.mode === 'write') {
      throw new NexusError(
        'missing_secret_key',
        'a Postgres state needs NEXUS_SECRET_KEY to encrypt its secrets',
        'set NEXUS_SECRET_KEY to 32 random bytes in base64 (openssl rand -base64 32), the same for everyone sharing the state',
      )
    }
    const store = new StateStore(driver, key?.box)
    await store.verifyKey()
    return store
  } catch (error) {
    await driver.close().catch(() => {})
    throw error
  }
}

async function hasSchema(driver: SqlDriver): Promise<boolean> {
  const rows = await driver.query<{present: boolean}>(
    `select exists (select 1 from information_schema.tables
      where table_schema = current_schema() and table_name = 'state_meta') as present`,
  )
  return rows[0]?.present === true
}

async function refuseNewerSchema(driver: SqlDriver): Promise<void> {
  const [row] = await driver.query<{v: number | null}>('select max(version) as v from schema_migrations')
  const known = MIGRATIONS.at(-1)?.version ?? 0
  if (Number(row?.v ?? 0) > known) {
    throw new NexusError(
      'state_too_new',
      `the state database is at schema version ${row?.v}, but this nexus knows only up to ${known}`,
      'upgrade nexus',
    )
  }
}

async function exists(path: string): Promise<boolean> {
  return access(path).then(
    () => true,
    () => false,
  )
}
