import type {StateValues} from '../model/state-values.js'

export const RENDERED_BY = 'rendered by nexus -- do not edit'
export const PREVIEW_NOTICE =
  'PREVIEW: keys, UUIDs and addresses were generated for this render only and saved nowhere; do not deploy this file'

/** Header comment lines (without the comment marker) every text format starts with. */
export function headerLines(state: Pick<StateValues, 'preview'>): string[] {
  return state.preview ? [RENDERED_BY, PREVIEW_NOTICE] : [RENDERED_BY]
}
