import {randomBytes} from 'node:crypto'
import {existsSync, readFileSync, statSync} from 'node:fs'
import {join} from 'node:path'

import pg from 'pg'
import {afterAll, describe, expect, it} from 'vitest'

import {openState, stateLocation} from '../../../src/state/open.js'
import {exampleCopy, nexus} from '../../helpers/cli.js'
import {dropSchema, postgresUrl} from '../../helpers/state.js'
import {tempDir} from '../../helpers/tools.js'

const tmp = tempDir('nexus-open-')
afterAll(() => tmp.cleanup())

describe('opening the embedded state', () => {
  it('finds no state in read mode and creates nothing', async () => {
    const repo = join(tmp.path, 'read-only')
    const store = await openState(stateLocation(repo, {}), {mode: 'read', env: {}})
    expect(store).toBeUndefined()
    expect(existsSync(join(repo, '.nexus'))).toBe(false)
  })

  it('creates the database and a 0600 key file on first write-mode open, with a notice', async () => {
    const repo = join(tmp.path, 'first')
    const notices: string[] = []
    const store = await openState(stateLocation(repo, {}), {mode: 'write', env: {}, notice: (t) => notices.push(t)})
    try {
      expect(store).toBeDefined()
      const keyFile = join(repo, '.nexus', 'secret.key')
      expect(statSync(keyFile).mode & 0o777).toBe(0o600)
      expect(readFileSync(keyFile, 'utf8')).toMatch(/^[A-Za-z0-9+/]{43}=\n$/)
      expect(notices).toEqual([expect.stringContaining(`created ${keyFile} (mode 0600)`)])
      await store?.write({secrets: [{scope: 'node/a', name: 'wireguard/wg0', value: 'k'}]}, {actor: 't'})
    } finally {
      await store?.close()
    }
    // Read mode now finds it, and decrypts with the key file.
    const reader = await openState(stateLocation(repo, {}), {mode: 'read', env: {}})
    try {
      expect((await reader?.snapshot())?.secrets.get('node/a/wireguard/wg0')?.value).toBe('k')
    } finally {
      await reader?.close()
    }
    // NEXUS_SECRET_KEY wins over the file: a different key is refused clearly.
    await expect(
      openState(stateLocation(repo, {}), {mode: 'read', env: {NEXUS_SECRET_KEY: 'a different passphrase entirely'}}),
    ).rejects.toMatchObject({code: 'wrong_secret_key'})
  })
})

describe.runIf(postgresUrl())('opening a Postgres state', () => {
  it('needs NEXUS_SECRET_KEY in write mode and finds no state in read mode before the first write', async () => {
    const url = postgresUrl() as string
    const schema = `nexus_open_${Date.now()}`
    const repo = join(tmp.path, 'pg')
    try {
      const location = stateLocation(repo, {databaseUrl: url, schema})
      expect(await openState(location, {mode: 'read', env: {}})).toBeUndefined()
      // Reading runs no DDL: the schema is still not there.
      expect(await schemaExists(url, schema)).toBe(false)
      await expect(openState(location, {mode: 'write', env: {}})).rejects.toMatchObject({code: 'missing_secret_key'})
      const store = await openState(location, {mode: 'write', env: {NEXUS_SECRET_KEY: 'team passphrase for the state'}})
      await store?.close()
      expect(existsSync(join(repo, '.nexus'))).toBe(false)
    } finally {
      await dropSchema(url, schema)
    }
  })
})

describe.runIf(postgresUrl())('read-only commands on a Postgres state that does not exist yet', () => {
  it('validate, render and plan create no schema', async () => {
    const url = postgresUrl() as string
    const schema = `nexus_read_${randomBytes(6).toString('hex')}`
    const repo = exampleCopy('quickstart', join(tmp.path, 'pg-read'))
    const env = {
      NEXUS_DATABASE_URL: url,
      NEXUS_DATABASE_SCHEMA: schema,
      NEXUS_SECRET_KEY: 'team passphrase for the state',
    }
    try {
      for (const args of [['validate'], ['render'], ['plan', '--offline']]) {
        const run = await nexus([...args, '--repo', repo], {env})
        expect(run.exitCode, `${args.join(' ')}: ${run.stderr}`).toBe(0)
        expect(await schemaExists(url, schema), args.join(' ')).toBe(false)
      }
    } finally {
      await dropSchema(url, schema)
    }
  })
})

async function schemaExists(url: string, schema: string): Promise<boolean> {
  const client = new pg.Client({connectionString: url})
  await client.connect()
  try {
    const {rows} = await client.query<{present: boolean}>(
      'select exists (select 1 from pg_namespace where nspname = $1) as present',
      [schema],
    )
    return rows[0]?.present === true
  } finally {
    await client.end()
  }
}

describe('an unreachable Postgres state', () => {
  it('is named without its password', async () => {
    const location = stateLocation(tmp.path, {databaseUrl: 'postgres://nexus:hunter2@127.0.0.1:1/db'})
    const error = await openState(location, {mode: 'read', env: {}}).catch((e: Error) => e)
    expect(error).toMatchObject({code: 'database_unreachable'})
    expect((error as Error).message).toContain('postgres://nexus@127.0.0.1:1/db')
    expect((error as Error).message).not.toContain('hunter2')
  })

  it('is named without a password given as a query parameter', async () => {
    const location = stateLocation(tmp.path, {databaseUrl: 'postgres://nexus@127.0.0.1:1/db?password=hunter2'})
    const error = await openState(location, {mode: 'read', env: {}}).catch((e: Error) => e)
    expect(error).toMatchObject({code: 'database_unreachable'})
    expect((error as Error).message).toContain('postgres://nexus@127.0.0.1:1/db')
    expect(JSON.stringify(error)).not.toContain('hunter2')
    expect((error as Error).message).not.toContain('hunter2')
  })
})
