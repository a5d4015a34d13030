/**
 * `.nexus/` holds the secret key and the embedded state: whoever creates it
 * (the key file, the PGlite driver, the parse cache) makes it private and
 * ignored by git, also in a repo that never ran `nexus init`.
 */
import {existsSync, mkdirSync, readFileSync, statSync} from 'node:fs'
import {join} from 'node:path'

import {execa} from 'execa'
import {afterAll, describe, expect, it} from 'vitest'

import {ensurePrivateDir} from '../../../src/state/private-dir.js'
import {exampleCopy, nexus} from '../../helpers/cli.js'
import {tempDir} from '../../helpers/tools.js'

const tmp = tempDir('nexus-private-dir-')
afterAll(() => tmp.cleanup())

async function gitRepo(name: string): Promise<string> {
  const repo = exampleCopy('quickstart', join(tmp.path, name))
  await execa('git', ['init', '-q'], {cwd: repo})
  return repo
}

async function untracked(repo: string): Promise<string[]> {
  const run = await execa('git', ['status', '--porcelain', '--untracked-files=all', '--ignored=no'], {cwd: repo})
  return run.stdout
    .split('\n')
    .filter((line) => line !== '')
    .map((line) => line.slice(3))
}

const mode = (path: string) => statSync(path).mode & 0o777

describe('the .nexus directory created on first use', () => {
  it('is 0700 and ignored by git after plan --out creates the key file', async () => {
    const repo = await gitRepo('plan')
    expect(existsSync(join(repo, '.gitignore'))).toBe(false)
    const run = await nexus(['plan', '--offline', '--out', 'p.json', '--repo', repo], {cwd: repo})
    expect(run.exitCode, run.stderr).toBe(0)
    expect(existsSync(join(repo, '.nexus', 'secret.key'))).toBe(true)
    expect(mode(join(repo, '.nexus'))).toBe(0o700)
    const files = await untracked(repo)
    expect(files).toContain('p.json')
    expect(files.filter((path) => path.startsWith('.nexus'))).toEqual([])
  })

  it('is 0700 and ignored by git when only the parse cache creates it (validate)', async () => {
    const repo = await gitRepo('validate')
    const run = await nexus(['validate', '--repo', repo])
    expect(run.exitCode, run.stderr).toBe(0)
    expect(existsSync(join(repo, '.nexus', 'cache', 'parse'))).toBe(true)
    expect(mode(join(repo, '.nexus'))).toBe(0o700)
    expect((await untracked(repo)).filter((path) => path.startsWith('.nexus'))).toEqual([])
  })

  it('tightens a directory an older run left readable and keeps an existing .gitignore', async () => {
    const dir = join(tmp.path, 'older', '.nexus')
    mkdirSync(dir, {recursive: true, mode: 0o755})
    await ensurePrivateDir(dir)
    expect(mode(dir)).toBe(0o700)
    expect(readFileSync(join(dir, '.gitignore'), 'utf8')).toMatch(/^\*$/m)
    await ensurePrivateDir(dir)
    expect(mode(dir)).toBe(0o700)
  })
})
