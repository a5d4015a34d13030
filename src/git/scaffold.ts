/** Writes a new repo's files and, unless asked not to, makes it a git repository. */
import {appendFile, mkdir, readdir, readFile, writeFile} from 'node:fs/promises'
import {dirname, join} from 'node:path'

import {simpleGit} from 'simple-git'

import {NexusError} from '../errors.js'

export async function writeScaffold(
  directory: string,
  files: ReadonlyMap<string, string>,
  options: {git: boolean},
): Promise<{gitInitialized: boolean}> {
  const existing = await readdir(directory).catch(() => [] as string[])
  if (existing.includes('nexus.yaml')) {
    throw new NexusError(
      'repo_exists',
      `${join(directory, 'nexus.yaml')} already exists`,
      'nexus init creates new repos only; validate this one with nexus validate',
    )
  }
  const clashes = [...files.keys()].filter(
    (path) => existing.includes(path.split('/')[0] ?? '') && !path.startsWith('.'),
  )
  if (clashes.length > 0) {
    throw new NexusError(
      'repo_exists',
      `${directory} already has ${clashes[0]?.split('/')[0]}`,
      'run nexus init in an empty directory',
    )
  }
  for (const [path, content] of files) {
    const target = join(directory, path)
    await mkdir(dirname(target), {recursive: true})
    if (path === '.gitignore' && existing.includes('.gitignore')) {
      // Keep the user's ignore file; only make sure state stays out of git.
      const current = await readFile(target, 'utf8')
      if (!/^\/?\.nexus\/?$/m.test(current)) await appendFile(target, `${current.endsWith('\n') ? '' : '\n'}${content}`)
      continue
    }
    await writeFile(target, content, {flag: 'wx'})
  }
  if (!options.git) return {gitInitialized: false}
  const git = simpleGit(directory)
  if (await git.checkIsRepo().catch(() => false)) return {gitInitialized: false}
  await git.init()
  return {gitInitialized: true}
}
