/**
 * Unified diffs of text files (design.md §4: "for files a unified diff on
 * request"), in the format of GNU `diff -u` and `git diff`:
 *
 *     --- OLD_LABEL
 *     +++ NEW_LABEL
 *     @@ -12,7 +12,8 @@
 *      context
 *     -removed
 *     +added
 *
 * A range of one line is written without its count (`@@ -3 +3 @@`) and an
 * empty range names the line before it (`@@ -0,0 +1,4 @@`), as both tools do.
 * A last line without a newline is a different line from the same text with
 * one, and is followed by `\ No newline at end of file`.
 *
 * The edit script is minimal (Myers' O(ND) algorithm, in linear space, after
 * trimming the common prefix and suffix and setting aside lines that occur on
 * one side only), so a large file with a few changes diffs in milliseconds.
 * Inputs that would need a very long search (thousands of scattered edits in
 * a reshuffled file) get a valid diff that is not necessarily the shortest.
 *
 * Pure and deterministic.
 */

export interface UnifiedDiffOptions {
  /** The `---` label (ignored for a new file, which is `/dev/null`). */
  readonly oldLabel: string
  /** The `+++` label (ignored for a deleted file, which is `/dev/null`). */
  readonly newLabel: string
  /** Unchanged lines around each change; default 3. */
  readonly context?: number
}

export const DEFAULT_DIFF_CONTEXT = 3

const NO_NEWLINE = '\\ No newline at end of file'

/**
 * The unified diff from `before` to `after`; `''` when they are equal.
 * `before === null` is a new file (`--- /dev/null`, every line added),
 * `after === null` a deleted one. A new or deleted empty file is just the
 * two header lines.
 */
export function unifiedDiff(before: string | null, after: string | null, options: UnifiedDiffOptions): string {
  if (before === after) return ''
  const context = options.context ?? DEFAULT_DIFF_CONTEXT
  if (!Number.isInteger(context) || context < 0) throw new RangeError(`bad diff context ${context}`)
  const oldLines = splitLines(before ?? '')
  const newLines = splitLines(after ?? '')
  const header = `--- ${before === null ? '/dev/null' : options.oldLabel}\n+++ ${after === null ? '/dev/null' : options.newLabel}\n`
  const script = editScript(oldLines, newLines)
  return header + formatHunks(script, oldLines, newLines, context)
}

/** Lines with their terminator, so `a` at the end of a file differs from `a\n`. */
export function splitLines(text: string): string[] {
  const lines: string[] = []
  let start = 0
  while (start < text.length) {
    const end = text.indexOf('\n', start)
    if (end === -1) {
      lines.push(text.slice(start))
      break
    }
    lines.push(text.slice(start, end + 1))
    start = end + 1
  }
  return lines
}

// ---------------------------------------------------------------- the edit script

/** One operation of an edit script over line indexes: keep, delete old line, insert new line. */
const KEEP = 0
const DELETE = 1
const INSERT = 2
type OpKind = typeof KEEP | typeof DELETE | typeof INSERT

/** Parallel arrays: the kind of each operation and the old/new line index it is about. */
interface EditScript {
  readonly kinds: OpKind[]
  readonly oldIndex: number[]
  readonly newIndex: number[]
}

/**
 * The longest common subsequence as matched index pairs, turned into an edit
 * script in which, between two kept lines, deletions come before insertions.
 */
function editScript(oldLines: readonly string[], newLines: readonly string[]): EditScript {
  const matches = longestCommonSubsequence(oldLines, newLines)
  const kinds: OpKind[] = []
  const oldIndex: number[] = []
  const newIndex: number[] = []
  const push = (kind: OpKind, i: number, j: number) => {
    kinds.push(kind)
    oldIndex.push(i)
    newIndex.push(j)
  }
  let i = 0
  let j = 0
  const emitUntil = (mi: number, mj: number) => {
    for (; i < mi; i++) push(DELETE, i, j)
    for (; j < mj; j++) push(INSERT, i, j)
  }
  for (let m = 0; m < matches.old.length; m++) {
    emitUntil(matches.old[m] ?? 0, matches.new[m] ?? 0)
    push(KEEP, i, j)
    i++
    j++
  }
  emitUntil(oldLines.length, newLines.length)
  return {kinds, oldIndex, newIndex}
}

interface Matches {
  readonly old: number[]
  readonly new: number[]
}

/**
 * Index pairs of a longest common subsequence of `a` and `b`, in order.
 *
 * The common prefix and suffix are matched directly. The rest is interned
 * (equal lines, equal small integers), and since a line that does not occur
 * at all on the other side can be in no common subsequence, the search runs
 * only over the lines that occur on both sides (after a rewrite of most of a
 * file, very few) and maps back.
 */
function longestCommonSubsequence(a: readonly string[], b: readonly string[]): Matches {
  const matches: Matches = {old: [], new: []}
  let start = 0
  while (start < a.length && start < b.length && a[start] === b[start]) start++
  let endA = a.length
  let endB = b.length
  while (endA > start && endB > start && a[endA - 1] === b[endB - 1]) {
    endA--
    endB--
  }
  for (let k = 0; k < start; k++) {
    matches.old.push(k)
    matches.new.push(k)
  }

  if (endA > start && endB > start) {
    const ids = new Map<string, number>()
    const intern = (lines: readonly string[], from: number, to: number) => {
      const out = new Int32Array(to - from)
      for (let k = from; k < to; k++) {
        const line = lines[k] ?? ''
        let id = ids.get(line)
        if (id === undefined) {
          id = ids.size
          ids.set(line, id)
        }
        out[k - from] = id
      }
      return out
    }
    const midA = intern(a, start, endA)
    const midB = intern(b, start, endB)
    const seenA = new Uint8Array(ids.size)
    const seenB = new Uint8Array(ids.size)
    for (const id of midA) seenA[id] = 1
    for (const id of midB) seenB[id] = 1
    const keptA: number[] = []
    const keptB: number[] = []
    midA.forEach((id, k) => seenB[id] && keptA.push(k))
    midB.forEach((id, k) => seenA[id] && keptB.push(k))

    if (keptA.length > 0 && keptB.length > 0) {
      const search = new MyersSearch(
        Int32Array.from(keptA, (k) => midA[k] ?? -1),
        Int32Array.from(keptB, (k) => midB[k] ?? -1),
      )
      search.compare(0, keptA.length, 0, keptB.length)
      for (let m = 0; m < search.matchesA.length; m++) {
        matches.old.push(start + (keptA[search.matchesA[m] ?? 0] ?? 0))
        matches.new.push(start + (keptB[search.matchesB[m] ?? 0] ?? 0))
      }
    }
  }

  for (let k = 0; k < a.length - endA; k++) {
    matches.old.push(endA + k)
    matches.new.push(endB + k)
  }
  return matches
}

/**
 * Myers' linear-space divide and conquer ("An O(ND) Difference Algorithm and
 * Its Variations", 1986, §4b): find a point on an optimal edit path where
 * the forward and backward searches meet, and recurse on both halves.
 *
 * Two bounds keep pathological inputs fast: one search gives up past
 * MAX_COST edits and splits at its furthest-reaching point instead (a valid,
 * possibly longer script), and once WORK_BUDGET steps are spent in total
 * the remaining ranges are reported as wholly changed.
 */
class MyersSearch {
  static readonly MAX_COST = 1024
  static readonly WORK_BUDGET = 20_000_000

  readonly matchesA: number[] = []
  readonly matchesB: number[] = []
  #work = 0
  readonly #forward: Int32Array
  readonly #backward: Int32Array

  constructor(
    private readonly a: Int32Array,
    private readonly b: Int32Array,
  ) {
    const size = 2 * Math.min(Math.ceil((a.length + b.length) / 2), MyersSearch.MAX_COST + 1) + 4
    this.#forward = new Int32Array(size)
    this.#backward = new Int32Array(size)
  }

  /** Appends the matches of a[aLo, aHi) against b[bLo, bHi), in order. */
  compare(aLo: number, aHi: number, bLo: number, bHi: number): void {
    const {a, b} = this
    while (aLo < aHi && bLo < bHi && a[aLo] === b[bLo]) this.#match(aLo++, bLo++)
    let suffix = 0
    while (aHi - suffix > aLo && bHi - suffix > bLo && a[aHi - suffix - 1] === b[bHi - suffix - 1]) suffix++
    const aEnd = aHi - suffix
    const bEnd = bHi - suffix
    if (aLo < aEnd && bLo < bEnd && this.#work < MyersSearch.WORK_BUDGET) {
      const split = this.#split(aLo, aEnd, bLo, bEnd)
      if (split) {
        this.compare(aLo, split[0], bLo, split[1])
        this.compare(split[0], aEnd, split[1], bEnd)
      }
    }
    for (let k = 0; k < suffix; k++) this.#match(aEnd + k, bEnd + k)
  }

  #match(i: number, j: number): void {
    this.matchesA.push(i)
    this.matchesB.push(j)
  }

  /**
   * A point strictly inside the range that lies on an optimal path (or, past
   * MAX_COST, on a good one); undefined when there is none worth splitting
   * at. Both ends differ and neither side is empty.
   */
  #split(aLo: number, aHi: number, bLo: number, bHi: number): [number, number] | undefined {
    const {a, b} = this
    const n = aHi - aLo
    const m = bHi - bLo
    const natural = Math.ceil((n + m) / 2)
    const maxD = Math.min(natural, MyersSearch.MAX_COST)
    const offset = maxD + 1
    const limit = 2 * offset + 2
    const v1 = this.#forward
    const v2 = this.#backward
    v1.fill(-1, 0, limit)
    v2.fill(-1, 0, limit)
    v1[offset + 1] = 0
    v2[offset + 1] = 0
    const delta = n - m
    // With an odd delta the paths meet during a forward step, else during a backward one.
    const front = delta % 2 !== 0
    let k1start = 0
    let k1end = 0
    let k2start = 0
    let k2end = 0
    // Cells outside this search's window are unreached (and may hold an earlier search's values).
    const at = (v: Int32Array, index: number) => (index >= 0 && index < limit ? (v[index] ?? -1) : -1)

    for (let d = 0; d < maxD; d++) {
      this.#work += 2 * d + 2
      for (let k1 = -d + k1start; k1 <= d - k1end; k1 += 2) {
        const k1Offset = offset + k1
        let x1 =
          k1 === -d || (k1 !== d && at(v1, k1Offset - 1) < at(v1, k1Offset + 1))
            ? at(v1, k1Offset + 1)
            : at(v1, k1Offset - 1) + 1
        let y1 = x1 - k1
        const startX = x1
        while (x1 < n && y1 < m && a[aLo + x1] === b[bLo + y1]) {
          x1++
          y1++
        }
        this.#work += x1 - startX
        v1[k1Offset] = x1
        if (x1 > n) {
          k1end += 2
        } else if (y1 > m) {
          k1start += 2
        } else if (front) {
          const x2 = at(v2, offset + delta - k1)
          if (x2 !== -1 && x1 >= n - x2) return this.#inside(aLo, bLo, x1, y1, n, m)
        }
      }
      for (let k2 = -d + k2start; k2 <= d - k2end; k2 += 2) {
        const k2Offset = offset + k2
        let x2 =
          k2 === -d || (k2 !== d && at(v2, k2Offset - 1) < at(v2, k2Offset + 1))
            ? at(v2, k2Offset + 1)
            : at(v2, k2Offset - 1) + 1
        let y2 = x2 - k2
        const startX = x2
        while (x2 < n && y2 < m && a[aHi - x2 - 1] === b[bHi - y2 - 1]) {
          x2++
          y2++
        }
        this.#work += x2 - startX
        v2[k2Offset] = x2
        if (x2 > n) {
          k2end += 2
        } else if (y2 > m) {
          k2start += 2
        } else if (!front) {
          const k1 = delta - k2
          const x1 = at(v1, offset + k1)
          if (x1 !== -1 && x1 >= n - x2) return this.#inside(aLo, bLo, x1, x1 - k1, n, m)
        }
      }
    }
    // The paths never met: the range has no line in common, nothing to split.
    if (maxD === natural) return undefined
    // Too costly to finish: split where the forward search got furthest.
    let best: [number, number] | undefined
    let bestReach = 0
    for (let k = -maxD + 1; k <= maxD - 1; k++) {
      const x = at(v1, offset + k)
      const y = x - k
      if (x < 0 || x > n || y < 0 || y > m) continue
      if (x + y > bestReach) {
        bestReach = x + y
        best = [x, y]
      }
    }
    return best ? this.#inside(aLo, bLo, best[0], best[1], n, m) : undefined
  }

  /** The absolute split point, if it is strictly inside the range (so both halves are smaller). */
  #inside(aLo: number, bLo: number, x: number, y: number, n: number, m: number): [number, number] | undefined {
    if (x + y <= 0 || x + y >= n + m) return undefined
    return [aLo + x, bLo + y]
  }
}

// ---------------------------------------------------------------- hunks

/** Groups the changes into hunks with `context` lines around them and prints them. */
function formatHunks(
  script: EditScript,
  oldLines: readonly string[],
  newLines: readonly string[],
  context: number,
): string {
  const {kinds, oldIndex, newIndex} = script
  const total = kinds.length
  const out: string[] = []
  let position = 0
  while (position < total) {
    // The next change.
    let first = position
    while (first < total && kinds[first] === KEEP) first++
    if (first === total) break
    // Extend over changes separated by at most 2 × context unchanged lines.
    let last = first
    for (;;) {
      while (last + 1 < total && kinds[last + 1] !== KEEP) last++
      let next = last + 1
      while (next < total && kinds[next] === KEEP) next++
      if (next < total && next - last - 1 <= 2 * context) last = next
      else break
    }
    const from = Math.max(position, first - context)
    const to = Math.min(total, last + 1 + context)

    let oldCount = 0
    let newCount = 0
    const headerAt = out.push('') - 1
    for (let op = from; op < to; op++) {
      const kind = kinds[op]
      const line = kind === INSERT ? (newLines[newIndex[op] ?? 0] ?? '') : (oldLines[oldIndex[op] ?? 0] ?? '')
      if (kind !== INSERT) oldCount++
      if (kind !== DELETE) newCount++
      const prefix = kind === KEEP ? ' ' : kind === DELETE ? '-' : '+'
      out.push(line.endsWith('\n') ? `${prefix}${line}` : `${prefix}${line}\n${NO_NEWLINE}\n`)
    }
    const oldStart = (oldIndex[from] ?? 0) + 1
    const newStart = (newIndex[from] ?? 0) + 1
    out[headerAt] = `@@ -${range(oldStart, oldCount)} +${range(newStart, newCount)} @@\n`
    position = to
  }
  return out.join('')
}

/** `start,count`, `start` for one line, and the line before for none (as GNU diff and git print it). */
function range(start: number, count: number): string {
  if (count === 1) return `${start}`
  if (count === 0) return `${start - 1},0`
  return `${start},${count}`
}
