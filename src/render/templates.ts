/**
 * Handlebars templates of the text formats, read from the package's
 * templates/ folder once, on first use (reading package assets is the only
 * file access render/ does). Output is plain text: no HTML escaping, and a
 * missing variable is an error rather than an empty string.
 */
import {readFileSync} from 'node:fs'

import Handlebars from 'handlebars'

const TEMPLATE_ROOT = new URL('../../templates/', import.meta.url)
const compiled = new Map<string, Handlebars.TemplateDelegate>()

export function renderTemplate(name: string, context: object): string {
  let template = compiled.get(name)
  if (!template) {
    const source = readFileSync(new URL(`${name}.hbs`, TEMPLATE_ROOT), 'utf8')
    template = Handlebars.compile(source, {noEscape: true, strict: true, preventIndent: true})
    compiled.set(name, template)
  }
  return template(context)
}
