import {readdirSync, readFileSync} from 'node:fs'
import {join} from 'node:path'

import {Ajv2020} from 'ajv/dist/2020.js'
import {describe, expect, it} from 'vitest'
import {parseAllDocuments} from 'yaml'

import {generateJsonSchemas} from '../../../src/model/json-schema.js'
import {ROOT} from '../../helpers/cli.js'

const SCHEMA_DIR = join(ROOT, 'schemas')

describe('schemas/', () => {
  const generated = generateJsonSchemas()

  it('matches what the zod schemas generate (run `npm run schemas` after changing them)', () => {
    expect(readdirSync(SCHEMA_DIR).sort()).toEqual([...generated.keys()].sort())
    for (const [name, content] of generated) {
      expect(readFileSync(join(SCHEMA_DIR, name), 'utf8'), name).toBe(content)
    }
  })

  it('accepts every document of the examples, and rejects a typo', () => {
    const ajv = new Ajv2020({strict: false, allErrors: true})
    for (const [name, content] of generated) ajv.addSchema(JSON.parse(content), name)
    const validate = ajv.getSchema('nexus.schema.json')
    if (!validate) throw new Error('nexus.schema.json did not compile')
    let checked = 0
    for (const example of ['quickstart', 'fleet']) {
      const walk = (dir: string): string[] =>
        readdirSync(dir, {withFileTypes: true}).flatMap((e) =>
          e.isDirectory() ? walk(join(dir, e.name)) : e.name.endsWith('.yaml') ? [join(dir, e.name)] : [],
        )
      for (const file of walk(join(ROOT, 'examples', example))) {
        for (const doc of parseAllDocuments(readFileSync(file, 'utf8'))) {
          const value = doc.toJS()
          if (value === null) continue
          expect(validate(value), `${file}: ${JSON.stringify(validate.errors)}`).toBe(true)
          checked++
        }
      }
    }
    expect(checked).toBeGreaterThan(40)
    expect(validate({apiVersion: 'nexus/v1', kind: 'Group', name: 'ops', desciption: 'typo'})).toBe(false)
  })
})
