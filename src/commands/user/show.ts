import {Args} from '@oclif/core'

import {showUser, type UserShown} from '../../app/user.js'
import {NexusCommand} from '../../cli/base-command.js'
import {formatUserShown} from '../../views/user-view.js'

export default class UserShow extends NexusCommand<typeof UserShow> {
  static override summary = 'Show one user: declaration, subscription and devices.'
  static override description =
    "The user's declaration, the subscription as state records it (status, tariff in effect, term, expiry, traffic), their links (whether state has issued each one's UUID; the UUIDs are credentials and are not shown) and their WireGuard devices. The state is only read."
  static override examples = ['<%= config.bin %> user show alice', '<%= config.bin %> user show alice --json']
  static override args = {name: Args.string({description: 'name of the user', required: true})}

  async run(): Promise<UserShown> {
    const result = await showUser({
      root: this.repoPath,
      location: this.stateLocation,
      env: process.env,
      now: new Date(),
      name: this.args.name,
    })
    this.print(formatUserShown(result, this.style))
    return result
  }
}
