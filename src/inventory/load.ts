/**
 * The inventory: the repo's declaration files -> the validated Desired model
 * and every problem found on the way, all at once and each with a position.
 * Pure: it receives file contents and reads nothing itself.
 */
import {API_VERSION, KINDS, type Kind, SCHEMAS} from '../model/declarations.js'
import type {Desired} from '../model/desired.js'
import {closest} from '../model/names.js'
import {checkReloadCommands} from './checks/commands.js'
import {createCheckContext} from './checks/context.js'
import {checkInterfaces, checkPeers, checkPorts} from './checks/network.js'
import {checkDeviceQuota, checkPeerAccess, checkRules, checkServices, checkTariffs} from './checks/policy.js'
import {checkReferences, checkUsers} from './checks/references.js'
import {checkXray} from './checks/xray.js'
import {type DeclarationSet, type Declared, emptyDeclarationSet, Reporter} from './declared.js'
import {compareDiagnostics, type Diagnostic} from './diagnostics.js'
import {normalize} from './normalize.js'
import {type ParsedDocument, type ParsedFile, parseYamlFile} from './parse-yaml.js'
import {schemaDiagnostics} from './schema-issues.js'

export interface SourceFile {
  /** Path relative to the repo root, with forward slashes. */
  readonly path: string
  readonly bytes: Uint8Array
  /** The real size, when `bytes` holds only the start of an oversized file. */
  readonly size?: number
}

export interface LoadOptions {
  /** Public keys of gateway interfaces known from state, by `node/iface`. */
  readonly serverKeys?: ReadonlyMap<string, string>
  /** Parses one file; a caller may answer from a cache of earlier parses. */
  readonly parse?: (file: SourceFile) => ParsedFile
}

const parseSource = (file: SourceFile): ParsedFile => parseYamlFile(file.path, file.bytes, file.size)

export interface Inventory {
  /** Present only when there are no errors. */
  readonly desired?: Desired
  readonly declarations: DeclarationSet
  readonly diagnostics: readonly Diagnostic[]
  readonly fileCount: number
  readonly documentCount: number
}

const CHECKS = [
  checkReferences,
  checkUsers,
  checkInterfaces,
  checkPorts,
  checkPeers,
  checkXray,
  checkTariffs,
  checkDeviceQuota,
  checkPeerAccess,
  checkRules,
  checkServices,
  checkReloadCommands,
]

export function loadInventory(files: readonly SourceFile[], options: LoadOptions = {}): Inventory {
  const diagnostics: Diagnostic[] = []
  const set = emptyDeclarationSet()
  let documentCount = 0

  for (const file of files) {
    const parsed = (options.parse ?? parseSource)(file)
    diagnostics.push(...parsed.diagnostics)
    for (const doc of parsed.documents) {
      documentCount++
      classify(doc, set, diagnostics)
    }
  }

  const reporter = new Reporter()
  reportDuplicates(set, reporter)
  checkProject(set, files, reporter, diagnostics)
  const desired = normalize(set, reporter)
  const context = createCheckContext(set, desired, reporter, options.serverKeys ?? new Map())
  for (const check of CHECKS) check(context)
  diagnostics.push(...reporter.diagnostics)
  diagnostics.sort(compareDiagnostics)

  const valid = !diagnostics.some((d) => d.severity === 'error')
  return {
    ...(valid ? {desired} : {}),
    declarations: set,
    diagnostics,
    fileCount: files.length,
    documentCount,
  }
}

function classify(doc: ParsedDocument, set: DeclarationSet, diagnostics: Diagnostic[]): void {
  const value = doc.value
  const error = (code: string, message: string, hint: string, path: (string | number)[] = []) =>
    diagnostics.push({severity: 'error', code, message, hint, ...doc.locate(path)})

  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    error(
      'not_a_declaration',
      'a declaration must be a mapping',
      'start the document with `apiVersion: nexus/v1` and `kind: …`',
    )
    return
  }
  const record = value as Record<string, unknown>
  if (!('apiVersion' in record) && !('kind' in record)) {
    diagnostics.push({
      severity: 'warning',
      code: 'not_a_declaration',
      message: 'document has no apiVersion or kind, so it is not a nexus declaration; ignored',
      hint: 'add `apiVersion: nexus/v1` and `kind: …`, or move the file out of the repo',
      ...doc.locate([]),
    })
    return
  }
  if (record.apiVersion !== API_VERSION) {
    error(
      'unsupported_api_version',
      record.apiVersion === undefined
        ? 'apiVersion is missing'
        : `apiVersion ${JSON.stringify(record.apiVersion)} is not supported`,
      `write apiVersion: ${API_VERSION}`,
      record.apiVersion === undefined ? [] : ['apiVersion'],
    )
    return
  }
  const kind = record.kind
  if (typeof kind !== 'string' || !(KINDS as readonly string[]).includes(kind)) {
    const suggestion = typeof kind === 'string' ? closest(kind, KINDS) : undefined
    error(
      'unknown_kind',
      kind === undefined ? 'kind is missing' : `kind ${JSON.stringify(kind)} is not known`,
      suggestion ? `did you mean ${suggestion}?` : `kind is one of ${KINDS.join(', ')}`,
      kind === undefined ? [] : ['kind'],
    )
    return
  }
  const typedKind = kind as Kind
  const name = typeof record.name === 'string' ? record.name : undefined
  const schema = SCHEMAS[typedKind]
  const result = schema.safeParse(value)
  if (!result.success) {
    if (name !== undefined) set.invalid[typedKind].add(name)
    diagnostics.push(...schemaDiagnostics(schema, result.error.issues, doc, typedKind, name))
    return
  }
  const declared = {kind: typedKind, name: result.data.name, spec: result.data, doc} as Declared
  ;(set[typedKind] as Declared[]).push(declared)
}

function reportDuplicates(set: DeclarationSet, reporter: Reporter): void {
  for (const kind of KINDS) {
    const seen = new Map<string, Declared>()
    const kept: Declared[] = []
    for (const declared of set[kind] as Declared[]) {
      const first = seen.get(declared.name)
      if (first) {
        const where = first.doc.locate(['name'])
        reporter.report(declared, {
          path: ['name'],
          code: 'duplicate_name',
          message: `is declared twice (first at ${where.file}:${where.line}:${where.column})`,
          hint: `${kind} names must be unique; rename or remove one`,
        })
        continue
      }
      seen.set(declared.name, declared)
      kept.push(declared)
    }
    ;(set as Record<Kind, Declared[]>)[kind] = kept
  }
}

function checkProject(
  set: DeclarationSet,
  files: readonly SourceFile[],
  reporter: Reporter,
  diagnostics: Diagnostic[],
): void {
  const [project] = set.Project
  if (!project) {
    const hasRootFile = files.some((f) => f.path === 'nexus.yaml')
    if (!diagnostics.some((d) => d.file === 'nexus.yaml' && d.severity === 'error')) {
      diagnostics.push({
        severity: 'error',
        code: 'missing_project',
        message: 'the repo has no Project declaration',
        hint: hasRootFile
          ? 'add `apiVersion: nexus/v1`, `kind: Project` and `name: …` to nexus.yaml'
          : 'create nexus.yaml at the repo root (nexus init writes one)',
        file: 'nexus.yaml',
        line: 1,
        column: 1,
      })
    }
    return
  }
  for (const extra of set.Project.slice(1)) {
    const where = project.doc.locate(['name'])
    reporter.report(extra, {
      path: ['kind'],
      code: 'duplicate_project',
      message: `a repo has one Project, and ${project.name} is already declared at ${where.file}:${where.line}:${where.column}`,
      hint: 'remove one of them',
    })
  }
  if (project.doc.file !== 'nexus.yaml') {
    reporter.report(project, {
      path: ['kind'],
      code: 'project_location',
      severity: 'warning',
      message: 'the Project is expected in nexus.yaml at the repo root',
      hint: `move the Project document from ${project.doc.file} to nexus.yaml`,
    })
  }
}
