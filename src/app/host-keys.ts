/** `nexus node forget-host-key`: drop a host key trusted on first use, after a deliberate change on the node. */
import {NexusError} from '../errors.js'
import {openState, type StateLocation} from '../state/open.js'

export interface ForgetHostKeyResult {
  node: string
  forgotten: boolean
  key: string | null
}

export async function forgetHostKey(
  location: StateLocation,
  node: string,
  options: {env: NodeJS.ProcessEnv},
): Promise<ForgetHostKeyResult> {
  const store = await openState(location, {mode: 'read', env: options.env})
  if (!store) throw new NexusError('no_state', 'there is no state, so no host key is recorded')
  try {
    const [row] = await store.driver.query<{key: string}>('select key from host_keys where node = $1', [node])
    if (!row) return {node, forgotten: false, key: null}
    await store.forgetHostKey(node)
    return {node, forgotten: true, key: row.key}
  } finally {
    await store.close()
  }
}
