/**
 * The plan as people and programs see it, pinned by golden files: the
 * quickstart's first plan (human and JSON), and a plan with every kind of
 * line (update, delete, replace, drift, an unreachable node).
 */
import {describe, expect, it} from 'vitest'

import {loadInventory} from '../../../src/inventory/load.js'
import {makePlan} from '../../../src/plan/index.js'
import {missingValues} from '../../../src/plan/state-plan.js'
import type {Plan} from '../../../src/plan/types.js'
import {createStyle} from '../../../src/cli/style.js'
import {formatPlanHuman} from '../../../src/views/plan-view.js'
import {KEYS} from '../../helpers/fixture.js'
import {expectGolden} from '../../helpers/golden.js'
import {exampleFiles, repo} from '../../helpers/repo.js'

const NOW = new Date('2026-11-22T12:00:00Z')
const plain = createStyle(false)

function quickstartPlan(): Plan {
  const desired = loadInventory(repo(exampleFiles('quickstart'))).desired
  if (!desired) throw new Error('quickstart is invalid')
  // Fixed "generated" values, so file hashes in the JSON are stable.
  const missing = missingValues(desired)
  const generated = {
    secrets: new Map(
      missing.secrets.map((request) => [
        `${request.scope}/${request.name}`,
        request.kind === 'wireguard'
          ? {value: KEYS.gatewayWg0.privateKey, publicValue: KEYS.gatewayWg0.publicKey}
          : {value: KEYS.reality.privateKey, publicValue: KEYS.reality.publicKey},
      ]),
    ),
    links: new Map(missing.links.map((key, i) => [key, `00000000-0000-4000-8000-00000000000${i}`])),
  }
  return makePlan({
    desired,
    stateKind: 'pglite',
    generated,
    readings: new Map(),
    git: {commit: '0123456789abcdef0123456789abcdef01234567', dirty: false},
    now: NOW,
    offline: true,
  }).plan
}

describe('plan views', () => {
  it('prints the quickstart first plan for people', () => {
    expectGolden('plan/quickstart-first.txt', formatPlanHuman(quickstartPlan(), plain))
  })

  it('prints the quickstart first plan as JSON', () => {
    expectGolden('plan/quickstart-first.json', `${JSON.stringify(quickstartPlan(), null, 2)}\n`)
  })

  it('prints every kind of line: update, replace, delete, drift, an unreachable node, warnings', () => {
    const base = quickstartPlan()
    const plan: Plan = {
      ...base,
      changes: [
        {
          address: 'user.bob',
          action: 'update',
          reason: 'fields_changed',
          effect: 'state_only',
          disruptive: false,
          summary: 'tariff: basic → pro',
        },
        {
          address: 'secret.gw-1/shadowsocks/ss',
          action: 'replace',
          reason: 'method_changed',
          effect: 'state_only',
          disruptive: false,
        },
        {
          address: 'peer.bob-laptop',
          action: 'delete',
          reason: 'removed_from_repo',
          effect: 'state_only',
          disruptive: false,
        },
      ],
      nodes: [
        {
          node: 'gw-1',
          status: 'planned',
          revision: {from: 3, to: 4},
          fingerprint: 'f'.repeat(64),
          artifacts: [
            {
              address: 'node.gw-1/wireguard/wg0',
              node: 'gw-1',
              path: '/etc/wireguard/wg0.conf',
              action: 'update',
              reason: 'interface_changed',
              effect: 'interface_restart',
              disruptive: true,
              sha256Before: 'a'.repeat(64),
              sha256After: 'b'.repeat(64),
              summary: 'interface restart: drops its sessions',
            },
          ],
          drift: [
            {
              kind: 'file',
              subject: '/etc/nexus/nexus.nft',
              expected: 'c',
              observed: 'd',
              detail: 'changed on the node since revision 3',
            },
          ],
        },
        {
          node: 'gw-2',
          status: 'unreachable',
          revision: {from: 1, to: 1},
          fingerprint: null,
          artifacts: [],
          drift: [],
          error: {code: 'node_unreachable', message: 'cannot reach 192.0.2.11:22 (ECONNREFUSED)'},
        },
      ],
      summary: {create: 0, update: 2, delete: 1, replace: 1, drift: 1, unreachable: 1, disruptive: 1},
      has_changes: true,
      warnings: [
        'peer dave-laptop: pinned address 10.66.0.3 was released by peer bob-laptop and is quarantined until 2026-12-22T12:00:00.000Z',
      ],
    }
    expectGolden(
      'plan/every-line.txt',
      formatPlanHuman(plan, plain, {newHostKeys: [{node: 'gw-2', key: 'ssh-ed25519 AAAAC3Nza'}]}),
    )
  })

  it('says so when there is nothing to do', () => {
    const plan: Plan = {
      ...quickstartPlan(),
      changes: [],
      nodes: [
        {node: 'gw-1', status: 'planned', revision: {from: 2, to: 2}, fingerprint: null, artifacts: [], drift: []},
      ],
      summary: {create: 0, update: 0, delete: 0, replace: 0, drift: 0, unreachable: 0, disruptive: 0},
      has_changes: false,
    }
    expect(formatPlanHuman(plan, plain)).toBe('No changes. State and nodes match the repo.\n')
  })

  it('colours symbols only when asked', () => {
    expect(formatPlanHuman(quickstartPlan(), plain)).not.toMatch(/\u001b\[/)
    expect(formatPlanHuman(quickstartPlan(), createStyle(true))).toMatch(/\u001b\[32m {2}\+/)
  })
})
