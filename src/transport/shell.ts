/**
 * Building bash commands safely. Every command Nexus sends to a node is a
 * bash script made of fixed text plus values quoted here; nothing else is
 * ever interpolated. Values are validated names and paths anyway
 * (model/names.ts), but quoting does not rely on that.
 */

/** Words bash reads literally without quotes (no globbing, expansion or splitting). */
const SAFE_WORD = /^[A-Za-z0-9_@%+=:,./-]+$/

/**
 * Quotes a value as one bash word. Safe words are returned as they are so
 * echoed commands stay readable; everything else is single-quoted.
 */
export function shellQuote(value: string | number): string {
  const text = String(value)
  if (text.includes('\0')) throw new Error('a shell argument cannot contain a NUL byte')
  if (SAFE_WORD.test(text)) return text
  return `'${text.replaceAll("'", `'\\''`)}'`
}

/**
 * A tagged template that quotes every interpolated value:
 * sh`wg show ${iface} dump`. Arrays become several quoted words. Fixed text
 * is taken as written, so only put bash syntax there.
 */
export function sh(
  strings: TemplateStringsArray,
  ...values: readonly (string | number | readonly (string | number)[])[]
) {
  let out = strings[0] ?? ''
  values.forEach((value, i) => {
    out += Array.isArray(value) ? value.map(shellQuote).join(' ') : shellQuote(value as string | number)
    out += strings[i + 1] ?? ''
  })
  return out
}
