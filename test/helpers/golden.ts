/**
 * Golden files: every output a user sees is pinned under test/golden and only
 * rewritten when NEXUS_UPDATE_GOLDEN=1 is set (CI never sets it).
 */
import {existsSync, mkdirSync, readFileSync, writeFileSync} from 'node:fs'
import {dirname, join} from 'node:path'
import {fileURLToPath} from 'node:url'

import {expect} from 'vitest'

const GOLDEN_ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', 'golden')

export function expectGolden(relativePath: string, actual: string): void {
  const file = join(GOLDEN_ROOT, relativePath)
  if (process.env.NEXUS_UPDATE_GOLDEN === '1') {
    mkdirSync(dirname(file), {recursive: true})
    writeFileSync(file, actual)
    return
  }
  if (!existsSync(file)) {
    throw new Error(
      `golden file ${relativePath} is missing; run with NEXUS_UPDATE_GOLDEN=1 to create it, then review it`,
    )
  }
  expect(actual).toBe(readFileSync(file, 'utf8'))
}
