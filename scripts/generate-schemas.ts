// Writes schemas/*.schema.json from the zod declaration schemas.
import {mkdirSync, writeFileSync} from 'node:fs'
import {join} from 'node:path'

import {generateJsonSchemas} from '../src/model/json-schema.js'

const root = join(import.meta.dirname, '..', 'schemas')
mkdirSync(root, {recursive: true})
for (const [name, content] of generateJsonSchemas()) writeFileSync(join(root, name), content)
console.log(`wrote ${root}`)
