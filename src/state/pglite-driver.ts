/**
 * State in an embedded PGlite database under `.nexus/state`, so a laptop
 * needs no server. PGlite is single-process: a lock file next to the data
 * directory keeps a second nexus process out while one is running, and a
 * lock left by a process that died is taken over.
 */
import {open, readFile, rm, stat} from 'node:fs/promises'
import {dirname} from 'node:path'

import {PGlite} from '@electric-sql/pglite'

import {NexusError} from '../errors.js'
import {SCHEMA_PATTERN, type SqlDriver, type SqlExecutor} from './driver.js'
import {ensurePrivateDir} from './private-dir.js'

/**
 * Postgres's default 128 MB of shared buffers are allocated in PGlite's
 * WebAssembly memory on every start; a state is a few MB, so 16 MB holds it
 * and every nexus command that opens it uses ~110 MB less memory.
 */
const SMALL_BUFFERS = ['-c', 'shared_buffers=16MB']

export interface PgliteOptions {
  readonly schema: string
  /** How long to wait for another nexus process to release the database. */
  readonly lockTimeoutMs?: number
}

export async function openPgliteDriver(dataDir: string, options: PgliteOptions): Promise<SqlDriver> {
  if (!SCHEMA_PATTERN.test(options.schema))
    throw new NexusError('invalid_schema', `schema name ${options.schema} is not valid`)
  await ensurePrivateDir(dirname(dataDir))
  const release = await acquireLock(`${dataDir}.lock`, options.lockTimeoutMs ?? 30_000)
  let db: PGlite
  try {
    db = await PGlite.create(dataDir, {startParams: [...PGlite.defaultStartParams, ...SMALL_BUFFERS]})
    await db.exec(`create schema if not exists ${options.schema}; set search_path to ${options.schema};`)
  } catch (error) {
    await release()
    throw new NexusError(
      'state_unreadable',
      `cannot open the embedded state database in ${dataDir}: ${(error as Error).message}`,
      'restore it from a backup (nexus state restore), or move the directory away to start empty',
    )
  }
  const query = async <T extends object>(sql: string, params?: readonly unknown[]): Promise<T[]> =>
    (await db.query<T>(sql, params as unknown[] | undefined)).rows
  return {
    kind: 'pglite',
    location: dataDir,
    query,
    async exec(sql) {
      await db.exec(sql)
    },
    transaction<T>(fn: (tx: SqlExecutor) => Promise<T>): Promise<T> {
      return db.transaction(async (tx) =>
        fn({query: async (sql, params) => (await tx.query(sql, params as unknown[])).rows as never}),
      )
    },
    async close() {
      try {
        await db.close()
      } finally {
        await release()
      }
    },
  }
}

async function acquireLock(path: string, timeoutMs: number): Promise<() => Promise<void>> {
  const deadline = Date.now() + timeoutMs
  let tookOver = false
  for (;;) {
    if (await createLockFile(path)) {
      // After removing a dead holder's lock, a second process may have done the same in the
      // same instant; only the one whose pid is in the file after a pause goes on.
      if (!tookOver || (await confirmLock(path))) return () => rm(path, {force: true})
    }
    const holder = Number.parseInt(await readFile(path, 'utf8').catch(() => ''), 10)
    const known = Number.isInteger(holder) && holder > 0
    // An empty lock older than a few seconds belongs to a process that died before writing its pid.
    const abandoned = !known && Date.now() - ((await stat(path).catch(() => undefined))?.mtimeMs ?? Date.now()) > 5000
    if ((known && !processAlive(holder)) || abandoned) {
      await rm(path, {force: true})
      tookOver = true
      continue
    }
    if (Date.now() > deadline) {
      throw new NexusError(
        'state_busy',
        `the embedded state database is in use by another nexus process${known ? ` (pid ${holder})` : ''}`,
        'wait for it to finish, or stop it; PGlite serves one process at a time',
      )
    }
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
}

async function createLockFile(path: string): Promise<boolean> {
  try {
    const handle = await open(path, 'wx', 0o600)
    await handle.writeFile(`${process.pid}\n`)
    await handle.close()
    return true
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EEXIST') return false
    throw error
  }
}

async function confirmLock(path: string): Promise<boolean> {
  await new Promise((resolve) => setTimeout(resolve, 50))
  return (await readFile(path, 'utf8').catch(() => '')).trim() === String(process.pid)
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM'
  }
}
