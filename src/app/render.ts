/** `nexus render`: the validated repo plus state values -> the files every node and client would get. */
import {NexusError} from '../errors.js'
import type {Inventory} from '../inventory/load.js'
import {Fleet} from '../model/fleet.js'
import {closest} from '../model/names.js'
import {renderFleet} from '../render/index.js'
import type {RenderedFile} from '../render/types.js'
import {previewStateValues} from '../state/preview.js'
import {loadRepo} from './load-repo.js'

export interface RenderRun {
  readonly inventory: Inventory
  /** Absent when the declarations have errors. */
  readonly files?: RenderedFile[]
  readonly preview: boolean
}

export async function renderRepo(root: string, options: {node?: string; now: Date}): Promise<RenderRun> {
  const inventory = await loadRepo(root)
  const desired = inventory.desired
  if (!desired) return {inventory, preview: true}
  if (options.node !== undefined) {
    const node = desired.nodes.find((n) => n.name === options.node)
    if (!node) {
      const suggestion = closest(
        options.node,
        desired.nodes.map((n) => n.name),
      )
      throw new NexusError(
        'unknown_node',
        `no node named ${options.node}`,
        suggestion
          ? `did you mean ${suggestion}?`
          : `nodes: ${desired.nodes.map((n) => n.name).join(', ') || '(none)'}`,
      )
    }
    if (node.status === 'disabled') {
      throw new NexusError(
        'node_disabled',
        `node ${node.name} is disabled, so nothing is rendered for it`,
        'set status: active or maintenance',
      )
    }
  }
  // State arrives with the state store; until then every render is a preview.
  const state = previewStateValues(desired, options.now)
  const files = renderFleet(new Fleet(desired, state), options.node === undefined ? {} : {node: options.node})
  return {inventory, files, preview: state.preview}
}
