/** `nexus validate`: the repo's declarations, checked against state too when there is one (read only). */
import type {Inventory} from '../inventory/load.js'
import {openState, type StateLocation} from '../state/open.js'
import {loadRepo} from './load-repo.js'
import {serverKeys} from './server-keys.js'

export async function validateRepo(
  root: string,
  options: {location: StateLocation; env: NodeJS.ProcessEnv},
): Promise<Inventory> {
  const store = await openState(options.location, {mode: 'read', env: options.env})
  try {
    return await loadRepo(root, {serverKeys: serverKeys(await store?.publicValues())})
  } finally {
    await store?.close()
  }
}
