import {appendFileSync, writeFileSync} from 'node:fs'
import {join} from 'node:path'

import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {ANSI, exampleCopy, nexus, STACK_FRAME} from '../../helpers/cli.js'
import {tempDir} from '../../helpers/tools.js'

describe('nexus validate', () => {
  const tmp = tempDir()
  let broken: string

  beforeAll(() => {
    broken = exampleCopy('quickstart', tmp.path)
    // Three independent mistakes in two files: all must be reported in one run.
    appendFileSync(join(broken, 'users/bob.yaml'), 'tarif: pro\n')
    writeFileSync(
      join(broken, 'peers/dave-phone.yaml'),
      'apiVersion: nexus/v1\nkind: Peer\nname: dave-phone\nuser: dave\ninterface: wg0\npublicKey: not-a-key\n',
    )
    writeFileSync(
      join(broken, 'rules/bad-range.yaml'),
      'apiVersion: nexus/v1\nkind: Rule\nname: bad-range\naction: allow\nprotocol: tcp\nports: "2000-1000"\n',
    )
  })
  afterAll(() => tmp.cleanup())

  it('accepts the quickstart example and exits 0', async () => {
    const run = await nexus(['validate', '--repo', 'examples/quickstart'])
    expect(run.exitCode).toBe(0)
    expect(run.stdout).toMatch(/✔ valid \(15 files, 15 declarations\)/)
  })

  it('reports every problem with file:line:col and a hint, exits 1, prints no stack', async () => {
    const run = await nexus(['validate', '--repo', broken])
    expect(run.exitCode).toBe(1)
    expect(run.stdout).toContain(`${broken}/users/bob.yaml:8:1  error  User bob: tarif: unknown field`)
    expect(run.stdout).toContain('did you mean "tariff"?')
    expect(run.stdout).toContain(`${broken}/peers/dave-phone.yaml:6:12  error  Peer dave-phone: publicKey`)
    expect(run.stdout).toContain(
      `${broken}/rules/bad-range.yaml:6:8  error  Rule bad-range: port range "2000-1000" is reversed`,
    )
    expect(run.stdout).toMatch(/✖ 3 errors/)
    expect(run.stdout + run.stderr).not.toMatch(STACK_FRAME)
  })

  it('prints the JSON document with --json', async () => {
    const run = await nexus(['validate', '--repo', broken, '--json'])
    expect(run.exitCode).toBe(1)
    const result = JSON.parse(run.stdout)
    expect(result).toMatchObject({valid: false, errorCount: 3, warningCount: 0})
    expect(result.diagnostics.map((d: {code: string}) => d.code)).toEqual([
      'invalid_value',
      'invalid_port',
      'unknown_field',
    ])
    expect(result.diagnostics[1]).toEqual({
      severity: 'error',
      code: 'invalid_port',
      message: 'Rule bad-range: port range "2000-1000" is reversed; write it as "1000-2000"',
      hint: null,
      file: `${broken}/rules/bad-range.yaml`,
      line: 6,
      column: 8,
      kind: 'Rule',
      name: 'bad-range',
    })
  })

  it('prints GitHub annotations with --format github', async () => {
    const run = await nexus(['validate', '--repo', broken, '--format', 'github'])
    expect(run.exitCode).toBe(1)
    const lines = run.stdout.trim().split('\n')
    expect(lines).toHaveLength(3)
    expect(lines[1]).toMatch(
      /^::error file=.*\/rules\/bad-range\.yaml,line=6,col=8,title=nexus invalid_port::Rule bad-range/,
    )
  })

  it('uses colour only when asked: never without a TTY, never with NO_COLOR', async () => {
    const plain = await nexus(['validate', '--repo', broken])
    expect(plain.stdout).not.toMatch(ANSI)
    const forced = await nexus(['validate', '--repo', broken], {env: {FORCE_COLOR: '1'}})
    expect(forced.stdout).toMatch(ANSI)
    const noColor = await nexus(['validate', '--repo', broken], {env: {FORCE_COLOR: '1', NO_COLOR: '1'}})
    expect(noColor.stdout).not.toMatch(ANSI)
  })

  it('exits 1 with a clear message for a missing repo and for an unknown flag', async () => {
    const missing = await nexus(['validate', '--repo', join(tmp.path, 'nope')])
    expect(missing.exitCode).toBe(1)
    expect(missing.stderr).toContain('is not a directory')
    expect(missing.stderr).not.toMatch(STACK_FRAME)
    const missingJson = await nexus(['validate', '--repo', join(tmp.path, 'nope'), '--json'])
    expect(JSON.parse(missingJson.stdout)).toMatchObject({error: {code: 'repo_not_found'}})
    const flag = await nexus(['validate', '--bogus'])
    expect(flag.exitCode).toBe(1)
    expect(flag.stderr).toContain('Nonexistent flag: --bogus')
  })

  it('reads the repo from NEXUS_REPO', async () => {
    const run = await nexus(['validate', '--json'], {env: {NEXUS_REPO: 'examples/quickstart'}})
    expect(run.exitCode).toBe(0)
    expect(JSON.parse(run.stdout).documentCount).toBe(15)
  })
})
