/** `nexus state backup` and `nexus state restore`: a portable dump of the whole state. */
import {NexusError} from '../errors.js'
import {dumpState, readDumpFile, restoreState, writeDumpFile} from '../state/backup.js'
import {openState, type StateLocation} from '../state/open.js'

export interface BackupResult {
  file: string
  serial: number
  rows: number
  schemaVersion: number
}

export async function backupState(
  location: StateLocation,
  file: string,
  options: {env: NodeJS.ProcessEnv; now: Date},
): Promise<BackupResult> {
  const store = await openState(location, {mode: 'read', env: options.env})
  if (!store) throw new NexusError('no_state', 'there is no state to back up yet', 'nexus plan or apply creates it')
  try {
    const dump = await dumpState(store, options.now)
    await writeDumpFile(file, dump)
    const rows = Object.values(dump.tables).reduce((sum, table) => sum + table.length, 0)
    return {file, serial: dump.serial, rows, schemaVersion: dump.schemaVersion}
  } finally {
    await store.close()
  }
}

export interface RestoreStateResult {
  file: string
  rows: number
  serial: number
}

export async function restoreStateFile(
  location: StateLocation,
  file: string,
  options: {env: NodeJS.ProcessEnv; force: boolean; notice: (text: string) => void},
): Promise<RestoreStateResult> {
  const dump = await readDumpFile(file)
  const store = await openState(location, {mode: 'write', env: options.env, notice: options.notice})
  if (!store) throw new NexusError('no_state', 'the state could not be opened')
  try {
    const keyCheck = store.keyCheck()
    const result = await restoreState(store, dump, {force: options.force, ...(keyCheck ? {keyCheck} : {})})
    return {file, ...result}
  } finally {
    await store.close()
  }
}
