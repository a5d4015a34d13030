import {Flags} from '@oclif/core'

import {renderRepo} from '../app/render.js'
import {NexusCommand} from '../cli/base-command.js'
import {writeRenderTree} from '../transport/local-tree.js'
import {
  describeFile,
  describing,
  formatRenderHuman,
  type RenderedFileJson,
  type RenderResult,
  renderResult,
} from '../views/render-view.js'
import {formatValidateHuman, type ValidateResult, validateResult} from '../views/validate-view.js'

export default class Render extends NexusCommand<typeof Render> {
  static override summary = 'Render what every node and client would get, without touching anything.'
  static override description =
    'Validates the repo, then renders per node its WireGuard interfaces (wireguard/IFACE.conf), nftables table (nftables/nexus.nft), xray config (xray/config.json) and DNS overrides (dnsmasq/nexus.conf), and a wg-quick file per peer (clients/PEER.conf). Without --out it lists the files; with --out it writes the tree, replacing an earlier render there.'
  static override examples = [
    '<%= config.bin %> render',
    '<%= config.bin %> render --repo examples/quickstart --out /tmp/render',
    '<%= config.bin %> render --node fra-1 --json | jq ".files[].path"',
  ]
  static override flags = {
    node: Flags.string({description: "render only this node's files and its clients"}),
    out: Flags.string({description: 'write the files under this directory'}),
  }

  async run(): Promise<RenderResult | ValidateResult> {
    const run = await renderRepo(this.repoPath, {
      ...(this.flags.node ? {node: this.flags.node} : {}),
      now: new Date(),
      location: this.stateLocation,
      env: process.env,
    })
    if (!run.files) {
      // Nothing is rendered from invalid declarations: show why, as validate would.
      const invalid = validateResult(run.inventory, this.repoArg)
      process.exitCode = 1
      this.print(formatValidateHuman(invalid, this.style))
      return invalid
    }
    const described: RenderedFileJson[] = []
    if (this.flags.out) await writeRenderTree(this.flags.out, describing(run.files, described))
    else for (const file of run.files) described.push(describeFile(file))
    const result = renderResult(described, run.preview, this.flags.out)
    this.print(formatRenderHuman(result, this.style))
    return result
  }
}
