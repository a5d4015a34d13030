/**
 * State on a Postgres server. One connection: a CLI run is short and
 * sequential, and a single session keeps advisory locks and the search_path
 * simple. Every object lives in one schema (default `nexus`).
 */
import pg from 'pg'

import {NexusError} from '../errors.js'
import {SCHEMA_PATTERN, type SqlDriver, type SqlExecutor} from './driver.js'

export interface PgOptions {
  /**
   * Create the schema when it is missing (default true). Read mode passes
   * false: a read never runs DDL, and a missing schema then reads as no state
   * (the search_path names it, `current_schema()` is null, no table is found).
   */
  readonly createSchema?: boolean
}

export async function openPgDriver(url: string, schema: string, options: PgOptions = {}): Promise<SqlDriver> {
  if (!SCHEMA_PATTERN.test(schema))
    throw new NexusError('invalid_schema', `schema name ${JSON.stringify(schema)} is not valid`)
  const client = new pg.Client({connectionString: url, application_name: 'nexus', connectionTimeoutMillis: 10_000})
  const location = redact(url)
  try {
    await client.connect()
  } catch (error) {
    await client.end().catch(() => {})
    throw new NexusError(
      'database_unreachable',
      `cannot connect to the state database at ${location}: ${(error as Error).message}`,
      'check NEXUS_DATABASE_URL / --database-url, or unset it to use the embedded database in .nexus/',
    )
  }
  // A lost connection is reported by the query that needs it; an unhandled 'error' event would crash the process.
  client.on('error', () => {})
  try {
    if (options.createSchema ?? true) await createSchema(client, schema)
    await client.query(`set search_path to ${schema}`)
  } catch (error) {
    await client.end().catch(() => {})
    throw error
  }

  // One session, so a statement issued while a transaction is open would run inside it (and be
  // rolled back with it): statements outside a transaction wait for it to end, as PGlite's do.
  const exclusive = serializer()
  const rawQuery = async <T extends object>(sql: string, params?: readonly unknown[]): Promise<T[]> =>
    (await client.query(sql, params as unknown[] | undefined)).rows as T[]
  const executor: SqlExecutor = {query: rawQuery}
  return {
    kind: 'pg',
    location,
    query: (sql, params) => exclusive(() => rawQuery(sql, params)),
    exec: (sql) => exclusive(async () => void (await client.query(sql))),
    transaction: (fn) =>
      exclusive(async () => {
        await client.query('begin')
        try {
          const result = await fn(executor)
          await client.query('commit')
          return result
        } catch (error) {
          await client.query('rollback').catch(() => {})
          throw error
        }
      }),
    async close() {
      await client.end()
    },
  }
}

/** Runs tasks one at a time, in the order they were asked for. */
function serializer(): <T>(task: () => Promise<T>) => Promise<T> {
  let tail: Promise<unknown> = Promise.resolve()
  return <T>(task: () => Promise<T>): Promise<T> => {
    const run = tail.then(task, task)
    tail = run.catch(() => {})
    return run
  }
}

/** `create schema if not exists` is not safe against a concurrent twin: the loser sees a duplicate. */
async function createSchema(client: pg.Client, schema: string): Promise<void> {
  try {
    await client.query(`create schema if not exists ${schema}`)
  } catch (error) {
    const code = (error as {code?: string}).code
    if (code !== '23505' && code !== '42P06') throw error
  }
}

/**
 * `postgres://user:secret@host/db?password=secret` -> `postgres://user@host/db`: passwords, in the
 * userinfo or as a query parameter (`password`, `sslpassword`, any casing), never reach messages.
 */
export function redact(url: string): string {
  try {
    const parsed = new URL(url)
    parsed.password = ''
    for (const name of [...new Set(parsed.searchParams.keys())]) {
      if (/pass/i.test(name)) parsed.searchParams.delete(name)
    }
    return parsed.toString()
  } catch {
    return '(unparsable database URL)'
  }
}
