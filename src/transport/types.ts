/**
 * The node port (design.md §7): how Nexus runs commands on a gateway. Two
 * implementations: SSH (ssh.ts) for real nodes and local bash (local.ts) for
 * tests and for a node that is the machine Nexus runs on.
 *
 * Commands are bash scripts built from fixed text and values quoted with
 * `shellQuote`/`sh` (shell.ts). File contents and anything secret travel on
 * stdin, never inside the script: the script is what `onCommand` echoes.
 */
import type {Node} from '../model/desired.js'

export interface ExecOptions {
  /** Written to the command's stdin, which is then closed (closed at once when absent). */
  readonly stdin?: string
  /**
   * Upper bound for this command, counted from when it starts (after any
   * wait for a free channel). Defaults to ConnectOptions.commandTimeoutMs.
   */
  readonly timeoutMs?: number
}

export interface ExecResult {
  /** Exit status; null when the command ended by a signal. */
  readonly exitCode: number | null
  /** Signal name (e.g. "KILL") when the command ended by one. */
  readonly signal: string | null
  /** Complete stdout and stderr, decoded as UTF-8 once the command has ended. */
  readonly stdout: string
  readonly stderr: string
}

/**
 * One open session with a node.
 *
 * Guarantees:
 * - `exec` runs the script with `bash --noprofile --norc -c` (the login
 *   shell's own rc files aside), in the login user's home directory, with no
 *   terminal. A non-zero exit is a result, not an error: check `exitCode`.
 * - `exec` may be called concurrently; at most a fixed number of commands run
 *   at once (8 over SSH, below OpenSSH's MaxSessions of 10) and the rest wait
 *   their turn in call order.
 * - A command that outlives its timeout is killed (remote processes are
 *   signalled and bounded by `timeout` on the node) and `exec` rejects with a
 *   NexusError `command_timeout`.
 * - `exec` rejects only with NexusErrors: `command_timeout`,
 *   `node_connection_lost` (the connection died), `connection_closed` (after
 *   `close()`), `channel_open_failed`.
 * - `close()` is idempotent; commands still running are cut off and reject.
 */
export interface NodeConnection {
  /** The node's name, as declared. */
  readonly node: string
  exec(script: string, options?: ExecOptions): Promise<ExecResult>
  close(): Promise<void>
}

export interface ConnectOptions {
  /** Where host keys are recorded on first use (SSH only; the local transport ignores it). */
  readonly hostKeys: HostKeyStore
  /** TCP connect and, separately, SSH handshake + login limit. Default 15 s. */
  readonly connectTimeoutMs?: number
  /** Default per-command timeout. Default 120 s. */
  readonly commandTimeoutMs?: number
  /** Called with every script just before it runs (for --verbose). Never receives stdin. */
  readonly onCommand?: (node: string, script: string) => void
}

/**
 * Opens connections to nodes. `connect` rejects only with NexusErrors
 * (`node_unreachable`, `host_key_changed`, `host_key_invalid`,
 * `ssh_auth_failed`, `ssh_handshake_failed`); it never runs a command
 * before the host key has been verified.
 */
export interface NodeTransport {
  connect(node: Node, options: ConnectOptions): Promise<NodeConnection>
}

/**
 * Host keys recorded on first use (trust on first use). Keys are
 * `"TYPE BASE64"` as in known_hosts (no host name, no comment). The state
 * store implements it; host-keys.ts has an in-memory one.
 */
export interface HostKeyStore {
  get(node: string): Promise<string | undefined>
  /** Records (or replaces) the key of a node. */
  record(node: string, key: string): Promise<void>
}
