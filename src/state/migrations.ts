/**
 * The state schema as numbered, forward-only migrations, run on open. The
 * same SQL runs on Postgres and PGlite. Concurrent starts are serialised by a
 * Postgres advisory lock (PGlite is single-process behind its lock file), and
 * a database written by a newer nexus is refused rather than misread.
 */
import {NexusError} from '../errors.js'
import type {SqlDriver} from './driver.js'

export interface Migration {
  readonly version: number
  readonly name: string
  readonly sql: string
}

export const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    name: 'initial state',
    sql: `
      -- One row: the serial every write bumps (a saved plan records it), and the
      -- lineage that tells two unrelated states apart.
      create table state_meta (
        id int primary key check (id = 1),
        serial bigint not null,
        lineage text not null,
        key_check text
      );

      -- Gateway secrets (WireGuard and REALITY private keys, Shadowsocks keys), encrypted.
      create table secrets (
        scope text not null,
        name text not null,
        ciphertext text not null,
        public_value text,
        created_at timestamptz not null default now(),
        primary key (scope, name)
      );

      -- Tunnel addresses: active ones, and tombstones kept for the quarantine period.
      create table address_allocations (
        node text not null,
        iface text not null,
        address text not null,
        family int not null check (family in (4, 6)),
        peer text not null,
        state text not null check (state in ('active', 'tombstone')),
        allocated_at timestamptz not null default now(),
        released_at timestamptz,
        primary key (node, iface, address)
      );
      create index address_allocations_peer on address_allocations (peer);

      -- Subscription link credentials: the UUID encrypted, plus a keyed hash to find a link by UUID.
      create table links (
        user_name text not null,
        link text not null,
        uuid_cipher text not null,
        uuid_hash text not null unique,
        created_at timestamptz not null default now(),
        rotated_at timestamptz,
        primary key (user_name, link)
      );
      -- Revoked UUIDs stay known for the quarantine period, so an old one is never reissued.
      create table revoked_links (
        uuid_hash text primary key,
        user_name text not null,
        link text not null,
        revoked_at timestamptz not null default now()
      );

      -- Subscription lifecycle per user (model/subscription.ts SubscriptionRecord).
      create table subscriptions (
        user_name text primary key,
        record jsonb not null,
        updated_at timestamptz not null default now()
      );

      -- Last counter readings per node and key (a peer's public key, an xray email), to turn
      -- cumulative counters into deltas across resets.
      create table usage_counters (
        node text not null,
        kind text not null check (kind in ('wireguard', 'xray')),
        key text not null,
        rx bigint not null,
        tx bigint not null,
        observed_at timestamptz not null,
        primary key (node, kind, key)
      );
      -- Accumulated usage per user, node and UTC day.
      create table usage_totals (
        user_name text not null,
        node text not null,
        day date not null,
        upload bigint not null default 0,
        download bigint not null default 0,
        primary key (user_name, node, day)
      );

      create table applies (
        id bigserial primary key,
        started_at timestamptz not null default now(),
        finished_at timestamptz,
        git_commit text,
        actor text not null,
        host text not null,
        ci_run text,
        result text not null default 'running',
        summary jsonb
      );

      -- Every revision a node went through: file hashes, commit, who and when, and how it ended.
      create table node_revisions (
        node text not null,
        revision int not null,
        apply_id bigint references applies (id),
        hashes jsonb not null,
        git_commit text,
        actor text not null,
        created_at timestamptz not null default now(),
        result text not null,
        primary key (node, revision)
      );

      create table audit_log (
        id bigserial primary key,
        at timestamptz not null default now(),
        actor text not null,
        action text not null,
        subject text not null,
        details jsonb
      );

      -- The apply lease: one row while an apply runs; expired leases may be taken over.
      create table apply_lock (
        id int primary key check (id = 1),
        holder text not null,
        host text not null,
        ci_run text,
        acquired_at timestamptz not null,
        expires_at timestamptz not null
      );

      -- The declarations as last applied (normalized), so a plan can say what changed since.
      create table objects (
        kind text not null,
        name text not null,
        spec jsonb not null,
        applied_at timestamptz not null default now(),
        primary key (kind, name)
      );

      -- SSH host keys trusted on first use.
      create table host_keys (
        node text primary key,
        key text not null,
        recorded_at timestamptz not null default now()
      );
    `,
  },
  {
    version: 2,
    name: 'lease ids and revision contents',
    sql: `
      -- Each lease gets an id, for \`nexus lock release ID\`.
      alter table apply_lock add column holder_id text not null default '';

      -- The files of recent node revisions, for \`nexus rollback\`: gzip, then sealed (they hold private keys).
      create table node_revision_files (
        node text not null,
        revision int not null,
        path text not null,
        kind text not null,
        mode int not null,
        content_sealed text not null,
        primary key (node, revision, path),
        foreign key (node, revision) references node_revisions (node, revision) on delete cascade
      );
    `,
  },
]

/** A fixed key for the migration advisory lock ("nexus" in ASCII). */
const MIGRATION_LOCK = 0x6e65787573

export async function migrate(driver: SqlDriver, lineage: () => string): Promise<{applied: number[]}> {
  // The lock comes first: two sessions creating the same table at once collide in the catalog.
  if (driver.kind === 'pg') await driver.query('select pg_advisory_lock($1)', [MIGRATION_LOCK])
  try {
    await driver.exec(`create table if not exists schema_migrations (
      version int primary key,
      name text not null,
      applied_at timestamptz not null default now()
    )`)
    const rows = await driver.query<{version: number}>('select version from schema_migrations order by version')
    const done = new Set(rows.map((row) => Number(row.version)))
    const newest = Math.max(0, ...done)
    const known = MIGRATIONS.at(-1)?.version ?? 0
    if (newest > known) {
      throw new NexusError(
        'state_too_new',
        `the state database is at schema version ${newest}, but this nexus knows only up to ${known}`,
        'upgrade nexus; an older version must not write to it',
      )
    }
    const applied: number[] = []
    for (const migration of MIGRATIONS) {
      if (done.has(migration.version)) continue
      await driver.transaction(async (tx) => {
        for (const statement of splitStatements(migration.sql)) await tx.query(statement)
        if (migration.version === 1) {
          await tx.query('insert into state_meta (id, serial, lineage) values (1, 0, $1)', [lineage()])
        }
        await tx.query('insert into schema_migrations (version, name) values ($1, $2)', [
          migration.version,
          migration.name,
        ])
      })
      applied.push(migration.version)
    }
    return {applied}
  } finally {
    if (driver.kind === 'pg') await driver.query('select pg_advisory_unlock($1)', [MIGRATION_LOCK])
  }
}

/** Statements of a migration, one per `;`-terminated chunk (migrations hold no `;` inside literals). */
export function splitStatements(sql: string): string[] {
  return sql
    .split('\n')
    .filter((line) => !line.trim().startsWith('--'))
    .join('\n')
    .split(';')
    .map((statement) => statement.trim())
    .filter((statement) => statement !== '')
}
