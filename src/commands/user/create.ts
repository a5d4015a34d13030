import {Args, Flags} from '@oclif/core'

import {createUser, type UserCreated} from '../../app/user.js'
import {NexusCommand} from '../../cli/base-command.js'
import {formatUserCreated} from '../../views/user-view.js'

export default class UserCreate extends NexusCommand<typeof UserCreate> {
  static override summary = 'Add a user to the repo.'
  static override description =
    "Writes the User declaration into users/NAME.yaml (with the editor schema header), or appends it when all users live in one multi-document file; existing files keep their comments and formatting. The whole repo must validate with the new user (its tariff and groups must exist), or nothing is written. The user's link UUIDs are issued in state by the next apply. --commit commits exactly that file."
  static override examples = [
    '<%= config.bin %> user create dave --tariff basic --email dave@example.com',
    '<%= config.bin %> user create erin --tariff pro --group staff --link phone --link laptop --commit',
  ]
  static override args = {name: Args.string({description: 'name of the user (a DNS label)', required: true})}
  static override flags = {
    tariff: Flags.string({description: 'tariff the user subscribes to', required: true}),
    email: Flags.string({description: 'e-mail address'}),
    group: Flags.string({
      description: 'group the user belongs to (repeatable, or comma-separated)',
      multiple: true,
      delimiter: ',',
    }),
    link: Flags.string({
      description: 'named subscription link (repeatable; default: one link named "default")',
      multiple: true,
      delimiter: ',',
    }),
    status: Flags.string({
      description: 'status (default active)',
      options: ['active', 'pending', 'rejected', 'disabled'],
    }),
    commit: Flags.boolean({description: 'commit the written file (only that file)'}),
  }

  async run(): Promise<UserCreated> {
    const {flags} = this
    const result = await createUser({
      root: this.repoPath,
      location: this.stateLocation,
      env: process.env,
      now: new Date(),
      name: this.args.name,
      tariff: flags.tariff,
      ...(flags.email ? {email: flags.email} : {}),
      ...(flags.group ? {groups: flags.group} : {}),
      ...(flags.link ? {links: flags.link} : {}),
      ...(flags.status ? {status: flags.status as 'active' | 'pending' | 'rejected' | 'disabled'} : {}),
      commit: flags.commit === true,
    })
    this.print(formatUserCreated(result, this.style))
    this.notice(`next: ${result.committed ? '' : `commit ${result.file}, then `}nexus apply activates the subscription`)
    return result
  }
}
