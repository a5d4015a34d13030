/**
 * The swap and restore scripts a node runs (src/apply/remote.ts), run here
 * with bash in a temp dir: they are plain shell, no SSH needed. A swap that
 * stops part way must be undone exactly by the restore, whatever an earlier
 * apply left beside the files; and every rename is made durable (fsync of
 * the file before, of its directory after), watched with strace.
 */
import {chmodSync, existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync} from 'node:fs'
import {join} from 'node:path'

import {execa, execaSync} from 'execa'
import {afterAll, describe, expect, it} from 'vitest'

import {
  absent,
  markerScript,
  previous,
  restoreScript,
  staged,
  swapScript,
  uploadScript,
} from '../../../src/apply/remote.js'
import type {Node} from '../../../src/model/desired.js'
import {tempDir} from '../../helpers/tools.js'

const tmp = tempDir('nexus-swap-')
let count = 0

afterAll(() => tmp.cleanup())

function fresh(): string {
  const dir = join(tmp.path, `case-${++count}`)
  mkdirSync(dir, {recursive: true})
  return dir
}

async function bash(script: string, options: {env?: Record<string, string>; stdin?: string} = {}) {
  return execa('bash', ['-c', script], {
    reject: false,
    ...(options.env ? {env: options.env} : {}),
    ...(options.stdin === undefined ? {stdin: 'ignore'} : {input: options.stdin}),
  })
}

const read = (path: string) => (existsSync(path) ? readFileSync(path, 'utf8') : undefined)

describe('swap, then restore after a swap that stopped part way', () => {
  it('restores only what the swap changed: a stale .nexus-prev beside a path it never reached stays unused', async () => {
    const dir = fresh()
    const [a, b, c] = ['a.conf', 'b.conf', 'c.conf'].map((name) => join(dir, name)) as [string, string, string]
    for (const path of [a, b, c]) writeFileSync(path, `current ${path}\n`)
    // What an earlier apply left beside c: its previous file (older than the current one).
    writeFileSync(previous(c), 'OLDER c, from an earlier apply\n')
    writeFileSync(absent(b), '')
    // a is staged; b's staged file is missing, so the swap fails at b (path 2 of 3).
    writeFileSync(staged(a), 'new a\n')
    writeFileSync(staged(c), 'new c\n')

    const swap = await bash(swapScript([a, b, c], []))
    expect(swap.exitCode).not.toBe(0)
    const restore = await bash(restoreScript([a, b, c]))
    expect(restore.exitCode).toBe(0)

    expect(read(a)).toBe(`current ${a}\n`)
    expect(read(b)).toBe(`current ${b}\n`)
    expect(read(c)).toBe(`current ${c}\n`)
    expect(readdirSync(dir).sort()).toEqual(['a.conf', 'b.conf', 'c.conf'])
  })

  it('a backup copy cut short (a full disk) is never put back over the intact file', async () => {
    const dir = fresh()
    const bin = join(dir, 'bin')
    mkdirSync(bin)
    // A cp that writes half of b's copy and fails, as on a full disk.
    writeFileSync(
      join(bin, 'cp'),
      `#!/bin/bash\nfor last; do :; done\ncase "$last" in *b.conf*) head -c 3 "\${@: -2:1}" > "$last"; echo 'cp: No space left on device' >&2; exit 1 ;; esac\nexec /bin/cp "$@"\n`,
    )
    chmodSync(join(bin, 'cp'), 0o755)
    const [a, b] = ['a.conf', 'b.conf'].map((name) => join(dir, name)) as [string, string]
    for (const path of [a, b]) writeFileSync(path, `current ${path}\n`)
    writeFileSync(staged(a), 'new a\n')
    writeFileSync(staged(b), 'new b\n')

    const swap = await bash(swapScript([a, b], []), {env: {PATH: `${bin}:${process.env.PATH ?? ''}`}})
    expect(swap.stderr).toContain('No space left on device')
    expect(swap.exitCode).not.toBe(0)
    expect(await bash(restoreScript([a, b])).then((r) => r.exitCode)).toBe(0)

    expect(read(a)).toBe(`current ${a}\n`)
    expect(read(b)).toBe(`current ${b}\n`)
    expect(readdirSync(dir).sort()).toEqual(['a.conf', 'b.conf', 'bin'])
  })

  it('a complete swap keeps the previous files and marks the new ones; restore undoes it', async () => {
    const dir = fresh()
    const [kept, created, removed] = ['kept', 'created', 'removed'].map((name) => join(dir, name)) as [
      string,
      string,
      string,
    ]
    writeFileSync(kept, 'old kept\n')
    writeFileSync(removed, 'old removed\n')
    writeFileSync(staged(kept), 'new kept\n')
    writeFileSync(staged(created), 'new created\n')

    expect((await bash(swapScript([kept, created], [removed]))).exitCode).toBe(0)
    expect([read(kept), read(previous(kept)), read(created), read(absent(created))]).toEqual([
      'new kept\n',
      'old kept\n',
      'new created\n',
      '',
    ])
    expect([read(removed), read(previous(removed))]).toEqual([undefined, 'old removed\n'])

    expect((await bash(restoreScript([kept, created, removed]))).exitCode).toBe(0)
    expect(readdirSync(dir).sort()).toEqual(['kept', 'removed'])
    expect([read(kept), read(removed)]).toEqual(['old kept\n', 'old removed\n'])
  })

  it('quotes every path: spaces, quotes and $ in names are names, not shell', async () => {
    const dir = join(fresh(), `we'ird $(touch pwned) dir`)
    mkdirSync(dir)
    const path = join(dir, 'wg0.conf')
    writeFileSync(path, 'old\n')
    const upload = uploadScript([{path, content: 'new\n', mode: 0o600}])
    expect((await bash(upload.script, {stdin: upload.stdin})).exitCode).toBe(0)
    expect((await bash(swapScript([path], []))).exitCode).toBe(0)
    expect(read(path)).toBe('new\n')
    expect((await bash(restoreScript([path]))).exitCode).toBe(0)
    expect(read(path)).toBe('old\n')
    expect(existsSync(join(process.cwd(), 'pwned'))).toBe(false)
  })
})

interface Traced {
  readonly kind: 'fsync' | 'rename'
  readonly path: string
  readonly from?: string
}

/**
 * Runs a script under strace and returns, in order, the successful renames
 * (target path) and fsyncs (the path the fd was opened on).
 */
async function traced(script: string, stdin?: string): Promise<Traced[]> {
  const out = join(fresh(), 'strace.out')
  const run = await execa(
    'strace',
    ['-f', '-qq', '-o', out, '-e', 'trace=openat,open,fsync,fdatasync,rename,renameat,renameat2', 'bash', '-c', script],
    {reject: false, ...(stdin === undefined ? {stdin: 'ignore'} : {input: stdin})},
  )
  expect(run.exitCode).toBe(0)
  const fds = new Map<string, string>()
  const events: Traced[] = []
  for (const line of readFileSync(out, 'utf8').split('\n')) {
    const pid = /^(\d+)\s+/.exec(line)?.[1] ?? ''
    const open = /open(?:at)?\((?:AT_FDCWD, )?"([^"]+)",.*\) = (\d+)$/.exec(line)
    if (open?.[1] && open[2]) fds.set(`${pid}:${open[2]}`, open[1])
    const sync = /f(?:data)?sync\((\d+)\)\s+= 0$/.exec(line)
    if (sync?.[1]) events.push({kind: 'fsync', path: fds.get(`${pid}:${sync[1]}`) ?? '?'})
    const rename = /rename(?:at2?)?\((?:AT_FDCWD, )?"([^"]+)", (?:AT_FDCWD, )?"([^"]+)".*\) = 0$/.exec(line)
    if (rename?.[1] && rename[2]) events.push({kind: 'rename', from: rename[1], path: rename[2]})
  }
  return events
}

/** strace needs ptrace, which some containers forbid. */
const skip = execaSync('strace', ['-o', '/dev/null', 'true'], {reject: false}).exitCode !== 0

describe('durability', () => {
  it.skipIf(skip)('upload: each staged file is fsynced before its rename, the directory after the last', async () => {
    const dir = fresh()
    const paths = [join(dir, 'etc', 'a.conf'), join(dir, 'etc', 'b.conf'), join(dir, 'other', 'c.conf')]
    const upload = uploadScript(paths.map((path) => ({path, content: `${path}\n`, mode: 0o600})))
    const events = await traced(upload.script, upload.stdin)

    for (const path of paths) {
      const renamed = events.findIndex((e) => e.kind === 'rename' && e.path === staged(path))
      expect(renamed).toBeGreaterThan(-1)
      expect(events.findIndex((e) => e.kind === 'fsync' && e.path === `${staged(path)}.tmp`)).toBeLessThan(renamed)
    }
    const lastRename = events.findLastIndex((e) => e.kind === 'rename')
    for (const directory of [join(dir, 'etc'), join(dir, 'other')]) {
      expect(events.findLastIndex((e) => e.kind === 'fsync' && e.path === directory)).toBeGreaterThan(lastRename)
    }
  })

  it.skipIf(skip)(
    'swap: the cp -p backup is fsynced and named before the staged file replaces the original; the directory after',
    async () => {
      const dir = fresh()
      const path = join(dir, 'wg0.conf')
      const gone = join(dir, 'old.conf')
      writeFileSync(path, 'old\n')
      writeFileSync(gone, 'gone\n')
      writeFileSync(staged(path), 'new\n')
      const events = await traced(swapScript([path], [gone]))

      const backupSynced = events.findIndex((e) => e.kind === 'fsync' && e.path === `${previous(path)}.tmp`)
      const backupNamed = events.findIndex((e) => e.kind === 'rename' && e.path === previous(path))
      const namesSynced = events.findIndex((e, i) => i > backupNamed && e.kind === 'fsync' && e.path === dir)
      const swapped = events.findIndex((e) => e.kind === 'rename' && e.path === path)
      const removed = events.findIndex((e) => e.kind === 'rename' && e.path === previous(gone))
      expect(backupSynced).toBeGreaterThan(-1)
      expect(backupSynced).toBeLessThan(backupNamed)
      expect(namesSynced).toBeGreaterThan(backupNamed)
      expect(namesSynced).toBeLessThan(swapped)
      expect(events.findLastIndex((e) => e.kind === 'fsync' && e.path === dir)).toBeGreaterThan(
        Math.max(swapped, removed),
      )
    },
  )

  it.skipIf(skip)('restore and the revision marker: the directory is fsynced after the renames', async () => {
    const dir = fresh()
    const path = join(dir, 'wg0.conf')
    writeFileSync(path, 'new\n')
    writeFileSync(previous(path), 'old\n')
    const restored = await traced(restoreScript([path]))
    const back = restored.findIndex((e) => e.kind === 'rename' && e.path === path)
    expect(back).toBeGreaterThan(-1)
    expect(restored.findLastIndex((e) => e.kind === 'fsync' && e.path === dir)).toBeGreaterThan(back)

    const state = join(dir, 'state')
    const marker = markerScript({paths: {state}} as unknown as Node, {revision: 1})
    const events = await traced(marker.script, marker.stdin)
    const named = events.findIndex((e) => e.kind === 'rename' && e.path.endsWith('revision.json'))
    const target = events[named]?.path ?? ''
    expect(events.findIndex((e) => e.kind === 'fsync' && e.path === `${target}.tmp`)).toBeLessThan(named)
    expect(events.findLastIndex((e) => e.kind === 'fsync' && e.path === state)).toBeGreaterThan(named)
  })
})
