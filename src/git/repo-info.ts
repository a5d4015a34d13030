/**
 * The git facts a plan records: the commit the declarations come from and
 * whether the repo has uncommitted changes. A repo that is a folder inside a
 * larger git checkout is judged by that folder only.
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
  const dirty = status
    .split('\n')
    .filter((line) => line.trim() !== '')
    // State and renders under .nexus/ are never part of the declarations.
    .some((line) => !/(^|\/)\.nexus\//.test(line.slice(3)))
  return {commit, dirty}
}
