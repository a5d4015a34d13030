import {listUsers, type UserListResult} from '../../app/user.js'
import {NexusCommand} from '../../cli/base-command.js'
import {formatUserList} from '../../views/user-view.js'

export default class UserList extends NexusCommand<typeof UserList> {
  static override summary = 'List the users, with their subscriptions as state records them.'
  static override description =
    'One row per declared user: e-mail, declared status and tariff, number of devices, and, once an apply has recorded it, the subscription: its status, the tariff in effect (a nextTariff switch may have moved it), when it expires and the traffic used in the current period. The state is only read.'
  static override examples = [
    '<%= config.bin %> user list',
    '<%= config.bin %> user list --json | jq ".users[].subscription"',
  ]

  async run(): Promise<UserListResult> {
    const result = await listUsers({
      root: this.repoPath,
      location: this.stateLocation,
      env: process.env,
      now: new Date(),
    })
    this.print(formatUserList(result, this.style))
    return result
  }
}
