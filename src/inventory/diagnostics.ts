/**
 * Problems found in the declarations, as values: validation never throws on
 * a user mistake. Every diagnostic points at a file, line and column and says
 * what to do.
 */
import type {Kind} from '../model/declarations.js'

export type Severity = 'error' | 'warning'

export interface Position {
  readonly file: string
  /** 1-based */
  readonly line: number
  /** 1-based */
  readonly column: number
}

export interface Diagnostic extends Position {
  readonly severity: Severity
  /** Stable snake_case identifier of the problem, e.g. `unresolved_reference`. */
  readonly code: string
  readonly message: string
  /** What to do about it. */
  readonly hint?: string
  readonly kind?: Kind
  readonly name?: string
}

export function compareDiagnostics(a: Diagnostic, b: Diagnostic): number {
  if (a.file !== b.file) return a.file < b.file ? -1 : 1
  if (a.line !== b.line) return a.line - b.line
  if (a.column !== b.column) return a.column - b.column
  return a.message < b.message ? -1 : a.message > b.message ? 1 : 0
}

export function countBySeverity(diagnostics: readonly Diagnostic[]): {errors: number; warnings: number} {
  let errors = 0
  for (const d of diagnostics) if (d.severity === 'error') errors++
  return {errors, warnings: diagnostics.length - errors}
}
