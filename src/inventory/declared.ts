import {type DeclarationByKind, KINDS, type Kind} from '../model/declarations.js'
import type {Diagnostic, Severity} from './diagnostics.js'
import type {ParsedDocument, PathSegment} from './parse-yaml.js'

/** A document that passed its kind's schema, still tied to where it was written. */
export interface Declared<K extends Kind = Kind> {
  readonly kind: K
  readonly name: string
  readonly spec: DeclarationByKind[K]
  readonly doc: ParsedDocument
}

export type DeclarationSet = {[K in Kind]: Declared<K>[]} & {
  /**
   * Names of documents that failed their schema: they exist, but could not be
   * checked further. References to them are not reported again as unresolved.
   */
  readonly invalid: {[K in Kind]: Set<string>}
}

export function emptyDeclarationSet(): DeclarationSet {
  const invalid = {} as {[K in Kind]: Set<string>}
  for (const kind of KINDS) invalid[kind] = new Set()
  return {Project: [], Tariff: [], User: [], Peer: [], Node: [], Rule: [], Service: [], Group: [], invalid}
}

export interface Problem {
  readonly path: readonly PathSegment[]
  readonly code: string
  readonly message: string
  /**
   * What to do about it. Required, so that every check decides: null only
   * when the message itself already says what to write instead.
   */
  readonly hint: string | null
  readonly severity?: Severity
  /** Point at the key rather than its value (e.g. an unknown field). */
  readonly atKey?: boolean
}

/** Collects diagnostics about declarations, positioned in their source. */
export class Reporter {
  readonly diagnostics: Diagnostic[] = []

  report(target: Declared, problem: Problem): void {
    this.diagnostics.push({
      severity: problem.severity ?? 'error',
      code: problem.code,
      message: `${target.kind} ${target.name}: ${problem.message}`,
      ...(problem.hint ? {hint: problem.hint} : {}),
      kind: target.kind,
      name: target.name,
      ...target.doc.locate(problem.path, problem.atKey ? {key: true} : undefined),
    })
  }

  get errorCount(): number {
    return this.diagnostics.filter((d) => d.severity === 'error').length
  }
}
