import {basename, resolve} from 'node:path'

import {Args, Flags} from '@oclif/core'

import {scaffoldFiles} from '../app/scaffold.js'
import {NexusCommand} from '../cli/base-command.js'
import {writeScaffold} from '../git/scaffold.js'
import {NAME_PATTERN} from '../model/names.js'

export interface InitResult {
  directory: string
  project: string
  files: string[]
  gitInitialized: boolean
}

export default class Init extends NexusCommand<typeof Init> {
  static override summary = 'Create a new declarations repo.'
  static override description =
    'Writes nexus.yaml, one folder per kind with starter declarations, JSON Schemas for editors and a .gitignore that keeps .nexus/ (local state) out of git. The result passes nexus validate.'
  static override examples = ['<%= config.bin %> init my-vpn', '<%= config.bin %> init . --name acme-vpn']
  static override args = {
    dir: Args.string({description: 'directory to create the repo in', default: '.'}),
  }
  static override flags = {
    name: Flags.string({description: 'project name (default: the directory name, made a valid name)'}),
    git: Flags.boolean({
      description: 'run git init when the directory is not in a git repository',
      default: true,
      allowNo: true,
    }),
  }

  async run(): Promise<InitResult> {
    const directory = resolve(this.args.dir)
    const project = this.flags.name ?? projectNameFrom(basename(directory))
    if (!NAME_PATTERN.test(project)) {
      this.error(`project name "${project}" is not a valid name`, {
        exit: 1,
        suggestions: ['use lower-case letters, digits and "-", starting with a letter (--name acme-vpn)'],
      })
    }
    const files = scaffoldFiles(project)
    const {gitInitialized} = await writeScaffold(directory, files, {git: this.flags.git})
    this.print(
      `${this.style.green('✔')} created ${this.args.dir} (project ${project})${gitInitialized ? ', git initialized' : ''}\n` +
        `next: edit nodes/gw-1.yaml, add users and peers, then run ${this.style.bold(`nexus validate --repo ${this.args.dir}`)}`,
    )
    return {directory, project, files: [...files.keys()].sort(), gitInitialized}
  }
}

function projectNameFrom(directoryName: string): string {
  const cleaned = directoryName
    .toLowerCase()
    .replace(/[^a-z0-9-]+/g, '-')
    .replace(/^[^a-z]+/, '')
    .replace(/-+$/, '')
    .slice(0, 63)
  return cleaned === '' ? 'nexus' : cleaned
}
