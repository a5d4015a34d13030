/**
 * `nexus render`: the validated repo plus state values -> the files every
 * node and client would get. With a state, its keys, UUIDs and addresses are
 * used (read only); whatever state does not hold yet is generated for this
 * render alone, and the render is then marked as a preview.
 */
import {generateRequested} from '../crypto/keys.js'
import {NexusError} from '../errors.js'
import type {Inventory} from '../inventory/load.js'
import {Fleet} from '../model/fleet.js'
import {closest} from '../model/names.js'
import {missingValues, planState} from '../plan/state-plan.js'
import {renderEachNode} from '../render/index.js'
import type {RenderedFile} from '../render/types.js'
import {openState, type StateLocation} from '../state/open.js'
import {previewStateValues} from '../state/preview.js'
import {loadRepo} from './load-repo.js'
import {serverKeys, snapshotPublicValues} from './server-keys.js'

export interface RenderRun {
  readonly inventory: Inventory
  /** Rendered as they are read, a node at a time; absent when the declarations have errors. */
  readonly files?: Iterable<RenderedFile>
  readonly preview: boolean
  /** Whether a state was read. */
  readonly fromState: boolean
}

export async function renderRepo(
  root: string,
  options: {node?: string; now: Date; location: StateLocation; env: NodeJS.ProcessEnv},
): Promise<RenderRun> {
  const store = await openState(options.location, {mode: 'read', env: options.env})
  try {
    const snapshot = await store?.snapshot()
    const inventory = await loadRepo(root, {serverKeys: serverKeys(snapshotPublicValues(snapshot?.secrets))})
    const desired = inventory.desired
    if (!desired) return {inventory, preview: true, fromState: snapshot !== undefined}
    if (options.node !== undefined) checkNode(desired.nodes, options.node)
    let state = previewStateValues(desired, options.now)
    if (snapshot) {
      const missing = missingValues(desired, snapshot)
      const planned = planState({desired, snapshot, generated: generateRequested(missing), now: options.now})
      state = {...planned.values, preview: missing.secrets.length + missing.links.length > 0}
    }
    const files = renderEachNode(new Fleet(desired, state), options.node === undefined ? {} : {node: options.node})
    return {inventory, files, preview: state.preview, fromState: snapshot !== undefined}
  } finally {
    await store?.close()
  }
}

function checkNode(nodes: readonly {name: string; status: string}[], name: string): void {
  const node = nodes.find((n) => n.name === name)
  if (!node) {
    const suggestion = closest(
      name,
      nodes.map((n) => n.name),
    )
    throw new NexusError(
      'unknown_node',
      `no node named ${name}`,
      suggestion ? `did you mean ${suggestion}?` : `nodes: ${nodes.map((n) => n.name).join(', ') || '(none)'}`,
    )
  }
  if (node.status === 'disabled') {
    throw new NexusError(
      'node_disabled',
      `node ${name} is disabled, so nothing is rendered for it`,
      'set status: active or maintenance',
    )
  }
}
