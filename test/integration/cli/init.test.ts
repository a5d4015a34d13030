import {existsSync, mkdirSync, readFileSync, writeFileSync} from 'node:fs'
import {join} from 'node:path'

import {afterAll, describe, expect, it} from 'vitest'

import {nexus} from '../../helpers/cli.js'
import {tempDir} from '../../helpers/tools.js'

describe('nexus init', () => {
  const tmp = tempDir()
  afterAll(() => tmp.cleanup())

  it('scaffolds a repo that nexus validate accepts', async () => {
    const dir = join(tmp.path, 'My VPN')
    const init = await nexus(['init', dir, '--json'])
    expect(init.exitCode).toBe(0)
    const result = JSON.parse(init.stdout)
    expect(result.project).toBe('my-vpn')
    expect(result.gitInitialized).toBe(true)
    expect(existsSync(join(dir, '.git'))).toBe(true)
    for (const folder of ['tariffs', 'users', 'peers', 'nodes', 'rules', 'services', 'groups']) {
      expect(existsSync(join(dir, folder)), folder).toBe(true)
    }
    expect(readFileSync(join(dir, '.gitignore'), 'utf8')).toMatch(/^\.nexus\/$/m)
    expect(readFileSync(join(dir, 'nodes/gw-1.yaml'), 'utf8')).toMatch(
      /^# yaml-language-server: \$schema=\.\.\/schemas\/node\.schema\.json\n/,
    )
    expect(existsSync(join(dir, 'schemas/node.schema.json'))).toBe(true)

    const validate = await nexus(['validate', '--repo', dir, '--json'])
    expect(validate.exitCode).toBe(0)
    expect(JSON.parse(validate.stdout)).toMatchObject({valid: true, errorCount: 0, warningCount: 0})
  })

  it('refuses to overwrite an existing repo', async () => {
    const dir = join(tmp.path, 'again')
    expect((await nexus(['init', dir, '--no-git'])).exitCode).toBe(0)
    writeFileSync(join(dir, 'nexus.yaml'), '# mine\n')
    const second = await nexus(['init', dir])
    expect(second.exitCode).toBe(1)
    expect(second.stderr).toContain('already exists')
    expect(readFileSync(join(dir, 'nexus.yaml'), 'utf8')).toBe('# mine\n')
  })

  it('keeps an existing .gitignore and adds .nexus/ to it', async () => {
    const other = join(tmp.path, 'with-ignore')
    mkdirSync(other)
    writeFileSync(join(other, '.gitignore'), 'secrets.txt\n')
    const run = await nexus(['init', other, '--no-git'])
    expect(run.exitCode).toBe(0)
    expect(readFileSync(join(other, '.gitignore'), 'utf8')).toBe(
      'secrets.txt\n# nexus state (embedded database, secret key file) never goes to git\n.nexus/\n',
    )
    expect(existsSync(join(other, '.git'))).toBe(false)
  })

  it('rejects a project name that is not a valid name', async () => {
    const run = await nexus(['init', join(tmp.path, 'bad'), '--name', 'Bad Name'])
    expect(run.exitCode).toBe(1)
    expect(run.stderr).toContain('is not a valid name')
  })
})
