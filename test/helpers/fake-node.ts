/**
 * A node for apply tests that touches nothing on the host: its files live in
 * a temp root, and the tools it runs are small scripts first on the session
 * PATH. `nft -c` is the real nft inside `unshare -n`; `wg pubkey` and
 * `wg-quick strip` are the real (pure) ones; loading, syncing and restarting
 * only record what a real node would then report (`wg show dump`,
 * `nft -s list table`), and write a log of every reload.
 */
import {chmodSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync} from 'node:fs'
import {join} from 'node:path'

import {shellQuote} from '../../src/transport/shell.js'

export interface FakeNode {
  /** Put first on the session PATH. */
  readonly binDir: string
  /** Where the node's files go (paths.* point below it). */
  readonly root: string
  /** Every reload, one line each: `sync wg0`, `restart wg0`, `nft-load`, `dnsmasq-restart`, ... */
  log(): string[]
  /** Make a reload fail (`dnsmasq-restart`, `nft-load`, `sync`, `restart`), or succeed again. */
  failing(what: string, fail: boolean): void
  /** The node's YAML `paths:` and `reload:` blocks. */
  readonly yaml: string
  readonly stateDir: string
}

const REAL = {nft: '/usr/sbin/nft', wg: '/usr/bin/wg', wgQuick: '/usr/bin/wg-quick', dnsmasq: '/usr/sbin/dnsmasq'}

export function installFakeNode(dir: string): FakeNode {
  const binDir = join(dir, 'bin')
  const root = join(dir, 'root')
  const stateDir = join(dir, 'fake')
  for (const d of [binDir, root, join(stateDir, 'wg'), join(stateDir, 'fail')]) mkdirSync(d, {recursive: true})
  const state = shellQuote(stateDir)
  const tool = (name: string, body: string) => {
    const path = join(binDir, name)
    writeFileSync(path, `#!/bin/bash\nset -u\nstate=${state}\n${body}`)
    chmodSync(path, 0o755)
  }
  /** Fails when told to, else logs `WHAT [ARG]`. */
  const failIf = (what: string, logged = `${what}\${1:+ $1}`) =>
    `if [ -e "$state/fail/${what}" ]; then echo "${what} failed (test)" >&2; exit 1; fi\necho "${logged}" >> "$state/log"\n`
  tool(
    'nft',
    `case "\${1:-}" in
  -c) exec unshare -n ${REAL.nft} "$@" ;;
  -f) ${failIf('nft-load', 'nft-load')}cp -- "$2" "$state/nft.loaded" ;;
  -s) if [ -f "$state/nft.loaded" ]; then cat "$state/nft.loaded"; else echo 'Error: No such file or directory' >&2; exit 1; fi ;;
  list) echo 'table inet filter'; [ -f "$state/nft.loaded" ] && echo 'table inet nexus' || true ;;
  delete) rm -f "$state/nft.loaded" ;;
  *) echo "fake nft cannot do: $*" >&2; exit 2 ;;
esac
`,
  )
  tool(
    'wg',
    `if [ "\${1:-}" = show ] && [ "\${3:-}" = dump ]; then
  if [ -f "$state/wg/$2.dump" ]; then cat "$state/wg/$2.dump"; exit 0; fi
  echo "Unable to access interface: No such device" >&2; exit 1
fi
exec ${REAL.wg} "$@"
`,
  )
  tool('wg-quick', `exec ${REAL.wgQuick} "$@"\n`)
  // What a real interface reports once it runs a wg-quick file.
  const load = `conf="$2"; iface="$1"
priv=$(sed -n 's/^PrivateKey = //p' "$conf")
port=$(sed -n 's/^ListenPort = //p' "$conf")
{
  printf '(hidden)\\t%s\\t%s\\toff\\n' "$(printf '%s' "$priv" | ${REAL.wg} pubkey)" "$port"
  awk '/^\\[Peer\\]/{if(k)print k"\\t(none)\\t(none)\\t"a"\\t0\\t0\\t0\\toff"; k="";a="(none)"} /^PublicKey = /{k=$3} /^AllowedIPs = /{sub(/^AllowedIPs = /,""); gsub(/, /,","); a=$0} END{if(k)print k"\\t(none)\\t(none)\\t"a"\\t0\\t0\\t0\\toff"}' "$conf"
} > "$state/wg/$iface.dump"
`
  tool('fake-wg-sync', `${failIf('sync')}${load}`)
  tool('fake-wg-restart', `${failIf('restart')}${load}`)
  tool('fake-wg-down', `${failIf('down')}rm -f "$state/wg/$1.dump"\n`)
  tool(
    'fake-reload',
    `if [ -e "$state/fail/$1" ]; then echo "$1 failed (test)" >&2; exit 1; fi\necho "$1" >> "$state/log"\n`,
  )
  tool('dnsmasq', `exec ${REAL.dnsmasq} "$@"\n`)
  const yaml = [
    'paths:',
    `  wireguard: ${root}/etc/wireguard`,
    `  nftables: ${root}/etc/nexus/nexus.nft`,
    `  xray: ${root}/etc/xray/config.json`,
    `  dnsmasq: ${root}/etc/dnsmasq.d/nexus.conf`,
    `  state: ${root}/var/lib/nexus`,
    'reload:',
    '  wireguard: fake-wg-sync {iface} {file}',
    '  wireguardRestart: fake-wg-restart {iface} {file}',
    '  wireguardDown: fake-wg-down {iface}',
    '  nftables: nft -f {file}',
    '  xray: fake-reload xray-restart',
    '  dnsmasq: fake-reload dnsmasq-restart',
    '',
  ].join('\n')
  return {
    binDir,
    root,
    stateDir,
    yaml,
    log: () => {
      const file = join(stateDir, 'log')
      return existsSync(file) ? readFileSync(file, 'utf8').trim().split('\n').filter(Boolean) : []
    },
    failing: (what, fail) => {
      const file = join(stateDir, 'fail', what)
      if (fail) writeFileSync(file, '')
      else rmSync(file, {force: true})
    },
  }
}
