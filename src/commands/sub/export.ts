import {Args, Flags} from '@oclif/core'

import {exportSubscription, type SubscriptionExport} from '../../app/subscription.js'
import {NexusCommand} from '../../cli/base-command.js'
import {writeFileAtomic} from '../../transport/local-files.js'
import {SUBSCRIPTION_FORMATS} from '../../render/subscription/index.js'

export default class SubExport extends NexusCommand<typeof SubExport> {
  static override summary = "Print a user link's subscription as v2ray links, Clash Meta YAML or sing-box JSON."
  static override description =
    'Lists every proxy the user’s tariff allows on every active node it allows (maintenance and disabled nodes left out), with the link’s UUID and the node keys from the state: the same body nexus sub serve gives for the link. Refuses while the state does not hold them yet (run nexus apply first) and for a subscription that is not active. The body goes to stdout, or to --out FILE (mode 0600).'
  static override examples = [
    '<%= config.bin %> sub export alice',
    '<%= config.bin %> sub export alice --link phone --format clash --out alice-phone.yaml',
    '<%= config.bin %> sub export alice --format singbox --json | jq .proxies',
  ]
  static override args = {
    user: Args.string({description: 'the user', required: true}),
  }
  static override flags = {
    link: Flags.string({description: 'the link of the user', default: 'default'}),
    format: Flags.string({
      description: 'v2ray (base64 share links), clash (mihomo YAML) or singbox (JSON)',
      options: [...SUBSCRIPTION_FORMATS],
      default: 'v2ray',
    }),
    out: Flags.string({description: 'write the body to this file instead of stdout'}),
  }

  async run(): Promise<SubscriptionExport> {
    const result = await exportSubscription(this.repoPath, {
      user: this.args.user,
      link: this.flags.link,
      format: this.flags.format as SubscriptionExport['format'],
      location: this.stateLocation,
      env: process.env,
      now: new Date(),
    })
    if (this.flags.out !== undefined) {
      await writeFileAtomic(this.flags.out, result.body)
      const count = `${result.proxies.length} prox${result.proxies.length === 1 ? 'y' : 'ies'}`
      this.print(
        `${this.style.green('✔')} wrote the ${result.format} subscription of ${result.user}/${result.link} (${count}) to ${this.flags.out}`,
      )
    } else if (!this.jsonEnabled()) {
      // The body exactly as served; a newline only to keep a terminal prompt off its last line.
      const tail = process.stdout.isTTY && !result.body.endsWith('\n') ? '\n' : ''
      process.stdout.write(`${result.body}${tail}`)
    }
    if (result.proxies.length === 0) {
      this.notice(`nexus: ${result.user}'s tariff allows no proxy on an active node, so the subscription is empty`)
    }
    return result
  }
}
