/**
 * The declaration file walker on a real directory tree: which files it reads,
 * what it skips, how it treats symlinks, and the size cap.
 */
import {mkdirSync, symlinkSync, writeFileSync} from 'node:fs'
import {join} from 'node:path'

import {afterEach, beforeEach, describe, expect, it} from 'vitest'

import {NexusError} from '../../../src/errors.js'
import {readDeclarationFiles} from '../../../src/git/working-tree.js'
import {loadInventory} from '../../../src/inventory/load.js'
import {MAX_FILE_BYTES} from '../../../src/inventory/parse-yaml.js'
import {tempDir} from '../../helpers/tools.js'

let root: string
let cleanup: () => void

beforeEach(() => {
  const dir = tempDir('nexus-walk-')
  root = dir.path
  cleanup = dir.cleanup
})
afterEach(() => cleanup())

function write(path: string, content = 'apiVersion: nexus/v1\n'): string {
  const full = join(root, path)
  mkdirSync(join(full, '..'), {recursive: true})
  writeFileSync(full, content)
  return full
}

async function paths(): Promise<string[]> {
  return (await readDeclarationFiles(root)).map((file) => file.path)
}

describe('readDeclarationFiles', () => {
  it('reads *.yaml and *.yml at any depth, sorted, with /-separated paths relative to the root', async () => {
    write('nexus.yaml')
    write('users/b.yml')
    write('users/a.yaml')
    write('nodes/eu/fra-1.YAML')
    write('README.md')
    write('users/notes.txt')
    write('users/a.yaml.bak')
    expect(await paths()).toEqual(['nexus.yaml', 'nodes/eu/fra-1.YAML', 'users/a.yaml', 'users/b.yml'])
  })

  it('returns the bytes as they are on disk, and the size', async () => {
    const text = 'apiVersion: nexus/v1\nkind: Group\nname: grüne\n'
    write('groups/g.yaml', text)
    const [file] = await readDeclarationFiles(root)
    expect(new TextDecoder().decode(file?.bytes)).toBe(text)
    expect(file?.size).toBe(Buffer.byteLength(text))
  })

  it('skips .git, .nexus, other hidden folders and files, and node_modules at any depth', async () => {
    write('nexus.yaml')
    write('.git/config.yaml')
    write('.nexus/cache/parse.yaml')
    write('.github/workflows/validate.yml')
    write('users/.hidden/u.yaml')
    write('users/.draft.yaml')
    write('node_modules/pkg/schema.yaml')
    write('tools/node_modules/pkg/x.yml')
    expect(await paths()).toEqual(['nexus.yaml'])
  })

  it('reads a folder that merely contains "node_modules" in its name', async () => {
    write('my_node_modules/x.yaml')
    expect(await paths()).toEqual(['my_node_modules/x.yaml'])
  })

  describe('symlinks', () => {
    it('follows a symlinked file and reports it under the link name', async () => {
      write('shared/base.txt', 'apiVersion: nexus/v1\nkind: Group\nname: shared\n')
      symlinkSync(join(root, 'shared/base.txt'), join(root, 'group.yaml'))
      const files = await readDeclarationFiles(root)
      expect(files.map((f) => f.path)).toEqual(['group.yaml'])
      expect(new TextDecoder().decode(files[0]?.bytes)).toContain('name: shared')
    })

    it('does not follow a symlinked directory, so a link loop cannot hang the walk', async () => {
      write('users/a.yaml')
      symlinkSync(join(root, 'users'), join(root, 'users-link'))
      symlinkSync(root, join(root, 'users', 'loop'))
      expect(await paths()).toEqual(['users/a.yaml'])
    })

    it('skips a dangling link and a .yaml link to a directory', async () => {
      write('nexus.yaml')
      symlinkSync(join(root, 'missing.yaml'), join(root, 'dangling.yaml'))
      mkdirSync(join(root, 'dir'))
      symlinkSync(join(root, 'dir'), join(root, 'dir.yaml'))
      expect(await paths()).toEqual(['nexus.yaml'])
    })
  })

  it('reads at most one byte past the cap of an oversized file, keeps its real size, and the parser reports it', async () => {
    const line = '# filler filler filler filler filler filler filler filler filler filler filler\n'
    const big = `apiVersion: nexus/v1\nkind: Group\nname: big\n${line.repeat(Math.ceil(MAX_FILE_BYTES / line.length) + 10)}`
    write('groups/big.yaml', big)
    write('groups/small.yaml', 'apiVersion: nexus/v1\nkind: Group\nname: small\n')
    const files = await readDeclarationFiles(root)
    const file = files.find((f) => f.path === 'groups/big.yaml')
    expect(file?.size).toBe(big.length)
    expect(file?.bytes.byteLength).toBe(MAX_FILE_BYTES + 1)

    const inventory = loadInventory(files)
    const [diagnostic] = inventory.diagnostics.filter((d) => d.code === 'file_too_large')
    expect(diagnostic).toMatchObject({file: 'groups/big.yaml', line: 1, column: 1, severity: 'error'})
    expect(diagnostic?.message).toBe(
      `file is ${big.length} bytes; nexus reads declaration files up to 16.0 MiB (${MAX_FILE_BYTES} bytes)`,
    )
    expect(diagnostic?.hint).toMatch(/split the declarations/)
  })

  it('refuses a root that is not a directory with a NexusError that says what to do', async () => {
    const file = write('nexus.yaml')
    for (const bad of [join(root, 'absent'), file]) {
      const error = await readDeclarationFiles(bad).catch((e: unknown) => e)
      expect(error).toBeInstanceOf(NexusError)
      expect(error).toMatchObject({code: 'repo_not_found'})
      expect((error as NexusError).hint).toMatch(/--repo/)
    }
  })
})
