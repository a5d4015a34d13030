/**
 * The text of an xray config: `JSON.stringify(config, null, 2)`, except that
 * inbound `clients` and `routing.rules` hold one compact object per line.
 * Those two lists grow with the fleet (a client per user, a rule per ACL
 * with its user list), and one line each keeps a large node's file a few
 * megabytes smaller, quicker to write, hash and diff, and its diffs to one
 * line per client or rule.
 */
type Json = null | boolean | number | string | readonly Json[] | {readonly [key: string]: Json | undefined}

export function formatXrayJson(value: unknown): string {
  return `${write(value as Json, '', undefined, undefined)}\n`
}

function write(value: Json, indent: string, key: string | undefined, parentKey: string | undefined): string {
  if (value === null || typeof value !== 'object') return JSON.stringify(value)
  const inner = `${indent}  `
  if (Array.isArray(value)) {
    if (value.length === 0) return '[]'
    const oneLine = key === 'clients' || (key === 'rules' && parentKey === 'routing')
    const items = value.map((item: Json) =>
      oneLine ? JSON.stringify(item) : write(item === undefined ? null : item, inner, undefined, key),
    )
    return `[\n${items.map((item) => `${inner}${item}`).join(',\n')}\n${indent}]`
  }
  const entries = Object.entries(value).filter((entry): entry is [string, Json] => entry[1] !== undefined)
  if (entries.length === 0) return '{}'
  const lines = entries.map(([name, item]) => `${inner}${JSON.stringify(name)}: ${write(item, inner, name, key)}`)
  return `{\n${lines.join(',\n')}\n${indent}}`
}
