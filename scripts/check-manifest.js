#!/usr/bin/env node
// Fails when oclif.manifest.json is stale: regenerates it, compares, and puts the committed file back.
// oclif reads commands, flags and help from the manifest at run time, so a
// stale one hides new commands or flags.
import {execFileSync} from 'node:child_process'
import {readFileSync, writeFileSync} from 'node:fs'

const path = new URL('../oclif.manifest.json', import.meta.url)
const before = (() => {
  try {
    return readFileSync(path, 'utf8')
  } catch {
    return ''
  }
})()
execFileSync('npx', ['oclif', 'manifest'], {stdio: ['ignore', 'ignore', 'inherit']})
const after = readFileSync(path, 'utf8')
// A check leaves the tree as it found it, stale or not.
writeFileSync(path, before)
if (normalize(before) !== normalize(after)) {
  console.error('oclif.manifest.json is stale: run `npm run build && npm run manifest` and commit the result')
  process.exit(1)
}
console.log('oclif.manifest.json is up to date')

/** oclif lists commands in whatever order it loaded them: compare the content, not the order. */
function normalize(text) {
  if (text.trim() === '') return ''
  return JSON.stringify(sortKeys(JSON.parse(text)))
}

function sortKeys(value) {
  if (Array.isArray(value)) return value.map(sortKeys)
  if (value && typeof value === 'object') {
    return Object.fromEntries(
      Object.keys(value)
        .sort()
        .map((key) => [key, sortKeys(value[key])]),
    )
  }
  return value
}
