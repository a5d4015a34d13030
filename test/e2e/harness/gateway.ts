/**
 * A gateway of the end-to-end topology: a throw-away OpenSSH sshd in the
 * gateway's namespaces (fresh host key, root by key only), and the small
 * scripts its Node declaration names as reload commands instead of systemd
 * units. Everything a reload starts (wireguard-go via wg-quick, dnsmasq,
 * v2ray) is started from an SSH session, so it inherits the gateway's network
 * and mount namespaces, and lands in the same private /run as the `wg` that
 * nexus runs over SSH later.
 *
 * Also the read-back a test makes of real daemon state, straight through the
 * namespaces (not through nexus): `wg show`, the loaded nft table and its
 * counters, which daemons run, what nft loaded.
 */
import {chmodSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync} from 'node:fs'
import {join} from 'node:path'

import {execa} from 'execa'

import {parseWireguardDump, type WireguardDump} from '../../../src/transport/observation.js'
import {shellQuote} from '../../../src/transport/shell.js'
import {keygen} from '../../helpers/sshd.js'
import {inPrivateNetns} from '../../helpers/tools.js'
import {ADDR, type GatewayName} from './topology.js'
import {type Daemon, waitFor, type World} from './world.js'

export const XRAY_API_PORT = 10085
export const VMESS_PORT = 10086
export const WG_PORT = 51820

export interface Gateway {
  readonly name: GatewayName
  readonly dir: string
  /** `ssh-ed25519 AAAA…`, pinned in the Node declaration. */
  readonly hostKey: string
  readonly sshd: Daemon
  /** The Node's `paths:`. */
  readonly paths: {wireguard: string; nftables: string; xray: string; dnsmasq: string; state: string}
  /** The Node's `reload:` (nftables keeps nexus's default, `nft -f {file}`). */
  readonly reload: Readonly<Record<string, string>>
  /**
   * Makes the dnsmasq reload fail for files containing `text` (false: never),
   * the way a real failed restart does: the running dnsmasq is stopped first,
   * then the new one will not start.
   */
  failDnsmasqWhen(text: string | false): void
  /** What the dnsmasq reloads did, in order: `stopped PID`, `failed FILE`, `started FILE`. */
  dnsmasqRestarts(): string[]
  /** While on, `nft -c` (the check of a staged ruleset, before the watchdog) waits (up to 60 s) until it is off. */
  holdNftChecks(on: boolean): void
  /** Every `nft -f FILE` run on the gateway over SSH (reloads, checks excluded, the watchdog included). */
  nftLoads(): string[]
}

const SESSION_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'

export async function startGateway(
  world: World,
  name: GatewayName,
  options: {readonly userKey: string; readonly xray: boolean},
): Promise<Gateway> {
  const dir = join(world.dir, name)
  const bin = join(dir, 'bin')
  const home = join(dir, 'home')
  const run = join(dir, 'run')
  for (const d of [bin, home, run]) mkdirSync(d, {recursive: true})
  const script = (file: string, body: string) => {
    writeFileSync(join(bin, file), `#!/bin/bash\nset -u\ndir=${shellQuote(dir)}\n${body}`)
    chmodSync(join(bin, file), 0o755)
  }
  const stop = `stop() {
  local pid
  pid=$(cat "$1" 2>/dev/null) || return 0
  kill "$pid" 2>/dev/null || return 0
  for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.05; done
  kill -9 "$pid" 2>/dev/null || true
}
`
  // wireguardRestart / wireguardDown: wg-quick, which falls back to wireguard-go (no kernel module here).
  script('nx-wg-restart', 'wg-quick down "$1" >/dev/null 2>&1 || true\nexec wg-quick up "$1"\n')
  script('nx-wg-down', 'exec wg-quick down "$1"\n')
  // dnsmasq restart (logged), with a failure switch for the bad-reload scenario: like a real restart
  // whose new config does not start, it has stopped the running daemon by the time it fails.
  script(
    'nx-dnsmasq-restart',
    `${stop}log="$dir/dnsmasq-restarts.log"
if pid=$(cat "$dir/run/dnsmasq.pid" 2>/dev/null); then
  stop "$dir/run/dnsmasq.pid"
  rm -f "$dir/run/dnsmasq.pid"
  echo "stopped $pid" >> "$log"
fi
if [ -s "$dir/fail-dnsmasq" ] && grep -qF -- "$(cat "$dir/fail-dnsmasq")" "$1"; then
  echo "failed $1" >> "$log"
  echo "dnsmasq: will not start with $1 (e2e failure switch)" >&2
  exit 1
fi
echo "started $1" >> "$log"
exec dnsmasq --conf-file="$1" --pid-file="$dir/run/dnsmasq.pid"
`,
  )
  // xray restart: v2ray in its own session, ready once its API port listens.
  script(
    'nx-xray-restart',
    `${stop}stop "$dir/run/v2ray.pid"
setsid v2ray -config "$1" >>"$dir/v2ray.log" 2>&1 </dev/null &
pid=$!
echo "$pid" > "$dir/run/v2ray.pid"
for _ in $(seq 200); do
  if ! kill -0 "$pid" 2>/dev/null; then echo "v2ray exited:" >&2; tail -n 5 "$dir/v2ray.log" >&2; exit 1; fi
  if (: </dev/tcp/127.0.0.1/${XRAY_API_PORT}) 2>/dev/null; then exit 0; fi
  sleep 0.05
done
echo "v2ray did not listen on 127.0.0.1:${XRAY_API_PORT}" >&2
exit 1
`,
  )
  // Logs what `nft -f` loads (the reload and the firewall watchdog), holds `nft -c` while the hold
  // switch is on (the concurrency scenario keeps an apply inside its lease that way), then runs the real nft.
  script(
    'nft',
    `if [ "\${1:-}" = -f ]; then echo "\${2:-}" >> "$dir/nft-loads.log"; fi
if [ "\${1:-}" = -c ]; then
  for _ in $(seq 600); do [ -e "$dir/hold-nft-check" ] || break; sleep 0.1; done
fi
exec /usr/sbin/nft "$@"
`,
  )
  if (options.xray) {
    // xray's stand-in: Debian's v2ray 4.34 checks and runs the VMess subset (formats.md §5.8), and
    // `xray api statsquery` is answered from v2ray's StatsService (v2ctl's protobuf text turned into
    // xray's JSON, formats.md §6). The user APIs (adu, rmu, inbounduser) do not exist in v2ray 4.34.
    script(
      'xray',
      `case "\${1:-} \${2:-}" in
  'run '*)
    shift; test=; file=
    while [ $# -gt 0 ]; do case "$1" in -test) test=1 ;; -c|-config) file=$2; shift ;; esac; shift; done
    if [ -n "$test" ]; then exec v2ray -test -config "$file"; fi
    exec v2ray -config "$file" ;;
  'api statsquery')
    shift 2; server=127.0.0.1:8080; pattern=; reset=false
    while [ $# -gt 0 ]; do
      case "$1" in
        --server=*|-server=*|-s=*) server=\${1#*=} ;;
        --server|-server|-s) server=$2; shift ;;
        --pattern=*|-pattern=*) pattern=\${1#*=} ;;
        --pattern|-pattern) pattern=$2; shift ;;
        --reset|-reset) reset=true ;;
      esac
      shift
    done
    out=$(v2ctl api --server="$server" StatsService.QueryStats "pattern: \\"$pattern\\" reset: $reset") || exit 1
    printf '%s\\n' "$out" | awk '
      /name:/ { sub(/^[^"]*"/, ""); sub(/"[^"]*$/, ""); name = $0 }
      /value:/ { value = $2 }
      /^>/ { printf "%s{\\"name\\":\\"%s\\",\\"value\\":%s}", (n++ ? "," : "{\\"stat\\":["), name, (value == "" ? 0 : value); name = ""; value = "" }
      END { print (n ? "]}" : "{}") }' ;;
  'api '*) echo "xray api \${2:-}: not available in the v2ray stand-in" >&2; exit 1 ;;
  *) echo "xray stand-in cannot: $*" >&2; exit 2 ;;
esac
`,
    )
  }

  const hostKeyFile = await keygen(join(dir, 'ssh_host_ed25519_key'))
  const hostKey = readFileSync(`${hostKeyFile}.pub`, 'utf8').trim().split(/\s+/).slice(0, 2).join(' ')
  writeFileSync(join(dir, 'authorized_keys'), readFileSync(`${options.userKey}.pub`), {mode: 0o600})
  const config = join(dir, 'sshd_config')
  writeFileSync(
    config,
    [
      'ListenAddress 0.0.0.0',
      'ListenAddress ::',
      'Port 22',
      `HostKey ${hostKeyFile}`,
      `AuthorizedKeysFile ${join(dir, 'authorized_keys')}`,
      'PermitRootLogin prohibit-password',
      'PubkeyAuthentication yes',
      'PasswordAuthentication no',
      'KbdInteractiveAuthentication no',
      'AuthenticationMethods publickey',
      'StrictModes no',
      'UsePAM no',
      `PidFile ${join(run, 'sshd.pid')}`,
      'MaxSessions 10',
      'MaxStartups 100',
      'PrintMotd no',
      'Subsystem sftp internal-sftp',
      // wg-quick's fallback: wireguard-go refuses to run on Linux without this.
      `SetEnv PATH=${bin}:${SESSION_PATH} HOME=${home} WG_I_PREFER_BUGGY_USERSPACE_TO_POLISHED_KMOD=1`,
      '',
    ].join('\n'),
  )
  const sshd = world.daemon(name, ['/usr/sbin/sshd', '-D', '-e', '-f', config])
  await waitFor(`sshd on ${name}`, () => {
    if (sshd.child.exitCode !== null) throw new Error(`sshd on ${name} exited: ${sshd.log()}`)
    return /Server listening on 0\.0\.0\.0 port 22/.test(sshd.log())
  })
  // Reachable from the control host over the wan.
  await waitFor(`ssh port of ${name} from ctl`, async () => {
    const probe = await world.run('ctl', ['bash', '-c', `exec 3<>/dev/tcp/${ADDR[name].wan}/22 && head -c 7 <&3`])
    return probe.stdout === 'SSH-2.0'
  })

  const etc = join(dir, 'etc')
  return {
    name,
    dir,
    hostKey,
    sshd,
    paths: {
      wireguard: join(etc, 'wireguard'),
      nftables: join(etc, 'nexus', 'nexus.nft'),
      xray: join(etc, 'xray', 'config.json'),
      dnsmasq: join(etc, 'dnsmasq.d', 'nexus.conf'),
      state: join(dir, 'var', 'lib', 'nexus'),
    },
    reload: {
      wireguardRestart: 'nx-wg-restart {file}',
      wireguardDown: 'nx-wg-down {file}',
      xray: 'nx-xray-restart {file}',
      dnsmasq: 'nx-dnsmasq-restart {file}',
    },
    failDnsmasqWhen: (text) => {
      const file = join(dir, 'fail-dnsmasq')
      if (text === false) rmSync(file, {force: true})
      else writeFileSync(file, text)
    },
    dnsmasqRestarts: () => {
      const file = join(dir, 'dnsmasq-restarts.log')
      return existsSync(file) ? readFileSync(file, 'utf8').trim().split('\n').filter(Boolean) : []
    },
    holdNftChecks: (on) => {
      const file = join(dir, 'hold-nft-check')
      if (on) writeFileSync(file, '')
      else rmSync(file, {force: true})
    },
    nftLoads: () => {
      const file = join(dir, 'nft-loads.log')
      return existsSync(file) ? readFileSync(file, 'utf8').trim().split('\n').filter(Boolean) : []
    },
  }
}

// ------------------------------------------------------------- real daemon state

/** `wg show wg0 dump` on the gateway (undefined: no interface). */
export async function wgDump(world: World, host: string, iface = 'wg0'): Promise<WireguardDump | undefined> {
  const result = await world.run(host, ['wg', 'show', iface, 'dump'])
  if (result.exitCode !== 0) return undefined
  return parseWireguardDump(result.stdout)
}

/** The loaded `table inet nexus`, without counter values (undefined: no table). */
export async function nftTable(world: World, host: string): Promise<string | undefined> {
  const result = await world.run(host, ['nft', '-s', 'list', 'table', 'inet', 'nexus'])
  return result.exitCode === 0 ? result.stdout : undefined
}

/**
 * What the kernel lists for the gateway's deployed ruleset file when it is
 * loaded into an empty private namespace: what `nftTable` must show once the
 * file is in force.
 */
export async function nftTableOfFile(gw: Gateway): Promise<string> {
  const run = await inPrivateNetns(`nft -f ${shellQuote(gw.paths.nftables)} && nft -s list table inet nexus`)
  if (run.exitCode !== 0) throw new Error(`loading ${gw.paths.nftables} failed: ${run.stderr}`)
  return run.stdout
}

/** Packets counted by the rule of `table inet nexus` whose comment is `comment`. */
export async function nftCounter(world: World, host: string, comment: string): Promise<number> {
  const table = await world.sh(host, 'nft list table inet nexus')
  const line = table.split('\n').find((l) => l.includes(`comment "${comment}"`))
  const packets = line && /counter packets (\d+)/.exec(line)?.[1]
  if (packets === undefined || packets === '') throw new Error(`no counted rule "${comment}" on ${host}:\n${table}`)
  return Number(packets)
}

/** Pids of the processes named `program` that run in the host's network namespace. */
export async function pidsOf(world: World, host: string, program: string): Promise<number[]> {
  const listed = await execa('ip', ['netns', 'pids', world.host(host).netns], {reject: false})
  const pids: number[] = []
  for (const pid of String(listed.stdout).split('\n').filter(Boolean)) {
    try {
      if (readFileSync(`/proc/${pid}/comm`, 'utf8').trim() === program) pids.push(Number(pid))
    } catch {
      // Ended meanwhile.
    }
  }
  return pids.sort((a, b) => a - b)
}
