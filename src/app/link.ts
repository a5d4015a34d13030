/**
 * `nexus link reset USER/LINK`: a new UUID for a subscription link, written
 * to state (the old one is kept as revoked). Nodes keep accepting the old
 * UUID until the next apply renders the new one, so the command says so.
 */
import {generateUuid} from '../crypto/keys.js'
import {NexusError} from '../errors.js'
import {actorFrom} from '../state/lease.js'
import {rotateLink} from '../state/links.js'
import {openState, type StateLocation} from '../state/open.js'
import {loadTexts, readRepoTexts, readSnapshot, unknownName} from './peer.js'
import {serverKeys, snapshotPublicValues} from './server-keys.js'

export interface ResetLinkOptions {
  readonly root: string
  readonly location: StateLocation
  readonly env: NodeJS.ProcessEnv
  /** `USER/LINK`; a bare `USER` means its `default` link. */
  readonly ref: string
  readonly notice?: (text: string) => void
}

export interface LinkReset {
  readonly user: string
  readonly link: string
  /** The state serial after the rotation. */
  readonly serial: number
  /** When the UUID now revoked was issued (or last rotated). */
  readonly previousIssuedAt: string | null
  readonly note: string
}

export async function resetLink(options: ResetLinkOptions): Promise<LinkReset> {
  const [user = '', link = 'default', ...rest] = options.ref.split('/')
  if (user === '' || link === '' || rest.length > 0) {
    throw new NexusError(
      'invalid_link',
      `${JSON.stringify(options.ref)} is not USER/LINK`,
      'e.g. nexus link reset alice/phone',
    )
  }
  const snapshot = await readSnapshot(options.location, options.env)
  const inventory = loadTexts(await readRepoTexts(options.root), {
    serverKeys: serverKeys(snapshotPublicValues(snapshot?.secrets)),
  })
  if (!inventory.desired) {
    const errors = inventory.diagnostics.filter((d) => d.severity === 'error').length
    throw new NexusError(
      'invalid_declarations',
      `the declarations have ${errors} error${errors === 1 ? '' : 's'}, so no link was reset`,
      'run nexus validate',
    )
  }
  const declared = inventory.desired.users.find((u) => u.name === user)
  if (!declared) {
    throw unknownName(
      'user',
      user,
      inventory.desired.users.map((u) => u.name),
    )
  }
  if (!declared.links.includes(link)) {
    throw new NexusError(
      'unknown_link',
      `user ${user} has no link named ${link}`,
      `links of ${user}: ${declared.links.join(', ')}`,
    )
  }
  if (!snapshot?.links.has(`${user}/${link}`)) {
    throw new NexusError(
      'link_not_issued',
      `link ${user}/${link} has no UUID in state yet, so there is nothing to rotate`,
      'the next nexus apply issues it',
    )
  }
  const store = await openState(options.location, {
    mode: 'write',
    env: options.env,
    ...(options.notice ? {notice: options.notice} : {}),
  })
  if (!store) throw new NexusError('no_state', 'the state could not be opened')
  try {
    const rotation = await rotateLink(store, {user, link, uuid: generateUuid()}, {actor: actorFrom(options.env)})
    return {
      user,
      link,
      serial: rotation.serial,
      previousIssuedAt: rotation.previousRotatedAt,
      note: 'nodes accept the old UUID until the next nexus apply',
    }
  } finally {
    await store.close()
  }
}
