import {existsSync, readFileSync, statSync, writeFileSync} from 'node:fs'
import {join} from 'node:path'

import {afterAll, describe, expect, it} from 'vitest'

import {migrate} from '../../../src/state/migrations.js'
import {openState, stateLocation} from '../../../src/state/open.js'
import {openPgDriver} from '../../../src/state/pg-driver.js'
import {SecretBox} from '../../../src/state/secret-box.js'
import {ANSI, exampleCopy, localState, nexus, STACK_FRAME} from '../../helpers/cli.js'
import {dropSchema, postgresUrl} from '../../helpers/state.js'
import {tempDir} from '../../helpers/tools.js'

const tmp = tempDir('nexus-plan-cli-')
afterAll(() => tmp.cleanup())

describe('nexus plan on the embedded state', () => {
  it('plans the quickstart offline without creating any state', async () => {
    const repo = exampleCopy('quickstart', tmp.path)
    const run = await nexus(['plan', '--repo', repo, '--offline'])
    expect(run.exitCode).toBe(0)
    expect(run.stdout).toContain('  + user.alice')
    expect(run.stdout).toContain('Node gw-1  revision (none) → 1  not read (--offline)')
    expect(run.stdout).toMatch(/Plan: 26 to create, 0 to change, 0 to replace, 0 to delete\.$/)
    expect(run.stdout).not.toMatch(ANSI)
    expect(localState(repo)).toEqual([])
  })

  it('exits 2 with --detailed-exitcode when there are changes', async () => {
    const run = await nexus(['plan', '--repo', 'examples/quickstart', '--offline', '--detailed-exitcode'])
    expect(run.exitCode).toBe(2)
  })

  it('prints the plan document with --json', async () => {
    const run = await nexus(['plan', '--repo', 'examples/fleet', '--offline', '--json'])
    expect(run.exitCode).toBe(0)
    const plan = JSON.parse(run.stdout)
    expect(plan).toMatchObject({
      format_version: '1',
      offline: true,
      state: {serial: 0, kind: 'none'},
      has_changes: true,
    })
    expect(plan.git.commit).toMatch(/^[0-9a-f]{40}$/)
    expect(plan.nodes.map((n: {node: string; status: string}) => `${n.node}:${n.status}`)).toEqual([
      'ams-1:offline',
      'fra-1:offline',
      'hq-1:offline',
      'nyc-1:offline',
    ])
    expect(run.stdout).not.toMatch(/PrivateKey|"privateKey"/)
  })

  it('saves the plan with --out: mode 0600, secrets sealed with a key file it creates', async () => {
    const repo = exampleCopy('quickstart', join(tmp.path, 'out'))
    const file = join(tmp.path, 'plan.json')
    const run = await nexus(['plan', '--repo', repo, '--offline', '--out', file])
    expect(run.exitCode).toBe(0)
    expect(run.stderr).toContain(`created ${join(repo, '.nexus', 'secret.key')} (mode 0600)`)
    expect(run.stderr).toContain(`saved the plan to ${file}`)
    expect(statSync(file).mode & 0o777).toBe(0o600)
    const saved = JSON.parse(readFileSync(file, 'utf8'))
    expect(saved).toMatchObject({format: 'nexus-plan', version: 1, plan: {format_version: '1'}})
    expect(saved.sealed).toMatch(/^v1\./)
    const box = SecretBox.fromText(readFileSync(join(repo, '.nexus', 'secret.key'), 'utf8'))
    const write = JSON.parse(box.open(saved.sealed, 'nexus plan file v1'))
    expect(write.secrets.map((s: {name: string}) => s.name)).toEqual(['reality/vless-reality', 'wireguard/wg0'])
    for (const secret of write.secrets) expect(readFileSync(file, 'utf8')).not.toContain(secret.value)
    // Still no state: the key file is not state, and plan writes none.
    expect(existsSync(join(repo, '.nexus', 'state'))).toBe(false)
  })

  it('shows the validation errors and exits 1 for invalid declarations', async () => {
    const repo = exampleCopy('quickstart', join(tmp.path, 'invalid'))
    writeFileSync(join(repo, 'users/zed.yaml'), 'apiVersion: nexus/v1\nkind: User\nname: zed\ntariff: gold\n')
    const run = await nexus(['plan', '--repo', repo, '--offline'])
    expect(run.exitCode).toBe(1)
    expect(run.stdout).toContain('User zed: Tariff "gold" is not declared')
    expect(run.stdout + run.stderr).not.toMatch(STACK_FRAME)
  })
})

describe('nexus plan on an existing embedded state', () => {
  it.each(['quickstart', 'fleet'])('plans examples/%s against PGlite', async (example) => {
    const repo = exampleCopy(example, join(tmp.path, `pglite-${example}`))
    const store = await openState(stateLocation(repo, {}), {mode: 'write', env: {}})
    await store?.close()
    const run = await nexus(['plan', '--repo', repo, '--offline', '--json'])
    expect(run.stderr).toBe('')
    expect(run.exitCode).toBe(0)
    const plan = JSON.parse(run.stdout)
    expect(plan.state).toMatchObject({kind: 'pglite', serial: 0})
    expect(plan.summary.create).toBeGreaterThan(20)
  })
})

describe.runIf(postgresUrl())('nexus plan on Postgres', () => {
  it.each(['quickstart', 'fleet'])('plans examples/%s against a Postgres state', async (example) => {
    const url = postgresUrl() as string
    const schema = `nexus_cli_${example}_${Date.now()}`
    const driver = await openPgDriver(url, schema)
    await migrate(driver, () => 'cli-test')
    await driver.close()
    try {
      const env = {
        NEXUS_DATABASE_URL: url,
        NEXUS_DATABASE_SCHEMA: schema,
        NEXUS_SECRET_KEY: 'a team passphrase for tests',
      }
      const run = await nexus(['plan', '--repo', `examples/${example}`, '--offline', '--json'], {env})
      expect(run.stderr).toBe('')
      expect(run.exitCode).toBe(0)
      const plan = JSON.parse(run.stdout)
      expect(plan.state).toMatchObject({kind: 'pg', serial: 0})
      expect(plan.summary.create).toBeGreaterThan(20)
    } finally {
      await dropSchema(url, schema)
    }
  })
})

describe('nexus plan --diff', () => {
  it('shows new files as diffs with every secret masked', async () => {
    const run = await nexus(['plan', '--repo', 'examples/quickstart', '--offline', '--diff', '--json'])
    expect(run.exitCode).toBe(0)
    const plan = JSON.parse(run.stdout)
    const wg0 = plan.nodes[0].artifacts.find((a: {address: string}) => a.address === 'node.gw-1/wireguard/wg0')
    expect(wg0.diff).toMatch(/^--- \/dev\/null\n\+\+\+ rendered:\/etc\/wireguard\/wg0\.conf\n@@ -0,0 \+1,\d+ @@\n/)
    expect(wg0.diff).toMatch(/\+PrivateKey = \(sensitive [0-9a-f]{8}\)\n/)
    const xray = plan.nodes[0].artifacts.find((a: {address: string}) => a.address === 'node.gw-1/xray')
    expect(xray.diff).toMatch(/"privateKey": "\(sensitive [0-9a-f]{8}\)"/)
    expect(xray.diff).not.toMatch(/"id": "[0-9a-f]{8}-/)
  })
})
