/** Read a repo's declarations from disk and validate them. */
import {readDeclarationFiles} from '../git/working-tree.js'
import {type Inventory, type LoadOptions, loadInventory} from '../inventory/load.js'

export async function loadRepo(root: string, options: LoadOptions = {}): Promise<Inventory> {
  return loadInventory(await readDeclarationFiles(root), options)
}
