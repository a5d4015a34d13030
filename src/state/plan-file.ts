/**
 * A saved plan (`nexus plan --out FILE`): the plan document everyone may
 * read, plus what apply needs to carry it out exactly — the state write with
 * its freshly generated secrets — sealed with the state key. Mode 0600.
 */
import {readFile} from 'node:fs/promises'

import {NexusError} from '../errors.js'
import {writeFileAtomic} from '../transport/local-files.js'
import type {Plan} from '../plan/types.js'
import type {SecretBox} from './secret-box.js'
import type {StateWrite} from './store.js'

export const PLAN_FILE_FORMAT = 'nexus-plan'
const SEAL_CONTEXT = 'nexus plan file v1'

export interface PlanFile {
  readonly format: typeof PLAN_FILE_FORMAT
  readonly version: 1
  readonly plan: Plan
  /** The sealed state write; opened only by apply. */
  readonly sealed: string
}

export async function writePlanFile(path: string, plan: Plan, write: StateWrite, box: SecretBox): Promise<void> {
  const file: PlanFile = {
    format: PLAN_FILE_FORMAT,
    version: 1,
    plan,
    sealed: box.seal(JSON.stringify(write), SEAL_CONTEXT),
  }
  await writeFileAtomic(path, `${JSON.stringify(file, null, 2)}\n`)
}

export async function readPlanFile(path: string, box: SecretBox): Promise<{plan: Plan; write: StateWrite}> {
  const text = await readFile(path, 'utf8').catch((error: NodeJS.ErrnoException) => {
    throw new NexusError('plan_unreadable', `cannot read ${path}: ${error.message}`)
  })
  let file: Partial<PlanFile>
  try {
    file = JSON.parse(text) as Partial<PlanFile>
  } catch {
    throw new NexusError('invalid_plan_file', `${path} is not JSON`, 'pass a file written by nexus plan --out')
  }
  if (file.format !== PLAN_FILE_FORMAT || file.version !== 1 || !file.plan || typeof file.sealed !== 'string') {
    throw new NexusError('invalid_plan_file', `${path} is not a nexus plan`, 'pass a file written by nexus plan --out')
  }
  const write = JSON.parse(box.open(file.sealed, SEAL_CONTEXT)) as StateWrite & {purgeTombstonesBefore?: string | Date}
  const purge = write.purgeTombstonesBefore
  return {plan: file.plan, write: purge === undefined ? write : {...write, purgeTombstonesBefore: new Date(purge)}}
}
