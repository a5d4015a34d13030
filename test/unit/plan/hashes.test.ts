import {describe, expect, it} from 'vitest'

import {sha256, xrayBase, xrayBaseSha256} from '../../../src/plan/hashes.js'
import {formatXrayJson} from '../../../src/render/xray-json.js'

const pretty = (value: unknown) => formatXrayJson(value)

function config(clients: readonly string[][], users: readonly string[] = ['a@nexus']) {
  return {
    log: {loglevel: 'warning'},
    inbounds: [
      {tag: 'api-in', protocol: 'dokodemo-door', settings: {address: '127.0.0.1'}},
      ...clients.map((list, i) => ({
        tag: `in-${i}`,
        protocol: 'vless',
        settings: {
          clients: list.map((email) => ({id: `id-${email}`, email, flow: 'xtls-rprx-vision'})),
          decryption: 'none',
        },
        streamSettings: {realitySettings: {shortIds: ['', 'ab'], serverNames: ['x']}},
      })),
    ],
    routing: {rules: [{type: 'field', user: users, ip: ['10.0.0.0/8'], outboundTag: 'block'}]},
  }
}

function withoutClients(value: ReturnType<typeof config>) {
  return {
    ...value,
    inbounds: value.inbounds.map((inbound) =>
      'clients' in inbound.settings ? {...inbound, settings: {...inbound.settings, clients: []}} : inbound,
    ),
  }
}

describe('xrayBase', () => {
  it('is the rendered config with every inbound emptied of clients', () => {
    const value = config([['a@nexus', 'b@nexus'], ['c@nexus'], []])
    expect(xrayBase(pretty(value))).toBe(pretty(withoutClients(value)))
  })

  it('ignores who the clients are, and sees everything else, the routing user lists included', () => {
    const base = xrayBase(pretty(config([['a@nexus'], ['b@nexus']])))
    expect(xrayBase(pretty(config([['a@nexus', 'x@nexus'], []])))).toBe(base)
    expect(xrayBase(pretty(config([['a@nexus'], ['b@nexus']], ['a@nexus', 'b@nexus'])))).not.toBe(base)
  })

  it('leaves a file in another layout (edited by hand) whole, so it never passes for an API-only change', () => {
    const compact = JSON.stringify(config([['a@nexus']]))
    expect(xrayBase(compact)).toBe(compact)
    const truncated = pretty(config([['a@nexus']]))
      .split('\n')
      .slice(0, 12)
      .join('\n')
    expect(xrayBase(truncated)).toBe(truncated)
  })
})

describe('xrayBase on edge layouts', () => {
  it('cuts an empty clients list, the last inbound, and keeps commas where they were', () => {
    const text = [
      '{',
      '  "a": {',
      '    "clients": [',
      '    ],',
      '    "x": 1',
      '  },',
      '  "b": {',
      '    "clients": [',
      '      {"id": "1"},',
      '      {"id": "2"}',
      '    ]',
      '  }',
      '}',
      '',
    ].join('\n')
    expect(xrayBase(text)).toBe(
      [
        '{',
        '  "a": {',
        '    "clients": [],',
        '    "x": 1',
        '  },',
        '  "b": {',
        '    "clients": []',
        '  }',
        '}',
        '',
      ].join('\n'),
    )
  })

  it('does not take a bracket of a deeper or shallower line for the end of the list', () => {
    const text = ['{', '  "clients": [', '    {"id": "1", "tags": [', '    ]}', '  ]', '}'].join('\n')
    expect(xrayBase(text)).toBe(['{', '  "clients": []', '}'].join('\n'))
  })

  it('leaves text alone where "clients": [ is not alone on its line', () => {
    const text = ['{', '  "note": "clients": [', '  "x": 1', '}'].join('\n')
    expect(xrayBase(text)).toBe(text)
  })
})

describe('xrayBaseSha256', () => {
  it('is the sha256 of xrayBase, for a rendered config and for a file in another layout', () => {
    const rendered = pretty(config([['a@nexus', 'b@nexus'], ['c@nexus'], []]))
    const compact = JSON.stringify(config([['a@nexus']]))
    for (const text of [rendered, compact]) expect(xrayBaseSha256(text)).toBe(sha256(xrayBase(text)))
    expect(xrayBaseSha256(rendered)).not.toBe(sha256(rendered))
  })
})
