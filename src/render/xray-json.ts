/**
 * The text of an xray config: `JSON.stringify(config, null, 2)`, except that
 * inbound `clients` and `routing.rules` hold one compact object per line.
 * Those two lists grow with the fleet (a client per user, a rule per ACL
 * with its user list), and one line each keeps a large node's file a few
 * megabytes smaller, quicker to write, hash and diff, and its diffs to one
 * line per client or rule.
 */
type Json = null | boolean | number | string | readonly Json[] | {readonly [key: string]: Json | undefined}

/**
 * The pieces are collected in one list and joined once: a large node's
 * config is megabytes, and joining at every level of nesting copied it
 * once per level.
 */
export function formatXrayJson(value: unknown): string {
  const out: string[] = []
  write(out, value as Json, '', undefined, undefined)
  out.push('\n')
  return out.join('')
}

/**
 * One-line lists already written, by identity: renderers hand the same
 * (never mutated) list to every node that shares it, such as the routing
 * rules of nodes with the same users, which is then serialised once.
 */
const oneLineCache = new WeakMap<readonly Json[], {readonly indent: string; readonly text: string}>()

function write(
  out: string[],
  value: Json,
  indent: string,
  key: string | undefined,
  parentKey: string | undefined,
): void {
  if (value === null || typeof value !== 'object') {
    out.push(JSON.stringify(value))
    return
  }
  const inner = `${indent}  `
  if (Array.isArray(value)) {
    if (value.length === 0) {
      out.push('[]')
      return
    }
    if (key === 'clients' || (key === 'rules' && parentKey === 'routing')) {
      out.push(oneLineItems(value, indent, inner))
      return
    }
    out.push('[\n')
    value.forEach((item: Json | undefined, i) => {
      out.push(i === 0 ? inner : `,\n${inner}`)
      write(out, item === undefined ? null : item, inner, undefined, key)
    })
    out.push(`\n${indent}]`)
    return
  }
  const entries = Object.entries(value).filter((entry): entry is [string, Json] => entry[1] !== undefined)
  if (entries.length === 0) {
    out.push('{}')
    return
  }
  out.push('{\n')
  entries.forEach(([name, item], i) => {
    out.push(`${i === 0 ? '' : ',\n'}${inner}${JSON.stringify(name)}: `)
    write(out, item, inner, name, key)
  })
  out.push(`\n${indent}}`)
}

function oneLineItems(value: readonly Json[], indent: string, inner: string): string {
  const cached = oneLineCache.get(value)
  if (cached?.indent === indent) return cached.text
  const text = `[\n${inner}${value.map((item) => JSON.stringify(item)).join(`,\n${inner}`)}\n${indent}]`
  oneLineCache.set(value, {indent, text})
  return text
}
