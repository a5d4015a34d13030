/**
 * Where the suite's nexus keeps its state.
 *
 * - Without NEXUS_TEST_DATABASE_URL: the embedded PGlite in the fixture repo
 *   (`.nexus/state`), as an operator starts out. PGlite serves one process at
 *   a time, so a second nexus waits on (or fails with `state_busy` at) the
 *   state's file lock before it ever gets to the apply lease.
 * - With NEXUS_TEST_DATABASE_URL (CI sets it): that Postgres, in a schema of
 *   this run's own (`nxe2e_<pid>_<random>`, the run id), with a random
 *   NEXUS_SECRET_KEY. Several nexus processes share it, so concurrent applies
 *   meet the apply lease. The schema is dropped at the end of the run; one a
 *   crashed run left behind is dropped by global-setup (on this host, once
 *   its owner process is gone: the schema's comment names host and run).
 *
 * nexus runs in the ctl namespace, which has no route to the database (it is
 * on the real host's loopback, or further). The test process, in the host's
 * namespace, relays: a Unix socket in the run dir (ctl shares /tmp), which
 * nexus reaches as `?host=<dir>` in its database URL, piped to the
 * database's address. The relay also reads the SQL each connection sends
 * (the frontend protocol's Query and Parse messages: plain text, the relay
 * speaks no TLS) and records, with times, the statements on the apply lease
 * (src/state/lease.ts): the `select … for update` of every attempt to take
 * it, the insert that takes it, the updates that renew it, the delete that
 * releases it. That is what proves who waited for whom.
 */
import {randomBytes} from 'node:crypto'
import {mkdirSync, rmSync} from 'node:fs'
import {createConnection, createServer, type Server, type Socket} from 'node:net'
import {hostname} from 'node:os'
import {join} from 'node:path'

import pg from 'pg'

import {ownerAlive, RUN_PREFIX, type World} from './world.js'

export type StateMode = 'pglite' | 'postgres'

/** The Postgres the suite's state goes to (CI), if any. */
export function testDatabaseUrl(): string | undefined {
  const url = process.env.NEXUS_TEST_DATABASE_URL
  return url === undefined || url === '' ? undefined : url
}

export const STATE_MODE: StateMode = testDatabaseUrl() ? 'postgres' : 'pglite'

export type LeaseStatement = 'check' | 'take' | 'renew' | 'release'

/** One database connection a nexus process made through the relay. */
export interface StateConnection {
  readonly id: number
  readonly openedAt: number
  /** The statements on the apply lease it sent, in order, with the time the relay passed them on. */
  readonly lease: {readonly at: number; readonly statement: LeaseStatement}[]
}

export interface SuiteState {
  readonly mode: StateMode
  /** For the Postgres state: the schema. */
  readonly schema?: string
  /** What nexus needs in its environment to use this state. */
  readonly env: Readonly<Record<string, string>>
  /** Every database connection so far (Postgres only; none with PGlite). */
  connections(): readonly StateConnection[]
  /** Stops the relay and drops the schema. Idempotent. */
  close(): Promise<void>
}

export async function openSuiteState(world: World): Promise<SuiteState> {
  const url = testDatabaseUrl()
  if (!url) {
    return {mode: 'pglite', env: {}, connections: () => [], close: async () => {}}
  }
  const schema = world.id.replaceAll('-', '_')
  await withClient(url, async (client) => {
    await client.query(`create schema ${schema}`)
    await client.query(`comment on schema ${schema} is '${schemaComment(world.id)}'`)
  })

  const parsed = new URL(url)
  const port = Number(parsed.port || 5432)
  const socketHost = parsed.searchParams.get('host')
  const target = socketHost?.startsWith('/')
    ? {path: join(socketHost, `.s.PGSQL.${port}`)}
    : {host: parsed.hostname.replace(/^\[(.*)\]$/, '$1') || '127.0.0.1', port}
  const dir = join(world.dir, 'pg')
  mkdirSync(dir, {mode: 0o700})
  const connections: StateConnection[] = []
  const sockets = new Set<Socket>()
  const server: Server = createServer((client) => {
    const connection: StateConnection = {id: connections.length + 1, openedAt: Date.now(), lease: []}
    connections.push(connection)
    const upstream = createConnection(target)
    for (const socket of [client, upstream]) {
      sockets.add(socket)
      socket.once('close', () => sockets.delete(socket))
    }
    const frontend = frontendQueries((sql) => {
      const statement = leaseStatement(sql)
      if (statement) connection.lease.push({at: Date.now(), statement})
    })
    client.on('data', (chunk: Buffer) => {
      frontend(chunk)
      upstream.write(chunk)
    })
    upstream.pipe(client)
    client.once('end', () => upstream.end())
    client.once('error', () => upstream.destroy())
    upstream.once('error', () => client.destroy())
    client.once('close', () => upstream.destroy())
    upstream.once('close', () => client.destroy())
  })
  const socketPath = join(dir, `.s.PGSQL.${port}`)
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(socketPath, resolve)
  })

  // The URL as given, but reached through the relay's socket.
  const relayed = new URL(url)
  relayed.searchParams.set('host', dir)
  if (!relayed.port) relayed.port = String(port)
  if (!relayed.hostname) relayed.hostname = 'localhost'

  let closed = false
  return {
    mode: 'postgres',
    schema,
    env: {
      NEXUS_DATABASE_URL: relayed.toString(),
      NEXUS_DATABASE_SCHEMA: schema,
      NEXUS_SECRET_KEY: randomBytes(32).toString('base64'),
    },
    connections: () => connections,
    async close() {
      if (closed) return
      closed = true
      for (const socket of sockets) socket.destroy()
      await new Promise<void>((resolve) => server.close(() => resolve()))
      rmSync(dir, {recursive: true, force: true})
      await withClient(url, (client) => client.query(`drop schema if exists ${schema} cascade`))
    },
  }
}

/**
 * Drops the schemas of runs on this host whose owner process is gone (a
 * crashed or killed run; never a live one). Returns their names.
 */
export async function dropLeftoverSchemas(): Promise<string[]> {
  const url = testDatabaseUrl()
  if (!url) return []
  return withClient(url, async (client) => {
    const {rows} = await client.query<{name: string; comment: string | null}>(
      `select nspname as name, obj_description(oid, 'pg_namespace') as comment from pg_namespace
        where nspname like $1`,
      [`${RUN_PREFIX}\\_%`],
    )
    const dropped: string[] = []
    for (const {name, comment} of rows) {
      const runId = name.replaceAll('_', '-')
      const pid = Number(new RegExp(`^${RUN_PREFIX}-(\\d+)-[0-9a-f]+$`).exec(runId)?.[1])
      if (comment !== schemaComment(runId) || !Number.isInteger(pid) || ownerAlive(pid)) continue
      await client.query(`drop schema if exists ${name} cascade`)
      dropped.push(name)
    }
    return dropped
  })
}

function schemaComment(runId: string): string {
  return `nexus e2e run ${runId} on ${hostname().replaceAll("'", '')}`
}

async function withClient<T>(url: string, fn: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({connectionString: url, connectionTimeoutMillis: 10_000})
  await client.connect()
  try {
    return await fn(client)
  } finally {
    await client.end()
  }
}

/** Which statement on the apply lease (src/state/lease.ts) a query is, if any. */
function leaseStatement(sql: string): LeaseStatement | undefined {
  const text = sql.trim().replace(/\s+/g, ' ').toLowerCase()
  if (!/\bapply_lock\b/.test(text)) return undefined
  if (text.startsWith('select') && text.endsWith('for update')) return 'check'
  if (text.startsWith('insert into apply_lock')) return 'take'
  if (text.startsWith('update apply_lock')) return 'renew'
  if (text.startsWith('delete from apply_lock')) return 'release'
  return undefined
}

/**
 * Reads a client's side of the Postgres protocol as it streams by and calls
 * `onQuery` with the SQL of each Query ('Q') and Parse ('P') message. The
 * messages before the StartupMessage (SSLRequest, GSSENCRequest) have no type
 * byte.
 */
function frontendQueries(onQuery: (sql: string) => void): (chunk: Buffer) => void {
  let buffer = Buffer.alloc(0)
  let started = false
  return (chunk) => {
    buffer = Buffer.concat([buffer, chunk])
    for (;;) {
      if (!started) {
        if (buffer.length < 8) return
        const length = buffer.readInt32BE(0)
        if (buffer.length < length) return
        // 196608: protocol 3.0, the StartupMessage; anything else asks for encryption first.
        if (buffer.readInt32BE(4) === 196_608) started = true
        buffer = buffer.subarray(length)
        continue
      }
      if (buffer.length < 5) return
      const length = buffer.readInt32BE(1)
      if (buffer.length < 1 + length) return
      const type = String.fromCharCode(buffer[0] ?? 0)
      const body = buffer.subarray(5, 1 + length)
      buffer = buffer.subarray(1 + length)
      const strings = body.toString('utf8').split('\0')
      if (type === 'Q') onQuery(strings[0] ?? '')
      else if (type === 'P') onQuery(strings[1] ?? '')
    }
  }
}
