/** Saving a plan needs the state key; the embedded state gets one on first use. */
import type {PlanResult} from '../plan/index.js'
import type {StateLocation} from '../state/open.js'
import {writePlanFile} from '../state/plan-file.js'
import {NexusError} from '../errors.js'
import {loadSecretKey} from '../state/secret-key.js'

export async function savePlan(
  location: StateLocation,
  path: string,
  result: PlanResult,
  options: {env: NodeJS.ProcessEnv; notice: (text: string) => void},
): Promise<void> {
  const key = await loadSecretKey({env: options.env, keyFile: location.keyFile, create: location.kind === 'pglite'})
  if (!key) {
    throw new NexusError(
      'missing_secret_key',
      'saving a plan for a Postgres state needs NEXUS_SECRET_KEY',
      'set NEXUS_SECRET_KEY to the key everyone sharing the state uses',
    )
  }
  if (key.created)
    options.notice(`nexus: created ${key.created} (mode 0600); it decrypts the state's secrets, so back it up`)
  await writePlanFile(path, result.plan, result.state.write, key.box)
}
