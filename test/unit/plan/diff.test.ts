import {describe, expect, it} from 'vitest'

import {splitLines, unifiedDiff} from '../../../src/plan/diff.js'

const labels = {oldLabel: 'a/wg0.conf', newLabel: 'b/wg0.conf'}

/** Lines joined with a newline after each, the usual shape of a text file. */
const text = (...lines: string[]) => lines.map((line) => `${line}\n`).join('')
const numbered = (from: number, to: number) => Array.from({length: to - from + 1}, (_, i) => `line ${from + i}`)

/** Applies a unified diff to `before`, checking every context and removed line on the way. */
function applyDiff(before: string, diff: string): string {
  const source = splitLines(before)
  const lines = diff.split('\n')
  const out: string[] = []
  let position = 0
  let index = 2
  while (index < lines.length && lines[index] !== '') {
    const header = /^@@ -(\d+)(?:,(\d+))? \+(\d+)(?:,(\d+))? @@$/.exec(lines[index] ?? '')
    if (!header) throw new Error(`bad hunk header ${lines[index]}`)
    const oldStart = Number(header[1])
    const oldCount = header[2] === undefined ? 1 : Number(header[2])
    const from = oldCount === 0 ? oldStart : oldStart - 1
    while (position < from) out.push(source[position++] ?? '')
    index++
    while (index < lines.length && /^[ +\-\\]/.test(lines[index] ?? '')) {
      const line = lines[index] ?? ''
      const noNewline = lines[index + 1] === '\\ No newline at end of file'
      const body = line.slice(1) + (noNewline ? '' : '\n')
      if (line.startsWith('\\')) {
        index++
        continue
      }
      if (line.startsWith('+')) out.push(body)
      else {
        expect(source[position]).toBe(body)
        position++
        if (line.startsWith(' ')) out.push(body)
      }
      index++
    }
  }
  while (position < source.length) out.push(source[position++] ?? '')
  return out.join('')
}

describe('unifiedDiff', () => {
  it('is empty for equal inputs', () => {
    expect(unifiedDiff('a\nb\n', 'a\nb\n', labels)).toBe('')
    expect(unifiedDiff('', '', labels)).toBe('')
    expect(unifiedDiff(null, null, labels)).toBe('')
  })

  it('shows a new file as all added, from /dev/null', () => {
    expect(unifiedDiff(null, text('one', 'two', 'three'), labels)).toBe(
      ['--- /dev/null', '+++ b/wg0.conf', '@@ -0,0 +1,3 @@', '+one', '+two', '+three', ''].join('\n'),
    )
    expect(unifiedDiff(null, text('only'), labels)).toBe(
      ['--- /dev/null', '+++ b/wg0.conf', '@@ -0,0 +1 @@', '+only', ''].join('\n'),
    )
  })

  it('shows a deleted file as all removed, to /dev/null', () => {
    expect(unifiedDiff(text('one', 'two'), null, labels)).toBe(
      ['--- a/wg0.conf', '+++ /dev/null', '@@ -1,2 +0,0 @@', '-one', '-two', ''].join('\n'),
    )
  })

  it('shows a new or deleted empty file as the headers alone', () => {
    expect(unifiedDiff(null, '', labels)).toBe('--- /dev/null\n+++ b/wg0.conf\n')
    expect(unifiedDiff('', null, labels)).toBe('--- a/wg0.conf\n+++ /dev/null\n')
  })

  it('tells an empty file from content', () => {
    expect(unifiedDiff('', text('x'), labels)).toBe(
      ['--- a/wg0.conf', '+++ b/wg0.conf', '@@ -0,0 +1 @@', '+x', ''].join('\n'),
    )
  })

  it('shows a change in the middle with three lines of context', () => {
    const before = text(...numbered(1, 10))
    const after = text(...numbered(1, 4), 'changed 5', ...numbered(6, 10))
    expect(unifiedDiff(before, after, labels)).toBe(
      [
        '--- a/wg0.conf',
        '+++ b/wg0.conf',
        '@@ -2,7 +2,7 @@',
        ' line 2',
        ' line 3',
        ' line 4',
        '-line 5',
        '+changed 5',
        ' line 6',
        ' line 7',
        ' line 8',
        '',
      ].join('\n'),
    )
  })

  it('clips the context at the start and the end of the file', () => {
    const before = text(...numbered(1, 6))
    expect(unifiedDiff(before, text('new first', ...numbered(2, 6)), labels)).toBe(
      [
        '--- a/wg0.conf',
        '+++ b/wg0.conf',
        '@@ -1,4 +1,4 @@',
        '-line 1',
        '+new first',
        ' line 2',
        ' line 3',
        ' line 4',
        '',
      ].join('\n'),
    )
    expect(unifiedDiff(before, text(...numbered(1, 6), 'appended'), labels)).toBe(
      ['--- a/wg0.conf', '+++ b/wg0.conf', '@@ -4,3 +4,4 @@', ' line 4', ' line 5', ' line 6', '+appended', ''].join(
        '\n',
      ),
    )
    expect(unifiedDiff(before, text('prepended', ...numbered(1, 6)), labels)).toBe(
      ['--- a/wg0.conf', '+++ b/wg0.conf', '@@ -1,3 +1,4 @@', '+prepended', ' line 1', ' line 2', ' line 3', ''].join(
        '\n',
      ),
    )
    expect(unifiedDiff(before, text(...numbered(1, 5)), labels)).toBe(
      ['--- a/wg0.conf', '+++ b/wg0.conf', '@@ -3,4 +3,3 @@', ' line 3', ' line 4', ' line 5', '-line 6', ''].join(
        '\n',
      ),
    )
  })

  it('marks a last line without a newline', () => {
    expect(unifiedDiff('a\nb\n', 'a\nb', labels)).toBe(
      [
        '--- a/wg0.conf',
        '+++ b/wg0.conf',
        '@@ -1,2 +1,2 @@',
        ' a',
        '-b',
        '+b',
        '\\ No newline at end of file',
        '',
      ].join('\n'),
    )
    expect(unifiedDiff('a\nb', 'a\nb\n', labels)).toBe(
      [
        '--- a/wg0.conf',
        '+++ b/wg0.conf',
        '@@ -1,2 +1,2 @@',
        ' a',
        '-b',
        '\\ No newline at end of file',
        '+b',
        '',
      ].join('\n'),
    )
    expect(unifiedDiff('x\nend', 'y\nend', labels)).toBe(
      [
        '--- a/wg0.conf',
        '+++ b/wg0.conf',
        '@@ -1,2 +1,2 @@',
        '-x',
        '+y',
        ' end',
        '\\ No newline at end of file',
        '',
      ].join('\n'),
    )
    expect(unifiedDiff(null, 'only', labels)).toBe(
      ['--- /dev/null', '+++ b/wg0.conf', '@@ -0,0 +1 @@', '+only', '\\ No newline at end of file', ''].join('\n'),
    )
  })

  it('keeps changes far apart in separate hunks', () => {
    const before = text(...numbered(1, 20))
    const after = text('first', ...numbered(2, 19), 'last')
    expect(unifiedDiff(before, after, labels)).toBe(
      [
        '--- a/wg0.conf',
        '+++ b/wg0.conf',
        '@@ -1,4 +1,4 @@',
        '-line 1',
        '+first',
        ' line 2',
        ' line 3',
        ' line 4',
        '@@ -17,4 +17,4 @@',
        ' line 17',
        ' line 18',
        ' line 19',
        '-line 20',
        '+last',
        '',
      ].join('\n'),
    )
  })

  it('merges changes at most twice the context apart into one hunk', () => {
    // Lines 4 and 11 change: six unchanged lines between them, 2 × 3.
    const before = text(...numbered(1, 14))
    const after = text(...numbered(1, 3), 'four', ...numbered(5, 10), 'eleven', ...numbered(12, 14))
    expect(unifiedDiff(before, after, labels)).toBe(
      [
        '--- a/wg0.conf',
        '+++ b/wg0.conf',
        '@@ -1,14 +1,14 @@',
        ' line 1',
        ' line 2',
        ' line 3',
        '-line 4',
        '+four',
        ' line 5',
        ' line 6',
        ' line 7',
        ' line 8',
        ' line 9',
        ' line 10',
        '-line 11',
        '+eleven',
        ' line 12',
        ' line 13',
        ' line 14',
        '',
      ].join('\n'),
    )
    // Seven unchanged lines between them: two hunks.
    const apart = text(...numbered(1, 3), 'four', ...numbered(5, 11), 'twelve', ...numbered(13, 15))
    const diff = unifiedDiff(text(...numbered(1, 15)), apart, labels)
    expect(diff.match(/^@@ .* @@$/gm)).toEqual(['@@ -1,7 +1,7 @@', '@@ -9,7 +9,7 @@'])
  })

  it('honours another context size', () => {
    const before = text(...numbered(1, 9))
    const after = text(...numbered(1, 4), 'five', ...numbered(6, 9))
    expect(unifiedDiff(before, after, {...labels, context: 1})).toBe(
      ['--- a/wg0.conf', '+++ b/wg0.conf', '@@ -4,3 +4,3 @@', ' line 4', '-line 5', '+five', ' line 6', ''].join('\n'),
    )
    expect(unifiedDiff(before, after, {...labels, context: 0})).toBe(
      ['--- a/wg0.conf', '+++ b/wg0.conf', '@@ -5 +5 @@', '-line 5', '+five', ''].join('\n'),
    )
    expect(unifiedDiff(text('a', 'c'), text('a', 'b', 'c'), {...labels, context: 0})).toBe(
      ['--- a/wg0.conf', '+++ b/wg0.conf', '@@ -1,0 +2 @@', '+b', ''].join('\n'),
    )
    expect(() => unifiedDiff('a', 'b', {...labels, context: -1})).toThrow(RangeError)
  })

  it('finds a shortest edit script', () => {
    // Myers' example from the paper: ABCABBA -> CBABAC has 5 edits.
    const before = text(...'ABCABBA')
    const after = text(...'CBABAC')
    const diff = unifiedDiff(before, after, labels)
    const edits = diff.split('\n').filter((line) => /^[+-][A-C]$/.test(line))
    expect(edits).toHaveLength(5)
    expect(applyDiff(before, diff)).toBe(after)
  })

  it('produces diffs that apply back, on many small random inputs', () => {
    let seed = 1
    const random = () => {
      seed = (seed * 48271) % 2147483647
      return seed / 2147483647
    }
    const file = (length: number) => {
      let out = Array.from({length}, () => 'abcd'[Math.floor(random() * 4)] ?? 'a').join('\n')
      if (length > 0 && random() < 0.8) out += '\n'
      return out
    }
    for (let round = 0; round < 300; round++) {
      const before = file(Math.floor(random() * 25))
      const after = file(Math.floor(random() * 25))
      const diff = unifiedDiff(before, after, {...labels, context: Math.floor(random() * 4)})
      expect(before === after ? diff === '' : applyDiff(before, diff)).toBe(before === after ? true : after)
    }
  })

  it('is deterministic', () => {
    const before = text(...'xaybzcxaybzc')
    const after = text(...'abcxyzabcxyz')
    expect(unifiedDiff(before, after, labels)).toBe(unifiedDiff(before, after, labels))
  })

  it('diffs a 50,000-line file with three changes into three hunks', () => {
    const lines = Array.from({length: 50_000}, (_, i) => `allowed ${i} 10.${i >> 8}.${i & 255}.0/24`)
    const changed = [...lines]
    changed[10] = 'changed near the start'
    changed.splice(25_000, 1)
    changed.splice(49_000, 0, 'inserted near the end')
    const before = text(...lines)
    const after = text(...changed)
    const diff = unifiedDiff(before, after, labels)
    expect(diff.match(/^@@ .* @@$/gm)).toEqual([
      '@@ -8,7 +8,7 @@',
      '@@ -24998,7 +24998,6 @@',
      '@@ -48999,6 +48998,7 @@',
    ])
    expect(diff.split('\n').filter((line) => /^[+-](?![+-]{2} )/.test(line))).toHaveLength(4)
    expect(applyDiff(before, diff)).toBe(after)
  })

  it('stays valid when a large file is rewritten or reordered', () => {
    const lines = Array.from({length: 20_000}, (_, i) => `line ${i}`)
    const rewritten = lines.map((line) => `${line} rewritten`)
    const diff = unifiedDiff(text(...lines), text(...rewritten), labels)
    expect(diff.match(/^@@ .* @@$/gm)).toEqual(['@@ -1,20000 +1,20000 @@'])
    const reordered = [...lines.slice(10_000), ...lines.slice(0, 10_000)]
    expect(applyDiff(text(...lines), unifiedDiff(text(...lines), text(...reordered), labels))).toBe(text(...reordered))
  })
})
