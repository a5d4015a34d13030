import {type LockStatusResult, lockStatus} from '../../app/lock.js'
import {NexusCommand} from '../../cli/base-command.js'
import {formatLockStatusHuman} from '../../views/lock-view.js'

export default class LockStatus extends NexusCommand<typeof LockStatus> {
  static override summary = 'Show the apply lease: who holds the lock, from where, until when.'
  static override description =
    'An apply holds a lease while it runs and renews it as it goes; a lease that expired (a cancelled CI job, a killed process) blocks nothing, the next apply takes it over. Use nexus lock release ID to clear a live one deliberately.'
  static override examples = ['<%= config.bin %> lock status', '<%= config.bin %> lock status --json']

  async run(): Promise<LockStatusResult> {
    const result = await lockStatus(this.stateLocation, {env: process.env, now: new Date()})
    this.print(formatLockStatusHuman(result, this.style))
    return result
  }
}
