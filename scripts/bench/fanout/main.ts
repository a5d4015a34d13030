/**
 * Runs the fan-out benchmark alone and prints its rows as a table:
 *
 *     npm run build && npx tsx scripts/bench/fanout/main.ts [--hosts 5,20] [--runs 5] [--json FILE]
 */
import {writeFileSync} from 'node:fs'
import {parseArgs} from 'node:util'

import {benchFanout, type FanoutRow} from '../fanout.js'

const {values} = parseArgs({
  options: {
    hosts: {type: 'string', default: '5,20'},
    runs: {type: 'string', default: '5'},
    json: {type: 'string'},
  },
})

const rows = await benchFanout({
  hosts: (values.hosts ?? '5,20').split(',').map(Number),
  runs: Number(values.runs),
  log: (line) => process.stderr.write(`${line}\n`),
})
process.stdout.write(`${table(rows)}\n`)
if (values.json) writeFileSync(values.json, `${JSON.stringify(rows, null, 2)}\n`)

function table(rows: readonly FanoutRow[]): string {
  const header = ['hosts', 'tool', 'median ms', 'x floor', 'peak RSS MiB', 'runs ms']
  const body = rows.map((row) => [
    String(row.hosts),
    row.tool,
    row.ms.toFixed(0),
    row.ratioToFloor.toFixed(2),
    (row.rssBytes / 2 ** 20).toFixed(0),
    row.runsMs.map((ms) => ms.toFixed(0)).join(' '),
  ])
  const widths = header.map((title, i) => Math.max(title.length, ...body.map((cells) => (cells[i] ?? '').length)))
  const line = (cells: readonly string[]) =>
    `| ${cells.map((cell, i) => (i === 1 || i === 5 ? cell.padEnd(widths[i] ?? 0) : cell.padStart(widths[i] ?? 0))).join(' | ')} |`
  return [line(header), `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`, ...body.map(line)].join('\n')
}
