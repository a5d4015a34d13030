import {Args} from '@oclif/core'

import {type ForgetHostKeyResult, forgetHostKey} from '../../app/host-keys.js'
import {NexusCommand} from '../../cli/base-command.js'

export default class NodeForgetHostKey extends NexusCommand<typeof NodeForgetHostKey> {
  static override summary = "Forget a node's SSH host key that was trusted on first use."
  static override description =
    'Use it after the node was reinstalled or its host key rotated on purpose: the next connection trusts and records the key it is offered. A key pinned with ssh.hostKey is not in state; change it in the YAML instead.'
  static override examples = ['<%= config.bin %> node forget-host-key fra-1']
  static override args = {node: Args.string({description: 'node name', required: true})}

  async run(): Promise<ForgetHostKeyResult> {
    const result = await forgetHostKey(this.stateLocation, this.args.node, {env: process.env})
    this.print(
      result.forgotten
        ? `${this.style.green('✔')} forgot the host key of ${result.node} (${result.key?.split(' ')[0]}); the next connection records the key it is offered`
        : `no host key is recorded for ${result.node}`,
    )
    return result
  }
}
