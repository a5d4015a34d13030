/**
 * The SQL the state store needs from a database, so the same migrations and
 * queries run on a Postgres server (pg) and on the embedded PGlite.
 */
export interface SqlExecutor {
  /** One parameterised statement; rows as plain objects. */
  query<T extends object = Record<string, unknown>>(sql: string, params?: readonly unknown[]): Promise<T[]>
}

export interface SqlDriver extends SqlExecutor {
  readonly kind: 'pg' | 'pglite'
  /** Where the data lives, for messages: a data directory or a server address without credentials. */
  readonly location: string
  /** Several statements without parameters (migrations). */
  exec(sql: string): Promise<void>
  /** Runs `fn` in one transaction: committed when it resolves, rolled back when it throws. */
  transaction<T>(fn: (tx: SqlExecutor) => Promise<T>): Promise<T>
  close(): Promise<void>
}

/** Schema names are interpolated into SQL, so they are held to a strict pattern. */
export const SCHEMA_PATTERN = /^[a-z_][a-z0-9_]{0,62}$/
