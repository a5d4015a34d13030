/**
 * State stores for tests: always an embedded PGlite (cloned from a template
 * data directory, since a fresh initdb takes seconds), and the real Postgres
 * server too when NEXUS_TEST_DATABASE_URL is set, each test in a schema of
 * its own that is dropped afterwards.
 */
import {randomBytes} from 'node:crypto'
import {cpSync, existsSync, mkdirSync} from 'node:fs'
import {join} from 'node:path'

import pg from 'pg'

import {migrate} from '../../src/state/migrations.js'
import {openPgDriver} from '../../src/state/pg-driver.js'
import {openPgliteDriver} from '../../src/state/pglite-driver.js'
import {SecretBox} from '../../src/state/secret-box.js'
import {StateStore} from '../../src/state/store.js'
import {tempDir} from './tools.js'

export const TEST_KEY = SecretBox.fromText('hC8tC0ZfE3m6r3UJ0H7bEwqHh2y8fXQe0m1C4d2G5Xk=')

export interface TestState {
  readonly store: StateStore
  /** Drops the test schema or data directory. */
  readonly cleanup: () => Promise<void>
}

export interface StateDriverCase {
  readonly name: 'pglite' | 'postgres'
  open(options?: {box?: SecretBox | null}): Promise<TestState>
}

const work = tempDir('nexus-state-')
let template: string | undefined

async function pgliteTemplate(): Promise<string> {
  if (template) return template
  const dir = join(work.path, 'template')
  if (!existsSync(dir)) {
    const driver = await openPgliteDriver(dir, {schema: 'nexus'})
    await migrate(driver, () => 'template-lineage')
    await driver.close()
  }
  template = dir
  return dir
}

export const pgliteCase: StateDriverCase = {
  name: 'pglite',
  async open(options = {}) {
    const dir = join(work.path, `db-${randomBytes(4).toString('hex')}`)
    mkdirSync(dir)
    cpSync(await pgliteTemplate(), dir, {recursive: true})
    const driver = await openPgliteDriver(dir, {schema: 'nexus'})
    await migrate(driver, () => 'unused')
    const store = new StateStore(driver, options.box === null ? undefined : (options.box ?? TEST_KEY))
    return {store, cleanup: () => store.close()}
  },
}

export function postgresUrl(): string | undefined {
  const url = process.env.NEXUS_TEST_DATABASE_URL
  return url === undefined || url === '' ? undefined : url
}

export const postgresCase: StateDriverCase = {
  name: 'postgres',
  async open(options = {}) {
    const url = postgresUrl()
    if (!url) throw new Error('NEXUS_TEST_DATABASE_URL is not set')
    const schema = `nexus_test_${randomBytes(6).toString('hex')}`
    const driver = await openPgDriver(url, schema)
    await migrate(driver, () => `lineage-${schema}`)
    const store = new StateStore(driver, options.box === null ? undefined : (options.box ?? TEST_KEY))
    return {
      store,
      cleanup: async () => {
        await store.close()
        await dropSchema(url, schema)
      },
    }
  },
}

export async function dropSchema(url: string, schema: string): Promise<void> {
  const client = new pg.Client({connectionString: url})
  await client.connect()
  try {
    await client.query(`drop schema if exists ${schema} cascade`)
  } finally {
    await client.end()
  }
}

/** PGlite always; Postgres as well when the test database is configured. */
export function stateDriverCases(): StateDriverCase[] {
  return postgresUrl() ? [pgliteCase, postgresCase] : [pgliteCase]
}

export function cleanupStateWork(): void {
  work.cleanup()
}
