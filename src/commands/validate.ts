import {Flags} from '@oclif/core'

import {validateRepo} from '../app/validate.js'
import {NexusCommand} from '../cli/base-command.js'
import {
  formatGithubAnnotations,
  formatValidateHuman,
  type ValidateResult,
  validateResult,
} from '../views/validate-view.js'

export default class Validate extends NexusCommand<typeof Validate> {
  static override summary = 'Check every declaration in the repo and report all problems at once.'
  static override description =
    'Reads every *.yaml/*.yml file under the repo (skipping hidden folders and node_modules), checks each document against its kind, then checks the references between them. Exits 1 when there is any error.'
  static override examples = [
    '<%= config.bin %> validate',
    '<%= config.bin %> validate --repo examples/fleet --json | jq .errorCount',
    '<%= config.bin %> validate --format github',
  ]
  static override flags = {
    format: Flags.string({
      description: 'output format for people or for CI annotations',
      options: ['human', 'github'],
      default: 'human',
    }),
  }

  async run(): Promise<ValidateResult> {
    const inventory = await validateRepo(this.repoPath, {location: this.stateLocation, env: process.env})
    const result = validateResult(inventory, this.repoArg)
    if (!result.valid) process.exitCode = 1
    if (this.flags.format === 'github') this.print(formatGithubAnnotations(result) || 'nexus: no problems\n')
    else this.print(formatValidateHuman(result, this.style))
    return result
  }
}
