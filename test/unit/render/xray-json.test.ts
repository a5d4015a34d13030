import {describe, expect, it} from 'vitest'

import {formatXrayJson} from '../../../src/render/xray-json.js'

describe('formatXrayJson', () => {
  it('is JSON.stringify with two spaces for everything but clients and routing rules', () => {
    const value = {a: [1, {b: 'x', c: [true, null]}], d: {}, e: [], f: 'é"\\', g: {h: {i: -0.5}}, skipped: undefined}
    expect(formatXrayJson(value)).toBe(`${JSON.stringify(value, null, 2)}\n`)
  })

  it('writes each client and each routing rule on one line, and parses back to the same value', () => {
    const value = {
      inbounds: [
        {
          tag: 'in',
          settings: {
            clients: [
              {id: 'u1', email: 'a@nexus'},
              {id: 'u2', email: 'b@nexus'},
            ],
          },
        },
      ],
      routing: {domainStrategy: 'AsIs', rules: [{type: 'field', user: ['a@nexus', 'b@nexus'], outboundTag: 'block'}]},
      outbounds: [{tag: 'x', settings: {rules: [{keep: 'pretty'}]}}],
    }
    const text = formatXrayJson(value)
    expect(JSON.parse(text)).toEqual(value)
    expect(text).toContain(
      '\n          {"id":"u1","email":"a@nexus"},\n          {"id":"u2","email":"b@nexus"}\n        ]',
    )
    expect(text).toContain('\n      {"type":"field","user":["a@nexus","b@nexus"],"outboundTag":"block"}\n    ]')
    // `rules` outside routing stays pretty.
    expect(text).toContain('"rules": [\n          {\n            "keep": "pretty"')
  })
})
