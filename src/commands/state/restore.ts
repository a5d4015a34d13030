import {Args, Flags} from '@oclif/core'

import {restoreStateFile, type RestoreStateResult} from '../../app/state-admin.js'
import {NexusCommand} from '../../cli/base-command.js'

export default class StateRestore extends NexusCommand<typeof StateRestore> {
  static override summary = 'Load a state dump written by nexus state backup.'
  static override description =
    'Refuses to replace a state that already holds anything unless --force is given. The state key in use must be the one the dump was written with. Saved plans made before a restore become stale.'
  static override examples = [
    '<%= config.bin %> state restore nexus-state.json',
    'NEXUS_DATABASE_URL=postgres://nexus@db/nexus <%= config.bin %> state restore laptop-state.json',
  ]
  static override args = {file: Args.string({description: 'dump to load', required: true})}
  static override flags = {force: Flags.boolean({description: 'replace a state that is not empty'})}

  async run(): Promise<RestoreStateResult> {
    const result = await restoreStateFile(this.stateLocation, this.args.file, {
      env: process.env,
      force: this.flags.force,
      notice: (text) => this.notice(text),
    })
    this.print(
      `${this.style.green('✔')} restored ${result.rows} rows from ${result.file} (state serial now ${result.serial})`,
    )
    return result
  }
}
