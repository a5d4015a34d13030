/**
 * The git facts a plan records: the commit the declarations come from and
 * whether the declaration files (*.yaml, *.yml outside hidden folders) have
 * uncommitted changes. A repo that is a folder inside a larger git checkout
 * is judged by that folder only.
 */
import {simpleGit} from 'simple-git'

export interface RepoInfo {
  /** HEAD, or null outside git or before the first commit. */
  readonly commit: string | null
  readonly dirty: boolean
}

export async function repoInfo(root: string): Promise<RepoInfo> {
  const git = simpleGit(root)
  const inside = await git.checkIsRepo().catch(() => false)
  if (!inside) return {commit: null, dirty: false}
  const commit = await git.revparse(['HEAD']).then(
    (sha) => sha.trim(),
    () => null,
  )
  const status = await git.raw(['status', '--porcelain', '--untracked-files=all', '--', '.'])
  // Only declaration files (those the loader reads) make the commit a wrong description of what
  // is applied: a saved plan.json or notes next to them do not, nor .nexus/ (state, renders).
  const dirty = status
    .split('\n')
    .map((line) => line.slice(3).replace(/^"|"$/g, ''))
    .some(
      (path) =>
        /\.ya?ml$/i.test(path) && path.split('/').every((part) => !part.startsWith('.') && part !== 'node_modules'),
    )
  return {commit, dirty}
}
