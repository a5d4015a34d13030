/**
 * `nexus user create/list/show/disable`: ad-hoc users written into the repo
 * (validated with the change in memory first, comments and formatting of
 * existing files kept), and their subscriptions as the state records them.
 */
import type {CommitResult, FileEdit} from '../git/edit-repo.js'
import {declarationText, type Fields, setTopLevelScalar, EditError} from '../inventory/edit.js'
import type {LoadOptions} from '../inventory/load.js'
import {NexusError} from '../errors.js'
import {API_VERSION} from '../model/declarations.js'
import type {Desired, User} from '../model/desired.js'
import {linkKey} from '../model/state-values.js'
import {type SubscriptionState, subscriptionStatus, tariffsByName} from '../model/subscription.js'
import type {StateLocation} from '../state/open.js'
import type {StateSnapshot} from '../state/store.js'
import {
  findDeclared,
  loadTexts,
  peerAddresses,
  placeDeclaration,
  preflightCommit,
  readRepoTexts,
  readSnapshot,
  requireName,
  stateValues,
  unknownName,
  validateChange,
  writeEdits,
} from './peer.js'
import {serverKeys, snapshotPublicValues} from './server-keys.js'

interface RepoOptions {
  readonly root: string
  readonly location: StateLocation
  readonly env: NodeJS.ProcessEnv
  readonly now: Date
}

// ---------------------------------------------------------------- user create

export interface CreateUserOptions extends RepoOptions {
  readonly name: string
  readonly tariff: string
  readonly email?: string
  readonly groups?: readonly string[]
  readonly links?: readonly string[]
  readonly status?: User['status']
  readonly commit: boolean
}

export interface UserCreated {
  /** The declaration as written to the repo. */
  readonly user: Record<string, unknown>
  readonly file: string
  readonly appended: boolean
  readonly committed: CommitResult | null
}

export async function createUser(options: CreateUserOptions): Promise<UserCreated> {
  const {name} = options
  requireName('user', name)
  const texts = await readRepoTexts(options.root)
  const loadOptions = await loadOptionsFor(options)
  const current = loadTexts(texts, loadOptions)
  if (current.declarations.User.some((u) => u.name === name) || current.declarations.invalid.User.has(name)) {
    throw new NexusError('user_exists', `a user named ${name} is already declared`, 'pick another name')
  }
  const list = (values: readonly string[] | undefined) => (values && values.length > 0 ? [...values] : undefined)
  const fields: Fields = [
    ['apiVersion', API_VERSION],
    ['kind', 'User'],
    ['name', name],
    ['email', options.email],
    ['status', options.status],
    ['tariff', options.tariff],
    ['groups', list(options.groups)],
    ['links', list(options.links)],
  ]
  const edit = placeDeclaration('User', name, declarationText(fields), texts, current.declarations.User, {
    folder: 'users',
  })
  validateChange(texts, [edit], loadOptions, `user create ${name}`)
  await preflightCommit(options.root, options.commit, [edit])
  const committed = await writeEdits({root: options.root, commit: options.commit, message: `nexus: add user ${name}`}, [
    edit,
  ])
  return {
    user: Object.fromEntries(fields.filter(([, value]) => value !== undefined)),
    file: edit.path,
    appended: edit.appended,
    committed,
  }
}

// ---------------------------------------------------------------- user disable

export interface DisableUserOptions extends RepoOptions {
  readonly name: string
  readonly commit: boolean
}

export interface UserDisabled {
  readonly user: string
  readonly file: string
  /** False when the user was disabled already: nothing was written. */
  readonly changed: boolean
  /** The user's devices, which leave the nodes on the next apply. */
  readonly peers: string[]
  readonly committed: CommitResult | null
}

export async function disableUser(options: DisableUserOptions): Promise<UserDisabled> {
  const texts = await readRepoTexts(options.root)
  const loadOptions = await loadOptionsFor(options)
  const current = loadTexts(texts, loadOptions)
  const declared = findDeclared(current, 'User', options.name)
  const file = declared.doc.file
  const text = texts.find((f) => f.path === file)?.text ?? ''
  let content: string
  try {
    content = setTopLevelScalar(text, declared.doc.index, 'status', 'disabled', {
      after: ['name', 'description', 'email'],
    })
  } catch (error) {
    if (!(error instanceof EditError)) throw error
    throw new NexusError(
      'cannot_edit',
      `${file}: user ${options.name}: ${error.message}`,
      'write `status: disabled` into it by hand',
    )
  }
  const peers = current.declarations.Peer.filter((p) => p.spec.user === options.name).map((p) => p.name)
  if (content === text) {
    return {user: options.name, file, changed: false, peers, committed: null}
  }
  const edit: FileEdit = {path: file, content}
  validateChange(texts, [edit], loadOptions, `user disable ${options.name}`)
  await preflightCommit(options.root, options.commit, [edit])
  const committed = await writeEdits(
    {root: options.root, commit: options.commit, message: `nexus: disable user ${options.name}`},
    [edit],
  )
  return {user: options.name, file, changed: true, peers, committed}
}

// ---------------------------------------------------------------- user list / show

export interface SubscriptionView {
  readonly status: SubscriptionState
  readonly reason: string
  /** The tariff in effect (a nextTariff switch may have moved it from the declared one). */
  readonly tariff: string | null
  readonly termStart: string | null
  readonly termEnd: string | null
  /** When access ends for good; null when nothing ends it. */
  readonly expires: string | null
  readonly trafficUsed: number
  /** Bytes per period; null = unlimited. */
  readonly trafficLimit: number | null
}

export interface UserEntry {
  readonly name: string
  readonly email: string | null
  readonly status: User['status']
  /** The declared tariff. */
  readonly tariff: string | null
  readonly groups: string[]
  readonly links: string[]
  readonly devices: number
  /** From state; null before the first apply recorded one. */
  readonly subscription: SubscriptionView | null
  readonly file: string
}

export interface UserListResult {
  readonly users: UserEntry[]
  /** Whether a state was read (without one there are no subscriptions to show). */
  readonly fromState: boolean
}

interface UserRepo {
  readonly desired: Desired
  readonly snapshot: StateSnapshot | undefined
  readonly files: ReadonlyMap<string, string>
}

async function loadUsers(options: RepoOptions): Promise<UserRepo> {
  const snapshot = await readSnapshot(options.location, options.env)
  const inventory = loadTexts(await readRepoTexts(options.root), {
    serverKeys: serverKeys(snapshotPublicValues(snapshot?.secrets)),
  })
  if (!inventory.desired) {
    const errors = inventory.diagnostics.filter((d) => d.severity === 'error').length
    throw new NexusError(
      'invalid_declarations',
      `the declarations have ${errors} error${errors === 1 ? '' : 's'}`,
      'run nexus validate',
    )
  }
  return {
    desired: inventory.desired,
    snapshot,
    files: new Map(inventory.declarations.User.map((d) => [d.name, d.doc.file])),
  }
}

function userEntry(repo: UserRepo, user: User, now: Date): UserEntry {
  const record = repo.snapshot?.subscriptions.get(user.name)
  let subscription: SubscriptionView | null = null
  if (record) {
    const status = subscriptionStatus({user, tariffs: tariffsByName(repo.desired.tariffs), record, now})
    subscription = {
      status: status.status,
      reason: status.reason,
      tariff: status.tariff,
      termStart: status.termStart,
      termEnd: status.termEnd,
      expires: status.endsAt,
      trafficUsed: status.trafficUsed,
      trafficLimit: status.trafficLimit,
    }
  }
  return {
    name: user.name,
    email: user.email ?? null,
    status: user.status,
    tariff: user.tariff ?? null,
    groups: [...user.groups],
    links: [...user.links],
    devices: repo.desired.peers.filter((p) => p.user === user.name).length,
    subscription,
    file: repo.files.get(user.name) ?? '',
  }
}

export async function listUsers(options: RepoOptions): Promise<UserListResult> {
  const repo = await loadUsers(options)
  const users = [...repo.desired.users].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))
  return {users: users.map((user) => userEntry(repo, user, options.now)), fromState: repo.snapshot !== undefined}
}

export interface UserShown extends UserEntry {
  readonly peers: {name: string; node: string; interface: string; addresses: string[]; enabled: boolean}[]
  /** Each link and whether state holds its UUID (the UUID itself is a credential and is not shown). */
  readonly linkStates: {name: string; issued: boolean}[]
  /** Whether the user's clients are on the nodes now (active status and subscription). */
  readonly letIn: boolean
}

export async function showUser(options: RepoOptions & {readonly name: string}): Promise<UserShown> {
  const repo = await loadUsers(options)
  const user = repo.desired.users.find((u) => u.name === options.name)
  if (!user) {
    throw unknownName(
      'user',
      options.name,
      repo.desired.users.map((u) => u.name),
    )
  }
  const values = stateValues(repo.desired, repo.snapshot, options.now)
  return {
    ...userEntry(repo, user, options.now),
    peers: repo.desired.peers
      .filter((p) => p.user === user.name)
      .map((p) => ({
        name: p.name,
        node: p.node,
        interface: p.interface,
        addresses: peerAddresses(p, repo.snapshot).addresses,
        enabled: p.enabled,
      })),
    linkStates: user.links.map((link) => ({
      name: link,
      issued: repo.snapshot?.links.has(linkKey(user.name, link)) ?? false,
    })),
    letIn: user.status === 'active' && values.activeUsers.has(user.name),
  }
}

async function loadOptionsFor(options: RepoOptions): Promise<LoadOptions> {
  const snapshot = await readSnapshot(options.location, options.env)
  return {serverKeys: serverKeys(snapshotPublicValues(snapshot?.secrets))}
}
