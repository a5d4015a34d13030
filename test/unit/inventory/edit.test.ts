/**
 * Text edits of declaration files: new documents appended, documents cut
 * out and values set without re-serialising anything the user wrote. Every
 * expectation is the exact text, so a lost comment or blank line shows.
 */
import {describe, expect, it} from 'vitest'

import {
  appendDocument,
  contentDocumentCount,
  declarationText,
  EditError,
  newFileText,
  removeDocument,
  schemaHeaderFor,
  setTopLevelScalar,
} from '../../../src/inventory/edit.js'
import {loadInventory} from '../../../src/inventory/load.js'
import {repo} from '../../helpers/repo.js'

const PEERS = `# yaml-language-server: $schema=../schemas/peer.schema.json
# Devices on gw-1/wg0.

apiVersion: nexus/v1
kind: Peer
name: a-laptop   # the first one
interface: wg0
publicKey: xLMoDCZ1GjJnYlHQo7Ta88s3ZUrhUULmZTkQta79VxM=
---
# b's phone, pinned
apiVersion: nexus/v1
kind: Peer
name: b-phone
interface: wg0
publicKey: oQQdOiWywtVH7KEI3mKXWgxYUQPUkN+osA6wyATxWwI=
address: [10.66.0.9, "fd66::9"]   # keep
---
apiVersion: nexus/v1
kind: Peer
name: c-tablet
interface: wg0
publicKey: BbnwOTjCPkFw/5LZJRVB0C7nXxyKhMeTLXyFFAvtkmc=
# trailing note of c
`

describe('declarationText', () => {
  it('writes block style with flow lists, quotes IPv6 literals and values YAML would retype', () => {
    const text = declarationText([
      ['apiVersion', 'nexus/v1'],
      ['kind', 'Peer'],
      ['name', 'null'],
      ['user', undefined],
      ['address', ['10.66.0.5', 'fd66::5']],
      ['allowedIPs', ['192.168.1.0/24']],
      ['enabled', 'true'],
    ])
    expect(text).toBe(
      'apiVersion: nexus/v1\nkind: Peer\nname: "null"\naddress: [10.66.0.5, "fd66::5"]\nallowedIPs: [192.168.1.0/24]\nenabled: "true"\n',
    )
  })
})

describe('schemaHeaderFor', () => {
  it('copies the header of a file of the same kind next to the new one', () => {
    const files = [{path: 'peers/a.yaml', text: '# yaml-language-server: $schema=../../schemas/peer.schema.json\n'}]
    expect(schemaHeaderFor('Peer', 'peers/new.yaml', files)).toBe(
      '# yaml-language-server: $schema=../../schemas/peer.schema.json',
    )
  })

  it("takes the folder from another kind's header there, or counts the depth from the repo root", () => {
    const files = [
      {path: 'people/a.yaml', text: '# yaml-language-server: $schema=https://x.test/s/group.schema.json\n'},
    ]
    expect(schemaHeaderFor('User', 'people/new.yaml', files)).toBe(
      '# yaml-language-server: $schema=https://x.test/s/user.schema.json',
    )
    expect(schemaHeaderFor('User', 'users/new.yaml', files)).toBe(
      '# yaml-language-server: $schema=../schemas/user.schema.json',
    )
    expect(schemaHeaderFor('Peer', 'a/b/new.yaml', [])).toBe(
      '# yaml-language-server: $schema=../../schemas/peer.schema.json',
    )
  })

  it('newFileText puts the header first', () => {
    expect(newFileText('# h', 'kind: User\n')).toBe('# h\nkind: User\n')
  })
})

describe('appendDocument', () => {
  const doc = 'apiVersion: nexus/v1\nkind: Peer\nname: d\n'

  it('keeps every existing byte and adds a separator', () => {
    expect(appendDocument(PEERS, doc)).toBe(`${PEERS}---\n${doc}`)
  })

  it('adds a missing final newline, reuses a trailing ---, and keeps CRLF files CRLF', () => {
    expect(appendDocument('kind: User', doc)).toBe(`kind: User\n---\n${doc}`)
    expect(appendDocument('kind: User\n---\n', doc)).toBe(`kind: User\n---\n${doc}`)
    expect(appendDocument('kind: User\r\nname: a\r\n', doc)).toBe(
      `kind: User\r\nname: a\r\n---\r\n${doc.replaceAll('\n', '\r\n')}`,
    )
    expect(appendDocument('', doc)).toBe(doc)
  })

  it('the result loads as one more document', () => {
    const appended = appendDocument(PEERS, 'apiVersion: nexus/v1\nkind: Group\nname: d\n')
    expect(contentDocumentCount(PEERS)).toBe(3)
    expect(contentDocumentCount(appended)).toBe(4)
  })
})

describe('removeDocument', () => {
  it('cuts a middle document from its --- to the next one', () => {
    expect(removeDocument(PEERS, 1)).toBe(PEERS.replace(/---\n# b's phone, pinned\n[\s\S]*?# keep\n/, ''))
  })

  it('cuts the last document with its trailing comment', () => {
    expect(removeDocument(PEERS, 2)).toBe(PEERS.slice(0, PEERS.lastIndexOf('---\n')))
  })

  it('cuts the first document (no ---) but keeps the comments that head the file', () => {
    const result = removeDocument(PEERS, 0)
    expect(result).toBe(PEERS.replace(/apiVersion: nexus\/v1\nkind: Peer\nname: a-laptop[\s\S]*?---\n/, ''))
    expect(
      result?.startsWith('# yaml-language-server: $schema=../schemas/peer.schema.json\n# Devices on gw-1/wg0.\n\n# b'),
    ).toBe(true)
  })

  it('every result still loads, without exactly the removed peer', () => {
    for (const [index, name] of ['a-laptop', 'b-phone', 'c-tablet'].entries()) {
      const text = removeDocument(PEERS, index)
      expect(text).not.toBeNull()
      const inventory = loadInventory(repo({'peers.yaml': text ?? ''}))
      expect(inventory.diagnostics.filter((d) => d.code === 'yaml_syntax')).toEqual([])
      expect(inventory.declarations.Peer.map((p) => p.name)).toEqual(
        ['a-laptop', 'b-phone', 'c-tablet'].filter((n) => n !== name),
      )
    }
  })

  it('a document that starts with --- after header comments: the header stays', () => {
    const text = '# header\n---\nkind: A\nname: a\n---\nkind: B\nname: b\n'
    expect(removeDocument(text, 0)).toBe('# header\n---\nkind: B\nname: b\n')
  })

  it('null when nothing else with content would be left (delete the file)', () => {
    expect(removeDocument('# only\nkind: User\nname: a\n', 0)).toBeNull()
    expect(removeDocument('kind: User\nname: a\n---\n', 0)).toBeNull()
  })
})

describe('setTopLevelScalar', () => {
  const USER = `# yaml-language-server: $schema=../schemas/user.schema.json
apiVersion: nexus/v1
kind: User
name: bob    # Bob from accounting
email: "bob@example.com"

tariff: basic
groups: [staff]
`

  it('inserts a missing key after the last anchor key, with nothing else touched', () => {
    expect(setTopLevelScalar(USER, 0, 'status', 'disabled', {after: ['name', 'email']})).toBe(
      USER.replace('email: "bob@example.com"\n', 'email: "bob@example.com"\nstatus: disabled\n'),
    )
  })

  it('replaces an existing value at its range, keeping its comment and quoting elsewhere', () => {
    const text = USER.replace('tariff: basic\n', "status: 'active'   # since May\ntariff: basic\n")
    expect(setTopLevelScalar(text, 0, 'status', 'disabled')).toBe(
      text.replace("status: 'active'   # since May", 'status: disabled   # since May'),
    )
  })

  it('returns the text unchanged when the value is already set', () => {
    const text = USER.replace('tariff: basic\n', 'status: disabled\ntariff: basic\n')
    expect(setTopLevelScalar(text, 0, 'status', 'disabled')).toBe(text)
  })

  it('fills an empty value, and edits the right document of a multi-document file', () => {
    expect(setTopLevelScalar('kind: User\nstatus:\nname: a\n', 0, 'status', 'disabled')).toBe(
      'kind: User\nstatus: disabled\nname: a\n',
    )
    const multi = `${USER}---\nkind: User\nname: carol\n`
    expect(setTopLevelScalar(multi, 1, 'status', 'disabled', {after: ['name']})).toBe(`${multi}status: disabled\n`)
    expect(setTopLevelScalar('kind: User\nname: a', 0, 'status', 'disabled', {after: ['name']})).toBe(
      'kind: User\nname: a\nstatus: disabled\n',
    )
  })

  it('refuses a flow-style document rather than rewriting it', () => {
    expect(() => setTopLevelScalar('{kind: User, name: a}\n', 0, 'status', 'disabled')).toThrow(EditError)
  })
})
