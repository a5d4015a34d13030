/**
 * Runs the no-op apply benchmark alone and prints its result as JSON:
 *
 *     npm run build && npx tsx scripts/bench/noop/main.ts [--size L] [--runs 5]
 */
import {parseArgs} from 'node:util'

import {SIZES} from '../generate.js'
import {benchNoopApply} from '../noop-apply.js'

const {values} = parseArgs({
  options: {
    size: {type: 'string', default: 'L'},
    runs: {type: 'string', default: '5'},
  },
})

const name = values.size ?? 'L'
if (!(name in SIZES)) throw new Error(`--size must be one of ${Object.keys(SIZES).join(', ')}`)
const result = await benchNoopApply({
  size: SIZES[name as keyof typeof SIZES],
  runs: Number(values.runs),
  log: (line) => process.stderr.write(`${new Date().toISOString().slice(11, 19)} ${line}\n`),
})
process.stdout.write(`${JSON.stringify(result, null, 2)}\n`)
