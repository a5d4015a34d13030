import {Args, Flags} from '@oclif/core'

import {disableUser, type UserDisabled} from '../../app/user.js'
import {NexusCommand} from '../../cli/base-command.js'
import {formatUserDisabled} from '../../views/user-view.js'

export default class UserDisable extends NexusCommand<typeof UserDisable> {
  static override summary = "Disable a user: set status: disabled in the user's YAML."
  static override description =
    "Changes only that value in the user's document (or adds the line), so the file keeps its comments and formatting. The repo must still validate, or nothing is written. The next apply takes the user's devices and links off the nodes and cuts their sessions. --commit commits exactly that file."
  static override examples = ['<%= config.bin %> user disable bob', '<%= config.bin %> user disable bob --commit']
  static override args = {name: Args.string({description: 'name of the user', required: true})}
  static override flags = {
    commit: Flags.boolean({description: 'commit the change (only that file)'}),
  }

  async run(): Promise<UserDisabled> {
    const result = await disableUser({
      root: this.repoPath,
      location: this.stateLocation,
      env: process.env,
      now: new Date(),
      name: this.args.name,
      commit: this.flags.commit === true,
    })
    this.print(formatUserDisabled(result, this.style))
    if (result.changed) {
      this.notice(
        `next: ${result.committed ? '' : `commit ${result.file}, then `}nexus apply takes the user off the nodes`,
      )
    }
    return result
  }
}
