import {Args} from '@oclif/core'

import {type BackupResult, backupState} from '../../app/state-admin.js'
import {NexusCommand} from '../../cli/base-command.js'

export default class StateBackup extends NexusCommand<typeof StateBackup> {
  static override summary = 'Write the whole state to a portable JSON file.'
  static override description =
    'The dump works across the embedded database and Postgres. Secrets stay encrypted in it, so restoring them needs the same state key (NEXUS_SECRET_KEY or .nexus/secret.key). The file is written with mode 0600.'
  static override examples = ['<%= config.bin %> state backup nexus-state.json']
  static override args = {file: Args.string({description: 'file to write', required: true})}

  async run(): Promise<BackupResult> {
    const result = await backupState(this.stateLocation, this.args.file, {env: process.env, now: new Date()})
    this.print(
      `${this.style.green('✔')} backed up ${result.rows} rows (state serial ${result.serial}) to ${result.file}`,
    )
    return result
  }
}
