/**
 * Writing the ad-hoc commands' edits into the repo: every file through a
 * temp file and a rename (a crash leaves the old file or the new one, never
 * half of one), and, when asked, a commit of exactly those files.
 */
import {randomBytes} from 'node:crypto'
import {mkdir, rename, rm, stat, writeFile} from 'node:fs/promises'
import {basename, dirname, join} from 'node:path'

import {simpleGit} from 'simple-git'

import {NexusError} from '../errors.js'

export interface FileEdit {
  /** Repo-relative, forward slashes. */
  readonly path: string
  /** The new content; null deletes the file. */
  readonly content: string | null
}

/**
 * Writes (or deletes) every file. All new contents go to temp files first, so
 * a failure to write any of them leaves the repo as it was.
 */
export async function writeRepoFiles(root: string, edits: readonly FileEdit[]): Promise<void> {
  const staged: {temp: string; target: string; mode: number}[] = []
  try {
    for (const edit of edits) {
      if (edit.content === null) continue
      const target = join(root, edit.path)
      await mkdir(dirname(target), {recursive: true})
      const mode = await stat(target).then(
        (s) => s.mode & 0o777,
        () => 0o644,
      )
      const temp = tempPath(target)
      await writeFile(temp, edit.content, {mode, flag: 'wx'})
      staged.push({temp, target, mode})
    }
  } catch (error) {
    await Promise.all(staged.map((s) => rm(s.temp, {force: true})))
    throw error
  }
  for (const {temp, target} of staged) await rename(temp, target)
  for (const edit of edits) if (edit.content === null) await rm(join(root, edit.path), {force: true})
}

/**
 * One file anywhere, written through a temp file and a rename: bytes (a QR
 * code PNG), which transport/local-files.ts (text only) does not take.
 */
export async function writeBytesAtomic(path: string, data: Uint8Array, mode = 0o600): Promise<void> {
  await mkdir(dirname(path), {recursive: true})
  const temp = tempPath(path)
  try {
    await writeFile(temp, data, {mode, flag: 'wx'})
    await rename(temp, path)
  } catch (error) {
    await rm(temp, {force: true})
    throw error
  }
}

/**
 * Checks, before anything is written, that the edited files can be committed
 * on their own: the repo is a git work tree and none of them has uncommitted
 * changes that the commit would sweep in.
 */
export async function checkCommittable(root: string, paths: readonly string[]): Promise<void> {
  const git = simpleGit(root)
  if (!(await git.checkIsRepo().catch(() => false))) {
    throw new NexusError(
      'not_a_git_repo',
      `${root} is not inside a git repository, so --commit has nothing to commit to`,
      'run git init there, or drop --commit',
    )
  }
  const status = await git.raw(['status', '--porcelain', '--untracked-files=all', '--', ...paths])
  const dirty = status
    .split('\n')
    .filter((line) => line.trim() !== '')
    .map((line) => line.slice(3))
  if (dirty.length > 0) {
    throw new NexusError(
      'uncommitted_changes',
      `${dirty.join(', ')} ${dirty.length === 1 ? 'has' : 'have'} uncommitted changes, which --commit would commit too`,
      'commit or stash them first, or drop --commit',
    )
  }
}

export interface CommitResult {
  readonly commit: string
  readonly message: string
  readonly files: readonly string[]
}

/** Commits exactly `paths` (added, changed or deleted); anything else staged stays staged and out of it. */
export async function commitFiles(root: string, paths: readonly string[], message: string): Promise<CommitResult> {
  const git = simpleGit(root)
  try {
    await git.raw(['add', '--all', '--', ...paths])
    await git.raw(['commit', '--quiet', '--message', message, '--only', '--', ...paths])
  } catch (error) {
    const detail = error instanceof Error ? error.message.trim().split('\n')[0] : String(error)
    throw new NexusError(
      'git_commit_failed',
      `the files were written, but git could not commit them: ${detail}`,
      'check git config user.name / user.email and any commit hooks, then commit them yourself',
    )
  }
  const commit = (await git.revparse(['HEAD'])).trim()
  return {commit, message, files: [...paths]}
}

function tempPath(target: string): string {
  return join(dirname(target), `.${basename(target)}.${randomBytes(6).toString('hex')}.tmp`)
}
