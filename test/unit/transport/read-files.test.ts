import {mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import {afterAll, describe, expect, it} from 'vitest'

import {NexusError} from '../../../src/errors.js'
import {MemoryHostKeyStore} from '../../../src/transport/host-keys.js'
import {LocalTransport} from '../../../src/transport/local.js'
import {parseReadFiles, readFilesScript, readRemoteFiles} from '../../../src/transport/read-files.js'
import type {ExecOptions, ExecResult, NodeConnection} from '../../../src/transport/types.js'
import {fakeNode} from './fakes.js'

const dir = mkdtempSync(join(tmpdir(), 'nexus-read-files-'))
afterAll(() => rmSync(dir, {recursive: true, force: true}))

const hostKeys = new MemoryHostKeyStore()

async function connect(onCommand?: (node: string, script: string) => void): Promise<NodeConnection> {
  return new LocalTransport().connect(fakeNode(), {hostKeys, ...(onCommand ? {onCommand} : {})})
}

function file(name: string, content: string | Buffer): string {
  const path = join(dir, name)
  writeFileSync(path, content)
  return path
}

async function rejection(promise: Promise<unknown>): Promise<NexusError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  )
  if (!(error instanceof NexusError)) throw new Error(`expected a NexusError, got ${String(error)}`)
  return error
}

/** A connection that answers every exec with a fixed result and counts the calls. */
class CannedConnection implements NodeConnection {
  readonly node = 'fra-1'
  readonly scripts: string[] = []
  constructor(private readonly result: (script: string) => ExecResult) {}
  async exec(script: string, _options?: ExecOptions): Promise<ExecResult> {
    this.scripts.push(script)
    return this.result(script)
  }
  async close(): Promise<void> {}
}

describe('readRemoteFiles', () => {
  it('reads every file in one exec, byte for byte, null for a missing one', async () => {
    const contents = {
      lines: '[Interface]\nAddress = 10.66.0.1/24\n\n# peer\n',
      noNewline: 'last line without a newline',
      empty: '',
      unicode: 'ünïcødé ✓ — 日本\r\nCRLF line\r\n\uFEFFbom inside\n',
      markers: '@@nexus:0123456789abcdef:done@@\n\n@@nexus:x:out:file.0@@\n',
    }
    const paths = {
      lines: file('wg0.conf', contents.lines),
      noNewline: file('no-newline.conf', contents.noNewline),
      empty: file('empty.conf', contents.empty),
      unicode: file('unicode.conf', contents.unicode),
      markers: file('markers.conf', contents.markers),
      spaces: file(`it's a "quoted" $HOME \`x\` file.conf`, 'spaces and quotes\n'),
      missing: join(dir, 'missing.conf'),
      missingDir: join(dir, 'no-such-dir', 'x.conf'),
    }
    const seen: string[] = []
    const connection = await connect((_node, script) => seen.push(script))
    const result = await readRemoteFiles(connection, Object.values(paths))
    await connection.close()

    expect(seen).toHaveLength(1)
    expect(result).toEqual(
      new Map<string, string | null>([
        [paths.lines, contents.lines],
        [paths.noNewline, contents.noNewline],
        [paths.empty, ''],
        [paths.unicode, contents.unicode],
        [paths.markers, contents.markers],
        [paths.spaces, 'spaces and quotes\n'],
        [paths.missing, null],
        [paths.missingDir, null],
      ]),
    )
    // The script names the paths (quoted) but carries no content.
    expect(seen[0]).toContain(`'${paths.spaces.replaceAll("'", `'\\''`)}'`)
    expect(seen[0]).not.toContain('Address = 10.66.0.1/24')
  })

  it('keeps arbitrary bytes intact in transit and a large file whole', async () => {
    const big = Array.from({length: 20_000}, (_, i) => `allowed ${i}\t${'x'.repeat(i % 50)}`).join('\n')
    const bigPath = file('big.conf', big)
    const tabs = file('controls.conf', Buffer.from([0x09, 0x01, 0x7f, 0x0a, 0x0d, 0x0a, 0x00, 0x41]))
    const connection = await connect()
    const result = await readRemoteFiles(connection, [bigPath, tabs])
    await connection.close()
    expect(result.get(bigPath)).toBe(big)
    expect(result.get(tabs)).toBe('\t\u0001\u007f\n\r\n\u0000A')
  })

  it('treats a dangling symlink as missing and follows a good one', async () => {
    const target = file('target.conf', 'through the link\n')
    const good = join(dir, 'good-link.conf')
    const dangling = join(dir, 'dangling-link.conf')
    symlinkSync(target, good)
    symlinkSync(join(dir, 'nowhere'), dangling)
    const connection = await connect()
    const result = await readRemoteFiles(connection, [good, dangling])
    await connection.close()
    expect(result).toEqual(
      new Map([
        [good, 'through the link\n'],
        [dangling, null],
      ]),
    )
  })

  it('answers for every path given, duplicates included, and does not exec for none', async () => {
    const path = file('dup.conf', 'once\n')
    const connection = new CannedConnection(() => {
      throw new Error('no exec expected')
    })
    expect(await readRemoteFiles(connection, [])).toEqual(new Map())
    expect(connection.scripts).toHaveLength(0)

    const seen: string[] = []
    const local = await connect((_node, script) => seen.push(script))
    const result = await readRemoteFiles(local, [path, path])
    await local.close()
    expect(result).toEqual(new Map([[path, 'once\n']]))
    expect(seen[0]?.match(/nx_read file\./g)).toHaveLength(1)
  })

  it('refuses a directory or a device rather than reading it', async () => {
    const sub = join(dir, 'a-directory')
    mkdirSync(sub)
    const connection = await connect()
    for (const path of [sub, '/dev/zero']) {
      const error = await rejection(readRemoteFiles(connection, [path]))
      expect(error.code).toBe('remote_read_failed')
      expect(error.message).toContain(`reading ${path} on node fra-1 failed`)
      expect(error.message).toContain('not a regular file')
    }
    await connection.close()
  })

  it('refuses files past the size cap without transferring them', async () => {
    const small = file('small.conf', 'x'.repeat(600))
    const large = file('large.conf', 'y'.repeat(5000))
    const local = await connect()
    const error = await rejection(readRemoteFiles(local, [small, large], {maxTotalBytes: 4096}))
    expect(error.code).toBe('remote_file_too_large')
    expect(error.message).toBe(
      `${large} on node fra-1 is too large to read (4.9 KiB; Nexus reads at most 4.0 KiB in all per node)`,
    )
    expect(error.hint).toContain(large)
    // The cap counts all files together.
    const both = await rejection(readRemoteFiles(local, [small, large], {maxTotalBytes: 5500}))
    expect(both.code).toBe('remote_file_too_large')
    expect((await readRemoteFiles(local, [small, large], {maxTotalBytes: 5600})).get(large)).toBe('y'.repeat(5000))
    await local.close()
  })

  it('fails clearly when the script does not run to its end', async () => {
    const connection = new CannedConnection(() => ({
      exitCode: 127,
      signal: null,
      stdout: '',
      stderr: 'bash: command not found\n',
    }))
    const error = await rejection(readRemoteFiles(connection, ['/etc/wireguard/wg0.conf']))
    expect(error.code).toBe('remote_read_failed')
    expect(error.message).toBe('reading files on node fra-1 failed: the script stopped early (bash: command not found)')
    expect(connection.scripts).toHaveLength(1)
  })
})

describe('readFilesScript and parseReadFiles', () => {
  const nonce = '0123456789abcdef0123456789abcdef'

  it('frames each file with the nonce and quotes every path', () => {
    const script = readFilesScript(['/etc/wireguard/wg0.conf', "/tmp/it's here"], nonce, 1024)
    expect(script).toContain('nx_nonce=0123456789abcdef0123456789abcdef\n')
    expect(script).toContain('nx_limit=1024\n')
    expect(script).toContain('nx_read file.0 /etc/wireguard/wg0.conf\n')
    expect(script).toContain(`nx_read file.1 '/tmp/it'\\''s here'\n`)
    expect(() => readFilesScript([], 'not-hex', 1)).toThrow(/nonce/)
  })

  const section = (id: string, out: string, code: number, err = '', n = nonce) =>
    `\n@@nexus:${n}:out:${id}@@\n${out}\n@@nexus:${n}:err:${id}@@\n${err}\n@@nexus:${n}:end:${id}:${code}@@\n`
  const done = `\n@@nexus:${nonce}:done@@\n`

  it('reports a file the node could not read with its error', () => {
    const stdout = section('file.0', '', 1, 'bash: line 30: /etc/wireguard/wg0.conf: Permission denied') + done
    expect(() =>
      parseReadFiles('fra-1', ['/etc/wireguard/wg0.conf'], {exitCode: 0, stdout, stderr: ''}, nonce, 1),
    ).toThrow(
      new NexusError(
        'remote_read_failed',
        'reading /etc/wireguard/wg0.conf on node fra-1 failed (exit 1): bash: line 30: /etc/wireguard/wg0.conf: Permission denied',
        'check that the path is a regular file the SSH user can read',
      ),
    )
  })

  it('ignores sections under another nonce and rejects garbled base64', () => {
    const forged = section('file.0', Buffer.from('forged').toString('base64'), 0, '', 'ffffffffffffffff')
    const real = section('file.0', Buffer.from('real\n').toString('base64'), 0)
    expect(
      parseReadFiles('fra-1', ['/a'], {exitCode: 0, stdout: forged + real + done, stderr: ''}, nonce, 1024),
    ).toEqual(new Map([['/a', 'real\n']]))
    const error = (() => {
      try {
        parseReadFiles('fra-1', ['/a'], {exitCode: 0, stdout: section('file.0', '!!!', 0) + done, stderr: ''}, nonce, 1)
      } catch (e) {
        return e
      }
      return undefined
    })()
    expect(error).toBeInstanceOf(NexusError)
    expect((error as NexusError).message).toContain('garbled')
  })
})
