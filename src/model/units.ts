import type {PortRange} from './desired.js'

const SIZE_UNITS: Record<string, number> = {
  B: 1,
  KB: 1e3,
  MB: 1e6,
  GB: 1e9,
  TB: 1e12,
  PB: 1e15,
  KiB: 2 ** 10,
  MiB: 2 ** 20,
  GiB: 2 ** 30,
  TiB: 2 ** 40,
  PiB: 2 ** 50,
}

/** `500MiB` -> 524288000; a number is already bytes. */
export function parseSize(size: number | string): number | undefined {
  if (typeof size === 'number') return size
  const match = /^(\d+(?:\.\d+)?)\s*([A-Za-z]+)$/.exec(size)
  const unit = match?.[2] === undefined ? undefined : SIZE_UNITS[match[2]]
  if (!match || unit === undefined) return undefined
  return Math.round(Number(match[1]) * unit)
}

export type PortParse = {ok: true; ranges: PortRange[]} | {ok: false; problem: string; index: number}

/** `443`, `"8000-8080"` or a list of them -> sorted, merged ranges. */
export function parsePorts(spec: number | string | readonly (number | string)[]): PortParse {
  const items = Array.isArray(spec) ? spec : [spec]
  const ranges: PortRange[] = []
  for (const [index, item] of items.entries()) {
    const [fromText, toText] = String(item).split('-')
    const from = Number(fromText)
    const to = toText === undefined ? from : Number(toText)
    if (!Number.isInteger(from) || !Number.isInteger(to) || from < 1 || to > 65535 || from > 65535 || to < 1) {
      return {ok: false, problem: `port ${JSON.stringify(item)} is outside 1-65535`, index}
    }
    if (from > to) return {ok: false, problem: `port range "${item}" is reversed; write it as "${to}-${from}"`, index}
    ranges.push({from, to})
  }
  ranges.sort((a, b) => a.from - b.from || a.to - b.to)
  const merged: PortRange[] = []
  for (const range of ranges) {
    const last = merged.at(-1)
    if (last && range.from <= last.to + 1)
      merged[merged.length - 1] = {from: last.from, to: Math.max(last.to, range.to)}
    else merged.push(range)
  }
  return {ok: true, ranges: merged}
}

export function formatPortRange(range: PortRange): string {
  return range.from === range.to ? String(range.from) : `${range.from}-${range.to}`
}
