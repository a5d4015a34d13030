/**
 * The SSH transport against a real OpenSSH server started by the test
 * (test/helpers/sshd.ts), on 127.0.0.1 only.
 */
import {spawn} from 'node:child_process'
import {existsSync, readFileSync, writeFileSync} from 'node:fs'
import {createServer, type Server, type Socket} from 'node:net'

import {execa} from 'execa'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {NexusError} from '../../../src/errors.js'
import type {Node} from '../../../src/model/desired.js'
import {MemoryHostKeyStore} from '../../../src/transport/host-keys.js'
import {sh} from '../../../src/transport/shell.js'
import {SshTransport} from '../../../src/transport/ssh.js'
import type {ConnectOptions} from '../../../src/transport/types.js'
import {startSshd, type TestSshd} from '../../helpers/sshd.js'
import {fakeNode} from '../../unit/transport/fakes.js'

const servers: TestSshd[] = []
let a: TestSshd
let b: TestSshd

beforeAll(async () => {
  a = await startSshd()
  servers.push(a)
  // Same user key, different host key: "the same node, reinstalled".
  b = await startSshd({userKey: a.userKey, strangerKey: a.strangerKey})
  servers.push(b)
})

afterAll(async () => {
  await Promise.all(servers.map((server) => server.stop()))
})

/** No agent, no NEXUS_SSH_KEY: only what a test sets. */
const transport = new SshTransport({env: {}})

function nodeFor(server: TestSshd, ssh: Partial<Node['ssh']> = {}, name = 'gw-1'): Node {
  return fakeNode({
    name,
    ssh: {host: server.host, port: server.port, user: 'root', identityFile: server.userKey, ...ssh},
  })
}

async function fingerprint(server: TestSshd): Promise<string> {
  const {stdout} = await execa('ssh-keygen', ['-lf', `${server.dir}/ssh_host_ed25519_key.pub`])
  return stdout.split(' ')[1] ?? ''
}

async function rejection(promise: Promise<unknown>): Promise<NexusError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  )
  if (!(error instanceof NexusError)) throw new Error(`expected a NexusError, got ${String(error)}`)
  return error
}

const accepted = (server: TestSshd) => server.log().split('Accepted publickey').length - 1

function options(overrides: Partial<ConnectOptions> = {}): ConnectOptions {
  return {hostKeys: new MemoryHostKeyStore(), ...overrides}
}

describe('SshTransport', () => {
  it('connects and runs bash with exit code, stdout, stderr and stdin', async () => {
    const connection = await transport.connect(nodeFor(a), options())
    try {
      const result = await connection.exec('echo "$BASH_VERSION" | cut -c1; id -un; echo oops >&2; exit 4')
      expect(result).toEqual({
        exitCode: 4,
        signal: null,
        stdout: expect.stringMatching(/^\d\nroot\n$/),
        stderr: 'oops\n',
      })
      const input = `ünïcødé ✓ ${'x'.repeat(1_000_000)}\n`
      const echoed = await connection.exec('cat', {stdin: input})
      expect(echoed.stdout).toBe(input)
      const big = await connection.exec('head -c 3000000 /dev/zero | tr "\\0" y')
      expect(big.stdout.length).toBe(3_000_000)
    } finally {
      await connection.close()
    }
  })

  it('records the host key on first use, then accepts it again', async () => {
    const hostKeys = new MemoryHostKeyStore()
    const first = await transport.connect(nodeFor(a), options({hostKeys}))
    expect(first.hostKey.fingerprint).toBe(await fingerprint(a))
    await first.close()
    expect(hostKeys.entries()).toEqual({'gw-1': a.hostKey})

    const second = await transport.connect(nodeFor(a), options({hostKeys}))
    expect((await second.exec('echo again')).stdout).toBe('again\n')
    await second.close()
    expect(hostKeys.entries()).toEqual({'gw-1': a.hostKey})
  })

  it('accepts the pinned key and records nothing', async () => {
    const hostKeys = new MemoryHostKeyStore()
    const connection = await transport.connect(nodeFor(a, {hostKey: a.hostKey}), options({hostKeys}))
    expect((await connection.exec('echo pinned')).stdout).toBe('pinned\n')
    await connection.close()
    expect(hostKeys.entries()).toEqual({})
  })

  it('refuses a node whose key differs from the pinned one, before logging in or running anything', async () => {
    const commands: string[] = []
    const before = accepted(a)
    const error = await rejection(
      transport.connect(
        nodeFor(a, {hostKey: b.hostKey}),
        options({onCommand: (_node, script) => commands.push(script)}),
      ),
    )
    expect(error.code).toBe('host_key_changed')
    expect(error.message).toContain('node gw-1')
    expect(error.message).toContain(`expected ${await fingerprint(b)}`)
    expect(error.message).toContain(`presented ${await fingerprint(a)}`)
    expect(error.message).toContain('pinned in ssh.hostKey')
    expect(error.hint).toMatch(/if the change is expected.*update ssh.hostKey of node gw-1/)
    expect(commands).toEqual([])
    await new Promise((resolve) => setTimeout(resolve, 100))
    expect(accepted(a)).toBe(before)
  })

  it('refuses a key that changed since it was recorded', async () => {
    const hostKeys = new MemoryHostKeyStore()
    await (await transport.connect(nodeFor(a), options({hostKeys}))).close()
    // The node "moved" to server b: same name, another host key.
    const before = accepted(b)
    const error = await rejection(transport.connect(nodeFor(b), options({hostKeys})))
    expect(error.code).toBe('host_key_changed')
    expect(error.message).toContain(`expected ${await fingerprint(a)}`)
    expect(error.message).toContain(`presented ${await fingerprint(b)}`)
    expect(error.message).toContain('recorded on the first connection')
    expect(error.hint).toMatch(/run `nexus node forget-host-key gw-1`/)
    expect(hostKeys.entries()).toEqual({'gw-1': a.hostKey})
    expect(accepted(b)).toBe(before)
  })

  it('reports a refused key as ssh_auth_failed', async () => {
    const error = await rejection(transport.connect(nodeFor(a, {identityFile: a.strangerKey}), options()))
    expect(error.code).toBe('ssh_auth_failed')
    expect(error.message).toBe(
      `node gw-1 refused the login of root with the key ${a.strangerKey} (from ssh.identityFile)`,
    )
    expect(error.message).not.toMatch(/PRIVATE KEY/)
    expect(error.hint).toContain('authorized_keys')
  })

  it('reports a missing key file and missing credentials as ssh_auth_failed', async () => {
    const missing = await rejection(transport.connect(nodeFor(a, {identityFile: `${a.dir}/nope`}), options()))
    expect(missing.code).toBe('ssh_auth_failed')
    expect(missing.message).toMatch(/cannot read the SSH key .*nope \(from ssh.identityFile\) for node gw-1: ENOENT/)

    const {identityFile: _none, ...ssh} = nodeFor(a).ssh
    const bare = {...nodeFor(a), ssh}
    const none = await rejection(transport.connect(bare, options()))
    expect(none.code).toBe('ssh_auth_failed')
    expect(none.message).toBe('no SSH credentials for node gw-1')
    expect(none.hint).toMatch(/ssh.identityFile.*NEXUS_SSH_KEY.*SSH_AUTH_SOCK/)
  })

  it('uses NEXUS_SSH_KEY when the node names no identity file', async () => {
    const {identityFile: _none, ...ssh} = nodeFor(a).ssh
    const viaEnv = new SshTransport({env: {NEXUS_SSH_KEY: a.userKey}})
    const connection = await viaEnv.connect({...nodeFor(a), ssh}, options())
    expect((await connection.exec('echo env-key')).stdout).toBe('env-key\n')
    await connection.close()
  })

  it('logs in with the keys of an SSH agent when nothing else is set', async () => {
    const socketPath = `${a.dir}/agent.sock`
    const agent = spawn('ssh-agent', ['-D', '-a', socketPath], {stdio: 'ignore'})
    try {
      for (let i = 0; i < 100 && !existsSync(socketPath); i++) await new Promise((resolve) => setTimeout(resolve, 20))
      const {identityFile: _none, ...ssh} = nodeFor(a).ssh
      const bare = {...nodeFor(a), ssh}
      const viaAgent = new SshTransport({env: {SSH_AUTH_SOCK: socketPath}})

      const empty = await rejection(viaAgent.connect(bare, options()))
      expect(empty.code).toBe('ssh_auth_failed')
      expect(empty.message).toBe('node gw-1 refused the login of root with the keys of the SSH agent (SSH_AUTH_SOCK)')

      await execa('ssh-add', ['-q', a.userKey], {env: {SSH_AUTH_SOCK: socketPath}})
      const connection = await viaAgent.connect(bare, options())
      expect((await connection.exec('echo agent')).stdout).toBe('agent\n')
      await connection.close()
    } finally {
      agent.kill('SIGTERM')
    }
  })

  it('reports a closed port as node_unreachable, quickly', async () => {
    const server = createServer()
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    const port = (server.address() as {port: number}).port
    await new Promise<void>((resolve) => server.close(() => resolve()))
    const started = Date.now()
    const error = await rejection(transport.connect(nodeFor(a, {port}), options()))
    expect(error.code).toBe('node_unreachable')
    expect(error.message).toBe(`cannot reach node gw-1 at 127.0.0.1:${port}: connection refused`)
    // At once, not after the connect timeout (15 s): a refusal is an answer.
    expect(Date.now() - started).toBeLessThan(8_000)
  })

  it('reports a port that never speaks SSH as node_unreachable after the connect timeout', async () => {
    const sockets: Socket[] = []
    const silent: Server = createServer((socket) => sockets.push(socket))
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve))
    const port = (silent.address() as {port: number}).port
    try {
      const started = Date.now()
      const error = await rejection(transport.connect(nodeFor(a, {port}), options({connectTimeoutMs: 500})))
      expect(error.code).toBe('node_unreachable')
      expect(error.message).toContain('no SSH handshake within 0.5 s')
      // The silent server never hangs up: only the timeout ends the wait.
      expect(Date.now() - started).toBeLessThan(8_000)
    } finally {
      for (const socket of sockets) socket.destroy()
      await new Promise<void>((resolve) => silent.close(() => resolve()))
    }
  })

  it('stops a command that outlives its timeout, on the node too, and stays usable', async () => {
    const connection = await transport.connect(nodeFor(a), options())
    try {
      const started = Date.now()
      const error = await rejection(connection.exec('sleep 31.337; echo late', {timeoutMs: 500}))
      expect(error.code).toBe('command_timeout')
      expect(error.message).toBe('a command on node gw-1 did not finish within 0.5 s; it was stopped')
      // Long before the 31 s the command would have taken.
      expect(Date.now() - started).toBeLessThan(15_000)
      let left = ''
      for (let i = 0; i < 40; i++) {
        left = (await connection.exec("pgrep -f 'sleep 31[.]337' || true")).stdout
        if (left === '') break
        await new Promise((resolve) => setTimeout(resolve, 100))
      }
      expect(left).toBe('')
      expect((await connection.exec('echo alive')).stdout).toBe('alive\n')
    } finally {
      await connection.close()
    }
  })

  it('stops a command fed on stdin at its timeout too (node-side timeout)', async () => {
    const connection = await transport.connect(nodeFor(a), options())
    try {
      const error = await rejection(connection.exec('cat >/dev/null; sleep 31.338', {stdin: 'x', timeoutMs: 500}))
      expect(error.code).toBe('command_timeout')
      let left = ''
      for (let i = 0; i < 60; i++) {
        left = (await connection.exec("pgrep -f 'sleep 31[.]338' || true")).stdout
        if (left === '') break
        await new Promise((resolve) => setTimeout(resolve, 100))
      }
      expect(left).toBe('')
    } finally {
      await connection.close()
    }
  })

  it('runs 20 concurrent commands on one connection, at most 8 at a time (MaxSessions is 10)', async () => {
    const connection = await transport.connect(nodeFor(a), options())
    try {
      const slots = `${a.dir}/slots`
      const script = sh`mkdir -p ${slots}; touch ${slots}/$$; ls ${slots} | wc -l; sleep 0.3; rm ${slots}/$$`
      const results = await Promise.all(Array.from({length: 20}, () => connection.exec(script)))
      expect(results.map((r) => r.exitCode)).toEqual(Array(20).fill(0))
      const peak = Math.max(...results.map((r) => Number(r.stdout.trim())))
      expect(peak).toBeLessThanOrEqual(8)
      expect(peak).toBeGreaterThanOrEqual(4)
    } finally {
      await connection.close()
    }
  })

  it('is refused by the node beyond MaxSessions without the limit (channel_open_failed)', async () => {
    const unbounded = new SshTransport({env: {}, maxChannels: 14})
    const connection = await unbounded.connect(nodeFor(a), options())
    try {
      // Longer than the retries of a refused open (about 1.3 s), so some stay refused.
      const outcomes = await Promise.allSettled(Array.from({length: 14}, () => connection.exec('sleep 2.5')))
      const codes = outcomes.map((o) => (o.status === 'fulfilled' ? 'ok' : (o.reason as NexusError).code))
      expect(codes).toContain('channel_open_failed')
      expect(codes.filter((code) => code === 'ok').length).toBeLessThanOrEqual(10)
    } finally {
      await connection.close()
    }
  })

  it('sets TCP_NODELAY on its socket, so sequential commands do not wait for delayed ACKs', async () => {
    const sockets: Socket[] = []
    const instrumented = new SshTransport({env: {}, onSocket: (socket) => sockets.push(socket)})
    const connection = await instrumented.connect(nodeFor(a), options())
    try {
      expect(sockets).toHaveLength(1)
      // Node keeps the option it set on the handle under an internal symbol.
      const socket = sockets[0] as unknown as Record<symbol, unknown>
      const noDelay = Object.getOwnPropertySymbols(socket).find((s) => s.description === 'kSetNoDelay')
      expect(noDelay, 'this Node.js keeps setNoDelay under kSetNoDelay').toBeDefined()
      expect(socket[noDelay as symbol]).toBe(true)
      // The speed this buys (no 40 ms delayed-ACK stall per exec) is measured by npm run bench, not asserted here.
      expect((await connection.exec('true')).exitCode).toBe(0)
    } finally {
      await connection.close()
    }
  })

  it('echoes every script to onCommand and never stdin', async () => {
    const seen: [string, string][] = []
    const connection = await transport.connect(
      nodeFor(a),
      options({onCommand: (node, script) => seen.push([node, script])}),
    )
    await connection.exec('cat >/dev/null', {stdin: 'top secret'})
    await connection.close()
    expect(seen).toEqual([['gw-1', 'cat >/dev/null']])
  })

  it('rejects commands after close, and commands cut off by it', async () => {
    const connection = await transport.connect(nodeFor(a), options())
    const running = rejection(connection.exec('sleep 5'))
    await new Promise((resolve) => setTimeout(resolve, 200))
    await connection.close()
    await connection.close()
    expect((await running).code).toBe('connection_closed')
    expect((await rejection(connection.exec('true'))).code).toBe('connection_closed')
  })

  it('reports a connection the node dropped as node_connection_lost', async () => {
    const connection = await transport.connect(nodeFor(a), options())
    // Kill this session's own sshd process: bash -c <- timeout <- sshd session.
    const error = await rejection(connection.exec('kill -9 "$(ps -o ppid= -p "$PPID" | tr -d " ")"; sleep 5'))
    expect(error.code).toBe('node_connection_lost')
    expect(error.message).toMatch(/^lost the connection to node gw-1: /)
    expect((await rejection(connection.exec('true'))).code).toBe('node_connection_lost')
    await connection.close()
  })

  it('notices a node that stopped answering through SSH keepalives', async () => {
    const watchful = new SshTransport({env: {}, keepaliveIntervalMs: 200, keepaliveCountMax: 2})
    const connection = await watchful.connect(nodeFor(a), options())
    // The sshd process serving this connection (bash -c <- timeout <- sshd session).
    const pid = Number((await connection.exec('ps -o ppid= -p "$PPID"')).stdout.trim())
    expect(pid).toBeGreaterThan(1)
    process.kill(pid, 'SIGSTOP')
    try {
      const error = await rejection(connection.exec('true', {timeoutMs: 10_000}))
      expect(error.code).toBe('node_connection_lost')
      // node_connection_lost, not the exec's own command_timeout: the keepalives noticed first.
      expect(error.message).toContain('Keepalive timeout')
    } finally {
      // The session may end by itself once it runs again: a vanished process is fine here.
      for (const signal of ['SIGCONT', 'SIGTERM'] as const) signalIfAlive(pid, signal)
      await connection.close()
    }
  })

  it('never leaves key material in its errors', async () => {
    // Keys whose material must not show: the one that logs in, the refused one, an encrypted and a broken one.
    const encrypted = `${a.dir}/encrypted_key`
    await execa('ssh-keygen', ['-q', '-t', 'ed25519', '-N', 'correct horse 7391', '-C', 'nexus-test', '-f', encrypted])
    const broken = `${a.dir}/broken_key`
    const good = readFileSync(a.strangerKey, 'utf8')
    const lines = good.split('\n')
    // The body's third line scrambled: still PEM-shaped, no longer a key.
    lines[3] = [...(lines[3] ?? '')].reverse().join('')
    writeFileSync(broken, lines.join('\n'), {mode: 0o600})
    const keys = [a.userKey, a.strangerKey, encrypted, broken]
    const forbidden = keys.flatMap((file) => secretPieces(file))
    expect(forbidden.length).toBeGreaterThan(100)

    const hostKeys = new MemoryHostKeyStore()
    await (await transport.connect(nodeFor(a), options({hostKeys}))).close()
    const {identityFile: _none, ...keyless} = nodeFor(a).ssh
    const errors: [string, NexusError][] = [
      ['refused login', await rejection(transport.connect(nodeFor(a, {identityFile: a.strangerKey}), options()))],
      [
        'refused login via NEXUS_SSH_KEY',
        await rejection(
          new SshTransport({env: {NEXUS_SSH_KEY: a.strangerKey}}).connect({...nodeFor(a), ssh: keyless}, options()),
        ),
      ],
      ['pinned host key', await rejection(transport.connect(nodeFor(a, {hostKey: b.hostKey}), options()))],
      ['recorded host key', await rejection(transport.connect(nodeFor(b), options({hostKeys})))],
      ['encrypted key', await rejection(transport.connect(nodeFor(a, {identityFile: encrypted}), options()))],
      ['broken key', await rejection(transport.connect(nodeFor(a, {identityFile: broken}), options()))],
    ]
    expect(errors.map(([, error]) => error.code)).toEqual([
      'ssh_auth_failed',
      'ssh_auth_failed',
      'host_key_changed',
      'host_key_changed',
      'ssh_auth_failed',
      'ssh_auth_failed',
    ])
    for (const [what, error] of errors) {
      const shown = [error.message, error.hint ?? '', String(error), JSON.stringify(error)].join('\n')
      expect(shown, what).not.toMatch(/PRIVATE KEY|correct horse 7391/)
      for (const piece of forbidden) expect(shown.includes(piece), `${what}: ${piece}`).toBe(false)
    }
  })
})

/**
 * What of a private key file must never be shown: each line of its base64
 * body, and every 20-character piece of that body that is not also part of
 * the public key file (the public key is inside the private key file).
 */
function secretPieces(file: string): string[] {
  const body = readFileSync(file, 'utf8')
    .split('\n')
    .filter((line) => line !== '' && !line.startsWith('-----'))
  const publicText = existsSync(`${file}.pub`) ? readFileSync(`${file}.pub`, 'utf8') : ''
  const joined = body.join('')
  const pieces = new Set(body)
  for (let i = 0; i + 20 <= joined.length; i++) {
    const piece = joined.slice(i, i + 20)
    if (!publicText.includes(piece)) pieces.add(piece)
  }
  return [...pieces]
}

/** Sends `signal` unless the process is already gone. */
function signalIfAlive(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(pid, signal)
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ESRCH') throw error
  }
}
