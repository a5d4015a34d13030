import {Args} from '@oclif/core'

import {type LockReleaseResult, releaseLock} from '../../app/lock.js'
import {NexusCommand} from '../../cli/base-command.js'
import {formatLockReleaseHuman} from '../../views/lock-view.js'

export default class LockRelease extends NexusCommand<typeof LockRelease> {
  static override summary = 'Remove the apply lease with this id.'
  static override description =
    'For an apply that died while holding the lock. Make sure it is really gone first: an apply still running goes on without the lock, and another one could start beside it. The id is shown by nexus lock status and in the error of an apply that waited for the lock.'
  static override examples = ['<%= config.bin %> lock release 6f1c2d3e-0a4b-4c5d-8e9f-0123456789ab']
  static override args = {id: Args.string({description: 'the lease id (nexus lock status shows it)', required: true})}

  async run(): Promise<LockReleaseResult> {
    const result = await releaseLock(this.stateLocation, this.args.id, {env: process.env, now: new Date()})
    this.print(formatLockReleaseHuman(result, this.style))
    return result
  }
}
