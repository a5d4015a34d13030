import type {HostKeyStore} from '../transport/types.js'
import type {StateStore} from './store.js'

/** Host keys trusted on first use, kept in the state (what apply passes to the transport). */
export function stateHostKeys(store: StateStore, known: ReadonlyMap<string, string>): HostKeyStore {
  const keys = new Map(known)
  return {
    get: async (node) => keys.get(node),
    record: async (node, key) => {
      keys.set(node, key)
      await store.recordHostKey(node, key)
    },
  }
}
