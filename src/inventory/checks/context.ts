import {KINDS, type Kind} from '../../model/declarations.js'
import type {Desired} from '../../model/desired.js'
import type {DeclarationSet, Declared, Reporter} from '../declared.js'

export interface CheckContext {
  readonly set: DeclarationSet
  readonly desired: Desired
  readonly reporter: Reporter
  /** Declarations by kind and name (the first one, when a name is duplicated). */
  declared<K extends Kind>(kind: K, name: string): Declared<K> | undefined
  names(kind: Kind): ReadonlySet<string>
  /** Public keys of gateway interfaces already in state, by `node/iface`. */
  readonly serverKeys: ReadonlyMap<string, string>
}

export type Check = (context: CheckContext) => void

export function createCheckContext(
  set: DeclarationSet,
  desired: Desired,
  reporter: Reporter,
  serverKeys: ReadonlyMap<string, string>,
): CheckContext {
  const index = new Map<Kind, Map<string, Declared>>()
  for (const kind of KINDS) {
    const list = set[kind] as Declared[]
    const byName = new Map<string, Declared>()
    for (const item of list) if (!byName.has(item.name)) byName.set(item.name, item)
    index.set(kind, byName)
  }
  const nameSets = new Map<Kind, Set<string>>()
  for (const [kind, byName] of index) nameSets.set(kind, new Set(byName.keys()))
  return {
    set,
    desired,
    reporter,
    serverKeys,
    declared: <K extends Kind>(kind: K, name: string) => index.get(kind)?.get(name) as Declared<K> | undefined,
    names: (kind) => nameSets.get(kind) ?? new Set(),
  }
}
