/**
 * The floor of the fan-out benchmark: the least a Node program can do to get
 * the files onto every host and the commands run there. For all hosts at
 * once: one SSH connection (host key pinned, TCP_NODELAY as nexus sets it),
 * one SFTP session writing the files, one exec of the check and reload
 * script. No state, no plan, no read-back.
 *
 * Run as its own process (the benchmark transpiles it to plain JavaScript so
 * no TypeScript loader is timed): `node ssh2-floor.mjs JOB.json`, in a
 * directory whose node_modules holds ssh2.
 */
import {readFile} from 'node:fs/promises'
import {createRequire} from 'node:module'
import {connect as netConnect, type Socket} from 'node:net'
import {join} from 'node:path'

export interface FloorJob {
  readonly hosts: readonly FloorHost[]
}

export interface FloorHost {
  readonly name: string
  readonly port: number
  /** `ssh-ed25519 AAAA…`: the only key accepted. */
  readonly hostKey: string
  readonly privateKeyFile: string
  /** Absolute directories to create (each parent listed too, unless it exists). */
  readonly dirs: readonly string[]
  readonly files: readonly {readonly local: string; readonly remote: string; readonly mode: number}[]
  /** Runs after the files are written; must exit 0. */
  readonly script: string
}

// The few ssh2 shapes used here (ssh2 ships no types).
interface Sftp {
  mkdir(path: string, callback: (error?: Error | null) => void): void
  writeFile(path: string, data: Buffer, options: {mode: number}, callback: (error?: Error | null) => void): void
  end(): void
}

interface Channel {
  readonly stderr: {on(event: 'data', listener: (chunk: Buffer) => void): unknown}
  on(event: 'data', listener: (chunk: Buffer) => void): unknown
  on(event: 'exit', listener: (code: number | null) => void): unknown
  on(event: 'close', listener: () => void): unknown
}

interface Client {
  on(event: 'ready', listener: () => void): Client
  on(event: 'error', listener: (error: Error) => void): Client
  connect(config: {sock: Socket; username: string; privateKey: string; hostVerifier: (key: Buffer) => boolean}): void
  sftp(callback: (error: Error | undefined, sftp: Sftp) => void): void
  exec(command: string, callback: (error: Error | undefined, channel: Channel) => void): void
  end(): void
}

const {Client} = createRequire(join(process.cwd(), 'package.json'))('ssh2') as {Client: new () => Client}

function connect(host: FloorHost, privateKey: string): Promise<Client> {
  const pinned = host.hostKey.split(/\s+/)[1]
  return new Promise((resolve, reject) => {
    const socket = netConnect({host: '127.0.0.1', port: host.port})
    socket.once('error', reject)
    socket.once('connect', () => {
      socket.setNoDelay(true)
      const client = new Client()
      client.on('ready', () => resolve(client)).on('error', reject)
      client.connect({
        sock: socket,
        username: 'root',
        privateKey,
        hostVerifier: (key) => key.toString('base64') === pinned,
      })
    })
  })
}

const call = <T = void>(body: (done: (error?: Error | null, value?: T) => void) => void): Promise<T> =>
  new Promise((resolve, reject) => body((error, value) => (error ? reject(error) : resolve(value as T))))

async function push(host: FloorHost, privateKey: string): Promise<void> {
  const [client, contents] = await Promise.all([
    connect(host, privateKey),
    Promise.all(host.files.map((file) => readFile(file.local))),
  ])
  try {
    const sftp = await call<Sftp>((done) => client.sftp((error, opened) => done(error, opened)))
    // Parents first; siblings at once.
    const depth = (dir: string) => dir.split('/').length
    for (const level of [...new Set(host.dirs.map(depth))].sort((a, b) => a - b)) {
      const dirs = host.dirs.filter((dir) => depth(dir) === level)
      await Promise.all(dirs.map((dir) => call((done) => sftp.mkdir(dir, (error) => done(error)))))
    }
    await Promise.all(
      host.files.map((file, i) =>
        call((done) => sftp.writeFile(file.remote, contents[i] as Buffer, {mode: file.mode}, done)),
      ),
    )
    sftp.end()
    const channel = await call<Channel>((done) => client.exec(host.script, (error, opened) => done(error, opened)))
    const output: Buffer[] = []
    const code = await new Promise<number | null>((resolve) => {
      let exit: number | null = null
      channel.on('data', (chunk) => output.push(chunk))
      channel.stderr.on('data', (chunk) => output.push(chunk))
      channel.on('exit', (value) => (exit = value))
      channel.on('close', () => resolve(exit))
    })
    if (code !== 0) throw new Error(`${host.name}: the script exited ${code}: ${Buffer.concat(output).toString()}`)
  } finally {
    client.end()
  }
}

async function main(jobFile: string): Promise<void> {
  const job = JSON.parse(await readFile(jobFile, 'utf8')) as FloorJob
  const keys = new Map<string, string>()
  for (const host of job.hosts) {
    if (!keys.has(host.privateKeyFile)) keys.set(host.privateKeyFile, await readFile(host.privateKeyFile, 'utf8'))
  }
  const results = await Promise.allSettled(job.hosts.map((host) => push(host, keys.get(host.privateKeyFile) ?? '')))
  const failed = results.flatMap((r) => (r.status === 'rejected' ? [String(r.reason)] : []))
  if (failed.length > 0) {
    process.stderr.write(`${failed.join('\n')}\n`)
    process.exitCode = 1
  }
}

const jobFile = process.argv[2]
if (jobFile) {
  main(jobFile).catch((error: unknown) => {
    process.stderr.write(`${String(error)}\n`)
    process.exitCode = 1
  })
}
