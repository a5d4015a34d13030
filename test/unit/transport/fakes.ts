/**
 * Test doubles for node observation: a Node whose paths point into a temp
 * directory, and small fake `wg`, `nft` and `xray` scripts whose answers are
 * files in a state directory. Real tools would read (or, by mistake, change)
 * the host; these never do. Shared by the unit and integration tests.
 */
import {chmodSync, mkdirSync, rmSync, writeFileSync} from 'node:fs'
import {join} from 'node:path'

import type {Node} from '../../../src/model/desired.js'
import {shellQuote} from '../../../src/transport/shell.js'
import {node as fixtureNode} from '../../helpers/fixture.js'

export interface FakeNodeOptions {
  readonly name?: string
  readonly ssh?: Partial<Node['ssh']>
  /** Directory the node's paths live under. */
  readonly root?: string
  readonly interfaces?: readonly string[]
  /** null: the node has no xray. */
  readonly xray?: {readonly apiPort: number; readonly tags: readonly string[]} | null
  readonly dns?: boolean
}

export function fakeNode(options: FakeNodeOptions = {}): Node {
  const root = options.root ?? '/srv/nexus-test'
  const template = fixtureNode.interfaces[0]
  const xrayTemplate = fixtureNode.xray
  if (!template || !xrayTemplate) throw new Error('the fixture node changed shape')
  const inbound = xrayTemplate.inbounds[0]
  if (!inbound) throw new Error('the fixture node has no inbound')
  const xray = options.xray === undefined ? {apiPort: 10085, tags: ['vless-reality']} : options.xray
  const {xray: _fixtureXray, ...base} = fixtureNode
  return {
    ...base,
    name: options.name ?? 'fra-1',
    ssh: {host: '127.0.0.1', port: 22, user: 'root', ...options.ssh},
    interfaces: (options.interfaces ?? ['wg0']).map((name) => ({...template, name})),
    ...(xray
      ? {
          xray: {
            ...xrayTemplate,
            apiPort: xray.apiPort,
            inbounds: xray.tags.map((tag) => ({...inbound, tag})),
          },
        }
      : {}),
    dns: {...fixtureNode.dns, enabled: options.dns ?? true},
    paths: {
      wireguard: `${root}/etc/wireguard`,
      nftables: `${root}/etc/nexus/nexus.nft`,
      xray: `${root}/usr/local/etc/xray/config.json`,
      dnsmasq: `${root}/etc/dnsmasq.d/nexus.conf`,
      state: `${root}/var/lib/nexus`,
    },
  }
}

export interface FakeTools {
  readonly binDir: string
  readonly stateDir: string
  /** What `wg show IFACE dump` prints; undefined: "No such device". */
  wgDump(iface: string, text: string | undefined): void
  /** What `nft -s list table inet nexus` prints; undefined: no such table. */
  nftTable(text: string | undefined): void
  /** Make nft fail as an unprivileged user would. */
  nftDenied(denied: boolean): void
  /** What `xray api inbounduser -tag=TAG` prints; undefined: the call fails. */
  xrayUsers(tag: string, json: string | undefined): void
}

/** Writes fake tools into binDir (put it first on PATH); their answers live in stateDir. */
export function installFakeTools(binDir: string, stateDir: string): FakeTools {
  mkdirSync(binDir, {recursive: true})
  for (const sub of ['wg', 'nft', 'xray']) mkdirSync(join(stateDir, sub), {recursive: true})
  const state = shellQuote(stateDir)
  const tool = (name: string, body: string) => {
    const path = join(binDir, name)
    writeFileSync(path, `#!/bin/bash\nstate=${state}\n${body}`)
    chmodSync(path, 0o755)
  }
  tool(
    'wg',
    `if [ "$1" = show ] && [ "$3" = dump ] && [ -f "$state/wg/$2.dump" ]; then cat "$state/wg/$2.dump"; exit 0; fi
echo "Unable to access interface: No such device" >&2
exit 1
`,
  )
  tool(
    'nft',
    `if [ -f "$state/nft/denied" ]; then echo "Error: Operation not permitted" >&2; exit 1; fi
case "$*" in
  'list tables inet')
    echo 'table inet filter'
    if [ -f "$state/nft/nexus.nft" ]; then echo 'table inet nexus'; fi
    ;;
  '-s list table inet nexus')
    if [ -f "$state/nft/nexus.nft" ]; then cat "$state/nft/nexus.nft"; exit 0; fi
    echo 'Error: No such file or directory' >&2
    exit 1
    ;;
  *)
    echo "fake nft cannot do: $*" >&2
    exit 2
    ;;
esac
`,
  )
  tool(
    'xray',
    `[ "$1" = api ] && [ "$2" = inbounduser ] || { echo "unknown command: $*" >&2; exit 1; }
for arg; do case $arg in -tag=*) tag=\${arg#-tag=} ;; esac; done
if [ -f "$state/xray/$tag.json" ]; then cat "$state/xray/$tag.json"; exit 0; fi
echo "failed to get inbound user: rpc error: code = Unknown desc = handler not found: $tag" >&2
exit 1
`,
  )
  const put = (path: string, text: string | undefined) => {
    if (text === undefined) rmSync(path, {force: true})
    else writeFileSync(path, text)
  }
  return {
    binDir,
    stateDir,
    wgDump: (iface, text) => put(join(stateDir, 'wg', `${iface}.dump`), text),
    nftTable: (text) => put(join(stateDir, 'nft', 'nexus.nft'), text),
    nftDenied: (denied) => put(join(stateDir, 'nft', 'denied'), denied ? '' : undefined),
    xrayUsers: (tag, json) => put(join(stateDir, 'xray', `${tag}.json`), json),
  }
}

/** Writes a file of the node's layout under its root, creating directories. */
export function writeNodeFile(path: string, content: string): void {
  mkdirSync(path.slice(0, path.lastIndexOf('/')), {recursive: true})
  writeFileSync(path, content)
}

/** A `wg show dump` with the private key column as a real node prints it. */
export const WG_DUMP_HEAD =
  'mCJedxTbRkahJYVHRAKzq82Nk+yes6U1v9+X9i41AkU=\tEC+vL9zFwYUyp/TTvKFZqCkiI3uzISxGk6t4Swm9J0Q=\t51820\toff'
export const WG_PRIVATE_KEY = 'mCJedxTbRkahJYVHRAKzq82Nk+yes6U1v9+X9i41AkU='
export const WG_PUBLIC_KEY = 'EC+vL9zFwYUyp/TTvKFZqCkiI3uzISxGk6t4Swm9J0Q='

/** xray's answer as `xray api inbounduser` prints it (accounts hold credentials). */
export function xrayResponse(emails: readonly string[]): string {
  if (emails.length === 0) return '{}\n'
  const users = emails.map((email, i) => ({
    email,
    account: {id: `1db9f8ba-d1ad-4b0e-cea2-6edf9947da${String(i).padStart(2, '0')}`, flow: 'xtls-rprx-vision'},
  }))
  return `${JSON.stringify({users}, null, 2)}\n`
}
