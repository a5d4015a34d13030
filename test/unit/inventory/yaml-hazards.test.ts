import {describe, expect, it} from 'vitest'

import {loadInventory} from '../../../src/inventory/load.js'
import {MAX_FILE_BYTES, parseYamlFile} from '../../../src/inventory/parse-yaml.js'
import {at, BASE, loadWith, only, repo, withCode} from '../../helpers/repo.js'

const GROUP = 'apiVersion: nexus/v1\nkind: Group\nname: '
const bytes = (...parts: (string | number[])[]): Uint8Array =>
  new Uint8Array(parts.flatMap((part) => (typeof part === 'string' ? [...new TextEncoder().encode(part)] : part)))

describe('the base repo', () => {
  it('is valid, so every other test changes exactly one thing', () => {
    const inventory = loadWith()
    expect(inventory.diagnostics).toEqual([])
    expect(inventory.desired).toBeDefined()
    expect(inventory.fileCount).toBe(Object.keys(BASE).length)
    expect(inventory.documentCount).toBe(Object.keys(BASE).length)
  })
})

describe('YAML syntax', () => {
  it('reports a syntax error at its position and keeps going', () => {
    const inventory = loadWith({'groups/x.yaml': `${GROUP}a: b\n`})
    const d = only(inventory, 'yaml_syntax')
    expect(d.severity).toBe('error')
    expect(at(d)).toBe('groups/x.yaml:3:7')
    expect(d.message).toMatch(/nested mappings/i)
    expect(d.hint).toBeTruthy()
    expect(inventory.desired).toBeUndefined()
  })

  it('reports an unclosed quote with a hint about it', () => {
    const d = only(loadWith({'groups/x.yaml': `${GROUP}"x\n`}), 'yaml_syntax')
    expect(d.message).toMatch(/quote/i)
    expect(d.hint).toMatch(/not closed/)
    expect(d.file).toBe('groups/x.yaml')
  })

  it('reports tab indentation at the tab', () => {
    const d = only(loadWith({'groups/x.yaml': `${GROUP}x\ndescription:\n\tfoo: 1\n`}), 'yaml_syntax')
    expect(at(d)).toBe('groups/x.yaml:5:1')
    expect(d.message).toMatch(/tab/i)
    expect(d.hint).toMatch(/spaces/)
  })

  it('reports a duplicate key at the second occurrence', () => {
    const d = only(loadWith({'groups/x.yaml': `${GROUP}x\ndescription: a\nname: y\n`}), 'yaml_syntax')
    expect(at(d)).toBe('groups/x.yaml:5:1')
    expect(d.message).toMatch(/unique/i)
    expect(d.hint).toMatch(/keeps only one/)
  })

  it('reports an alias bomb instead of expanding it', () => {
    const lines = [GROUP.trimEnd(), 'x', 'l0: &l0 [x, x, x, x, x, x, x, x, x, x]']
    for (let i = 1; i <= 10; i++) {
      const previous = `*l${i - 1}`
      lines.push(`l${i}: &l${i} [${Array(10).fill(previous).join(', ')}]`)
    }
    const text = `${lines[0]} ${lines[1]}\n${lines.slice(2).join('\n')}\n`
    // Expanded, this would be 10^11 nodes: the test would not end at all.
    const inventory = loadWith({'groups/bomb.yaml': text})
    const d = only(inventory, 'yaml_aliases')
    expect(d.severity).toBe('error')
    expect(at(d)).toBe('groups/bomb.yaml:1:1')
    expect(d.message).toMatch(/alias/)
    expect(inventory.declarations.Group.map((g) => g.name)).toEqual(['staff'])
  })

  it('accepts a few aliases', () => {
    const inventory = loadWith({'groups/x.yaml': `${GROUP}&n x\ndescription: *n\n`})
    expect(inventory.diagnostics).toEqual([])
    expect(inventory.declarations.Group.find((g) => g.name === 'x')?.spec.description).toBe('x')
  })
})

describe('file contents that are not UTF-8 YAML', () => {
  it('refuses a binary file, pointing at the first NUL byte', () => {
    const d = only(loadWith({'groups/x.yaml': bytes('apiVersion: nexus/v1\nkind: Gr', [0, 1, 2], '\n')}), 'binary_file')
    expect(d.severity).toBe('error')
    expect(at(d)).toBe('groups/x.yaml:2:9')
    expect(d.message).toMatch(/NUL/)
  })

  it('refuses invalid UTF-8, pointing at the bad byte', () => {
    const file = bytes(`${GROUP}x\ndescription: caf`, [0xc3, 0x28], '\n')
    const d = only(loadWith({'groups/x.yaml': file}), 'not_utf8')
    expect(at(d)).toBe('groups/x.yaml:4:17')
    expect(d.message).toMatch(/not valid UTF-8/)
    expect(d.hint).toMatch(/UTF-8/)
  })

  it.each([
    ['an overlong encoding', [0xc0, 0xaf]],
    ['a UTF-16 surrogate', [0xed, 0xa0, 0x80]],
    ['a truncated sequence at the end', [0xe2, 0x82]],
    ['a code point above U+10FFFF', [0xf4, 0x90, 0x80, 0x80]],
  ])('refuses %s', (_label, bad) => {
    const d = only(loadWith({'groups/x.yaml': bytes(`${GROUP}x\ndescription: `, bad)}), 'not_utf8')
    expect(at(d)).toBe('groups/x.yaml:4:14')
  })

  it('accepts multi-byte UTF-8 and a UTF-8 byte order mark', () => {
    const inventory = loadWith({'groups/x.yaml': bytes([0xef, 0xbb, 0xbf], `${GROUP}x\ndescription: café 🚀\n`)})
    expect(inventory.diagnostics).toEqual([])
    expect(inventory.declarations.Group.find((g) => g.name === 'x')?.spec.description).toBe('café 🚀')
  })

  it.each([
    ['little-endian', [0xff, 0xfe]],
    ['big-endian', [0xfe, 0xff]],
  ])('refuses %s UTF-16', (_label, bom) => {
    const d = only(loadWith({'groups/x.yaml': bytes(bom, [0x61, 0x00])}), 'not_utf8')
    expect(at(d)).toBe('groups/x.yaml:1:1')
    expect(d.message).toMatch(/UTF-16/)
  })

  it('refuses a file over MAX_FILE_BYTES without reading it', () => {
    const files = repo(BASE)
    files.push({path: 'huge.yaml', bytes: new TextEncoder().encode(`${GROUP}huge\n`), size: MAX_FILE_BYTES + 1})
    const inventory = loadInventory(files)
    const d = only(inventory, 'file_too_large')
    expect(at(d)).toBe('huge.yaml:1:1')
    expect(d.message).toContain('16.0 MiB')
    expect(d.hint).toMatch(/split/)
    expect(inventory.declarations.Group.map((g) => g.name)).toEqual(['staff'])
  })

  it('gives the size in MiB when it is clearly over, and in bytes when it is just over', () => {
    const text = new TextEncoder().encode(`${GROUP}g\n`)
    expect(parseYamlFile('g.yaml', text, 20 * 1024 * 1024).diagnostics[0]?.message).toBe(
      'file is 20.0 MiB; nexus reads declaration files up to 16.0 MiB',
    )
    expect(parseYamlFile('g.yaml', text, MAX_FILE_BYTES + 1).diagnostics[0]?.message).toBe(
      `file is ${MAX_FILE_BYTES + 1} bytes; nexus reads declaration files up to 16.0 MiB (${MAX_FILE_BYTES} bytes)`,
    )
  })

  it('reads a file of exactly MAX_FILE_BYTES', () => {
    const parsed = parseYamlFile('g.yaml', new TextEncoder().encode(`${GROUP}g\n`), MAX_FILE_BYTES)
    expect(parsed.diagnostics).toEqual([])
    expect(parsed.documents).toHaveLength(1)
  })
})

describe('values YAML retypes', () => {
  const node = BASE['nodes/gw-1.yaml'] as string

  it('explains an unquoted Reality shortId 0123 and says to quote it', () => {
    const inventory = loadWith({'nodes/gw-1.yaml': node.replace('["6d44678d93a3b4f6"]', '[0123]')})
    const d = only(inventory, 'invalid_value')
    expect(at(d)).toBe('nodes/gw-1.yaml:21:20')
    expect(d.kind).toBe('Node')
    expect(d.name).toBe('gw-1')
    expect(d.message).toContain('xray.inbounds[0].reality.shortIds[0]')
    expect(d.message).toContain('YAML read 0123 as the number 123')
    expect(d.hint).toBe('quote it: "0123"')
  })

  it('explains an unquoted 0e12 (a float in YAML)', () => {
    const inventory = loadWith({
      'nodes/gw-1.yaml': node.replace('shortIds: ["6d44678d93a3b4f6"]', 'shortIds:\n          - 0e12'),
    })
    const d = only(inventory, 'invalid_value')
    expect(at(d)).toBe('nodes/gw-1.yaml:22:13')
    expect(d.message).toContain('YAML read 0e12 as the number 0')
    expect(d.hint).toBe('quote it: "0e12"')
  })

  it('explains a boolean where text was meant', () => {
    const d = only(loadWith({'groups/x.yaml': `${GROUP}x\ndescription: true\n`}), 'invalid_value')
    expect(at(d)).toBe('groups/x.yaml:4:14')
    expect(d.hint).toBe('quote it: "true"')
  })

  it('does not tell the user to quote an empty value', () => {
    const d = only(loadWith({'groups/x.yaml': `${GROUP}\n`}), 'invalid_value')
    expect(at(d)).toBe('groups/x.yaml:3:7')
    expect(d.message).toContain('name: expected string, got null')
    expect(d.hint ?? '').not.toMatch(/quote/)
  })
})

describe('a %YAML 1.1 directive', () => {
  it('does not switch to YAML 1.1 types: octal, on/off booleans and sexagesimal numbers stay 1.2', () => {
    const text = '%YAML 1.1\n---\nports: 0443\nenabled: on\nforward: 22:22\nmode: 0o17\n'
    const parsed = parseYamlFile('x.yaml', bytes(text))
    expect(parsed.documents.map((d) => d.value)).toEqual([{ports: 443, enabled: 'on', forward: '22:22', mode: 15}])
  })

  it('is reported as ignored, at the directive, with a hint', () => {
    const parsed = parseYamlFile('x.yaml', bytes('a: 1\n...\n# next\n%YAML 1.1\n---\nb: 2\n'))
    expect(parsed.diagnostics).toEqual([
      {
        severity: 'warning',
        code: 'yaml_version',
        message: '%YAML 1.1 is ignored: nexus reads every file as YAML 1.2',
        hint: expect.stringMatching(/remove the directive/),
        file: 'x.yaml',
        line: 4,
        column: 1,
      },
    ])
    expect(parsed.documents.map((d) => d.value)).toEqual([{a: 1}, {b: 2}])
  })

  it('leaves a %YAML 1.2 directive alone', () => {
    const parsed = parseYamlFile('x.yaml', bytes('%YAML 1.2\n---\nports: 0443\n'))
    expect(parsed.diagnostics).toEqual([])
    expect(parsed.documents.map((d) => d.value)).toEqual([{ports: 443}])
  })

  it('keeps a node valid with the port it reads as 1.2, and a description of `on` as text', () => {
    const node = (BASE['nodes/gw-1.yaml'] as string).replace('      port: 443\n', '      port: 0443\n')
    const inventory = loadWith({
      'nodes/gw-1.yaml': `%YAML 1.1\n---\n${node}`,
      'groups/x.yaml': `%YAML 1.1\n---\n${GROUP}x\ndescription: on\n`,
    })
    expect(inventory.diagnostics.map((d) => `${at(d)} ${d.severity} ${d.code}`)).toEqual([
      'groups/x.yaml:1:1 warning yaml_version',
      'nodes/gw-1.yaml:1:1 warning yaml_version',
    ])
    expect(inventory.desired?.nodes[0]?.xray?.inbounds[0]?.port).toBe(443)
  })
})

describe('documents', () => {
  it('reads every document of a multi-document file', () => {
    const inventory = loadWith({'groups/x.yaml': `${GROUP}a\n---\n${GROUP}b\n---\n${GROUP}c\n`})
    expect(inventory.diagnostics).toEqual([])
    expect(inventory.documentCount).toBe(Object.keys(BASE).length + 3)
    expect(inventory.declarations.Group.map((g) => g.name)).toEqual(['staff', 'a', 'b', 'c'])
  })

  it('reports one bad document among good ones and keeps the good ones', () => {
    const inventory = loadWith({'groups/x.yaml': `${GROUP}a\n---\n${GROUP}B\n---\n${GROUP}c\n`})
    const d = only(inventory, 'invalid_value')
    expect(at(d)).toBe('groups/x.yaml:7:7')
    expect(d.kind).toBe('Group')
    expect(inventory.diagnostics).toHaveLength(1)
    expect(inventory.declarations.Group.map((g) => g.name)).toEqual(['staff', 'a', 'c'])
  })

  it('reports a syntax error in one document and keeps the others', () => {
    const inventory = loadWith({'groups/x.yaml': `${GROUP}a\n---\n${GROUP}b\n\tdescription: x\n---\n${GROUP}c\n`})
    expect(at(only(inventory, 'yaml_syntax'))).toBe('groups/x.yaml:8:1')
    expect(inventory.declarations.Group.map((g) => g.name)).toEqual(['staff', 'a', 'c'])
  })

  it('skips empty documents, empty files and files of comments', () => {
    const inventory = loadWith({
      'groups/x.yaml': `---\n---\n${GROUP}a\n---\n`,
      'groups/empty.yaml': '',
      'groups/comments.yaml': '# nothing here yet\n---\n# still nothing\n',
    })
    expect(inventory.diagnostics).toEqual([])
    expect(inventory.documentCount).toBe(Object.keys(BASE).length + 1)
    expect(inventory.desired).toBeDefined()
  })

  it('warns about and ignores a document without apiVersion and kind', () => {
    const inventory = loadWith({'docs/notes.yaml': 'title: not a declaration\n'})
    const d = only(inventory, 'not_a_declaration')
    expect(d.severity).toBe('warning')
    expect(at(d)).toBe('docs/notes.yaml:1:1')
    expect(d.message).toMatch(/ignored/)
    expect(inventory.desired).toBeDefined()
  })

  it('refuses a document that is not a mapping', () => {
    const d = only(loadWith({'groups/x.yaml': '- apiVersion: nexus/v1\n'}), 'not_a_declaration')
    expect(d.severity).toBe('error')
    expect(at(d)).toBe('groups/x.yaml:1:1')
  })

  it('refuses a wrong apiVersion, pointing at its value', () => {
    const d = only(
      loadWith({'groups/x.yaml': 'apiVersion: nexus/v2\nkind: Group\nname: x\n'}),
      'unsupported_api_version',
    )
    expect(at(d)).toBe('groups/x.yaml:1:13')
    expect(d.message).toContain('"nexus/v2"')
    expect(d.hint).toContain('nexus/v1')
  })

  it('refuses a missing apiVersion when kind is there', () => {
    const d = only(loadWith({'groups/x.yaml': 'kind: Group\nname: x\n'}), 'unsupported_api_version')
    expect(at(d)).toBe('groups/x.yaml:1:1')
    expect(d.message).toBe('apiVersion is missing')
  })

  it('refuses an unknown kind with a "did you mean" hint', () => {
    const d = only(loadWith({'groups/x.yaml': 'apiVersion: nexus/v1\nkind: Gruop\nname: x\n'}), 'unknown_kind')
    expect(at(d)).toBe('groups/x.yaml:2:7')
    expect(d.message).toContain('"Gruop"')
    expect(d.hint).toBe('did you mean Group?')
  })

  it('lists the kinds when an unknown kind is nowhere near one', () => {
    const d = only(loadWith({'groups/x.yaml': 'apiVersion: nexus/v1\nkind: Banana\nname: x\n'}), 'unknown_kind')
    expect(d.hint).toContain('Project, Tariff, User, Peer, Node, Rule, Service, Group')
  })

  it('refuses an unknown field with a "did you mean" hint, at the key', () => {
    const inventory = loadWith({'users/alice.yaml': `${BASE['users/alice.yaml']}tarif: basic\n`})
    const d = only(inventory, 'unknown_field')
    expect(at(d)).toBe('users/alice.yaml:6:1')
    expect(d.kind).toBe('User')
    expect(d.name).toBe('alice')
    expect(d.message).toBe('User alice: tarif: unknown field')
    expect(d.hint).toBe('did you mean "tariff"?')
  })

  it('refuses a nested unknown field with its full path', () => {
    const node = (BASE['nodes/gw-1.yaml'] as string).replace(
      '      listenPort: 51820\n',
      '      listenPort: 51820\n      listenport: 1\n',
    )
    const d = only(loadWith({'nodes/gw-1.yaml': node}), 'unknown_field')
    expect(at(d)).toBe('nodes/gw-1.yaml:11:7')
    expect(d.message).toContain('wireguard.interfaces[0].listenport: unknown field')
    expect(d.hint).toBe('did you mean "listenPort"?')
  })

  it('lists the known fields when an unknown one is nowhere near', () => {
    const d = only(loadWith({'groups/x.yaml': `${GROUP}x\nzzzzzzzz: 1\n`}), 'unknown_field')
    expect(d.hint).toBe('known fields here: apiVersion, kind, name, description')
  })

  it('suggests the closest enum value', () => {
    const rule = (BASE['rules/no-smtp.yaml'] as string).replace('protocol: tcp', 'protocol: tpc')
    const d = only(loadWith({'rules/no-smtp.yaml': rule}), 'invalid_value')
    expect(at(d)).toBe('rules/no-smtp.yaml:5:11')
    expect(d.message).toContain('"tpc" is not allowed')
    expect(d.hint).toBe('did you mean "tcp"?')
  })

  it('reports a missing required field', () => {
    const inventory = loadWith({'tariffs/basic.yaml': 'apiVersion: nexus/v1\nkind: Tariff\nname: basic\n'})
    const d = only(inventory, 'invalid_value')
    expect(at(d)).toBe('tariffs/basic.yaml:1:1')
    expect(d.message).toBe('Tariff basic: protocols: required field is missing')
    expect(d.hint).toBe('add protocols')
  })
})

describe('all problems at once', () => {
  it('reports every problem of every file, sorted by file, line and column', () => {
    const inventory = loadWith({
      'users/zed.yaml': 'apiVersion: nexus/v1\nkind: User\nname: zed\ntariff: nope\n',
      'groups/x.yaml': `${GROUP}X\n`,
      'groups/a.yaml': `${GROUP}a\nfoo: 1\n`,
      'nodes/gw-2.yaml': 'apiVersion: nexus/v1\nkind: Node\nname: gw-2\nssh:\n\thost: x\n',
      'peers/p.yaml': `apiVersion: nexus/v1\nkind: Peer\nname: p\ninterface: wg0\npublicKey: nope\nbad: 1\n`,
    })
    expect(inventory.desired).toBeUndefined()
    expect(inventory.diagnostics.map((d) => `${at(d)} ${d.code}`)).toEqual([
      'groups/a.yaml:4:1 unknown_field',
      'groups/x.yaml:3:7 invalid_value',
      'nodes/gw-2.yaml:5:1 yaml_syntax',
      'peers/p.yaml:5:12 invalid_value',
      'peers/p.yaml:6:1 unknown_field',
      'users/zed.yaml:4:9 unresolved_reference',
    ])
    expect(withCode(inventory, 'unresolved_reference')[0]?.hint).toContain('basic')
  })
})
