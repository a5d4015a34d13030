/**
 * `nexus peer create/list/show/remove` through the built CLI, on copies of
 * examples/quickstart (real git repos where --commit is tested). The node is
 * never contacted here (peer-apply.test.ts does that over sshd).
 */
import {createHash} from 'node:crypto'
import {existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync} from 'node:fs'
import {join, relative} from 'node:path'

import {execa} from 'execa'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import type {PeerCreated, PeerListResult, PeerRemoved, PeerShown} from '../../../src/app/peer.js'
import {wireguardPublicKey} from '../../../src/crypto/keys.js'
import {openState, stateLocation} from '../../../src/state/open.js'
import {cli, jsonError, readState} from '../../helpers/apply-fleet.js'
import {exampleCopy, localState} from '../../helpers/cli.js'
import {expectGolden} from '../../helpers/golden.js'
import {loadWireguard, requireRenderTools, stopStartedDaemons} from '../../helpers/real-tools.js'
import {tempDir} from '../../helpers/tools.js'

type Created = PeerCreated & {qr: string | null}

const tmp = tempDir('nexus-peer-cli-')
let counter = 0
const KEY = 'oQQdOiWywtVH7KEI3mKXWgxYUQPUkN+osA6wyATxWwA='

beforeAll(async () => {
  await requireRenderTools()
})
afterAll(() => {
  stopStartedDaemons()
  tmp.cleanup()
})

/** A fresh copy of the quickstart. */
function quickstart(): string {
  const dir = join(tmp.path, `repo-${++counter}`)
  return exampleCopy('quickstart', dir)
}

/** Every file under `dir` (hidden ones and the state included) by path, as a hash of its bytes. */
function tree(dir: string): Record<string, string> {
  const out: Record<string, string> = {}
  const walk = (at: string) => {
    for (const entry of readdirSync(at)) {
      const path = join(at, entry)
      if (statSync(path).isDirectory()) walk(path)
      else out[relative(dir, path)] = createHash('sha256').update(readFileSync(path)).digest('hex')
    }
  }
  walk(dir)
  return out
}

/**
 * The repo's files, and the state as a reader sees it. (The embedded database's own files change
 * whenever it is opened, reads included, so they are compared by content instead.)
 */
async function world(repo: string): Promise<{files: Record<string, string>; state: unknown}> {
  const files = Object.fromEntries(Object.entries(tree(repo)).filter(([path]) => !path.startsWith('.nexus/state/')))
  if (!existsSync(join(repo, '.nexus/state'))) return {files, state: null}
  const {snapshot} = await readState(repo)
  return {
    files,
    state: {
      serial: snapshot.serial,
      secrets: [...snapshot.secrets.keys()],
      links: [...snapshot.links],
      allocations: snapshot.allocations,
    },
  }
}

/** Whether any file under `dir` holds `needle` (bytes, so the binary state files count too). */
function anyFileContains(dir: string, needle: string): string[] {
  const found: string[] = []
  const bytes = Buffer.from(needle)
  const walk = (at: string) => {
    for (const entry of readdirSync(at)) {
      const path = join(at, entry)
      if (statSync(path).isDirectory()) walk(path)
      else if (readFileSync(path).includes(bytes)) found.push(relative(dir, path))
    }
  }
  walk(dir)
  return found
}

function count(text: string, needle: string): number {
  return text.split(needle).length - 1
}

/** The client file as a device holds it: the endpoint an address, as wg resolves names when it loads (formats.md §2.4). */
function asOnDevice(config: string): string {
  return config.replace(/^Endpoint = .*:(\d+)$/m, 'Endpoint = 192.0.2.1:$1')
}

/** Human output with what changes from run to run replaced: keys and the QR code. */
function stable(text: string, keys: Record<string, string>): string {
  let out = text
  for (const [name, key] of Object.entries(keys)) out = out.replaceAll(key, `<${name}>`)
  // The QR code: its block lines and the blank margin lines around them.
  return out.replace(/(^[ █▀▄]+$\n?)+/gm, '<QR code>\n')
}

async function git(dir: string, ...args: string[]): Promise<string> {
  return (await execa('git', args, {cwd: dir})).stdout
}

async function gitRepo(dir: string): Promise<void> {
  await git(dir, 'init', '-q', '-b', 'main')
  await git(dir, 'config', 'user.name', 'Nexus Test')
  await git(dir, 'config', 'user.email', 'test@example.com')
  writeFileSync(join(dir, '.gitignore'), '.nexus/\n')
  await git(dir, 'add', '-A')
  await git(dir, 'commit', '-q', '-m', 'initial')
}

async function serverKey(repo: string): Promise<string> {
  const {snapshot} = await readState(repo)
  return snapshot.secrets.get('node/gw-1/wireguard/wg0')?.publicValue ?? ''
}

describe('nexus peer create', () => {
  it('generates a key pair, pins the next free addresses in a new file, prints the config and QR once', async () => {
    const repo = quickstart()
    const png = join(tmp.path, 'dave-laptop.png')

    const run = await cli(repo, [
      'peer',
      'create',
      '--name',
      'dave-laptop',
      '--interface',
      'wg0',
      '--user',
      'bob',
      '--qr',
      png,
    ])

    expect(run.exitCode).toBe(0)
    const privateKey = /^PrivateKey = (\S+)$/m.exec(run.stdout)?.[1] ?? ''
    expect(privateKey).toMatch(/^[A-Za-z0-9+/]{43}=$/)
    const publicKey = wireguardPublicKey(privateKey)
    // The YAML: schema header like its neighbours, node resolved, both families pinned.
    expect(readFileSync(join(repo, 'peers/dave-laptop.yaml'), 'utf8')).toBe(
      [
        '# yaml-language-server: $schema=../../../schemas/peer.schema.json',
        'apiVersion: nexus/v1',
        'kind: Peer',
        'name: dave-laptop',
        'user: bob',
        'node: gw-1',
        'interface: wg0',
        `publicKey: ${publicKey}`,
        'address: [10.66.0.6, "fd66::6"]',
        '',
      ].join('\n'),
    )
    // The private key: once on stdout, nowhere else (stderr, repo, state).
    expect(count(run.stdout, privateKey)).toBe(1)
    expect(run.stderr).not.toContain(privateKey)
    expect(run.stderr).toContain('nexus has not stored it')
    expect(anyFileContains(repo, privateKey)).toEqual([])
    expect(anyFileContains(tmp.path, privateKey)).toEqual([])
    // The QR code on the terminal, and as a PNG.
    expect(run.stdout).toMatch(/█▀▀▀▀▀█/)
    expect(readFileSync(png).subarray(0, 8)).toEqual(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]))
    expect(statSync(png).mode & 0o777).toBe(0o600)
    // The gateway key the config names is the one state now holds for apply to deploy.
    expect(run.stdout).toContain(`PublicKey = ${await serverKey(repo)}`)
    expect(run.stdout).toContain('Address = 10.66.0.6/32, fd66::6/128')
    // The repo still validates with it.
    const validate = await cli(repo, ['validate'])
    expect(validate.exitCode).toBe(0)
  })

  it('--json: {peer, addresses, config, file, committed, applied}; the config loads into wireguard-go', async () => {
    const repo = quickstart()

    const run = await cli(repo, ['peer', 'create', '--name', 'erin-phone', '--interface', 'wg0', '--json'])

    expect(run.exitCode).toBe(0)
    expect(run.stderr).toBe('')
    const result = JSON.parse(run.stdout) as Created
    const privateKey = /^PrivateKey = (\S+)$/m.exec(result.config)?.[1] ?? ''
    expect(count(run.stdout, privateKey)).toBe(1)
    expect(result).toMatchObject({
      peer: {
        apiVersion: 'nexus/v1',
        kind: 'Peer',
        name: 'erin-phone',
        node: 'gw-1',
        interface: 'wg0',
        publicKey: wireguardPublicKey(privateKey),
        address: ['10.66.0.6', 'fd66::6'],
      },
      addresses: ['10.66.0.6', 'fd66::6'],
      file: 'peers/erin-phone.yaml',
      appended: false,
      privateKeyGenerated: true,
      committed: null,
      applied: null,
      qr: null,
    })
    const loaded = await loadWireguard(tmp.path, asOnDevice(result.config))
    expect(loaded.stderr).toBe('')
    expect(loaded.exitCode).toBe(0)
    expect(loaded.dump?.publicKey).toBe(wireguardPublicKey(privateKey))
    expect([...(loaded.dump?.peers.keys() ?? [])]).toEqual([await serverKey(repo)])
    expect(loaded.dump?.peers.get(await serverKey(repo))?.allowedIPs).toEqual(['0.0.0.0/0', '::/0'])
    expect(anyFileContains(repo, privateKey)).toEqual([])
  })

  it('--public-key: no key generated, the config carries the placeholder; human output (golden)', async () => {
    const repo = quickstart()

    const run = await cli(repo, [
      'peer',
      'create',
      '--name',
      'office',
      '--interface',
      'wg0',
      '--public-key',
      KEY,
      '--allowed-ips',
      '192.168.10.0/24',
    ])

    expect(run.exitCode).toBe(0)
    expect(run.stdout).toContain('PrivateKey = <replace with the private key of office; nexus does not store it>')
    expect(run.stderr).not.toContain('nexus has not stored it')
    expect(readFileSync(join(repo, 'peers/office.yaml'), 'utf8')).toContain(
      `publicKey: ${KEY}\naddress: [10.66.0.6, "fd66::6"]\nallowedIPs: [192.168.10.0/24]\n`,
    )
    expectGolden('peer/create.txt', stable(run.stdout, {'gateway key': await serverKey(repo)}))
  })

  it('appends to the multi-document file the peers of the interface live in, keeping its bytes', async () => {
    const repo = quickstart()
    const files = ['alice-laptop', 'alice-phone', 'bob-laptop', 'carol-phone']
    const combined = `# yaml-language-server: $schema=../../../schemas/peer.schema.json
# Every device on gw-1/wg0.   (hand-written: comments, "quotes" and blank lines)

${files
  .map((name) =>
    readFileSync(join(repo, 'peers', `${name}.yaml`), 'utf8')
      .split('\n')
      .slice(1)
      .join('\n'),
  )
  .join('---\n# next one\n')}`
    for (const name of files) rmSync(join(repo, 'peers', `${name}.yaml`))
    writeFileSync(join(repo, 'peers/gw-1-wg0.yaml'), combined)

    const run = await cli(repo, [
      'peer',
      'create',
      '--name',
      'dave-laptop',
      '--interface',
      'wg0',
      '--public-key',
      KEY,
      '--json',
    ])

    expect(run.exitCode).toBe(0)
    expect(JSON.parse(run.stdout)).toMatchObject({file: 'peers/gw-1-wg0.yaml', appended: true})
    expect(existsSync(join(repo, 'peers/dave-laptop.yaml'))).toBe(false)
    const after = readFileSync(join(repo, 'peers/gw-1-wg0.yaml'), 'utf8')
    expect(after.startsWith(combined)).toBe(true)
    expect(after.slice(combined.length)).toBe(
      [
        '---',
        'apiVersion: nexus/v1',
        'kind: Peer',
        'name: dave-laptop',
        'node: gw-1',
        'interface: wg0',
        `publicKey: ${KEY}`,
        'address: [10.66.0.6, "fd66::6"]',
        '',
      ].join('\n'),
    )
    expect((await cli(repo, ['validate'])).exitCode).toBe(0)
  })

  it('refuses an address in use, a bad name, an unknown interface and a quota overrun: exit 1, nothing written', async () => {
    const repo = quickstart()
    const before = tree(repo)
    const refused = async (args: string[], code: string, text: string) => {
      const human = await cli(repo, ['peer', 'create', ...args])
      expect(human.exitCode, args.join(' ')).toBe(1)
      expect(human.stdout).toBe('')
      expect(human.stderr).toContain(text)
      const json = await cli(repo, ['peer', 'create', ...args, '--json'])
      expect(json.exitCode).toBe(1)
      expect(jsonError(json.stdout).code).toBe(code)
      expect(tree(repo)).toEqual(before)
    }

    await refused(
      ['--name', 'dave-laptop', '--interface', 'wg0', '--address', '10.66.0.2'],
      'invalid_change',
      'address 10.66.0.2 is already used by peer alice-laptop on gw-1/wg0 [address_reused]',
    )
    await refused(
      ['--name', 'Dave_Laptop', '--interface', 'wg0'],
      'invalid_name',
      '"Dave_Laptop" is not a valid peer name',
    )
    await refused(
      ['--name', 'dave-laptop', '--interface', 'wg9'],
      'invalid_change',
      'peers/dave-laptop.yaml:5:12: Peer dave-laptop: no node has an interface named wg9 [unresolved_reference]',
    )
    await refused(
      ['--name', 'dave-laptop', '--interface', 'wg0', '--node', 'gw-1', '--user', 'nobody'],
      'invalid_change',
      'User "nobody" is not declared',
    )
    await refused(
      ['--name', 'alice-laptop', '--interface', 'wg0'],
      'peer_exists',
      'a peer named alice-laptop is already declared',
    )
    // bob's tariff allows two devices, and a third is refused before anything is written.
    writeFileSync(
      join(repo, 'peers/bob-phone.yaml'),
      readFileSync(join(repo, 'peers/bob-laptop.yaml'), 'utf8')
        .replace('bob-laptop', 'bob-phone')
        .replace(/publicKey: .*/, `publicKey: ${KEY}`),
    )
    const withPhone = tree(repo)
    const quota = await cli(repo, [
      'peer',
      'create',
      '--name',
      'bob-tablet',
      '--interface',
      'wg0',
      '--user',
      'bob',
      '--json',
    ])
    expect(quota.exitCode).toBe(1)
    expect(jsonError(quota.stdout)).toMatchObject({code: 'invalid_change'})
    expect(jsonError(quota.stdout).message).toContain('maxDevices')
    expect(tree(repo)).toEqual(withPhone)
  })

  it('an interface name several nodes have: asks for --node; with it, the peer goes on that node', async () => {
    const repo = quickstart()
    writeFileSync(
      join(repo, 'nodes/gw-2.yaml'),
      readFileSync(join(repo, 'nodes/gw-1.yaml'), 'utf8')
        .replace('name: gw-1', 'name: gw-2')
        .replace('192.0.2.10', '192.0.2.20')
        .replaceAll('10.66.0.1/24', '10.77.0.1/24')
        .replace('fd66::1/64', 'fd77::1/64'),
    )
    for (const name of ['alice-laptop', 'alice-phone', 'bob-laptop', 'carol-phone']) {
      const path = join(repo, 'peers', `${name}.yaml`)
      writeFileSync(path, readFileSync(path, 'utf8').replace('interface: wg0', 'node: gw-1\ninterface: wg0'))
    }
    const before = tree(repo)

    const ambiguous = await cli(repo, ['peer', 'create', '--name', 'dave-laptop', '--interface', 'wg0', '--json'])
    expect(ambiguous.exitCode).toBe(1)
    expect(jsonError(ambiguous.stdout)).toEqual({
      code: 'ambiguous_interface',
      message: 'interface wg0 exists on several nodes (gw-1, gw-2)',
      hint: 'pass --node to say which one',
    })
    expect(tree(repo)).toEqual(before)

    const run = await cli(repo, [
      'peer',
      'create',
      '--name',
      'dave-laptop',
      '--interface',
      'wg0',
      '--node',
      'gw-2',
      '--public-key',
      KEY,
      '--json',
    ])
    expect(run.exitCode).toBe(0)
    expect(JSON.parse(run.stdout)).toMatchObject({node: 'gw-2', addresses: ['10.77.0.2', 'fd77::2']})
    expect(readFileSync(join(repo, 'peers/dave-laptop.yaml'), 'utf8')).toContain('node: gw-2\ninterface: wg0\n')
  })

  it('refuses an address another peer holds in state, and one still in quarantine', async () => {
    const repo = quickstart()
    const store = await openState(stateLocation(repo, {}), {mode: 'write', env: {}})
    await store?.write(
      {
        allocations: [
          {node: 'gw-1', iface: 'wg0', peer: 'alice-phone', address: '10.66.0.3', family: 4},
          {node: 'gw-1', iface: 'wg0', peer: 'old-phone', address: '10.66.0.7', family: 4},
        ],
      },
      {actor: 'test'},
    )
    // A peer removed since: the apply that noticed released its address into quarantine.
    await store?.write({releases: [{node: 'gw-1', iface: 'wg0', address: '10.66.0.7'}]}, {actor: 'test'})
    await store?.close()
    const before = await world(repo)

    const held = await cli(repo, [
      'peer',
      'create',
      '--name',
      'dave-laptop',
      '--interface',
      'wg0',
      '--address',
      '10.66.0.3',
      '--json',
    ])
    expect(held.exitCode).toBe(1)
    expect(jsonError(held.stdout)).toMatchObject({
      code: 'address_in_use',
      message: '10.66.0.3 is already used by peer alice-phone on gw-1/wg0',
    })
    const quarantined = await cli(repo, [
      'peer',
      'create',
      '--name',
      'dave-laptop',
      '--interface',
      'wg0',
      '--address',
      '10.66.0.7',
      '--json',
    ])
    expect(quarantined.exitCode).toBe(1)
    expect(jsonError(quarantined.stdout).code).toBe('address_quarantined')
    expect(await world(repo)).toEqual(before)

    // Allocated, the new peer skips both, and alice-phone keeps the one state gave it.
    const run = await cli(repo, [
      'peer',
      'create',
      '--name',
      'dave-laptop',
      '--interface',
      'wg0',
      '--public-key',
      KEY,
      '--json',
    ])
    expect(JSON.parse(run.stdout)).toMatchObject({addresses: ['10.66.0.6', 'fd66::6']})
    const aaron = await cli(repo, [
      'peer',
      'create',
      '--name',
      'aaron-laptop',
      '--interface',
      'wg0',
      '--public-key',
      KEY.replace('A=', 'E='),
      '--json',
    ])
    expect(JSON.parse(aaron.stdout)).toMatchObject({addresses: ['10.66.0.8', 'fd66::7']})
  })

  it('--commit: commits exactly the new file, with a clear message; other changes stay out of it', async () => {
    const repo = quickstart()
    await gitRepo(repo)
    writeFileSync(join(repo, 'users/bob.yaml'), `${readFileSync(join(repo, 'users/bob.yaml'), 'utf8')}# note\n`)
    await git(repo, 'add', 'users/bob.yaml')

    const run = await cli(repo, [
      'peer',
      'create',
      '--name',
      'dave-laptop',
      '--interface',
      'wg0',
      '--public-key',
      KEY,
      '--commit',
      '--json',
    ])

    expect(run.exitCode).toBe(0)
    const result = JSON.parse(run.stdout) as Created
    expect(result.committed).toEqual({
      commit: (await git(repo, 'rev-parse', 'HEAD')).trim(),
      message: 'nexus: add peer dave-laptop (wg0 on gw-1)',
      files: ['peers/dave-laptop.yaml'],
    })
    expect(await git(repo, 'show', '--name-status', '--format=%s', 'HEAD')).toBe(
      'nexus: add peer dave-laptop (wg0 on gw-1)\n\nA\tpeers/dave-laptop.yaml',
    )
    expect(await git(repo, 'status', '--porcelain')).toBe('M  users/bob.yaml')
  })

  it('--commit that git refuses (a failing hook): the file stays, the config is still printed, exit 1', async () => {
    const repo = quickstart()
    await gitRepo(repo)
    writeFileSync(join(repo, '.git/hooks/pre-commit'), '#!/bin/sh\necho "hook says no" >&2\nexit 1\n', {mode: 0o755})

    const run = await cli(repo, ['peer', 'create', '--name', 'dave-laptop', '--interface', 'wg0', '--commit', '--json'])

    expect(run.exitCode).toBe(1)
    const result = JSON.parse(run.stdout) as Created
    expect(result.config).toMatch(/^PrivateKey = [A-Za-z0-9+/]{43}=$/m)
    expect(result.committed).toBeNull()
    expect(result.commitError).toMatchObject({code: 'git_commit_failed'})
    expect(existsSync(join(repo, 'peers/dave-laptop.yaml'))).toBe(true)
    expect(await git(repo, 'log', '--format=%s')).toBe('initial')
  })

  it('--commit outside a git repo: refused before anything is written (no file, no state)', async () => {
    const repo = quickstart()
    const notGit = await cli(repo, [
      'peer',
      'create',
      '--name',
      'dave-laptop',
      '--interface',
      'wg0',
      '--commit',
      '--json',
    ])
    expect(notGit.exitCode).toBe(1)
    expect(jsonError(notGit.stdout).code).toBe('not_a_git_repo')
    expect(existsSync(join(repo, 'peers/dave-laptop.yaml'))).toBe(false)
    expect(localState(repo)).toEqual([])
  })

  it('a repo file that cannot be written: exit 1, the gateway key is not recorded, the repo and state are as before', async () => {
    // A directory where the new file goes: the write fails at its rename, after every check passed.
    const blocked = (repo: string) => mkdirSync(join(repo, 'peers/dave-laptop.yaml'))
    const args = ['peer', 'create', '--name', 'dave-laptop', '--interface', 'wg0', '--json']
    // The temp file a failed rename leaves behind is the file writer's business, not this command's.
    const withoutTemp = (w: {files: Record<string, string>; state: unknown}) => ({
      ...w,
      files: Object.fromEntries(
        Object.entries(w.files).filter(([path]) => !/\.dave-laptop\.yaml\.\w+\.tmp$/.test(path)),
      ),
    })

    // No state yet: none is created.
    const fresh = quickstart()
    blocked(fresh)
    const freshBefore = await world(fresh)
    const first = await cli(fresh, args)
    expect(first.exitCode).toBe(1)
    expect(existsSync(join(fresh, '.nexus/state'))).toBe(false)
    expect(existsSync(join(fresh, '.nexus/secret.key'))).toBe(false)
    expect(withoutTemp(await world(fresh))).toEqual(freshBefore)

    // A state without a key for the interface: it stays without one, at the same serial.
    const repo = quickstart()
    blocked(repo)
    const store = await openState(stateLocation(repo, {}), {mode: 'write', env: {}})
    await store?.write({audit: [{action: 'test', subject: 'state exists'}]}, {actor: 'test'})
    await store?.close()
    const before = await world(repo)
    expect(before.state).toMatchObject({secrets: []})
    const second = await cli(repo, args)
    expect(second.exitCode).toBe(1)
    expect(withoutTemp(await world(repo))).toEqual(before)
  })
})

describe('nexus peer list / show', () => {
  let repo: string
  beforeAll(async () => {
    repo = quickstart()
    // alice-phone's address in state, as an apply would have recorded it.
    const store = await openState(stateLocation(repo, {}), {mode: 'write', env: {}})
    await store?.write(
      {
        allocations: [
          {node: 'gw-1', iface: 'wg0', peer: 'alice-phone', address: '10.66.0.3', family: 4},
          {node: 'gw-1', iface: 'wg0', peer: 'alice-phone', address: 'fd66::3', family: 6},
        ],
      },
      {actor: 'test'},
    )
    await store?.close()
  })

  it('list --offline: every peer with its address and whether its node carries it (golden)', async () => {
    const run = await cli(repo, ['peer', 'list', '--offline'])
    expect(run.exitCode).toBe(0)
    expect(run.stderr).toBe('')
    expectGolden('peer/list-offline.txt', run.stdout)
  })

  it('list --offline: a disabled peer shows as disabled, apart from active and inactive ones (golden)', async () => {
    const disabled = quickstart()
    const bob = join(disabled, 'peers/bob-laptop.yaml')
    writeFileSync(bob, `${readFileSync(bob, 'utf8')}enabled: false\n`)
    const run = await cli(disabled, ['peer', 'list', '--offline'])
    expect(run.exitCode).toBe(0)
    expect(run.stderr).toBe('')
    expect(run.stdout).toMatch(/^bob-laptop .* disabled$/m)
    expectGolden('peer/list-disabled.txt', run.stdout)
    const json = JSON.parse((await cli(disabled, ['peer', 'list', '--offline', '--user', 'bob', '--json'])).stdout)
    expect((json as PeerListResult).peers).toEqual([
      expect.objectContaining({name: 'bob-laptop', enabled: false, active: false}),
    ])
  })

  it('list --json, filtered by user', async () => {
    const run = await cli(repo, ['peer', 'list', '--offline', '--user', 'alice', '--json'])
    expect(run.exitCode).toBe(0)
    const result = JSON.parse(run.stdout) as PeerListResult
    expect(result).toEqual({
      offline: true,
      warnings: [],
      peers: [
        {
          name: 'alice-laptop',
          user: 'alice',
          node: 'gw-1',
          interface: 'wg0',
          publicKey: 'xLMoDCZ1GjJnYlHQo7Ta88s3ZUrhUULmZTkQta79VxM=',
          addresses: ['10.66.0.2'],
          addressSource: 'pinned',
          enabled: true,
          active: true,
          tunnel: 'full',
          allowedIPs: [],
          file: 'peers/alice-laptop.yaml',
          live: null,
        },
        expect.objectContaining({name: 'alice-phone', addresses: ['10.66.0.3', 'fd66::3'], addressSource: 'allocated'}),
      ],
    })
    const unknown = await cli(repo, ['peer', 'list', '--offline', '--user', 'alise', '--json'])
    expect(unknown.exitCode).toBe(1)
    expect(jsonError(unknown.stdout)).toMatchObject({code: 'unknown_user', hint: 'did you mean alice?'})
  })

  it('show: the peer (golden); --config with the private-key placeholder (golden); --json', async () => {
    const plain = await cli(repo, ['peer', 'show', 'bob-laptop'])
    expect(plain.exitCode).toBe(0)
    expectGolden('peer/show.txt', plain.stdout)

    const withConfig = await cli(repo, ['peer', 'show', 'alice-phone', '--config'])
    expect(withConfig.exitCode).toBe(0)
    // No apply yet: the gateway key in the config is a preview, and both outputs say so.
    expect(withConfig.stdout).toContain('# PREVIEW:')
    expect(withConfig.stderr).toContain('has no key in state yet')
    expectGolden(
      'peer/show-config.txt',
      withConfig.stdout.replace(/^PublicKey = .*$/m, 'PublicKey = <preview gateway key>'),
    )

    const json = JSON.parse((await cli(repo, ['peer', 'show', 'alice-phone', '--json'])).stdout) as PeerShown
    expect(json).toMatchObject({name: 'alice-phone', addresses: ['10.66.0.3', 'fd66::3'], preview: true})
    expect(json.config).toContain('PrivateKey = <replace with the private key of alice-phone; nexus does not store it>')

    const qr = await cli(repo, ['peer', 'show', 'alice-phone', '--qr'])
    expect(qr.stdout).toMatch(/█▀▀▀▀▀█/)
    expect(qr.stdout).not.toContain('[Interface]')
    const missing = await cli(repo, ['peer', 'show', 'alice-tablet'])
    expect(missing.exitCode).toBe(1)
    expect(missing.stderr).toContain('no peer named alice-tablet is declared')
  })
})

describe('nexus peer remove', () => {
  it('a peer alone in its file: the file goes; --json says what it held', async () => {
    const repo = quickstart()
    const run = await cli(repo, ['peer', 'remove', 'alice-laptop', '--json'])
    expect(run.exitCode).toBe(0)
    expect(JSON.parse(run.stdout) as PeerRemoved).toEqual({
      peer: 'alice-laptop',
      node: 'gw-1',
      interface: 'wg0',
      file: 'peers/alice-laptop.yaml',
      fileDeleted: true,
      addresses: ['10.66.0.2'],
      quarantineDays: 30,
      committed: null,
      applied: null,
    })
    expect(existsSync(join(repo, 'peers/alice-laptop.yaml'))).toBe(false)
    expect((await cli(repo, ['validate'])).exitCode).toBe(0)
  })

  it('a peer in a multi-document file: only its document goes, the others and their comments stay (golden)', async () => {
    const repo = quickstart()
    const text = `# yaml-language-server: $schema=../../../schemas/peer.schema.json
# Phones.

apiVersion: nexus/v1
kind: Peer
name: alice-phone   # Alice's
user: alice
interface: wg0
publicKey: oQQdOiWywtVH7KEI3mKXWgxYUQPUkN+osA6wyATxWwI=
---
# Carol's phone: her subscription ran out.
apiVersion: nexus/v1
kind: Peer
name: carol-phone
user: carol
interface: wg0
publicKey: e3G/AjwZKoVDD565ZZdHIjfl2end72NN4iwM9I0FtiI=
`
    rmSync(join(repo, 'peers/alice-phone.yaml'))
    rmSync(join(repo, 'peers/carol-phone.yaml'))
    writeFileSync(join(repo, 'peers/phones.yaml'), text)
    await gitRepo(repo)

    const run = await cli(repo, ['peer', 'remove', 'alice-phone', '--commit'])

    expect(run.exitCode).toBe(0)
    expect(readFileSync(join(repo, 'peers/phones.yaml'), 'utf8')).toBe(
      `# yaml-language-server: $schema=../../../schemas/peer.schema.json
# Phones.

# Carol's phone: her subscription ran out.
apiVersion: nexus/v1
kind: Peer
name: carol-phone
user: carol
interface: wg0
publicKey: e3G/AjwZKoVDD565ZZdHIjfl2end72NN4iwM9I0FtiI=
`,
    )
    expectGolden('peer/remove.txt', run.stdout.replace(/commit {5}[0-9a-f]{8}/, 'commit     <sha>'))
    expect(await git(repo, 'show', '--name-status', '--format=%s', 'HEAD')).toBe(
      'nexus: remove peer alice-phone\n\nM\tpeers/phones.yaml',
    )
    expect(run.stderr).toContain('nexus apply --node gw-1 takes the peer off the gateway')

    const gone = await cli(repo, ['peer', 'remove', 'alice-phone', '--json'])
    expect(gone.exitCode).toBe(1)
    expect(jsonError(gone.stdout).code).toBe('unknown_peer')
  })

  it('--commit of a deleted file commits the deletion', async () => {
    const repo = quickstart()
    await gitRepo(repo)
    const run = await cli(repo, ['peer', 'remove', 'bob-laptop', '--commit', '--json'])
    expect(run.exitCode).toBe(0)
    expect(await git(repo, 'show', '--name-status', '--format=%s', 'HEAD')).toBe(
      'nexus: remove peer bob-laptop\n\nD\tpeers/bob-laptop.yaml',
    )
    expect(await git(repo, 'status', '--porcelain')).toBe('')
  })
})
