/**
 * The fleet the fan-out benchmark pushes to: N real OpenSSH servers on
 * loopback (one per host, each its own port, host key and session PATH),
 * each with a fake node root (test/helpers/fake-node.ts), and a repo of the
 * quickstart declaring them as node-01..node-NN.
 *
 * `prepare()` applies once (untimed) so the state holds the gateway keys,
 * renders the files the state now gives, and keeps a copy of `.nexus/`:
 * every timed nexus run starts from that copy, with empty hosts, so it is a
 * full apply (uploads, checks, reloads, a new revision), never a no-op, and
 * pushes byte for byte what the other contenders push.
 */
import {createHash} from 'node:crypto'
import {cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join, relative} from 'node:path'

import {execa} from 'execa'
import {parse} from 'yaml'

import {fillCommand} from '../../../src/apply/remote.js'
import {shellQuote} from '../../../src/transport/shell.js'
import {fleetRepo, type NodeSpec, placePeers} from '../../../test/helpers/apply-fleet.js'
import {BIN, ROOT} from '../../../test/helpers/cli.js'
import {type FakeNode, installFakeNode} from '../../../test/helpers/fake-node.js'
import {startSshd, type TestSshd} from '../../../test/helpers/sshd.js'

/** One file a host gets: where it was rendered locally, where it goes on the host. */
export interface HostFile {
  /** wireguard/wg0.conf, nftables/nexus.nft, xray/config.json, dnsmasq/nexus.conf */
  readonly artifact: string
  readonly local: string
  readonly remote: string
  /** Relative to the host root (the layout of a tar stream). */
  readonly underRoot: string
  readonly mode: number
  readonly sha256: string
  /** The check nexus runs on the staged file, `%s` standing for its path (Ansible's `validate` syntax). */
  readonly validate?: string
}

export interface Host {
  readonly name: string
  readonly port: number
  /** `ssh-ed25519 AAAA…` */
  readonly hostKey: string
  readonly userKey: string
  /** Where the node's files go; emptied before every run. */
  readonly root: string
  /** Directories the files need below `root`. */
  readonly dirs: readonly string[]
  readonly files: readonly HostFile[]
  /** The reload commands nexus runs for a first apply, filled in from the Node's `reload:` block. */
  readonly reloads: readonly string[]
  /** What the fake node logs for those reloads. */
  readonly expectedLog: readonly string[]
}

export interface Fleet {
  readonly dir: string
  readonly repo: string
  readonly hosts: readonly Host[]
  /** A known_hosts file pinning every host key (for OpenSSH clients). */
  readonly knownHosts: string
  /** The one private key that logs in everywhere. */
  readonly userKey: string
  /** Empties every host (files, interfaces, loaded table, reload log). */
  resetHosts(): void
  /** Puts the state back to the copy taken after prepare(): keys known, no apply in flight. */
  resetState(): void
  /** Throws unless every host holds exactly the rendered files (or, without `contents`, files) and ran every reload. */
  verifyHosts(tool: string, options?: {contents?: boolean}): void
  close(): Promise<void>
}

// The checks of src/apply/remote.ts checkScript, per artifact kind, as single commands.
const CHECKS: Readonly<Record<string, string>> = {
  nftables: 'nft -c -f %s',
  dnsmasq: 'dnsmasq --test --conf-file=%s',
  wireguard: "grep -qi '^[[:space:]]*privatekey[[:space:]]*=[[:space:]]*[A-Za-z0-9+/]\\{42\\}[AEIMQUYcgkosw048]=' %s",
}

/** Where the fake node's `paths:` put each artifact, below the root. */
function targetUnderRoot(artifact: string): string {
  if (artifact.startsWith('wireguard/')) return `etc/wireguard/${artifact.slice('wireguard/'.length)}`
  if (artifact === 'nftables/nexus.nft') return 'etc/nexus/nexus.nft'
  if (artifact === 'xray/config.json') return 'etc/xray/config.json'
  if (artifact === 'dnsmasq/nexus.conf') return 'etc/dnsmasq.d/nexus.conf'
  throw new Error(`no target for rendered ${artifact}`)
}

/** wireguard/wg0.conf -> wg0 */
const ifaceOf = (artifact: string) => artifact.slice('wireguard/'.length, -'.conf'.length)

const nodeName = (i: number) => `node-${String(i + 1).padStart(2, '0')}`

export async function startFleet(count: number, log: (line: string) => void): Promise<Fleet> {
  const dir = mkdtempSync(join(tmpdir(), 'nexus-bench-fanout-'))
  const servers: TestSshd[] = []
  const fakes: FakeNode[] = []
  const close = async () => {
    await Promise.all(servers.map((s) => s.stop().catch(() => {})))
    // Anything still running with a fake node's tools on its PATH (none expected).
    for (const fake of fakes) fake.killProcesses()
    rmSync(dir, {recursive: true, force: true})
  }
  try {
    for (let i = 0; i < count; i++) fakes.push(installFakeNode(join(dir, 'hosts', nodeName(i))))
    // One user key everywhere, as a fleet usually has.
    const first = await startSshd({binDir: (fakes[0] as FakeNode).binDir})
    servers.push(first)
    const rest = await Promise.allSettled(
      fakes.slice(1).map((fake) => startSshd({binDir: fake.binDir, userKey: first.userKey})),
    )
    for (const started of rest) if (started.status === 'fulfilled') servers.push(started.value)
    const failed = rest.find((r) => r.status === 'rejected')
    if (failed) throw failed.reason
    const specs: NodeSpec[] = fakes.map((fake, i) => ({name: nodeName(i), sshd: servers[i] as TestSshd, fake}))
    const repo = fleetRepo(join(dir, 'repo'), specs)
    // Several nodes have a wg0: every peer names its node.
    const peers = readdirSync(join(repo, 'peers')).map((f) => f.replace(/\.yaml$/, ''))
    placePeers(repo, Object.fromEntries(peers.map((peer, i) => [peer, nodeName(i % count)])))

    const knownHosts = join(dir, 'known_hosts')
    writeFileSync(knownHosts, specs.map((s) => `[127.0.0.1]:${s.sshd.port} ${s.sshd.hostKey}\n`).join(''))

    // The first apply (untimed): the state now holds the gateway keys the render below uses.
    log(`fanout: ${count} hosts up; first apply to fill the state`)
    await nexusCli(repo, ['apply', '--yes', '--allow-dirty', '--parallel', String(count)])
    const template = join(dir, 'state-template')
    cpSync(join(repo, '.nexus'), template, {recursive: true})

    const rendered = join(dir, 'rendered')
    const render = JSON.parse(await nexusCli(repo, ['render', '--json', '--out', rendered])) as {
      preview: boolean
      files: {path: string; kind: string; node: string; mode: string; sha256: string}[]
    }
    if (render.preview) throw new Error('the render is a preview: the state does not hold the keys')

    const hosts = specs.map((spec): Host => {
      const root = spec.fake.root
      const declared = parse(spec.fake.yaml) as {reload: Record<string, string>}
      const reload = (key: string) => {
        const command = declared.reload[key]
        if (!command) throw new Error(`the fake node declares no reload.${key}`)
        return command
      }
      const files = render.files
        .filter((f) => f.node === spec.name && f.kind !== 'client')
        .map((f): HostFile => {
          const artifact = relative(join('nodes', spec.name), f.path)
          const underRoot = targetUnderRoot(artifact)
          const check = CHECKS[artifact.split('/')[0] as string]
          return {
            artifact,
            local: join(rendered, f.path),
            remote: join(root, underRoot),
            underRoot,
            mode: Number.parseInt(f.mode, 8),
            sha256: f.sha256,
            ...(check ? {validate: check} : {}),
          }
        })
      // The order nexus activates in: WireGuard, nftables, xray, dnsmasq.
      const byKind = (prefix: string) => files.filter((f) => f.artifact.startsWith(prefix))
      const reloads = [
        ...byKind('wireguard/').map((f) =>
          fillCommand(reload('wireguardRestart'), {iface: ifaceOf(f.artifact), file: f.remote}),
        ),
        ...byKind('nftables/').map((f) => fillCommand(reload('nftables'), {file: f.remote})),
        ...byKind('xray/').map((f) => fillCommand(reload('xray'), {file: f.remote})),
        ...byKind('dnsmasq/').map((f) => fillCommand(reload('dnsmasq'), {file: f.remote})),
      ]
      const expectedLog = [
        ...byKind('wireguard/').map((f) => `restart ${ifaceOf(f.artifact)}`),
        ...byKind('nftables/').map(() => 'nft-load'),
        ...byKind('xray/').map(() => 'xray-restart'),
        ...byKind('dnsmasq/').map(() => 'dnsmasq-restart'),
      ]
      const dirs = [...new Set(files.map((f) => f.underRoot.split('/').slice(0, -1).join('/')))]
      return {
        name: spec.name,
        port: spec.sshd.port,
        hostKey: spec.sshd.hostKey,
        userKey: spec.sshd.userKey,
        root,
        dirs,
        files,
        reloads,
        expectedLog,
      }
    })
    const fakeOf = new Map(hosts.map((h, i) => [h.name, fakes[i] as FakeNode]))

    return {
      dir,
      repo,
      hosts,
      knownHosts,
      userKey: first.userKey,
      resetHosts: () => {
        for (const fake of fakes) {
          const left = fake.killProcesses()
          if (left.length > 0) throw new Error(`processes left on a host: ${left.map((p) => p.command).join('; ')}`)
          emptyDir(fake.root)
          for (const name of ['log', 'nft.loaded', 'nft-loads']) rmSync(join(fake.stateDir, name), {force: true})
          emptyDir(join(fake.stateDir, 'wg'))
        }
      },
      resetState: () => {
        rmSync(join(repo, '.nexus'), {recursive: true, force: true})
        cpSync(template, join(repo, '.nexus'), {recursive: true})
      },
      verifyHosts: (tool, options = {}) => {
        for (const host of hosts) {
          for (const file of host.files) {
            const got = existsSync(file.remote) ? sha256(readFileSync(file.remote)) : 'missing'
            if (got === 'missing' || (options.contents !== false && got !== file.sha256))
              throw new Error(`${tool}: ${host.name} ${file.remote} is ${got}, not the rendered file`)
          }
          const ran = (fakeOf.get(host.name) as FakeNode).log()
          if (ran.join('\n') !== host.expectedLog.join('\n'))
            throw new Error(
              `${tool}: ${host.name} ran ${JSON.stringify(ran)}, expected ${JSON.stringify(host.expectedLog)}`,
            )
        }
      },
      close,
    }
  } catch (error) {
    await close()
    throw error
  }
}

function emptyDir(dir: string): void {
  if (!existsSync(dir)) mkdirSync(dir, {recursive: true})
  for (const entry of readdirSync(dir)) rmSync(join(dir, entry), {recursive: true, force: true})
}

function sha256(data: Buffer): string {
  return createHash('sha256').update(data).digest('hex')
}

/** The built CLI, untimed (setup); its stdout. */
async function nexusCli(repo: string, args: readonly string[]): Promise<string> {
  const result = await execa('node', [BIN, ...args, '--repo', repo], {
    cwd: ROOT,
    env: {NEXUS_DATABASE_URL: undefined, NO_COLOR: '1'},
    reject: false,
    stdin: 'ignore',
  })
  if (result.exitCode !== 0)
    throw new Error(`nexus ${args.join(' ')} exited ${result.exitCode}:\n${result.stdout}\n${result.stderr}`)
  return result.stdout
}

/**
 * The node-side commands of one host as one shell script (what ssh2 and tar|ssh run): `first`
 * (e.g. unpacking), the checks nexus runs on the files, then the reloads; it stops at the first failure.
 */
export function checkAndReloadScript(host: Host, first: readonly string[] = []): string {
  const checks = host.files.flatMap((f) => (f.validate ? [f.validate.replace('%s', shellQuote(f.remote))] : []))
  return ['set -eu', ...first, ...checks, ...host.reloads].join('\n')
}
