/**
 * JSON Schemas for editors, generated from the zod schemas (the one source
 * of truth): `schemas/<kind>.schema.json` per kind plus `nexus.schema.json`
 * accepting any kind. A test fails when the committed files are stale.
 */
import {z} from 'zod'

import {KINDS, SCHEMAS} from './declarations.js'

export function schemaFileName(kind: string): string {
  return `${kind.toLowerCase()}.schema.json`
}

export function generateJsonSchemas(): Map<string, string> {
  const files = new Map<string, string>()
  for (const kind of KINDS) {
    const schema = z.toJSONSchema(SCHEMAS[kind], {io: 'input', target: 'draft-2020-12', unrepresentable: 'any'})
    files.set(schemaFileName(kind), stringify({...schema, $id: schemaFileName(kind)}))
  }
  files.set(
    'nexus.schema.json',
    stringify({
      $schema: 'https://json-schema.org/draft/2020-12/schema',
      $id: 'nexus.schema.json',
      title: 'Any nexus declaration',
      anyOf: KINDS.map((kind) => ({$ref: schemaFileName(kind)})),
    }),
  )
  return files
}

function stringify(value: unknown): string {
  return `${JSON.stringify(value, null, 2)}\n`
}
