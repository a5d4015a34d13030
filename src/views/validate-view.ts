/**
 * The result of `nexus validate`, and its three presentations: human text,
 * GitHub workflow annotations, and the JSON document (the returned value).
 */
import {join} from 'node:path/posix'

import type {ChalkInstance} from 'chalk'

import {countBySeverity, type Diagnostic} from '../inventory/diagnostics.js'
import type {Inventory} from '../inventory/load.js'

export interface DiagnosticJson {
  severity: 'error' | 'warning'
  code: string
  message: string
  hint: string | null
  file: string
  line: number
  column: number
  kind: string | null
  name: string | null
}

export interface ValidateResult {
  valid: boolean
  errorCount: number
  warningCount: number
  fileCount: number
  documentCount: number
  diagnostics: DiagnosticJson[]
}

/** @param repo the repo path as the user gave it, so file paths work from their shell */
export function validateResult(inventory: Inventory, repo: string): ValidateResult {
  const {errors, warnings} = countBySeverity(inventory.diagnostics)
  return {
    valid: errors === 0,
    errorCount: errors,
    warningCount: warnings,
    fileCount: inventory.fileCount,
    documentCount: inventory.documentCount,
    diagnostics: inventory.diagnostics.map((d) => diagnosticJson(d, repo)),
  }
}

export function diagnosticJson(d: Diagnostic, repo: string): DiagnosticJson {
  return {
    severity: d.severity,
    code: d.code,
    message: d.message,
    hint: d.hint ?? null,
    file: displayPath(repo, d.file),
    line: d.line,
    column: d.column,
    kind: d.kind ?? null,
    name: d.name ?? null,
  }
}

export function displayPath(repo: string, file: string): string {
  const base = repo.replaceAll('\\', '/')
  return base === '.' || base === '' ? file : join(base, file)
}

export function formatDiagnostics(diagnostics: readonly DiagnosticJson[], s: ChalkInstance): string {
  return diagnostics
    .map((d) => {
      const severity = d.severity === 'error' ? s.red('error') : s.yellow('warning')
      const head = `${s.bold(`${d.file}:${d.line}:${d.column}`)}  ${severity}  ${d.message}  ${s.dim(`[${d.code}]`)}`
      return d.hint ? `${head}\n    ${s.cyan('→')} ${d.hint}` : head
    })
    .join('\n')
}

export function formatValidateHuman(result: ValidateResult, s: ChalkInstance): string {
  const lines: string[] = []
  if (result.diagnostics.length > 0) lines.push(formatDiagnostics(result.diagnostics, s), '')
  const scope = `${plural(result.fileCount, 'file')}, ${plural(result.documentCount, 'declaration')}`
  if (result.valid) {
    const warnings = result.warningCount > 0 ? ` with ${plural(result.warningCount, 'warning')}` : ''
    lines.push(`${s.green('✔')} valid${warnings} (${scope})`)
  } else {
    const warnings = result.warningCount > 0 ? `, ${plural(result.warningCount, 'warning')}` : ''
    lines.push(`${s.red('✖')} ${plural(result.errorCount, 'error')}${warnings} (${scope})`)
  }
  return `${lines.join('\n')}\n`
}

/** `::error file=…,line=…,col=…,title=…::message` (GitHub Actions workflow commands). */
export function formatGithubAnnotations(result: ValidateResult): string {
  const lines = result.diagnostics.map((d) => {
    const properties = `file=${escapeProperty(d.file)},line=${d.line},col=${d.column},title=${escapeProperty(`nexus ${d.code}`)}`
    const message = d.hint ? `${d.message} (${d.hint})` : d.message
    return `::${d.severity === 'error' ? 'error' : 'warning'} ${properties}::${escapeData(message)}`
  })
  return lines.length > 0 ? `${lines.join('\n')}\n` : ''
}

function escapeData(text: string): string {
  return text.replaceAll('%', '%25').replaceAll('\r', '%0D').replaceAll('\n', '%0A')
}

function escapeProperty(text: string): string {
  return escapeData(text).replaceAll(':', '%3A').replaceAll(',', '%2C')
}

function plural(count: number, word: string): string {
  return `${count} ${word}${count === 1 ? '' : 's'}`
}
