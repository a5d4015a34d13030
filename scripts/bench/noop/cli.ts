/**
 * A private copy of the built CLI for one benchmark run. The no-op apply is
 * only a no-op if every apply renders with the same code: a `npm run build`
 * in the working tree halfway through (which changed how xray configs are
 * formatted, in one observed run) makes the next apply rewrite every node's
 * files, and the benchmark would blame nexus for it. So the benchmark runs
 * bin/run.js from a copy of bin/, dist/, templates/, schemas/, package.json
 * and oclif.manifest.json taken once at the start (node_modules is linked).
 */
import {cpSync, existsSync, lstatSync, mkdirSync, readdirSync, rmSync, symlinkSync} from 'node:fs'
import {join} from 'node:path'

import {ROOT} from '../../../test/helpers/cli.js'

const COPIED = ['bin', 'dist', 'templates', 'schemas', 'package.json', 'oclif.manifest.json'] as const

export interface CliCopy {
  /** bin/run.js of the copy. */
  readonly bin: string
  /** When dist/ was last written (the newest file in it), as copied. */
  readonly builtAt: Date
}

/** Copies the built CLI into `dir` (which must not exist); retries while a build is writing dist/. */
export async function copyCli(dir: string): Promise<CliCopy> {
  if (!existsSync(join(ROOT, 'dist', 'commands'))) throw new Error('dist/ is missing: run npm run build first')
  for (let attempt = 1; ; attempt++) {
    const before = fingerprint(join(ROOT, 'dist'))
    mkdirSync(dir, {recursive: true})
    for (const entry of COPIED) cpSync(join(ROOT, entry), join(dir, entry), {recursive: true})
    const after = fingerprint(join(ROOT, 'dist'))
    if (before.text === after.text) {
      symlinkSync(join(ROOT, 'node_modules'), join(dir, 'node_modules'), 'dir')
      return {bin: join(dir, 'bin', 'run.js'), builtAt: new Date(after.newestMs)}
    }
    // dist/ changed while it was copied: a build is running. Wait for it to finish.
    if (attempt >= 10) throw new Error('dist/ kept changing while it was copied (a build loop?)')
    rmSync(dir, {recursive: true, force: true})
    await new Promise((resolve) => setTimeout(resolve, 3_000))
  }
}

/** Every file below `dir` with its size and mtime, and the newest mtime. */
function fingerprint(dir: string): {text: string; newestMs: number} {
  const lines: string[] = []
  let newestMs = 0
  const walk = (at: string) => {
    for (const entry of readdirSync(at).sort()) {
      const path = join(at, entry)
      const stat = lstatSync(path)
      if (stat.isDirectory()) walk(path)
      else {
        lines.push(`${path} ${stat.size} ${stat.mtimeMs}`)
        newestMs = Math.max(newestMs, stat.mtimeMs)
      }
    }
  }
  walk(dir)
  return {text: lines.join('\n'), newestMs}
}
