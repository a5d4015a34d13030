import {existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync} from 'node:fs'
import {join} from 'node:path'

import {afterAll, describe, expect, it} from 'vitest'

import {exampleCopy, nexus, STACK_FRAME} from '../../helpers/cli.js'
import {tempDir} from '../../helpers/tools.js'

const QUICKSTART_FILES = [
  'clients/alice-laptop.conf',
  'clients/alice-phone.conf',
  'clients/bob-laptop.conf',
  'nodes/gw-1/dnsmasq/nexus.conf',
  'nodes/gw-1/nftables/nexus.nft',
  'nodes/gw-1/wireguard/wg0.conf',
  'nodes/gw-1/xray/config.json',
]

describe('nexus render', () => {
  const tmp = tempDir()
  afterAll(() => tmp.cleanup())

  it('lists the files without writing anything when --out is absent', async () => {
    const run = await nexus(['render', '--repo', 'examples/quickstart'])
    expect(run.exitCode).toBe(0)
    for (const path of QUICKSTART_FILES) expect(run.stdout).toContain(path)
    expect(run.stdout).toContain('PREVIEW')
    expect(run.stdout).toContain('7 files; write them with --out DIR')
    // carol's basic tariff ran out a month after her declared start, so her phone gets no config.
    expect(run.stdout).not.toContain('carol-phone')
  })

  it('a preview creates no state: no database, no key file, no lock (the parse cache may stay)', async () => {
    const repo = exampleCopy('quickstart', join(tmp.path, 'stateless'))
    const listed = await nexus(['render', '--repo', repo, '--json'])
    expect(listed.exitCode).toBe(0)
    expect(JSON.parse(listed.stdout).preview).toBe(true)
    const written = await nexus(['render', '--repo', repo, '--out', join(tmp.path, 'stateless-out')])
    expect(written.exitCode).toBe(0)
    const left = existsSync(join(repo, '.nexus')) ? readdirSync(join(repo, '.nexus')) : []
    expect(left.filter((name) => name !== 'cache' && name !== '.gitignore')).toEqual([])
    expect(existsSync(join(repo, '.nexus', 'state'))).toBe(false)
    expect(existsSync(join(repo, '.nexus', 'secret.key'))).toBe(false)
  })

  it('writes the design.md §6 tree with private files mode 0600', async () => {
    const out = join(tmp.path, 'tree')
    const run = await nexus(['render', '--repo', 'examples/quickstart', '--out', out, '--json'])
    expect(run.exitCode).toBe(0)
    const result = JSON.parse(run.stdout)
    expect(result).toMatchObject({format_version: '1', preview: true, out})
    expect(result.files.map((f: {path: string}) => f.path)).toEqual(QUICKSTART_FILES)
    for (const path of QUICKSTART_FILES) expect(existsSync(join(out, path)), path).toBe(true)
    expect(statSync(join(out, 'nodes/gw-1/wireguard/wg0.conf')).mode & 0o777).toBe(0o600)
    expect(statSync(join(out, 'nodes/gw-1/xray/config.json')).mode & 0o777).toBe(0o600)
    expect(readFileSync(join(out, 'nodes/gw-1/wireguard/wg0.conf'), 'utf8')).toMatch(
      /^# rendered by nexus -- do not edit\n# PREVIEW: /,
    )
    // The JSON lists digests, never contents: rendered files carry private keys.
    expect(run.stdout).not.toContain('PrivateKey')
  })

  it('replaces an earlier render, dropping files that are no longer rendered', async () => {
    const out = join(tmp.path, 'again')
    expect((await nexus(['render', '--repo', 'examples/quickstart', '--out', out])).exitCode).toBe(0)
    writeFileSync(join(out, 'clients/stale.conf'), 'old')
    expect((await nexus(['render', '--repo', 'examples/quickstart', '--out', out])).exitCode).toBe(0)
    expect(existsSync(join(out, 'clients/stale.conf'))).toBe(false)
    expect(readdirSync(tmp.path).filter((name) => name.includes('.again.'))).toEqual([])
  })

  it('refuses to write into a directory it did not create', async () => {
    const out = join(tmp.path, 'mine')
    mkdirSync(out)
    writeFileSync(join(out, 'notes.txt'), 'keep me')
    const run = await nexus(['render', '--repo', 'examples/quickstart', '--out', out])
    expect(run.exitCode).toBe(1)
    expect(run.stderr).toContain('is not empty and was not written by nexus render')
    expect(readdirSync(out)).toEqual(['notes.txt'])
  })

  it('renders one node with --node, and names the known ones for a typo', async () => {
    const one = await nexus(['render', '--repo', 'examples/quickstart', '--node', 'gw-1', '--json'])
    expect(one.exitCode).toBe(0)
    expect(JSON.parse(one.stdout).files.every((f: {node: string}) => f.node === 'gw-1')).toBe(true)
    const typo = await nexus(['render', '--repo', 'examples/quickstart', '--node', 'gw-2'])
    expect(typo.exitCode).toBe(1)
    expect(typo.stderr).toContain('no node named gw-2')
    expect(typo.stderr).toContain('did you mean gw-1?')
    expect(typo.stderr).not.toMatch(STACK_FRAME)
  })

  it('renders nothing from invalid declarations and shows why', async () => {
    const repo = exampleCopy('quickstart', tmp.path)
    writeFileSync(
      join(repo, 'users/bob.yaml'),
      readFileSync(join(repo, 'users/bob.yaml'), 'utf8').replace('basic', 'gold'),
    )
    const out = join(tmp.path, 'never')
    const run = await nexus(['render', '--repo', repo, '--out', out])
    expect(run.exitCode).toBe(1)
    expect(run.stdout).toContain('User bob: Tariff "gold" is not declared')
    expect(existsSync(out)).toBe(false)
  })
})
