import {describe, expect, it} from 'vitest'

import type {Desired} from '../../../src/model/desired.js'
import {Fleet} from '../../../src/model/fleet.js'
import type {StateValues} from '../../../src/model/state-values.js'
import {renderFleet} from '../../../src/render/index.js'
import {desired, node, nodeSecrets, state} from '../../helpers/fixture.js'

/** The fixture state, with the same secrets for extra nodes. */
function stateFor(...names: string[]): StateValues {
  return {...state, nodes: new Map([...state.nodes, ...names.map((name) => [name, nodeSecrets] as const)])}
}

describe('renderFleet', () => {
  it('renders every artifact of a node and a client per carried peer, sorted by path', () => {
    const files = renderFleet(new Fleet(desired, state))
    expect(files.map((f) => [f.path, f.kind, f.mode.toString(8)])).toEqual([
      ['clients/alice-laptop.conf', 'client', '600'],
      ['clients/bob-phone.conf', 'client', '600'],
      ['clients/carol-laptop.conf', 'client', '600'],
      ['clients/office-router.conf', 'client', '600'],
      ['nodes/fra-1/dnsmasq/nexus.conf', 'dnsmasq', '644'],
      ['nodes/fra-1/nftables/nexus.nft', 'nftables', '644'],
      ['nodes/fra-1/wireguard/wg0.conf', 'wireguard', '600'],
      ['nodes/fra-1/xray/config.json', 'xray', '600'],
    ])
  })

  it('leaves out the client files when asked, and nothing else', () => {
    const all = renderFleet(new Fleet(desired, state))
    const nodesOnly = renderFleet(new Fleet(desired, state), {clients: false})
    expect(nodesOnly).toEqual(all.filter((f) => f.kind !== 'client'))
    expect(nodesOnly.length).toBeLessThan(all.length)
  })

  it('is byte-identical for identical input', () => {
    const once = renderFleet(new Fleet(desired, state))
    const twice = renderFleet(new Fleet(desired, state))
    expect(twice).toEqual(once)
  })

  it('renders nothing for a disabled node, and a maintenance node as usual', () => {
    const second = {...node, name: 'ams-1', status: 'disabled' as const}
    const third = {...node, name: 'lon-1', status: 'maintenance' as const}
    const fleet: Desired = {...desired, nodes: [second, node, third]}
    const paths = renderFleet(new Fleet(fleet, stateFor('ams-1', 'lon-1'))).map((f) => f.path)
    expect(paths.some((p) => p.startsWith('nodes/ams-1/'))).toBe(false)
    expect(paths).toContain('nodes/lon-1/nftables/nexus.nft')
  })

  it('renders one node and only its clients with the node option', () => {
    const other = {...node, name: 'ams-1'}
    const fleet: Desired = {...desired, nodes: [other, node]}
    const files = renderFleet(new Fleet(fleet, stateFor('ams-1')), {node: 'ams-1'})
    expect(new Set(files.map((f) => f.node))).toEqual(new Set(['ams-1']))
    expect(files.filter((f) => f.kind === 'client')).toEqual([])
  })

  it('leaves out clients of users who are not active', () => {
    const inactive = {...state, activeUsers: new Set(['alice'])}
    const clients = renderFleet(new Fleet(desired, inactive))
      .filter((f) => f.kind === 'client')
      .map((f) => f.path)
    expect(clients).toEqual(['clients/alice-laptop.conf', 'clients/office-router.conf'])
  })
})
