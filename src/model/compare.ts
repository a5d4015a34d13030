/** Code-unit order, never locale order, so sorted output does not depend on the machine's locale. */
export function compareText(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0
}

export function byName<T extends {readonly name: string}>(a: T, b: T): number {
  return compareText(a.name, b.name)
}
