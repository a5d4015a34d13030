/**
 * Every table that holds state, in an order that satisfies foreign keys on
 * insert: what a dump carries, what a restore replaces, and what must all be
 * empty for a state to count as empty. The apply lease (apply_lock) is not
 * state to restore; state_meta and schema_migrations describe the database.
 */
export interface StateTable {
  readonly name: string
  readonly orderBy: string
  readonly sequence?: string
}

export const STATE_TABLES: readonly StateTable[] = [
  {name: 'secrets', orderBy: 'scope, name'},
  {name: 'address_allocations', orderBy: 'node, iface, address'},
  {name: 'links', orderBy: 'user_name, link'},
  {name: 'revoked_links', orderBy: 'uuid_hash'},
  {name: 'subscriptions', orderBy: 'user_name'},
  {name: 'usage_counters', orderBy: 'node, kind, key'},
  {name: 'usage_totals', orderBy: 'user_name, node, day'},
  {name: 'applies', orderBy: 'id', sequence: 'id'},
  {name: 'node_revisions', orderBy: 'node, revision'},
  {name: 'node_revision_files', orderBy: 'node, revision, path'},
  {name: 'audit_log', orderBy: 'id', sequence: 'id'},
  {name: 'host_keys', orderBy: 'node'},
  {name: 'objects', orderBy: 'kind, name'},
]
