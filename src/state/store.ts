/**
 * The state port (design.md §3): everything Nexus keeps outside git, behind
 * one small API over either SQL driver. Reads return one consistent snapshot;
 * writes happen in one transaction that bumps the state serial, optionally
 * only if the serial is still what a plan saw (compare-and-swap).
 */
import {gunzipSync, gzipSync} from 'node:zlib'

import {NexusError} from '../errors.js'
import type {SubscriptionRecord} from '../model/subscription.js'
import type {SqlDriver, SqlExecutor} from './driver.js'
import {MIGRATIONS} from './migrations.js'
import type {SecretBox} from './secret-box.js'
import {STATE_TABLES} from './tables.js'

export interface StoredSecret {
  readonly value: string
  readonly publicValue?: string
}

export interface StoredAllocation {
  readonly node: string
  readonly iface: string
  readonly peer: string
  readonly address: string
  readonly family: 4 | 6
  readonly state: 'active' | 'tombstone'
  readonly releasedAt?: Date
}

export interface StoredRevision {
  readonly node: string
  readonly revision: number
  readonly hashes: Readonly<Record<string, string>>
  readonly gitCommit?: string
  readonly actor: string
  readonly createdAt: Date
  readonly result: string
}

export interface StateSnapshot {
  readonly serial: number
  readonly lineage: string
  /** Decrypted, by `scope/name` (e.g. `node/fra-1` + `wireguard/wg0`). */
  readonly secrets: ReadonlyMap<string, StoredSecret>
  /** Decrypted link UUIDs by `user/link`. */
  readonly links: ReadonlyMap<string, string>
  readonly allocations: readonly StoredAllocation[]
  readonly subscriptions: ReadonlyMap<string, SubscriptionRecord>
  /** The latest revision of each node. */
  readonly revisions: ReadonlyMap<string, StoredRevision>
  readonly hostKeys: ReadonlyMap<string, string>
  /** Last-applied declarations by `kind.name` (e.g. `user.alice`). */
  readonly objects: ReadonlyMap<string, unknown>
}

export interface StateWrite {
  readonly secrets?: readonly {scope: string; name: string; value: string; publicValue?: string}[]
  readonly deleteSecrets?: readonly {scope: string; name: string}[]
  /** New or rotated link UUIDs; a rotated link's old UUID is kept as revoked. */
  readonly links?: readonly {user: string; link: string; uuid: string}[]
  readonly deleteLinks?: readonly {user: string; link: string}[]
  readonly allocations?: readonly {node: string; iface: string; peer: string; address: string; family: 4 | 6}[]
  /** Addresses given up: kept as tombstones until the quarantine ends. */
  readonly releases?: readonly {node: string; iface: string; address: string}[]
  /** Tombstones released before this are forgotten. */
  readonly purgeTombstonesBefore?: Date
  readonly subscriptions?: readonly {user: string; record: SubscriptionRecord}[]
  readonly deleteSubscriptions?: readonly string[]
  readonly audit?: readonly {action: string; subject: string; details?: unknown}[]
  /** Last-applied declarations, upserted by kind and name. */
  readonly objects?: readonly {kind: string; name: string; spec: unknown}[]
  readonly deleteObjects?: readonly {kind: string; name: string}[]
}

export interface RevisionFile {
  readonly path: string
  readonly kind: string
  readonly mode: number
  readonly content: string
}

export const secretKey = (scope: string, name: string): string => `${scope}/${name}`

export class StateStore {
  constructor(
    readonly driver: SqlDriver,
    private readonly box: SecretBox | undefined,
  ) {}

  get location(): string {
    return this.driver.location
  }

  async close(): Promise<void> {
    await this.driver.close()
  }

  private requireBox(): SecretBox {
    if (!this.box) {
      throw new NexusError(
        'missing_secret_key',
        'the state holds encrypted secrets but no key is available',
        'set NEXUS_SECRET_KEY, or put the key file in .nexus/secret.key',
      )
    }
    return this.box
  }

  /** The check value of the key in use, to compare with a dump's. */
  keyCheck(): string | undefined {
    return this.box?.keyCheck()
  }

  /** Fails early, with a clear message, when the key is not the one the state was written with. */
  async verifyKey(): Promise<void> {
    const [meta] = await this.driver.query<{key_check: string | null}>('select key_check from state_meta where id = 1')
    if (!this.box || !meta?.key_check) return
    if (meta.key_check !== this.box.keyCheck()) {
      throw new NexusError(
        'wrong_secret_key',
        `the secret key does not match the one the state at ${this.location} was written with`,
        'use the NEXUS_SECRET_KEY (or .nexus/secret.key) the state was created with',
      )
    }
  }

  async snapshot(): Promise<StateSnapshot> {
    const q = this.driver
    const [meta] = await q.query<{serial: string | number; lineage: string}>(
      'select serial, lineage from state_meta where id = 1',
    )
    if (!meta) throw new NexusError('state_corrupt', `the state at ${this.location} has no state_meta row`)
    const secretRows = await q.query<{scope: string; name: string; ciphertext: string; public_value: string | null}>(
      'select scope, name, ciphertext, public_value from secrets order by scope, name',
    )
    const linkRows = await q.query<{user_name: string; link: string; uuid_cipher: string}>(
      'select user_name, link, uuid_cipher from links order by user_name, link',
    )
    const secrets = new Map<string, StoredSecret>()
    const links = new Map<string, string>()
    if (secretRows.length > 0 || linkRows.length > 0) {
      const box = this.requireBox()
      await this.verifyKey()
      for (const row of secretRows) {
        const key = secretKey(row.scope, row.name)
        secrets.set(key, {
          value: box.open(row.ciphertext, key),
          ...(row.public_value === null ? {} : {publicValue: row.public_value}),
        })
      }
      for (const row of linkRows) {
        const key = `${row.user_name}/${row.link}`
        links.set(key, box.open(row.uuid_cipher, `link/${key}`))
      }
    }
    // The two large tables (a row per peer address, a row per declaration) come back as one
    // value each: per-row decoding costs more than the query, over a second at 100k rows.
    const [allocationRows] = await q.query<{rows: string}>(
      `select coalesce(json_agg(json_build_array(node, iface, peer, address, family, state, released_at)
         order by node, iface, address), '[]')::text as rows from address_allocations`,
    )
    const allocations = (
      JSON.parse(allocationRows?.rows ?? '[]') as [string, string, string, string, number, string, string | null][]
    ).map(([node, iface, peer, address, family, state, releasedAt]): StoredAllocation => ({
      node,
      iface,
      peer,
      address,
      family: Number(family) === 6 ? 6 : 4,
      state: state === 'tombstone' ? 'tombstone' : 'active',
      ...(releasedAt === null ? {} : {releasedAt: new Date(releasedAt)}),
    }))
    const subscriptions = new Map(
      (
        await q.query<{user_name: string; record: SubscriptionRecord | string}>(
          'select user_name, record from subscriptions',
        )
      ).map((row) => [
        row.user_name,
        typeof row.record === 'string' ? (JSON.parse(row.record) as SubscriptionRecord) : row.record,
      ]),
    )
    const revisions = new Map(
      (
        await q.query<{
          node: string
          revision: number
          hashes: Record<string, string> | string
          git_commit: string | null
          actor: string
          created_at: Date | string
          result: string
        }>(
          `select distinct on (node) node, revision, hashes, git_commit, actor, created_at, result
           from node_revisions order by node, revision desc`,
        )
      ).map((row) => [
        row.node,
        {
          node: row.node,
          revision: Number(row.revision),
          hashes: typeof row.hashes === 'string' ? (JSON.parse(row.hashes) as Record<string, string>) : row.hashes,
          ...(row.git_commit === null ? {} : {gitCommit: row.git_commit}),
          actor: row.actor,
          createdAt: new Date(row.created_at),
          result: row.result,
        } satisfies StoredRevision,
      ]),
    )
    const hostKeys = new Map(
      (await q.query<{node: string; key: string}>('select node, key from host_keys')).map((row) => [row.node, row.key]),
    )
    // One line per declaration, `KIND NAME SPEC` (kinds and names hold no space; jsonb text no newline).
    const [objectRows] = await q.query<{rows: string}>(
      `select coalesce(string_agg(kind || ' ' || name || ' ' || spec::text, E'\\n' order by kind, name), '') as rows
       from objects`,
    )
    const objects = new Map<string, unknown>()
    for (const line of (objectRows?.rows ?? '').split('\n')) {
      if (line === '') continue
      const kindEnd = line.indexOf(' ')
      const nameEnd = line.indexOf(' ', kindEnd + 1)
      objects.set(`${line.slice(0, kindEnd)}.${line.slice(kindEnd + 1, nameEnd)}`, JSON.parse(line.slice(nameEnd + 1)))
    }
    return {
      serial: Number(meta.serial),
      lineage: meta.lineage,
      secrets,
      links,
      allocations,
      subscriptions,
      revisions,
      hostKeys,
      objects,
    }
  }

  /**
   * Writes everything in one transaction and returns the new serial. With
   * `expectedSerial`, refuses (state_changed) when another write came first.
   */
  async write(write: StateWrite, options: {actor: string; expectedSerial?: number}): Promise<number> {
    const needsKey = (write.secrets?.length ?? 0) > 0 || (write.links?.length ?? 0) > 0
    const box = needsKey ? this.requireBox() : this.box
    if (needsKey) await this.verifyKey()
    return this.driver.transaction(async (tx) => {
      const [meta] = await tx.query<{serial: string | number; key_check: string | null}>(
        'select serial, key_check from state_meta where id = 1 for update',
      )
      const serial = Number(meta?.serial ?? 0)
      if (options.expectedSerial !== undefined && serial !== options.expectedSerial) {
        throw new NexusError(
          'state_changed',
          `the state changed since the plan was made (serial ${options.expectedSerial}, now ${serial})`,
          'run nexus plan again',
        )
      }
      if (box && !meta?.key_check) await tx.query('update state_meta set key_check = $1 where id = 1', [box.keyCheck()])
      await applyWrite(tx, write, box)
      for (const entry of write.audit ?? []) {
        await tx.query('insert into audit_log (actor, action, subject, details) values ($1, $2, $3, $4)', [
          options.actor,
          entry.action,
          entry.subject,
          entry.details === undefined ? null : JSON.stringify(entry.details),
        ])
      }
      await tx.query('update state_meta set serial = serial + 1 where id = 1')
      return serial + 1
    })
  }

  async recordHostKey(node: string, key: string): Promise<void> {
    await this.driver.transaction(async (tx) => {
      await tx.query(
        'insert into host_keys (node, key) values ($1, $2) on conflict (node) do update set key = excluded.key, recorded_at = now()',
        [node, key],
      )
      await tx.query('update state_meta set serial = serial + 1 where id = 1')
    })
  }

  async forgetHostKey(node: string): Promise<boolean> {
    return this.driver.transaction(async (tx) => {
      const rows = await tx.query('delete from host_keys where node = $1 returning node', [node])
      await tx.query('update state_meta set serial = serial + 1 where id = 1')
      return rows.length > 0
    })
  }

  async recordRevision(
    revision: Omit<StoredRevision, 'createdAt'> & {
      applyId?: number
      /** The deployed files, kept (sealed) for rollback; the newest `keep` revisions per node keep theirs. */
      files?: readonly RevisionFile[]
      keep?: number
    },
  ): Promise<void> {
    const box = revision.files && revision.files.length > 0 ? this.requireBox() : undefined
    await this.driver.transaction(async (tx) => {
      await tx.query(
        `insert into node_revisions (node, revision, apply_id, hashes, git_commit, actor, result)
         values ($1, $2, $3, $4, $5, $6, $7)`,
        [
          revision.node,
          revision.revision,
          revision.applyId ?? null,
          JSON.stringify(revision.hashes),
          revision.gitCommit ?? null,
          revision.actor,
          revision.result,
        ],
      )
      for (const file of revision.files ?? []) {
        const context = `revision/${revision.node}/${revision.revision}/${file.path}`
        await tx.query(
          'insert into node_revision_files (node, revision, path, kind, mode, content_sealed) values ($1, $2, $3, $4, $5, $6)',
          [
            revision.node,
            revision.revision,
            file.path,
            file.kind,
            file.mode,
            box!.seal(gzipSync(file.content).toString('base64'), context),
          ],
        )
      }
      if (revision.files && revision.keep !== undefined) {
        await tx.query(
          `delete from node_revision_files where node = $1 and revision <= (
             select coalesce(max(revision), 0) from node_revisions where node = $1) - $2`,
          [revision.node, revision.keep],
        )
      }
      await tx.query('update state_meta set serial = serial + 1 where id = 1')
    })
  }

  /** The files a revision deployed, when still kept. */
  async revisionFiles(node: string, revision: number): Promise<RevisionFile[]> {
    const rows = await this.driver.query<{path: string; kind: string; mode: number; content_sealed: string}>(
      'select path, kind, mode, content_sealed from node_revision_files where node = $1 and revision = $2 order by path',
      [node, revision],
    )
    if (rows.length === 0) return []
    const box = this.requireBox()
    return rows.map((row) => ({
      path: row.path,
      kind: row.kind,
      mode: Number(row.mode),
      content: gunzipSync(
        Buffer.from(box.open(row.content_sealed, `revision/${node}/${revision}/${row.path}`), 'base64'),
      ).toString('utf8'),
    }))
  }

  /** Every revision, newest first, optionally of one node. */
  async revisions(node?: string): Promise<StoredRevision[]> {
    const rows = await this.driver.query<{
      node: string
      revision: number
      hashes: Record<string, string> | string
      git_commit: string | null
      actor: string
      created_at: Date | string
      result: string
    }>(
      `select node, revision, hashes, git_commit, actor, created_at, result from node_revisions
       ${node === undefined ? '' : 'where node = $1'} order by created_at desc, node, revision desc`,
      node === undefined ? [] : [node],
    )
    return rows.map((row) => ({
      node: row.node,
      revision: Number(row.revision),
      hashes: typeof row.hashes === 'string' ? (JSON.parse(row.hashes) as Record<string, string>) : row.hashes,
      ...(row.git_commit === null ? {} : {gitCommit: row.git_commit}),
      actor: row.actor,
      createdAt: new Date(row.created_at),
      result: row.result,
    }))
  }

  async startApply(entry: {
    gitCommit: string | null
    actor: string
    host: string
    ciRun: string | null
  }): Promise<number> {
    const [row] = await this.driver.query<{id: string | number}>(
      'insert into applies (git_commit, actor, host, ci_run) values ($1, $2, $3, $4) returning id',
      [entry.gitCommit, entry.actor, entry.host, entry.ciRun],
    )
    return Number(row?.id)
  }

  async finishApply(id: number, result: string, summary: unknown): Promise<void> {
    await this.driver.query('update applies set finished_at = now(), result = $2, summary = $3 where id = $1', [
      id,
      result,
      JSON.stringify(summary),
    ])
  }

  /** The last apply that touched each node, for `nexus status`. */
  async lastApplies(): Promise<
    {id: number; startedAt: Date; finishedAt: Date | null; result: string; actor: string}[]
  > {
    const rows = await this.driver.query<{
      id: string | number
      started_at: Date | string
      finished_at: Date | string | null
      result: string
      actor: string
    }>('select id, started_at, finished_at, result, actor from applies order by id desc limit 20')
    return rows.map((row) => ({
      id: Number(row.id),
      startedAt: new Date(row.started_at),
      finishedAt: row.finished_at === null ? null : new Date(row.finished_at),
      result: row.result,
      actor: row.actor,
    }))
  }

  /**
   * For each node, the latest apply whose summary names it (`summary.nodes`),
   * with the node's own result there; an apply still running (no summary yet)
   * is not attributed to any node.
   */
  async lastApplyByNode(): Promise<
    Map<
      string,
      {id: number; startedAt: Date; finishedAt: Date | null; result: string; nodeResult: string; actor: string}
    >
  > {
    const rows = await this.driver.query<{
      node: string
      node_result: string
      id: string | number
      started_at: Date | string
      finished_at: Date | string | null
      result: string
      actor: string
    }>(
      `select distinct on (n.key) n.key as node, n.value as node_result, a.id, a.started_at, a.finished_at, a.result, a.actor
       from applies a, jsonb_each_text(case when jsonb_typeof(a.summary -> 'nodes') = 'object'
         then a.summary -> 'nodes' else '{}'::jsonb end) as n
       order by n.key, a.id desc`,
    )
    return new Map(
      rows.map((row) => [
        row.node,
        {
          id: Number(row.id),
          startedAt: new Date(row.started_at),
          finishedAt: row.finished_at === null ? null : new Date(row.finished_at),
          result: row.result,
          nodeResult: row.node_result,
          actor: row.actor,
        },
      ]),
    )
  }

  /** Host keys trusted on first use, by node: readable without the secret key. */
  async hostKeys(): Promise<Map<string, string>> {
    const rows = await this.driver.query<{node: string; key: string}>('select node, key from host_keys')
    return new Map(rows.map((row) => [row.node, row.key]))
  }

  /** The revisions of a node whose files are still kept (for rollback), newest first. */
  async keptRevisions(node: string): Promise<number[]> {
    const rows = await this.driver.query<{revision: number}>(
      'select distinct revision from node_revision_files where node = $1 order by revision desc',
      [node],
    )
    return rows.map((row) => Number(row.revision))
  }

  /** Audit log entries with this action, newest first. */
  async auditEntries(
    action: string,
    limit = 1000,
  ): Promise<{at: Date; actor: string; subject: string; details: unknown}[]> {
    const rows = await this.driver.query<{at: Date | string; actor: string; subject: string; details: unknown}>(
      'select at, actor, subject, details from audit_log where action = $1 order by id desc limit $2',
      [action, limit],
    )
    return rows.map((row) => ({
      at: new Date(row.at),
      actor: row.actor,
      subject: row.subject,
      details: typeof row.details === 'string' ? (JSON.parse(row.details) as unknown) : row.details,
    }))
  }

  /** Public values of stored secrets (gateway public keys), by `scope/name`: readable without the key. */
  async publicValues(): Promise<Map<string, string>> {
    const rows = await this.driver.query<{scope: string; name: string; public_value: string}>(
      'select scope, name, public_value from secrets where public_value is not null',
    )
    return new Map(rows.map((row) => [secretKey(row.scope, row.name), row.public_value]))
  }

  /** True when nothing but the schema is there: every state table is empty. */
  async isEmpty(): Promise<boolean> {
    return isEmptyState(this.driver)
  }

  async schemaVersion(): Promise<number> {
    const [row] = await this.driver.query<{v: number | null}>('select max(version) as v from schema_migrations')
    return Number(row?.v ?? 0)
  }
}

async function applyWrite(tx: SqlExecutor, write: StateWrite, box: SecretBox | undefined): Promise<void> {
  for (const secret of write.secrets ?? []) {
    const sealed = box!.seal(secret.value, secretKey(secret.scope, secret.name))
    await tx.query(
      `insert into secrets (scope, name, ciphertext, public_value) values ($1, $2, $3, $4)
       on conflict (scope, name) do update set ciphertext = excluded.ciphertext, public_value = excluded.public_value, created_at = now()`,
      [secret.scope, secret.name, sealed, secret.publicValue ?? null],
    )
  }
  for (const secret of write.deleteSecrets ?? []) {
    await tx.query('delete from secrets where scope = $1 and name = $2', [secret.scope, secret.name])
  }
  for (const link of write.links ?? []) {
    const key = `${link.user}/${link.link}`
    const old = await tx.query<{uuid_hash: string}>('select uuid_hash from links where user_name = $1 and link = $2', [
      link.user,
      link.link,
    ])
    for (const row of old) {
      await tx.query(
        'insert into revoked_links (uuid_hash, user_name, link) values ($1, $2, $3) on conflict (uuid_hash) do nothing',
        [row.uuid_hash, link.user, link.link],
      )
    }
    await tx.query(
      `insert into links (user_name, link, uuid_cipher, uuid_hash) values ($1, $2, $3, $4)
       on conflict (user_name, link) do update set uuid_cipher = excluded.uuid_cipher, uuid_hash = excluded.uuid_hash, rotated_at = now()`,
      [link.user, link.link, box!.seal(link.uuid, `link/${key}`), box!.lookupHash(link.uuid)],
    )
  }
  for (const link of write.deleteLinks ?? []) {
    const rows = await tx.query<{uuid_hash: string}>(
      'delete from links where user_name = $1 and link = $2 returning uuid_hash',
      [link.user, link.link],
    )
    for (const row of rows) {
      await tx.query(
        'insert into revoked_links (uuid_hash, user_name, link) values ($1, $2, $3) on conflict (uuid_hash) do nothing',
        [row.uuid_hash, link.user, link.link],
      )
    }
  }
  for (const release of write.releases ?? []) {
    await tx.query(
      `update address_allocations set state = 'tombstone', released_at = now()
       where node = $1 and iface = $2 and address = $3 and state = 'active'`,
      [release.node, release.iface, release.address],
    )
  }
  const allocations = lastByKey(write.allocations ?? [], (a) => `${a.node}\0${a.iface}\0${a.address}`)
  for (const batch of batches(allocations)) {
    await tx.query(
      `insert into address_allocations (node, iface, address, family, peer, state)
       select node, iface, address, family, peer, 'active'
       from json_to_recordset($1::json) as r(node text, iface text, address text, family int, peer text)
       on conflict (node, iface, address) do update set peer = excluded.peer, state = 'active', allocated_at = now(), released_at = null`,
      [JSON.stringify(batch)],
    )
  }
  if (write.purgeTombstonesBefore) {
    await tx.query(`delete from address_allocations where state = 'tombstone' and released_at < $1`, [
      write.purgeTombstonesBefore.toISOString(),
    ])
  }
  for (const subscription of write.subscriptions ?? []) {
    await tx.query(
      `insert into subscriptions (user_name, record) values ($1, $2)
       on conflict (user_name) do update set record = excluded.record, updated_at = now()`,
      [subscription.user, JSON.stringify(subscription.record)],
    )
  }
  for (const user of write.deleteSubscriptions ?? []) {
    await tx.query('delete from subscriptions where user_name = $1', [user])
  }
  const objects = lastByKey(write.objects ?? [], (o) => `${o.kind}\0${o.name}`)
  for (const batch of batches(objects)) {
    await tx.query(
      `insert into objects (kind, name, spec)
       select kind, name, spec from jsonb_to_recordset($1::jsonb) as r(kind text, name text, spec jsonb)
       on conflict (kind, name) do update set spec = excluded.spec, applied_at = now()`,
      [JSON.stringify(batch.map((o) => ({kind: o.kind, name: o.name, spec: o.spec})))],
    )
  }
  for (const object of write.deleteObjects ?? []) {
    await tx.query('delete from objects where kind = $1 and name = $2', [object.kind, object.name])
  }
}

/**
 * The large writes (an allocation per peer address, a row per declaration)
 * go in batches of rows as one JSON parameter: one statement per row costs
 * seconds at a 50k-peer fleet's first apply.
 */
function* batches<T>(rows: readonly T[], size = 5000): Generator<readonly T[]> {
  for (let start = 0; start < rows.length; start += size) yield rows.slice(start, start + size)
}

/** One row per key, the last one given (what writing them one by one would leave). */
function lastByKey<T>(rows: readonly T[], key: (row: T) => string): T[] {
  return [...new Map(rows.map((row) => [key(row), row])).values()]
}

/** True when every state table is empty (run it on a transaction to decide and act on the same view). */
export async function isEmptyState(executor: SqlExecutor): Promise<boolean> {
  const [row] = await executor.query<{n: string | number}>(
    `select ${STATE_TABLES.map((table) => `(select count(*) from ${table.name})`).join(' + ')} as n`,
  )
  return Number(row?.n ?? 0) === 0
}

export const SCHEMA_VERSION = MIGRATIONS.at(-1)?.version ?? 0
