/**
 * zod issues -> diagnostics a person can act on: positioned at the offending
 * key or value, phrased as "field: what is wrong", with a hint such as the
 * closest known field name or the quoting a retyped YAML value needs.
 */
import {type core, z} from 'zod'

import type {Kind} from '../model/declarations.js'
import {closest, NAME_PATTERN} from '../model/names.js'
import type {Diagnostic} from './diagnostics.js'
import type {ParsedDocument, PathSegment} from './parse-yaml.js'

type Issue = core.$ZodIssue

export function schemaDiagnostics(
  schema: z.ZodType,
  issues: readonly Issue[],
  doc: ParsedDocument,
  kind: Kind,
  name: string | undefined,
): Diagnostic[] {
  const out: Diagnostic[] = []
  // An invalid name may hold a newline or escape codes: quote it rather than print it raw.
  const subject = name ? `${kind} ${NAME_PATTERN.test(name) ? name : JSON.stringify(name)}: ` : `${kind}: `
  for (const issue of flattenUnions(issues, [])) {
    const path = issue.path as PathSegment[]
    const base = {severity: 'error' as const, kind, ...(name ? {name} : {})}
    if (issue.code === 'unrecognized_keys') {
      const known = objectKeys(schemaAt(schema, path))
      for (const key of issue.keys) {
        const suggestion = closest(key, known)
        out.push({
          ...base,
          code: 'unknown_field',
          message: `${subject}${fieldLabel([...path, key])}: unknown field`,
          hint: suggestion
            ? `did you mean "${suggestion}"?`
            : known.length > 0
              ? `known fields here: ${known.join(', ')}`
              : 'remove it',
          ...doc.locate([...path, key], {key: true}),
        })
      }
      continue
    }
    if (issue.code === 'invalid_key') {
      // zod says only "Invalid key in record"; the reason is in the nested issue.
      const key = path.at(-1)
      const nested = issue.issues[0]
      const suggestion = typeof key === 'string' && nested ? suggestFormat(nested, key) : undefined
      out.push({
        ...base,
        code: 'invalid_value',
        message: `${subject}${fieldLabel(path)}: invalid key: ${nested?.message ?? issue.message}`,
        hint: suggestion ? `rename the key to "${suggestion}"` : 'rename the key as the message says',
        ...doc.locate(path, {key: true}),
      })
      continue
    }
    const {message, hint} = describeIssue(issue, path, schema, doc, kind)
    out.push({...base, code: 'invalid_value', message: `${subject}${message}`, hint, ...doc.locate(path)})
  }
  return out
}

/** Every schema problem comes with what to do about it. */
function describeIssue(
  issue: Issue,
  path: PathSegment[],
  schema: z.ZodType,
  doc: ParsedDocument,
  kind: Kind,
): {message: string; hint: string} {
  const label = fieldLabel(path)
  const value = valueAt(doc.value, path)
  if (issue.code === 'invalid_type' && value === undefined) {
    return {message: `${label}: required field is missing`, hint: `add ${String(path.at(-1))}`}
  }
  if (issue.code === 'invalid_type' && issue.expected === 'string') {
    const scalar = doc.scalarAt(path)
    if (
      scalar &&
      scalar.type === 'PLAIN' &&
      typeof scalar.source === 'string' &&
      typeof scalar.value !== 'string' &&
      scalar.value !== null // an empty or null value is missing, not retyped text
    ) {
      // YAML 1.2 reads `0123` as 123 and `0e12` as 0: the text the user wrote is gone unless quoted.
      return {
        message: `${label}: YAML read ${scalar.source} as the ${describeType(scalar.value)} ${JSON.stringify(scalar.value)}, not the text "${scalar.source}"`,
        hint: `quote it: "${scalar.source}"`,
      }
    }
  }
  if (issue.code === 'invalid_value') {
    const options = issue.values.map((v) => JSON.stringify(v))
    const suggestion = typeof value === 'string' ? closest(value, issue.values.map(String)) : undefined
    return {
      message: `${label}: ${JSON.stringify(value)} is not allowed; expected ${options.length === 1 ? options[0] : `one of ${options.join(', ')}`}`,
      hint: suggestion
        ? `did you mean "${suggestion}"?`
        : `write ${options.length === 1 ? options[0] : `one of ${options.join(', ')}`}`,
    }
  }
  const docs = `see the ${kind} section of docs/declarations.md for the accepted form`
  if (issue.code === 'invalid_union') {
    const description = schemaAt(schema, path)?.description
    return {
      message: `${label}: ${description ? `expected ${description}` : 'has the wrong shape'}`,
      hint: description ? `write it as ${lowerFirst(description)}` : docs,
    }
  }
  if (issue.code === 'invalid_type') {
    return {
      message: `${label}: expected ${issue.expected}, got ${describeType(value)}`,
      hint: value === null ? 'fill in a value' : typeHint(issue.expected),
    }
  }
  if (issue.code === 'too_small' || issue.code === 'too_big') {
    return {message: `${label}: ${issue.message}`, hint: boundHint(issue)}
  }
  const suggestion = typeof value === 'string' ? suggestFormat(issue, value) : undefined
  if (suggestion) return {message: `${label}: ${issue.message}`, hint: `did you mean "${suggestion}"?`}
  if (issue.code === 'invalid_format' && issue.format === 'email') {
    return {message: `${label}: ${issue.message}`, hint: 'write an address like alice@example.com'}
  }
  return {message: `${label}: ${issue.message}`, hint: docs}
}

function lowerFirst(text: string): string {
  return text.charAt(0).toLowerCase() + text.slice(1)
}

function typeHint(expected: string): string {
  switch (expected) {
    case 'string':
      return 'write text here, in quotes if YAML would read it as a number or boolean'
    case 'number':
    case 'int':
      return 'write a number, without quotes'
    case 'boolean':
      return 'write true or false, without quotes'
    case 'array':
      return 'write a list: [a, b], or one "- item" per line'
    case 'object':
      return 'write a mapping: "key: value" lines indented under the field'
    default:
      return `write a value of type ${expected}`
  }
}

function boundHint(issue: core.$ZodIssueTooSmall | core.$ZodIssueTooBig): string {
  const small = issue.code === 'too_small'
  const bound = small ? issue.minimum : issue.maximum
  const inclusive = issue.inclusive !== false
  switch (issue.origin) {
    case 'array':
    case 'set':
      return small ? `list at least ${bound} item(s)` : `list at most ${bound} item(s)`
    case 'string':
      return small ? `write at least ${bound} character(s)` : `write at most ${bound} characters`
    default:
      return small
        ? `use a number ${inclusive ? 'of at least' : 'greater than'} ${bound}`
        : `use a number ${inclusive ? 'of at most' : 'less than'} ${bound}`
  }
}

/**
 * For a name that fails its pattern (a DNS-label name, an interface name, a
 * tag, a label), the nearest one that passes: lower-cased, runs of other
 * characters turned into "-", trimmed to a length the pattern allows. Only
 * for patterns without dots (names, not hostnames or paths), and never by
 * dropping what the value starts with. Undefined when there is none.
 */
function suggestFormat(issue: Issue, value: string): string | undefined {
  if (issue.code !== 'invalid_format' || issue.format !== 'regex' || !('pattern' in issue)) return undefined
  // zod keeps the pattern as RegExp#toString(): "/source/flags".
  const parts = /^\/(.*)\/([a-z]*)$/s.exec(String(issue.pattern))
  if (!parts) return undefined
  const pattern = new RegExp(parts[1] ?? '', parts[2])
  const lower = value.toLowerCase()
  if (lower !== value && pattern.test(lower)) return lower
  if (pattern.test('a.b') || !/^[a-z]/.test(lower)) return undefined
  const base = lower.replace(/[^a-z0-9]+/g, '-')
  for (const length of [63, 32, 15]) {
    const candidate = base.slice(0, length).replace(/-+$/, '')
    if (candidate !== value && pattern.test(candidate)) return candidate
  }
  return undefined
}

/**
 * A union failure is clearer as the failure of the one branch whose shape
 * matched (e.g. a list of addresses with one bad entry), when there is one.
 */
function flattenUnions(issues: readonly Issue[], prefix: PathSegment[]): Issue[] {
  const out: Issue[] = []
  for (const issue of issues) {
    const path = [...prefix, ...(issue.path as PathSegment[])]
    if (issue.code === 'invalid_union' && issue.errors.length > 0) {
      const shaped = issue.errors.filter(
        (branch) =>
          !branch.some((i) => i.path.length === 0 && (i.code === 'invalid_type' || i.code === 'invalid_value')),
      )
      if (shaped.length === 1 && shaped[0]) {
        out.push(...flattenUnions(shaped[0], path))
        continue
      }
    }
    out.push({...issue, path} as Issue)
  }
  return out
}

function fieldLabel(path: readonly PathSegment[]): string {
  if (path.length === 0) return 'document'
  return path.reduce<string>((acc, segment) => {
    if (typeof segment === 'number') return `${acc}[${segment}]`
    // A key may hold anything YAML allows, newlines included: quote it unless it is plain.
    const key = /^[A-Za-z0-9_./-]+$/.test(segment) ? segment : JSON.stringify(segment)
    return acc === '' ? key : `${acc}.${key}`
  }, '')
}

function describeType(value: unknown): string {
  if (value === null) return 'null'
  if (Array.isArray(value)) return 'a list'
  if (typeof value === 'object') return 'a mapping'
  return typeof value
}

function valueAt(root: unknown, path: readonly PathSegment[]): unknown {
  let value = root
  for (const segment of path) {
    if (value === null || typeof value !== 'object') return undefined
    value = (value as Record<string | number, unknown>)[segment]
  }
  return value
}

/** The sub-schema at a path, looking through optional/nullable/default wrappers and unions. */
export function schemaAt(schema: z.ZodType | undefined, path: readonly PathSegment[]): z.ZodType | undefined {
  let current = schema
  for (const segment of path) {
    current = unwrap(current)
    if (!current) return undefined
    if (current instanceof z.ZodObject) {
      current = (current.shape as Record<string, z.ZodType>)[String(segment)]
    } else if (current instanceof z.ZodArray) {
      current = current.element as z.ZodType
    } else if (current instanceof z.ZodRecord) {
      current = current.valueType as z.ZodType
    } else if (current instanceof z.ZodUnion) {
      const options = current.options as z.ZodType[]
      current = options
        .map((option) => schemaAt(option, [segment]))
        .find((found): found is z.ZodType => found !== undefined)
    } else {
      return undefined
    }
  }
  return current
}

function unwrap(schema: z.ZodType | undefined): z.ZodType | undefined {
  let current = schema
  while (current instanceof z.ZodOptional || current instanceof z.ZodNullable || current instanceof z.ZodDefault) {
    current = current.unwrap() as z.ZodType
  }
  return current
}

function objectKeys(schema: z.ZodType | undefined): string[] {
  const target = unwrap(schema)
  if (target instanceof z.ZodObject) return Object.keys(target.shape)
  if (target instanceof z.ZodUnion) {
    for (const option of target.options as z.ZodType[]) {
      const keys = objectKeys(option)
      if (keys.length > 0) return keys
    }
  }
  return []
}
