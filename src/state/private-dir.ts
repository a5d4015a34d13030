/**
 * The repo's `.nexus/` directory (embedded database, secret key file, parse
 * cache) is private to this machine: every path that creates it goes through
 * `ensurePrivateDir`, which makes it mode 0700 and puts a `.gitignore` of `*`
 * in it, so `git add -A` in a repo that never ran `nexus init` still commits
 * no key and no state.
 */
import {chmod, mkdir, stat, writeFile} from 'node:fs/promises'
import {join} from 'node:path'

/** The name of the private directory in a repo. */
export const PRIVATE_DIR = '.nexus'

const GITIGNORE = '# nexus: local state, secret key and caches never go to git\n*\n'

/** Creates `dir` (mode 0700, tightened if it is wider) with a `.gitignore` that ignores everything in it. */
export async function ensurePrivateDir(dir: string): Promise<void> {
  await mkdir(dir, {recursive: true, mode: 0o700})
  const info = await stat(dir)
  // An older nexus (or a umask-free mkdir elsewhere) may have left it group- or world-readable.
  if ((info.mode & 0o077) !== 0 && (process.getuid === undefined || info.uid === process.getuid())) {
    await chmod(dir, 0o700)
  }
  await writeFile(join(dir, '.gitignore'), GITIGNORE, {mode: 0o644, flag: 'wx'}).catch(
    (error: NodeJS.ErrnoException) => {
      if (error.code !== 'EEXIST') throw error
    },
  )
}
