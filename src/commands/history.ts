import {Flags} from '@oclif/core'

import {type HistoryResult, revisionHistory} from '../app/history.js'
import {NexusCommand} from '../cli/base-command.js'
import {formatHistoryHuman} from '../views/history-view.js'

export default class History extends NexusCommand<typeof History> {
  static override summary = 'List node revisions, newest first, with the files each one changed.'
  static override description =
    'Every apply records a revision per node it pushed to: its number, how it ended (verified or diverged), when, the git commit and who applied it. History lists them newest first with the files that changed since the previous revision of the same node, marks rollbacks, and says which revisions still have their files kept for nexus rollback (the newest 10 per node).'
  static override examples = [
    '<%= config.bin %> history',
    '<%= config.bin %> history --node fra-1 --limit 5',
    '<%= config.bin %> history --json | jq ".entries[0]"',
  ]
  static override flags = {
    node: Flags.string({description: 'only this node'}),
    limit: Flags.integer({description: 'show at most this many revisions', default: 50, min: 1}),
  }

  async run(): Promise<HistoryResult> {
    const result = await revisionHistory({
      location: this.stateLocation,
      env: process.env,
      limit: this.flags.limit,
      ...(this.flags.node ? {node: this.flags.node} : {}),
    })
    this.print(formatHistoryHuman(result, this.style))
    return result
  }
}
