/**
 * A node for apply tests that touches nothing on the host: its files live in
 * a temp root, and the tools it runs are small scripts first on the session
 * PATH. `nft -c` is the real nft inside `unshare -n`; `wg pubkey` and
 * `wg-quick strip` are the real (pure) ones; loading, syncing and restarting
 * only record what a real node would then report (`wg show dump`,
 * `nft -s list table`), and write a log of every reload.
 */
import {chmodSync, existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync} from 'node:fs'
import {join} from 'node:path'

import {shellQuote} from '../../src/transport/shell.js'

export interface FakeNode {
  /** Put first on the session PATH. */
  readonly binDir: string
  /** Where the node's files go (paths.* point below it). */
  readonly root: string
  /** Every reload, one line each: `sync wg0`, `restart wg0`, `nft-load`, `dnsmasq-restart`, ... */
  log(): string[]
  /**
   * Make a reload fail (`dnsmasq-restart`, `xray-restart`, `nft-load`, `sync`, `restart`, `down`), or the
   * on-node check `nft -c` (`nft-check`), or succeed again. `sync-silently` makes `wg syncconf`
   * report success without changing the interface. `xray-restart` and `dnsmasq-restart` can
   * fail only for a config that contains some text (`{whenFileContains}`), as a bad new config would
   * while the previous one still loads.
   */
  failing(what: string, fail: boolean | {readonly whenFileContains: string}): void
  /**
   * Make a reload slow (`dnsmasq-restart`, `xray-restart`, `nft-load`), or the check `nft -c`
   * (`nft-check`): it marks itself running (see
   * `running`), then waits up to `seconds` — cut short by `slow(what, false)` — before it does its work.
   * With `once`, the next such reload is slow and later ones are not. `nft-load` waits after loading
   * the file (a load that took effect but whose command is slow to return).
   */
  slow(what: string, seconds: number | false, options?: {once?: boolean}): void
  /** True once a slow reload of `what` has started (it stays true until `slow(what, false)`). */
  running(what: string): boolean
  /**
   * The next `nft -f` of a ruleset (not of the watchdog's saved one) also locks SSH out for new
   * logins, as a bad firewall would: it moves `authorizedKeys` aside. `sshAccess(file)` puts it back.
   */
  blockNewSshOnNextLoad(authorizedKeys: string): void
  sshAccess(authorizedKeys: string): void
  /** Every file `nft -f` loaded, in order (the watchdog's restore shows as its `nft-before.nft`). */
  nftLoads(): string[]
  /** What `nft -f` loaded last (absent: no table). */
  loadedRuleset(): string | undefined
  /**
   * Processes still running with this node's tools first on their PATH (commands of SSH sessions,
   * the firewall watchdog and whatever they started): after the sshd stopped there should be none.
   */
  processes(): {pid: number; command: string}[]
  /** SIGKILLs `processes()` (each by pid); returns what it killed. */
  killProcesses(): {pid: number; command: string}[]
  /** The node's YAML `paths:` and `reload:` blocks. */
  readonly yaml: string
  readonly stateDir: string
}

const REAL = {nft: '/usr/sbin/nft', wg: '/usr/bin/wg', wgQuick: '/usr/bin/wg-quick', dnsmasq: '/usr/sbin/dnsmasq'}

export interface FakeNodeOptions {
  /**
   * Install a fake `xray`: `run -test -c` checks the JSON, `api adu`/`api rmu`
   * log what they were asked (`xray-api adu TAG:EMAIL,...`, `xray-api rmu -tag=TAG EMAIL...`).
   */
  readonly xray?: boolean
}

export function installFakeNode(dir: string, options: FakeNodeOptions = {}): FakeNode {
  const binDir = join(dir, 'bin')
  const root = join(dir, 'root')
  const stateDir = join(dir, 'fake')
  for (const d of [binDir, root, ...['wg', 'fail', 'slow', 'running'].map((d) => join(stateDir, d))])
    mkdirSync(d, {recursive: true})
  const state = shellQuote(stateDir)
  const tool = (name: string, body: string) => {
    const path = join(binDir, name)
    writeFileSync(path, `#!/bin/bash\nset -u\nstate=${state}\n${body}`)
    chmodSync(path, 0o755)
  }
  /** Fails when told to, else logs `WHAT [ARG]`. */
  const failIf = (what: string, logged = `${what}\${1:+ $1}`) =>
    `if [ -e "$state/fail/${what}" ]; then echo "${what} failed (test)" >&2; exit 1; fi\necho "${logged}" >> "$state/log"\n`
  /** Waits while `slow(WHAT, …)` is on (bounded by its seconds); `$1` of the function is WHAT. */
  const slowFn = `slow_if() {
  local f="$state/slow/$1" n i=0
  [ -e "$f" ] || return 0
  n=$(sed -n 1p "$f"); : > "$state/running/$1"
  if grep -qx once "$f"; then rm -f -- "$f"; while [ "$i" -lt "$((n * 10))" ]; do sleep 0.1; i=$((i + 1)); done; return 0; fi
  while [ "$i" -lt "$((n * 10))" ] && [ -e "$f" ]; do sleep 0.1; i=$((i + 1)); done
}
`
  tool(
    'nft',
    `${slowFn}case "\${1:-}" in
  -c) slow_if nft-check
      if [ -e "$state/fail/nft-check" ]; then echo "$3:1:1-5: Error: syntax error (test)" >&2; exit 1; fi
      exec unshare -n ${REAL.nft} "$@" ;;
  -f) ${failIf('nft-load', 'nft-load')}cp -- "$2" "$state/nft.loaded"; echo "$2" >> "$state/nft-loads"
      if [ -f "$state/block-ssh" ] && [ "\${2##*/}" != nft-before.nft ]; then
        keys=$(cat "$state/block-ssh"); rm -f -- "$state/block-ssh"; mv -f -- "$keys" "$keys.blocked"
      fi
      slow_if nft-load ;;
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
  // `sync-silently`: reports success but leaves the interface as it was (a node that diverges).
  tool('fake-wg-sync', `${failIf('sync')}[ -e "$state/fail/sync-silently" ] && exit 0\n${load}`)
  tool('fake-wg-restart', `${failIf('restart')}${load}`)
  tool('fake-wg-down', `${failIf('down')}rm -f "$state/wg/$1.dump"\n`)
  tool(
    'fake-reload',
    `${slowFn}slow_if "$1"
# An empty switch always fails; one holding text fails only for a file that contains it.
if [ -e "$state/fail/$1" ]; then
  if [ ! -s "$state/fail/$1" ] || { [ -n "\${2:-}" ] && grep -qF -- "$(cat "$state/fail/$1")" "$2"; }; then
    echo "$1 failed (test)" >&2; exit 1
  fi
fi
echo "$1" >> "$state/log"
`,
  )
  tool('dnsmasq', `exec ${REAL.dnsmasq} "$@"\n`)
  if (options.xray) {
    tool(
      'xray',
      `case "\${1:-} \${2:-}" in
  'run -test') python3 -c 'import json,sys; json.load(open(sys.argv[1]))' "$4" && echo 'Configuration OK.' ;;
  'api rmu') shift 3; echo "xray-api rmu $*" >> "$state/log" ;;
  'api adu') python3 -c 'import json,sys; c=json.load(open(sys.argv[1])); print("xray-api adu " + " ".join(i["tag"] + ":" + ",".join(u["email"] for u in i["settings"]["clients"]) for i in c["inbounds"]))' "$4" >> "$state/log" ;;
  *) echo "fake xray cannot do: $*" >&2; exit 1 ;;
esac
`,
    )
  }
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
    '  xray: fake-reload xray-restart {file}',
    '  dnsmasq: fake-reload dnsmasq-restart {file}',
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
      if (fail === false) rmSync(file, {force: true})
      else writeFileSync(file, fail === true ? '' : fail.whenFileContains)
    },
    slow: (what, seconds, options = {}) => {
      const file = join(stateDir, 'slow', what)
      if (seconds === false) {
        rmSync(file, {force: true})
        rmSync(join(stateDir, 'running', what), {force: true})
      } else writeFileSync(file, `${seconds}\n${options.once ? 'once\n' : ''}`)
    },
    running: (what) => existsSync(join(stateDir, 'running', what)),
    blockNewSshOnNextLoad: (authorizedKeys) => writeFileSync(join(stateDir, 'block-ssh'), authorizedKeys),
    sshAccess: (authorizedKeys) => {
      rmSync(join(stateDir, 'block-ssh'), {force: true})
      if (existsSync(`${authorizedKeys}.blocked`)) renameSync(`${authorizedKeys}.blocked`, authorizedKeys)
    },
    nftLoads: () => {
      const file = join(stateDir, 'nft-loads')
      return existsSync(file) ? readFileSync(file, 'utf8').trim().split('\n').filter(Boolean) : []
    },
    processes: () => processesWithPath(binDir),
    killProcesses: () => {
      const found = processesWithPath(binDir)
      for (const {pid} of found) {
        try {
          process.kill(pid, 'SIGKILL')
        } catch {
          // Already gone.
        }
      }
      return found
    },
    loadedRuleset: () => {
      const file = join(stateDir, 'nft.loaded')
      return existsSync(file) ? readFileSync(file, 'utf8') : undefined
    },
  }
}

function processesWithPath(binDir: string): {pid: number; command: string}[] {
  const found: {pid: number; command: string}[] = []
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue
    try {
      const environ = readFileSync(`/proc/${entry}/environ`, 'utf8').split('\0')
      if (!environ.some((v) => v.startsWith(`PATH=${binDir}:`))) continue
      const command = readFileSync(`/proc/${entry}/cmdline`, 'utf8').split('\0').join(' ').trim()
      found.push({pid: Number(entry), command})
    } catch {
      // Ended while we looked, or not ours to read.
    }
  }
  return found
}
