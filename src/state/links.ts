/**
 * Link rotation (`nexus link reset`): a new UUID for a user's subscription
 * link, written to state in one transaction. The store keeps the old UUID's
 * hash as revoked and bumps the serial; nodes keep accepting the old UUID
 * until the next apply renders the new one.
 */
import {NexusError} from '../errors.js'
import type {StateStore} from './store.js'

export interface LinkRotation {
  /** The state serial after the write. */
  readonly serial: number
  /** When the link's previous UUID was issued or last rotated. */
  readonly previousRotatedAt: string | null
}

export async function rotateLink(
  store: StateStore,
  link: {readonly user: string; readonly link: string; readonly uuid: string},
  options: {readonly actor: string},
): Promise<LinkRotation> {
  const [row] = await store.driver.query<{rotated_at: Date | string | null; created_at: Date | string | null}>(
    'select created_at, rotated_at from links where user_name = $1 and link = $2',
    [link.user, link.link],
  )
  if (!row) {
    throw new NexusError(
      'link_not_issued',
      `link ${link.user}/${link.link} has no UUID in state yet, so there is nothing to rotate`,
      'the next nexus apply issues it',
    )
  }
  const serial = await store.write(
    {
      links: [{user: link.user, link: link.link, uuid: link.uuid}],
      audit: [{action: 'link_reset', subject: `link/${link.user}/${link.link}`}],
    },
    {actor: options.actor},
  )
  const previous = row.rotated_at ?? row.created_at ?? null
  return {serial, previousRotatedAt: previous === null ? null : new Date(previous).toISOString()}
}
