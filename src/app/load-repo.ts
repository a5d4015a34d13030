/** Read a repo's declarations from disk and validate them. */
import {ParseCache} from '../git/parse-cache.js'
import {readDeclarationFiles} from '../git/working-tree.js'
import {type Inventory, type LoadOptions, loadInventory} from '../inventory/load.js'

export interface LoadRepoOptions extends Omit<LoadOptions, 'parse'> {
  /** Reuse and keep parses under `.nexus/cache/` (default true). */
  readonly cache?: boolean
}

export async function loadRepo(root: string, options: LoadRepoOptions = {}): Promise<Inventory> {
  const files = await readDeclarationFiles(root)
  const cache = await ParseCache.open(root, files, options.cache ?? true)
  const inventory = loadInventory(files, {...options, parse: cache.parse})
  await cache.save()
  return inventory
}
