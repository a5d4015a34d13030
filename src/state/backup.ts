/**
 * A portable dump of the whole state as JSON: the same on Postgres and
 * PGlite, so a laptop state can move to a server and back. Secrets stay
 * encrypted in it; restoring them needs the same state key.
 */
import {readFile} from 'node:fs/promises'

import {NexusError} from '../errors.js'
import {writeFileAtomic} from '../transport/local-files.js'
import type {SqlExecutor} from './driver.js'
import {isEmptyState, SCHEMA_VERSION, type StateStore} from './store.js'
import {STATE_TABLES as TABLES} from './tables.js'

export const DUMP_FORMAT = 'nexus-state-dump'

export interface StateDump {
  readonly format: typeof DUMP_FORMAT
  readonly version: 1
  readonly schemaVersion: number
  readonly exportedAt: string
  readonly lineage: string
  readonly serial: number
  readonly keyCheck: string | null
  readonly tables: Readonly<Record<string, readonly Record<string, unknown>[]>>
}

export async function dumpState(store: StateStore, now: Date): Promise<StateDump> {
  return store.driver.transaction(async (tx) => {
    const [meta] = await tx.query<{serial: string | number; lineage: string; key_check: string | null}>(
      'select serial, lineage, key_check from state_meta where id = 1',
    )
    const tables: Record<string, Record<string, unknown>[]> = {}
    for (const table of TABLES) {
      tables[table.name] = (await tx.query(`select * from ${table.name} order by ${table.orderBy}`)).map(jsonRow)
    }
    return {
      format: DUMP_FORMAT,
      version: 1,
      schemaVersion: await schemaVersion(tx),
      exportedAt: now.toISOString(),
      lineage: meta?.lineage ?? '',
      serial: Number(meta?.serial ?? 0),
      keyCheck: meta?.key_check ?? null,
      tables,
    }
  })
}

export interface RestoreResult {
  readonly rows: number
  readonly serial: number
}

export async function restoreState(
  store: StateStore,
  dump: StateDump,
  options: {force: boolean; keyCheck?: string},
): Promise<RestoreResult> {
  if (dump.schemaVersion > SCHEMA_VERSION) {
    throw new NexusError(
      'state_too_new',
      `the dump is at schema version ${dump.schemaVersion}; this nexus knows ${SCHEMA_VERSION}`,
      'upgrade nexus',
    )
  }
  const hasSecrets = (dump.tables.secrets?.length ?? 0) > 0 || (dump.tables.links?.length ?? 0) > 0
  if (hasSecrets && dump.keyCheck !== null && options.keyCheck !== undefined && dump.keyCheck !== options.keyCheck) {
    throw new NexusError(
      'wrong_secret_key',
      'the dump was encrypted with a different state key than the one in use',
      'set NEXUS_SECRET_KEY (or copy .nexus/secret.key) to the key of the state the dump came from',
    )
  }
  return store.driver.transaction(async (tx) => {
    // Lock the state row as writers do, so no write slips in between the emptiness check and the replace.
    await tx.query('select serial from state_meta where id = 1 for update')
    if (!options.force && !(await isEmptyState(tx))) {
      throw new NexusError(
        'state_not_empty',
        `the state at ${store.location} is not empty`,
        'pass --force to replace it with the dump',
      )
    }
    for (const table of [...TABLES].reverse()) await tx.query(`delete from ${table.name}`)
    let rows = 0
    for (const table of TABLES) {
      for (const row of dump.tables[table.name] ?? []) {
        const columns = Object.keys(row)
        if (!columns.every((column) => /^[a-z_]+$/.test(column))) {
          throw new NexusError('invalid_dump', `the dump has an invalid column name in ${table.name}`)
        }
        const values = columns.map((column) => {
          const value = row[column]
          return value !== null && typeof value === 'object' ? JSON.stringify(value) : value
        })
        await tx.query(
          `insert into ${table.name} (${columns.join(', ')}) values (${columns.map((_, i) => `$${i + 1}`).join(', ')})`,
          values,
        )
        rows++
      }
      if (table.sequence) {
        await tx.query(
          `select setval(pg_get_serial_sequence('${table.name}', '${table.sequence}'), coalesce((select max(${table.sequence}) from ${table.name}), 0) + 1, false)`,
        )
      }
    }
    // A restore is a write like any other: saved plans made before it are stale.
    const [meta] = await tx.query<{serial: string | number}>('select serial from state_meta where id = 1')
    const serial = Math.max(Number(meta?.serial ?? 0), dump.serial) + 1
    await tx.query('update state_meta set serial = $1, lineage = $2, key_check = $3 where id = 1', [
      serial,
      dump.lineage,
      dump.keyCheck,
    ])
    return {rows, serial}
  })
}

export async function writeDumpFile(path: string, dump: StateDump): Promise<void> {
  await writeFileAtomic(path, `${JSON.stringify(dump, null, 2)}\n`)
}

export async function readDumpFile(path: string): Promise<StateDump> {
  const text = await readFile(path, 'utf8').catch((error: NodeJS.ErrnoException) => {
    throw new NexusError('dump_unreadable', `cannot read ${path}: ${error.message}`)
  })
  let dump: unknown
  try {
    dump = JSON.parse(text)
  } catch {
    throw new NexusError('invalid_dump', `${path} is not JSON`, 'pass a file written by nexus state backup')
  }
  const candidate = dump as Partial<StateDump> | null
  if (candidate?.format !== DUMP_FORMAT || candidate.version !== 1 || typeof candidate.tables !== 'object') {
    throw new NexusError(
      'invalid_dump',
      `${path} is not a nexus state dump`,
      'pass a file written by nexus state backup',
    )
  }
  return candidate as StateDump
}

function jsonRow(row: object): Record<string, unknown> {
  const out: Record<string, unknown> = {}
  for (const [key, value] of Object.entries(row)) {
    out[key] = value instanceof Date ? value.toISOString() : typeof value === 'bigint' ? value.toString() : value
  }
  return out
}

async function schemaVersion(tx: SqlExecutor): Promise<number> {
  const [row] = await tx.query<{v: number | null}>('select max(version) as v from schema_migrations')
  return Number(row?.v ?? 0)
}
