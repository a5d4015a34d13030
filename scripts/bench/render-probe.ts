/**
 * Child process of the benchmark: loads a repo (parse cache warm), then times
 * the pure render of every node and client on preview state values. Prints
 * one JSON line: {renderMs, files, bytes, largestFile}.
 */
import {loadRepo} from '../../src/app/load-repo.js'
import {Fleet} from '../../src/model/fleet.js'
import {renderFleet} from '../../src/render/index.js'
import {previewStateValues} from '../../src/state/preview.js'

const root = process.argv[2]
if (!root) throw new Error('usage: render-probe REPO')
const desired = (await loadRepo(root)).desired
if (!desired) throw new Error(`${root} does not validate`)
const fleet = new Fleet(desired, previewStateValues(desired, new Date('2026-11-01T00:00:00Z')))
const start = performance.now()
const files = renderFleet(fleet)
const renderMs = performance.now() - start
let bytes = 0
let largestFile = 0
for (const file of files) {
  bytes += file.content.length
  largestFile = Math.max(largestFile, file.content.length)
}
console.log(JSON.stringify({renderMs, files: files.length, bytes, largestFile}))
