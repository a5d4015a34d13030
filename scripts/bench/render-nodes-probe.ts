/**
 * Profiling aid: the render of every node's files (what a plan renders, no
 * client configs) on preview state values, with the CPU time of each format.
 *
 *   npx tsx scripts/bench/render-nodes-probe.ts REPO
 */
import {loadRepo} from '../../src/app/load-repo.js'
import {Fleet} from '../../src/model/fleet.js'
import {renderDnsmasq} from '../../src/render/dnsmasq.js'
import {renderNftables} from '../../src/render/nftables.js'
import {renderWireguardInterface} from '../../src/render/wireguard.js'
import {renderXray} from '../../src/render/xray.js'
import {previewStateValues} from '../../src/state/preview.js'

const root = process.argv[2]
if (!root) throw new Error('usage: render-nodes-probe REPO')
const desired = (await loadRepo(root)).desired
if (!desired) throw new Error(`${root} does not validate`)
const fleet = new Fleet(desired, previewStateValues(desired, new Date('2026-11-01T00:00:00Z')))
const ms: Record<string, number> = {wireguard: 0, nftables: 0, xray: 0, dnsmasq: 0}
const bytes: Record<string, number> = {wireguard: 0, nftables: 0, xray: 0, dnsmasq: 0}
// CPU time rather than wall time: steadier on a shared machine.
const time = (format: string, render: () => string | undefined) => {
  const start = process.cpuUsage()
  const text = render()
  const used = process.cpuUsage(start)
  ms[format] = (ms[format] ?? 0) + (used.user + used.system) / 1000
  bytes[format] = (bytes[format] ?? 0) + (text?.length ?? 0)
}
for (const node of desired.nodes) {
  for (const iface of node.interfaces) time('wireguard', () => renderWireguardInterface(fleet, node, iface))
  time('nftables', () => renderNftables(fleet, node))
  time('xray', () => renderXray(fleet, node))
  time('dnsmasq', () => renderDnsmasq(fleet, node))
}
for (const format of Object.keys(ms)) {
  console.log(
    `${format.padEnd(10)} ${ms[format]!.toFixed(0).padStart(7)} ms ${(bytes[format]! / 2 ** 20).toFixed(1).padStart(8)} MiB`,
  )
}
