/**
 * Bytes of one file -> the YAML documents in it, each able to say where any
 * of its values was written. Every YAML hazard becomes a diagnostic, never an
 * exception: syntax errors, tabs, duplicate keys, alias bombs, binary or
 * non-UTF-8 content and oversized files.
 */
import {
  type Document,
  isMap,
  isPair,
  isScalar,
  isSeq,
  LineCounter,
  parseAllDocuments,
  type Scalar,
  type Node as YamlNode,
} from 'yaml'

import type {Diagnostic, Position} from './diagnostics.js'

/** Larger files are refused: a declaration repo splits big fleets into many files. */
export const MAX_FILE_BYTES = 16 * 1024 * 1024
/** yaml's default; keeps "billion laughs" documents from expanding. */
const MAX_ALIAS_COUNT = 100

export type PathSegment = string | number

export interface ParsedDocument {
  readonly file: string
  /** 0-based index of the document within its file. */
  readonly index: number
  readonly value: unknown
  /** Where the value at `path` was written; the nearest existing ancestor when it is absent. */
  locate(path: readonly PathSegment[], options?: {key?: boolean}): Position
  /** The scalar written at `path`, when there is one (used to explain retyped values). */
  scalarAt(path: readonly PathSegment[]): Scalar | undefined
}

export interface ParsedFile {
  readonly documents: ParsedDocument[]
  readonly diagnostics: Diagnostic[]
}

const YAML_HINTS: Record<string, string> = {
  TAB_AS_INDENT: 'indent with spaces; YAML does not allow tabs for indentation',
  DUPLICATE_KEY: 'remove or rename one of the two keys; YAML keeps only one of them',
  BAD_INDENT: 'check the indentation of this line against its parent',
  MISSING_CHAR: 'a bracket or quote is not closed',
  MULTILINE_IMPLICIT_KEY: 'a key must fit on one line; check for a missing ":" or quote',
  BLOCK_AS_IMPLICIT_KEY: 'check for a missing ":" on the previous line',
}

/**
 * YAML 1.2 core semantics for every document. A `%YAML 1.1` directive would
 * otherwise switch the library to the 1.1 schema, where `0443` is octal 291,
 * `on` is true and `22:22` is the sexagesimal 1342. Passing the schema
 * overrides the directive; known tags resolve as they do under 1.2.
 */
const YAML_OPTIONS = {schema: 'core', resolveKnownTags: true, uniqueKeys: true, merge: false} as const

/** Offsets of the `%YAML 1.1` directive lines between `from` and `to` (the directives of one document). */
function yaml11Directives(text: string, from: number, to: number): number[] {
  const offsets: number[] = []
  const directive = /^%YAML[ \t]+1\.1(?=[ \t#\r\n]|$)/gm
  directive.lastIndex = from
  for (let match = directive.exec(text); match && match.index < to; match = directive.exec(text)) {
    offsets.push(match.index)
  }
  return offsets
}

/** @param size the file's real size, when `bytes` was cut short because the file is too large */
export function parseYamlFile(file: string, bytes: Uint8Array, size = bytes.byteLength): ParsedFile {
  const at = (line: number, column: number) => ({file, line, column})
  const fail = (code: string, message: string, hint: string, line = 1, column = 1): ParsedFile => ({
    documents: [],
    diagnostics: [{severity: 'error', code, message, hint, ...at(line, column)}],
  })

  if (size > MAX_FILE_BYTES) {
    return fail(
      'file_too_large',
      // Just over the cap both round to 16.0 MiB, so then the exact sizes tell them apart.
      formatMiB(size) === formatMiB(MAX_FILE_BYTES)
        ? `file is ${size} bytes; nexus reads declaration files up to ${formatMiB(MAX_FILE_BYTES)} (${MAX_FILE_BYTES} bytes)`
        : `file is ${formatMiB(size)}; nexus reads declaration files up to ${formatMiB(MAX_FILE_BYTES)}`,
      'split the declarations into several files (any layout under the repo works)',
    )
  }
  if (bytes[0] === 0xfe || bytes[0] === 0xff) {
    return fail('not_utf8', 'file is UTF-16 encoded', 'save it as UTF-8')
  }
  const nul = bytes.indexOf(0)
  if (nul !== -1) {
    const {line, column} = lineColumnOfByte(bytes, nul)
    return fail(
      'binary_file',
      'file contains NUL bytes: it looks binary, not YAML',
      'remove it or rename it so it does not end in .yaml/.yml',
      line,
      column,
    )
  }
  const invalid = firstInvalidUtf8(bytes)
  if (invalid !== -1) {
    const {line, column} = lineColumnOfByte(bytes, invalid)
    return fail('not_utf8', 'file is not valid UTF-8', 'save it as UTF-8', line, column)
  }

  let text = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('utf8')
  if (text.charCodeAt(0) === 0xfeff) text = text.slice(1)

  const lineCounter = new LineCounter()
  const docs = parseAllDocuments(text, {lineCounter, prettyErrors: false, ...YAML_OPTIONS})
  const diagnostics: Diagnostic[] = []
  const position = (offset: number): Position => {
    const {line, col} = lineCounter.linePos(offset)
    return {file, line, column: col}
  }

  const documents: ParsedDocument[] = []
  const list = Array.isArray(docs) ? docs : [docs]
  let previousEnd = 0
  for (const [index, doc] of list.entries()) {
    for (const offset of yaml11Directives(text, previousEnd, doc.range[0])) {
      diagnostics.push({
        severity: 'warning',
        code: 'yaml_version',
        message: '%YAML 1.1 is ignored: nexus reads every file as YAML 1.2',
        hint: 'remove the directive; in YAML 1.2 on/yes/no are text, 0443 is 443 and 22:22 is text, so check such values',
        ...position(offset),
      })
    }
    previousEnd = doc.range[2]
    for (const error of doc.errors) {
      const hint = YAML_HINTS[error.code]
      diagnostics.push({
        severity: 'error',
        code: 'yaml_syntax',
        message: firstLine(error.message),
        ...(hint ? {hint} : {hint: 'fix the YAML syntax at this position'}),
        ...position(error.pos[0]),
      })
    }
    if (doc.errors.length > 0) continue
    // An empty document (e.g. a trailing `---`): yaml gives it an empty null scalar, not null contents.
    if (
      doc.contents === null ||
      (isScalar(doc.contents) && doc.contents.value === null && doc.contents.source === '')
    ) {
      continue
    }

    let value: unknown
    try {
      value = doc.toJS({maxAliasCount: MAX_ALIAS_COUNT})
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error)
      diagnostics.push({
        severity: 'error',
        code: 'yaml_aliases',
        message: /alias/i.test(message) ? `too many alias expansions (${message})` : message,
        hint: 'write the values out instead of expanding anchors (*alias) this many times',
        ...position(doc.contents.range?.[0] ?? 0),
      })
      continue
    }
    documents.push(locatableDocument(file, index, value, doc, position))
  }
  return {documents, diagnostics}
}

/**
 * What a parse yields that is worth keeping between runs: the documents'
 * values and the file's problems, without the syntax trees. Bump
 * PARSE_FORMAT whenever parsing gives different values or problems.
 */
export interface ParseSummary {
  readonly documents: readonly {readonly index: number; readonly value: unknown}[]
  readonly diagnostics: readonly Diagnostic[]
}

export const PARSE_FORMAT = 'nexus-yaml-2'

export function summarizeParse(parsed: ParsedFile): ParseSummary {
  return {documents: parsed.documents.map(({index, value}) => ({index, value})), diagnostics: parsed.diagnostics}
}

/**
 * A parse rebuilt from a summary of the same bytes. Positions are only
 * needed to report a problem, so the file is parsed again the first time one
 * is asked for, not before.
 */
export function restoreParse(file: string, bytes: Uint8Array, summary: ParseSummary): ParsedFile {
  let full: ParsedFile | undefined
  const original = (index: number) => (full ??= parseYamlFile(file, bytes)).documents.find((d) => d.index === index)
  return {
    documents: summary.documents.map(({index, value}) => ({
      file,
      index,
      value,
      locate: (path, options) => original(index)?.locate(path, options) ?? {file, line: 1, column: 1},
      scalarAt: (path) => original(index)?.scalarAt(path),
    })),
    diagnostics: [...summary.diagnostics],
  }
}

function locatableDocument(
  file: string,
  index: number,
  value: unknown,
  doc: Document.Parsed,
  position: (offset: number) => Position,
): ParsedDocument {
  const walk = (path: readonly PathSegment[]): {node: YamlNode | null; key: YamlNode | null; complete: boolean} => {
    let node = doc.contents as YamlNode | null
    let key: YamlNode | null = null
    for (const segment of path) {
      if (isMap(node)) {
        const pair = node.items.find((item) => isPair(item) && isScalar(item.key) && item.key.value === segment)
        if (!pair) return {node, key, complete: false}
        key = pair.key as YamlNode
        node = (pair.value as YamlNode | null) ?? key
      } else if (isSeq(node) && typeof segment === 'number') {
        const item = node.items[segment] as YamlNode | undefined
        if (!item) return {node, key, complete: false}
        key = null
        node = item
      } else {
        return {node, key, complete: false}
      }
    }
    return {node, key, complete: true}
  }
  return {
    file,
    index,
    value,
    locate(path, options) {
      const {node, key} = walk(path)
      const target = options?.key && key ? key : node
      return position(target?.range?.[0] ?? 0)
    },
    scalarAt(path) {
      const {node, complete} = walk(path)
      return complete && isScalar(node) ? node : undefined
    },
  }
}

function firstLine(message: string): string {
  return (message.split('\n')[0] ?? message).replace(/ at line \d+, column \d+:?$/, '')
}

function formatMiB(bytes: number): string {
  return `${(bytes / 1024 / 1024).toFixed(1)} MiB`
}

function lineColumnOfByte(bytes: Uint8Array, offset: number): {line: number; column: number} {
  let line = 1
  let lineStart = 0
  for (let i = 0; i < offset; i++) {
    if (bytes[i] === 0x0a) {
      line++
      lineStart = i + 1
    }
  }
  return {line, column: offset - lineStart + 1}
}

/** Byte offset of the first invalid UTF-8 sequence, or -1. */
export function firstInvalidUtf8(bytes: Uint8Array): number {
  let i = 0
  while (i < bytes.length) {
    const b = bytes[i] ?? 0
    if (b < 0x80) {
      i++
      continue
    }
    let need: number
    let min: number
    if (b >= 0xc2 && b <= 0xdf) {
      need = 1
      min = 0x80
    } else if (b >= 0xe0 && b <= 0xef) {
      need = 2
      min = 0x800
    } else if (b >= 0xf0 && b <= 0xf4) {
      need = 3
      min = 0x10000
    } else {
      return i
    }
    let codePoint = b & (0x3f >> need)
    for (let k = 1; k <= need; k++) {
      const c = bytes[i + k]
      if (c === undefined || (c & 0xc0) !== 0x80) return i
      codePoint = (codePoint << 6) | (c & 0x3f)
    }
    if (codePoint < min || codePoint > 0x10ffff || (codePoint >= 0xd800 && codePoint <= 0xdfff)) return i
    i += need + 1
  }
  return -1
}
