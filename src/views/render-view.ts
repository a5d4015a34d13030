/** The result of `nexus render`: one model, a human summary and the JSON document. */
import {createHash} from 'node:crypto'

import type {ChalkInstance} from 'chalk'

import {PREVIEW_NOTICE} from '../render/header.js'
import type {RenderedFile} from '../render/types.js'

export const RENDER_FORMAT_VERSION = '1'

export interface RenderedFileJson {
  path: string
  kind: string
  node: string
  /** Octal, e.g. "0600". */
  mode: string
  bytes: number
  sha256: string
}

export interface RenderResult {
  format_version: string
  preview: boolean
  /** Where the tree was written; null when it was only summarised. */
  out: string | null
  files: RenderedFileJson[]
}

export function renderResult(
  files: readonly RenderedFileJson[],
  preview: boolean,
  out: string | undefined,
): RenderResult {
  return {
    format_version: RENDER_FORMAT_VERSION,
    preview,
    out: out ?? null,
    files: [...files].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0)),
  }
}

/** What the result says of a file: everything but its content. */
export function describeFile(file: RenderedFile): RenderedFileJson {
  return {
    path: file.path,
    kind: file.kind,
    node: file.node,
    mode: `0${file.mode.toString(8)}`,
    bytes: Buffer.byteLength(file.content),
    sha256: createHash('sha256').update(file.content).digest('hex'),
  }
}

/** Passes the files through, describing each into `into` on the way, so none has to be kept. */
export function* describing(files: Iterable<RenderedFile>, into: RenderedFileJson[]): Generator<RenderedFile> {
  for (const file of files) {
    into.push(describeFile(file))
    yield file
  }
}

export function formatRenderHuman(result: RenderResult, s: ChalkInstance): string {
  const lines: string[] = []
  if (result.preview) lines.push(s.yellow(`! ${PREVIEW_NOTICE}`), '')
  const byNode = new Map<string, RenderedFileJson[]>()
  const clients: RenderedFileJson[] = []
  for (const file of result.files) {
    if (file.kind === 'client') clients.push(file)
    else byNode.set(file.node, [...(byNode.get(file.node) ?? []), file])
  }
  const width = Math.max(20, ...result.files.map((f) => f.path.length))
  const row = (file: RenderedFileJson) =>
    `  ${file.path.padEnd(width)}  ${formatBytes(file.bytes).padStart(9)}  ${s.dim(file.mode)}`
  for (const [node, files] of byNode) {
    lines.push(s.bold(`node ${node}`), ...files.map(row))
  }
  if (clients.length > 0) lines.push(s.bold(`clients (${clients.length})`), ...clients.map(row))
  lines.push('')
  const count = `${result.files.length} file${result.files.length === 1 ? '' : 's'}`
  lines.push(
    result.out === null ? `${count}; write them with --out DIR` : `${s.green('✔')} wrote ${count} to ${result.out}`,
  )
  return `${lines.join('\n')}\n`
}

function formatBytes(bytes: number): string {
  return bytes < 1024 ? `${bytes} B` : `${(bytes / 1024).toFixed(1)} KiB`
}
