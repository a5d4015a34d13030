/**
 * Brings a state in line with a generated repo without any node: plan, write
 * the state the plan asks for, and record for every node the revision whose
 * hashes are those of its rendered files, as a verified apply would. The next
 * offline plan is then a no-op.
 */
import {planRepo} from '../../src/app/plan.js'
import {openState, type StateLocation} from '../../src/state/open.js'
import {SshTransport} from '../../src/transport/ssh.js'
import {applyStateOnly} from '../../test/helpers/plan.js'

export async function seedState(root: string, location: StateLocation, now: Date): Promise<void> {
  const env = {...process.env}
  const run = await planRepo({root, location, env, offline: true, transport: new SshTransport({env}), now})
  if (!run.result) throw new Error(`seeding ${root}: the declarations do not validate`)
  const store = await openState(location, {mode: 'write', env})
  if (!store) throw new Error(`seeding ${root}: no state could be opened`)
  try {
    await applyStateOnly(store, run.result)
  } finally {
    await store.close()
  }
}
