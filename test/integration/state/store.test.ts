import {writeFileSync} from 'node:fs'

import {afterAll, afterEach, describe, expect, it} from 'vitest'

import {dumpState, restoreState} from '../../../src/state/backup.js'
import {migrate, MIGRATIONS} from '../../../src/state/migrations.js'
import {SecretBox} from '../../../src/state/secret-box.js'
import {StateStore} from '../../../src/state/store.js'
import {STATE_TABLES} from '../../../src/state/tables.js'
import {
  cleanupStateWork,
  dropSchema,
  pgliteCase,
  postgresCase,
  postgresUrl,
  stateDriverCases,
  TEST_KEY,
  type TestState,
} from '../../helpers/state.js'
import {openPgDriver} from '../../../src/state/pg-driver.js'
import {openPgliteDriver} from '../../../src/state/pglite-driver.js'
import {tempDir} from '../../helpers/tools.js'

const TEST_KEY_CHECK = TEST_KEY.keyCheck()

afterAll(() => cleanupStateWork())

const WG_PRIVATE = 'sGtUY772AuoCwrGlEzmt7nzFfvRGhRnARsqiwEwzFmA='
const WG_PUBLIC = 'mySxEHpckw22EO9fDZtHsNhmArHDmklG0mva+cSvZ3s='
const UUID = '0b5b50b9-f194-4fa8-ba9b-f7d2dee211f8'

describe.each(stateDriverCases())('state store on $name', (driverCase) => {
  const open: TestState[] = []
  const fresh = async (options?: {box?: SecretBox | null}) => {
    const state = await driverCase.open(options)
    open.push(state)
    return state.store
  }
  afterEach(async () => {
    for (const state of open.splice(0)) await state.cleanup()
  })

  it('runs a statement issued during a transaction after it, never inside it', async () => {
    const {driver} = await fresh()
    await driver.exec('create table scratch_tx (v int)')
    let outside: Promise<unknown> | undefined
    await expect(
      driver.transaction(async (tx) => {
        await tx.query('insert into scratch_tx values (1)')
        // Another part of the run (a lease renewal, say) writes while the transaction is open.
        outside = driver.query('insert into scratch_tx values (2)')
        await new Promise((resolve) => setTimeout(resolve, 50))
        throw new Error('the transaction fails')
      }),
    ).rejects.toThrow('the transaction fails')
    await outside
    expect(await driver.query('select v from scratch_tx order by v')).toEqual([{v: 2}])
  })

  it('starts empty at serial 0 with every migration applied', async () => {
    const store = await fresh()
    const snapshot = await store.snapshot()
    expect(snapshot.serial).toBe(0)
    expect(snapshot.secrets.size + snapshot.links.size + snapshot.allocations.length).toBe(0)
    expect(await store.isEmpty()).toBe(true)
    expect(await store.schemaVersion()).toBe(MIGRATIONS.at(-1)?.version)
  })

  it('writes and reads back fleet-sized allocations and declarations exactly, in batches', async () => {
    const store = await fresh()
    const allocations = Array.from({length: 12_001}, (_, i) => ({
      node: `n${i % 7}`,
      iface: 'wg0',
      peer: `p${i}`,
      address: `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`,
      family: 4 as const,
    }))
    // The same address twice in one write: the last one given wins, as row by row.
    allocations.push({...allocations[0]!, peer: 'p-again'})
    const spec = {email: 'a@b.c', note: 'line one\nline "two" \\ ünïcödé ✓', list: [1, null, true], nested: {a: {}}}
    await store.write(
      {
        allocations,
        objects: [
          {kind: 'user', name: 'alice', spec},
          {kind: 'user', name: 'bob', spec: {}},
          {kind: 'peer', name: 'alice-laptop', spec: {addresses: ['10.0.0.1']}},
        ],
      },
      {actor: 't'},
    )
    const snapshot = await store.snapshot()
    expect(snapshot.allocations).toHaveLength(12_001)
    expect(snapshot.allocations.find((a) => a.address === '10.0.0.0' && a.node === 'n0')?.peer).toBe('p-again')
    expect(snapshot.allocations.find((a) => a.peer === 'p12000')).toMatchObject({
      node: 'n2',
      address: '10.0.46.224',
      family: 4,
      state: 'active',
    })
    expect(snapshot.objects).toEqual(
      new Map<string, unknown>([
        ['peer.alice-laptop', {addresses: ['10.0.0.1']}],
        ['user.alice', spec],
        ['user.bob', {}],
      ]),
    )
  })

  it('runs migrations once: a second run applies nothing', async () => {
    const store = await fresh()
    expect(await migrate(store.driver, () => 'x')).toEqual({applied: []})
  })

  it('writes everything in one transaction, bumps the serial and reads it back decrypted', async () => {
    const store = await fresh()
    const serial = await store.write(
      {
        secrets: [{scope: 'node/fra-1', name: 'wireguard/wg0', value: WG_PRIVATE, publicValue: WG_PUBLIC}],
        links: [{user: 'alice', link: 'phone', uuid: UUID}],
        allocations: [{node: 'fra-1', iface: 'wg0', peer: 'alice-laptop', address: '10.66.0.2', family: 4}],
        subscriptions: [{user: 'alice', record: {tariff: 'pro', trafficUsed: 0} as never}],
        audit: [{action: 'test', subject: 'alice'}],
      },
      {actor: 'tester'},
    )
    expect(serial).toBe(1)
    const snapshot = await store.snapshot()
    expect(snapshot.serial).toBe(1)
    expect(snapshot.secrets.get('node/fra-1/wireguard/wg0')).toEqual({value: WG_PRIVATE, publicValue: WG_PUBLIC})
    expect(snapshot.links.get('alice/phone')).toBe(UUID)
    expect(snapshot.allocations).toEqual([
      {node: 'fra-1', iface: 'wg0', peer: 'alice-laptop', address: '10.66.0.2', family: 4, state: 'active'},
    ])
    expect(snapshot.subscriptions.get('alice')).toEqual({tariff: 'pro', trafficUsed: 0})
  })

  it('keeps secrets encrypted at rest: no plaintext key or UUID in the tables', async () => {
    const store = await fresh()
    await store.write(
      {
        secrets: [{scope: 'node/fra-1', name: 'wireguard/wg0', value: WG_PRIVATE}],
        links: [{user: 'alice', link: 'phone', uuid: UUID}],
      },
      {actor: 'tester'},
    )
    const rows = JSON.stringify([
      ...(await store.driver.query('select * from secrets')),
      ...(await store.driver.query('select * from links')),
    ])
    expect(rows).not.toContain(WG_PRIVATE)
    expect(rows).not.toContain(UUID)
    expect(rows).toContain('v1.')
  })

  it('refuses a wrong key with a clear error, never garbage', async () => {
    const store = await fresh()
    await store.write({secrets: [{scope: 'node/fra-1', name: 'wireguard/wg0', value: WG_PRIVATE}]}, {actor: 't'})
    const other = new StateStore(store.driver, SecretBox.fromText('another passphrase that is long enough'))
    await expect(other.snapshot()).rejects.toMatchObject({code: 'wrong_secret_key'})
    await expect(other.verifyKey()).rejects.toThrow(/does not match the one the state/)
    const keyless = new StateStore(store.driver, undefined)
    await expect(keyless.snapshot()).rejects.toMatchObject({code: 'missing_secret_key'})
  })

  it('refuses a write when the serial moved since it was read (compare-and-swap)', async () => {
    const store = await fresh()
    await store.write({audit: [{action: 'a', subject: 's'}]}, {actor: 't'})
    await expect(
      store.write({audit: [{action: 'b', subject: 's'}]}, {actor: 't', expectedSerial: 0}),
    ).rejects.toMatchObject({
      code: 'state_changed',
    })
    expect((await store.snapshot()).serial).toBe(1)
    expect(await store.write({}, {actor: 't', expectedSerial: 1})).toBe(2)
  })

  it('rolls a failed write back completely', async () => {
    const store = await fresh()
    await expect(
      store.write(
        {
          secrets: [{scope: 'node/x', name: 'wireguard/wg0', value: WG_PRIVATE}],
          allocations: [{node: 'x', iface: 'wg0', peer: 'p', address: '10.0.0.2', family: 9 as 4}],
        },
        {actor: 't'},
      ),
    ).rejects.toThrow()
    const snapshot = await store.snapshot()
    expect(snapshot.serial).toBe(0)
    expect(snapshot.secrets.size).toBe(0)
  })

  it('turns released addresses into tombstones and purges them after the quarantine', async () => {
    const store = await fresh()
    await store.write(
      {allocations: [{node: 'fra-1', iface: 'wg0', peer: 'bob-phone', address: '10.66.0.3', family: 4}]},
      {actor: 't'},
    )
    await store.write({releases: [{node: 'fra-1', iface: 'wg0', address: '10.66.0.3'}]}, {actor: 't'})
    const [tombstone] = (await store.snapshot()).allocations
    expect(tombstone).toMatchObject({peer: 'bob-phone', state: 'tombstone'})
    expect(tombstone?.releasedAt).toBeInstanceOf(Date)
    await store.write({purgeTombstonesBefore: new Date(Date.now() - 60_000)}, {actor: 't'})
    expect((await store.snapshot()).allocations).toHaveLength(1)
    await store.write({purgeTombstonesBefore: new Date(Date.now() + 60_000)}, {actor: 't'})
    expect((await store.snapshot()).allocations).toHaveLength(0)
  })

  it('keeps a rotated link UUID as revoked', async () => {
    const store = await fresh()
    await store.write({links: [{user: 'alice', link: 'phone', uuid: UUID}]}, {actor: 't'})
    await store.write(
      {links: [{user: 'alice', link: 'phone', uuid: '2b48ba2e-458e-41d6-a536-52f5fa8275f9'}]},
      {actor: 't'},
    )
    const revoked = await store.driver.query<{user_name: string}>('select user_name from revoked_links')
    expect(revoked).toEqual([{user_name: 'alice'}])
    expect((await store.snapshot()).links.get('alice/phone')).toBe('2b48ba2e-458e-41d6-a536-52f5fa8275f9')
  })

  it('records host keys and node revisions, and returns the latest revision per node', async () => {
    const store = await fresh()
    await store.recordHostKey('fra-1', 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFake')
    for (const revision of [1, 2]) {
      await store.recordRevision({
        node: 'fra-1',
        revision,
        hashes: {'/etc/x': `h${revision}`},
        actor: 't',
        result: 'verified',
      })
    }
    const snapshot = await store.snapshot()
    expect(snapshot.hostKeys.get('fra-1')).toBe('ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFake')
    expect(snapshot.revisions.get('fra-1')).toMatchObject({revision: 2, hashes: {'/etc/x': 'h2'}, result: 'verified'})
    expect(snapshot.serial).toBe(3)
    expect(await store.forgetHostKey('fra-1')).toBe(true)
  })

  it('backs up and restores, refusing a non-empty store without force', async () => {
    const source = await fresh()
    await source.write(
      {
        secrets: [{scope: 'node/fra-1', name: 'wireguard/wg0', value: WG_PRIVATE, publicValue: WG_PUBLIC}],
        links: [{user: 'alice', link: 'phone', uuid: UUID}],
        allocations: [{node: 'fra-1', iface: 'wg0', peer: 'alice-laptop', address: '10.66.0.2', family: 4}],
        audit: [{action: 'a', subject: 's'}],
      },
      {actor: 't'},
    )
    await source.recordRevision({node: 'fra-1', revision: 1, hashes: {a: 'b'}, actor: 't', result: 'verified'})
    const dump = await dumpState(source, new Date('2026-11-22T00:00:00Z'))
    expect(JSON.stringify(dump)).not.toContain(WG_PRIVATE)

    const target = await fresh()
    const result = await restoreState(target, dump, {force: false, keyCheck: TEST_KEY_CHECK})
    expect(result.rows).toBe(5)
    const restored = await target.snapshot()
    expect(restored.secrets.get('node/fra-1/wireguard/wg0')?.value).toBe(WG_PRIVATE)
    expect(restored.links.get('alice/phone')).toBe(UUID)
    expect(restored.revisions.get('fra-1')?.revision).toBe(1)
    expect(restored.serial).toBeGreaterThan(dump.serial)
    // Sequences continue after the restored rows.
    await target.write({audit: [{action: 'after', subject: 's'}]}, {actor: 't'})

    await expect(restoreState(target, dump, {force: false, keyCheck: TEST_KEY_CHECK})).rejects.toMatchObject({
      code: 'state_not_empty',
    })
    await expect(restoreState(target, dump, {force: true, keyCheck: TEST_KEY_CHECK})).resolves.toMatchObject({rows: 5})
    await expect(
      restoreState(await fresh(), dump, {
        force: false,
        keyCheck: SecretBox.fromText('some other passphrase, long').keyCheck(),
      }),
    ).rejects.toMatchObject({code: 'wrong_secret_key'})
  })

  it('counts a row in any state table as not empty, and restore refuses to overwrite it', async () => {
    const dump = await dumpState(await fresh(), new Date('2026-11-22T00:00:00Z'))
    const store = await fresh()
    expect(Object.keys(ONE_ROW).sort()).toEqual(STATE_TABLES.map((table) => table.name).sort())
    for (const table of STATE_TABLES) {
      const inserts = ONE_ROW[table.name] ?? []
      for (const sql of inserts) await store.driver.query(sql)
      expect(await store.isEmpty(), table.name).toBe(false)
      await expect(
        restoreState(store, dump, {force: false, keyCheck: TEST_KEY_CHECK}),
        table.name,
      ).rejects.toMatchObject({code: 'state_not_empty'})
      const [row] = await store.driver.query<{n: string | number}>(`select count(*) as n from ${table.name}`)
      expect(Number(row?.n), table.name).toBe(1)
      for (const other of [...STATE_TABLES].reverse()) await store.driver.query(`delete from ${other.name}`)
      expect(await store.isEmpty(), table.name).toBe(true)
    }
  })
})

/** One row in each state table (a revision file cannot exist without its revision, so that one adds both). */
const ONE_ROW: Readonly<Record<string, readonly string[]>> = {
  secrets: [`insert into secrets (scope, name, ciphertext) values ('node/a', 'wireguard/wg0', 'x')`],
  address_allocations: [
    `insert into address_allocations (node, iface, address, family, peer, state) values ('a', 'wg0', '10.0.0.2', 4, 'p', 'tombstone')`,
  ],
  links: [`insert into links (user_name, link, uuid_cipher, uuid_hash) values ('u', 'l', 'x', 'h')`],
  revoked_links: [`insert into revoked_links (uuid_hash, user_name, link) values ('h', 'u', 'l')`],
  subscriptions: [`insert into subscriptions (user_name, record) values ('u', '{}')`],
  usage_counters: [
    `insert into usage_counters (node, kind, key, rx, tx, observed_at) values ('a', 'wireguard', 'k', 1, 1, now())`,
  ],
  usage_totals: [`insert into usage_totals (user_name, node, day) values ('u', 'a', '2026-11-22')`],
  applies: [`insert into applies (actor, host) values ('t', 'h')`],
  node_revisions: [
    `insert into node_revisions (node, revision, hashes, actor, result) values ('a', 1, '{}', 't', 'ok')`,
  ],
  node_revision_files: [
    `insert into node_revisions (node, revision, hashes, actor, result) values ('a', 1, '{}', 't', 'ok')`,
    `insert into node_revision_files (node, revision, path, kind, mode, content_sealed) values ('a', 1, '/f', 'file', 384, 'x')`,
  ],
  audit_log: [`insert into audit_log (actor, action, subject) values ('t', 'a', 's')`],
  host_keys: [`insert into host_keys (node, key) values ('a', 'ssh-ed25519 AAAA')`],
  objects: [`insert into objects (kind, name, spec) values ('User', 'u', '{}')`],
}

describe.runIf(postgresUrl())('state across drivers', () => {
  it('moves from PGlite to Postgres through a dump', async () => {
    const laptop = await pgliteCase.open()
    const server = await postgresCase.open()
    try {
      await laptop.store.write(
        {
          links: [{user: 'alice', link: 'phone', uuid: UUID}],
          allocations: [{node: 'n', iface: 'wg0', peer: 'p', address: 'fd66::2', family: 6}],
        },
        {actor: 't'},
      )
      await restoreState(server.store, await dumpState(laptop.store, new Date()), {
        force: false,
        keyCheck: TEST_KEY_CHECK,
      })
      const snapshot = await server.store.snapshot()
      expect(snapshot.links.get('alice/phone')).toBe(UUID)
      expect(snapshot.allocations[0]).toMatchObject({address: 'fd66::2', family: 6})
    } finally {
      await laptop.cleanup()
      await server.cleanup()
    }
  })

  it('serialises migrations of two processes starting at once', async () => {
    const url = postgresUrl() as string
    const schema = `nexus_race_${Date.now()}`
    const [a, b] = await Promise.all([openPgDriver(url, schema), openPgDriver(url, schema)])
    try {
      const results = await Promise.all([migrate(a, () => 'a'), migrate(b, () => 'b')])
      expect(results.map((r) => r.applied.length).sort()).toEqual([0, MIGRATIONS.length])
      const rows = await a.query('select version from schema_migrations')
      expect(rows).toHaveLength(MIGRATIONS.length)
    } finally {
      await a.close()
      await b.close()
      await dropSchema(url, schema)
    }
  })
})

describe('embedded state lock', () => {
  it('keeps a second process out while one has the database open, and lets it in afterwards', async () => {
    const dir = tempDir()
    try {
      const dataDir = `${dir.path}/state`
      const first = await openPgliteDriver(dataDir, {schema: 'nexus'})
      // The lock names this process; pretend a different live process holds it by using pid 1.
      writeFileSync(`${dataDir}.lock`, '1\n')
      await expect(openPgliteDriver(dataDir, {schema: 'nexus', lockTimeoutMs: 300})).rejects.toMatchObject({
        code: 'state_busy',
        message: 'the embedded state database is in use by another nexus process (pid 1)',
      })
      await first.close()
      // A lock left by a process that no longer exists is taken over.
      writeFileSync(`${dataDir}.lock`, '999999\n')
      const second = await openPgliteDriver(dataDir, {schema: 'nexus', lockTimeoutMs: 300})
      await second.close()
    } finally {
      dir.cleanup()
    }
  })
})

describe('embedded state database', () => {
  it('starts with small shared buffers (a state is a few MB; the default 128 MB is memory every command pays)', async () => {
    const dir = tempDir()
    try {
      const driver = await openPgliteDriver(`${dir.path}/state`, {schema: 'nexus'})
      try {
        const [row] = await driver.query<{size: string}>("select current_setting('shared_buffers') as size")
        expect(row?.size).toBe('16MB')
      } finally {
        await driver.close()
      }
    } finally {
      dir.cleanup()
    }
  })
})
