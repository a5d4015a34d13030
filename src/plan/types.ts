/**
 * A plan is data (design.md §4, house rule 3): an ordered list of changes,
 * each with a closed action, a stable snake_case reason and before/after
 * values with secrets redacted, plus per node the artifacts that will change,
 * the revision the node moves to, what was observed there and any drift.
 */

export const PLAN_FORMAT_VERSION = '1'

export type Action = 'create' | 'update' | 'delete' | 'replace'

/** How a change takes effect on a node, and whether that drops live connections. */
export type Effect =
  'state_only' | 'wg_syncconf' | 'interface_restart' | 'nft_reload' | 'xray_api' | 'xray_restart' | 'dnsmasq_restart'

export const DISRUPTIVE: Readonly<Record<Effect, boolean>> = {
  state_only: false,
  wg_syncconf: false,
  interface_restart: true,
  nft_reload: false,
  xray_api: false,
  xray_restart: true,
  dnsmasq_restart: false,
}

/** The stand-in for any secret in plan output. */
export const SENSITIVE = '(sensitive)'

export interface Change {
  /** `tariff.pro`, `user.alice`, `peer.alice-laptop`, `link.alice/phone`, `subscription.alice`, `secret.fra-1/wireguard/wg0`, `node.fra-1/wireguard/wg0` */
  readonly address: string
  readonly action: Action
  /** Stable snake_case, e.g. `declared`, `removed_from_repo`, `fields_changed`, `term_ended`, `peers_changed`. */
  readonly reason: string
  /** Values before and after, secrets replaced by SENSITIVE; absent for create (before) and delete (after). */
  readonly before?: unknown
  readonly after?: unknown
  readonly effect: Effect
  readonly disruptive: boolean
  /** One line a person reads next to the address, e.g. "tariff: basic → pro". */
  readonly summary?: string
}

export interface ArtifactChange extends Change {
  readonly node: string
  /** Where the file lives on the node. */
  readonly path: string
  readonly sha256Before: string | null
  readonly sha256After: string | null
  /** With `plan --diff`: the unified diff, secrets masked; a note when the deployed file could not be read. */
  readonly diff?: string
}

export interface DriftItem {
  /** `file`, `wireguard_peers`, `nftables`, `xray_users` */
  readonly kind: string
  readonly subject: string
  readonly expected: string | null
  readonly observed: string | null
  readonly detail?: string
}

export type NodeStatus = 'planned' | 'unreachable' | 'offline' | 'disabled'

export interface NodePlan {
  readonly node: string
  readonly status: NodeStatus
  /** The revision recorded in state, and the one an apply moves the node to (same when nothing changes). */
  readonly revision: {readonly from: number | null; readonly to: number | null}
  /** Of what was observed; a saved plan is stale when it no longer matches. */
  readonly fingerprint: string | null
  readonly artifacts: readonly ArtifactChange[]
  readonly drift: readonly DriftItem[]
  readonly error?: {readonly code: string; readonly message: string}
}

export interface PlanSummary {
  readonly create: number
  readonly update: number
  readonly delete: number
  readonly replace: number
  readonly drift: number
  readonly unreachable: number
  readonly disruptive: number
}

export interface Plan {
  readonly format_version: typeof PLAN_FORMAT_VERSION
  readonly created_at: string
  readonly git: {readonly commit: string | null; readonly dirty: boolean}
  readonly state: {readonly serial: number; readonly lineage: string | null; readonly kind: 'pg' | 'pglite' | 'none'}
  readonly offline: boolean
  /** State changes, in apply order. */
  readonly changes: readonly Change[]
  readonly nodes: readonly NodePlan[]
  readonly summary: PlanSummary
  readonly has_changes: boolean
  /** Things a person should know that are not changes (an address in quarantine, a full prefix). */
  readonly warnings: readonly string[]
}
