/**
 * Editing declaration files as text, for the ad-hoc commands (`nexus peer
 * create`, `user disable`, ...). Pure: text in, text out.
 *
 * A user's document is never re-serialised: new documents are appended as
 * text, a removed document is cut out at the offsets the YAML CST gives, and
 * a changed value is spliced in at its own source range. Comments, quoting,
 * blank lines and key order of everything else stay byte for byte.
 */
import {
  Document,
  isMap,
  isScalar,
  parseAllDocuments,
  Parser,
  Scalar,
  type CST,
  type Pair,
  type ParsedNode,
  visit,
} from 'yaml'

import type {Kind} from '../model/declarations.js'
import {schemaFileName} from '../model/json-schema.js'

/** The editor-schema comment a declaration file starts with (`nexus init` writes them). */
export const SCHEMA_HEADER = /^# yaml-language-server: \$schema=(\S+)$/

/** A field of a new declaration, in the order it is written. Undefined values are left out. */
export type Fields = readonly (readonly [string, unknown])[]

/**
 * The text of a new document: block style at the top, short lists in flow
 * style (`groups: [staff]`, as the examples write them), IPv6 literals quoted.
 * Ends with a newline.
 */
export function declarationText(fields: Fields): string {
  const doc = new Document(Object.fromEntries(fields.filter(([, value]) => value !== undefined)))
  visit(doc, {
    Seq(_, node) {
      node.flow = true
    },
    Scalar(_, node) {
      if (typeof node.value === 'string' && node.value.includes(':')) node.type = Scalar.QUOTE_DOUBLE
    },
  })
  return doc.toString({lineWidth: 0, flowCollectionPadding: false})
}

/**
 * The schema header for a new file at `path` (repo-relative): copied from a
 * file next to it when one has a header (so it points where theirs do), else
 * relative to the repo root as `nexus init` writes it.
 */
export function schemaHeaderFor(
  kind: Kind,
  path: string,
  files: readonly {readonly path: string; readonly text: string}[],
): string {
  const directory = dirnameOf(path)
  const wanted = schemaFileName(kind)
  let sibling: string | undefined
  for (const file of files) {
    if (dirnameOf(file.path) !== directory) continue
    const match = SCHEMA_HEADER.exec(firstLine(file.text))
    if (!match?.[1]) continue
    const url = match[1]
    const slash = url.lastIndexOf('/')
    if (url.slice(slash + 1) === wanted) return `# yaml-language-server: $schema=${url}`
    sibling ??= `# yaml-language-server: $schema=${url.slice(0, slash + 1)}${wanted}`
  }
  if (sibling) return sibling
  const depth = directory === '' ? 0 : directory.split('/').length
  return `# yaml-language-server: $schema=${'../'.repeat(depth)}schemas/${wanted}`
}

/** A new file holding one declaration, headed by its schema comment. */
export function newFileText(header: string, document: string): string {
  return `${header}\n${document}`
}

/**
 * `text` with `document` appended as a further document (`---`). The
 * existing bytes are kept as they are, a missing final newline aside.
 */
export function appendDocument(text: string, document: string): string {
  const {body, bom, eol} = split(text)
  if (body.trim() === '') return `${bom}${withEol(document, eol)}`
  const ending = body.endsWith('\n') ? '' : eol
  // A file that already ends with an empty `---` gets no second separator.
  const separator = /(^|\n)---[ \t]*\r?\n?$/.test(body) ? '' : `---${eol}`
  return `${bom}${body}${ending}${separator}${withEol(document, eol)}`
}

/** Number of documents that hold something (not empty, not only comments). */
export function contentDocumentCount(text: string): number {
  return parseAllDocuments(split(text).body).filter((doc) => !isEmptyDocument(doc.contents)).length
}

/**
 * `text` without its document number `index` (as the loader counts them:
 * every document of the stream, empty ones included), or null when no other
 * document with content would be left: the file should be deleted then.
 *
 * A document that starts with `---` is cut from that marker to the next
 * document's; the first one, when it has no marker, from its content to the
 * end of the next document's `---` line, so comments at the top of the file
 * (the schema header, a description of the file) stay.
 */
export function removeDocument(text: string, index: number): string | null {
  const {body, bom} = split(text)
  const docs = parseAllDocuments(body)
  const target = docs[index]
  if (!target) throw new Error(`bug: no document ${index} in the file`)
  const others = docs.filter((doc, i) => i !== index && !isEmptyDocument(doc.contents))
  if (others.length === 0) return null

  const tokens = documentTokens(body)
  const token = tokens[index]
  if (!token) throw new Error(`bug: the CST has no document ${index}`)
  const next = tokens[index + 1]
  const hasMarker = token.start.some((t) => t.type === 'doc-start')
  let from = token.offset
  let to = next ? next.offset : body.length
  if (!hasMarker && next) {
    // Keep the next document's own comments: drop only its `---` line.
    const newline = next.start.find((t) => t.type === 'newline')
    to = newline ? newline.offset + newline.source.length : (next.value?.offset ?? next.offset)
  } else if (!hasMarker) {
    from = token.value?.offset ?? token.offset
  }
  return `${bom}${body.slice(0, from)}${body.slice(to)}`
}

/**
 * Sets a top-level key of document `index` to a plain scalar. An existing
 * value is replaced at its source range (its comment stays); a missing key is
 * inserted on its own line after the last of `after` that the document has
 * (else after its last top-level key), with that key's indentation.
 * Returns the text unchanged when the value is already that.
 */
export function setTopLevelScalar(
  text: string,
  index: number,
  key: string,
  value: string,
  options: {readonly after?: readonly string[]} = {},
): string {
  const {body, bom, eol} = split(text)
  const doc = parseAllDocuments(body)[index]
  if (!doc) throw new Error(`bug: no document ${index} in the file`)
  const map = doc.contents
  if (!isMap(map) || map.flow) {
    throw new EditError(`the document is not a block mapping, so ${key} cannot be set without rewriting it`)
  }
  const rendered = declarationText([[key, value]])
    .replace(/\n$/, '')
    .slice(key.length + 2)
  const pairs = map.items as Pair<ParsedNode, ParsedNode | null>[]
  const existing = pairs.find((pair) => isScalar(pair.key) && pair.key.value === key)
  if (existing) {
    const current = existing.value
    if (isScalar(current) && current.value === value) return text
    if (current?.range) {
      const [start, end] = current.range
      // A null value written as nothing (`status:`) has an empty range: give it a space after the colon.
      const prefix = start === end && body[start - 1] === ':' ? ' ' : ''
      return `${bom}${body.slice(0, start)}${prefix}${rendered}${body.slice(end)}`
    }
    const keyEnd = existing.key?.range?.[1]
    if (keyEnd === undefined) throw new EditError(`${key} has no position in the source`)
    const colon = body.indexOf(':', keyEnd)
    return `${bom}${body.slice(0, colon + 1)} ${rendered}${body.slice(colon + 1)}`
  }
  const anchors = options.after ?? []
  const anchor =
    [...pairs].reverse().find((pair) => isScalar(pair.key) && anchors.includes(String(pair.key.value))) ?? pairs.at(-1)
  const keyStart = anchor?.key?.range?.[0]
  if (!anchor || keyStart === undefined) throw new EditError('the document has no keys to place the new one after')
  const valueEnd = anchor.value?.range?.[1] ?? anchor.key?.range?.[1] ?? keyStart
  const lineEnd = body.indexOf('\n', valueEnd)
  const insertAt = lineEnd === -1 ? body.length : lineEnd + 1
  const indent = keyStart - (body.lastIndexOf('\n', keyStart - 1) + 1)
  const line = `${' '.repeat(indent)}${key}: ${rendered}${eol}`
  const before = lineEnd === -1 ? `${body}${eol}` : body.slice(0, insertAt)
  return `${bom}${before}${line}${body.slice(insertAt)}`
}

/** A document the editor cannot change without rewriting it. */
export class EditError extends Error {
  override name = 'EditError'
}

function documentTokens(body: string): CST.Document[] {
  const tokens: CST.Document[] = []
  for (const token of new Parser().parse(body)) if (token.type === 'document') tokens.push(token)
  return tokens
}

function isEmptyDocument(contents: unknown): boolean {
  return contents === null || (isScalar(contents) && contents.value === null && contents.source === '')
}

function split(text: string): {body: string; bom: string; eol: string} {
  const bom = text.startsWith('\ufeff') ? '\ufeff' : ''
  const body = bom ? text.slice(1) : text
  return {body, bom, eol: body.includes('\r\n') ? '\r\n' : '\n'}
}

function withEol(document: string, eol: string): string {
  return eol === '\n' ? document : document.replaceAll('\n', eol)
}

function firstLine(text: string): string {
  const line = text.replace(/^\ufeff/, '').split('\n')[0] ?? ''
  return line.replace(/\r$/, '').trimEnd()
}

function dirnameOf(path: string): string {
  const slash = path.lastIndexOf('/')
  return slash === -1 ? '' : path.slice(0, slash)
}
