/**
 * In-memory declaration repos for inventory tests: `{path: yaml}` -> the
 * SourceFile[] that loadInventory takes, plus a small valid base repo that
 * tests change one thing at a time.
 */
import {readdirSync, readFileSync} from 'node:fs'
import {join, relative} from 'node:path'
import {fileURLToPath} from 'node:url'

import type {Diagnostic} from '../../src/inventory/diagnostics.js'
import {type Inventory, type LoadOptions, loadInventory, type SourceFile} from '../../src/inventory/load.js'

/** `{path: text}` -> SourceFile[]; a Uint8Array value is taken as raw bytes. */
export function repo(files: Readonly<Record<string, string | Uint8Array>>): SourceFile[] {
  const encoder = new TextEncoder()
  return Object.entries(files).map(([path, content]) => ({
    path,
    bytes: typeof content === 'string' ? encoder.encode(content) : content,
  }))
}

/** The declaration files of a bundled example (`examples/NAME`), as `{path: yaml}` for `repo()`. */
export function exampleFiles(name: string): Record<string, string> {
  const dir = join(fileURLToPath(new URL('../..', import.meta.url)), 'examples', name)
  const files: Record<string, string> = {}
  const walk = (at: string) => {
    for (const entry of readdirSync(at, {withFileTypes: true})) {
      const path = join(at, entry.name)
      if (entry.isDirectory()) walk(path)
      else if (/\.ya?ml$/.test(entry.name)) files[relative(dir, path)] = readFileSync(path, 'utf8')
    }
  }
  walk(dir)
  return files
}

/** Throw-away WireGuard public keys (32 bytes, standard base64). */
export const WG_KEYS = {
  a: 'xLMoDCZ1GjJnYlHQo7Ta88s3ZUrhUULmZTkQta79VxM=',
  b: 'oQQdOiWywtVH7KEI3mKXWgxYUQPUkN+osA6wyATxWwI=',
  c: 'BbnwOTjCPkFw/5LZJRVB0C7nXxyKhMeTLXyFFAvtkmc=',
  d: 'e3G/AjwZKoVDD565ZZdHIjfl2end72NN4iwM9I0FtiI=',
  server: '6l1bgedov3S76wCzgwMD86xd632xeppK1YE2y3UxoS0=',
} as const

/** A small valid repo: one of every kind. Line numbers matter to the tests; change with care. */
export const BASE: Readonly<Record<string, string>> = {
  'nexus.yaml': `apiVersion: nexus/v1
kind: Project
name: test
`,
  'tariffs/basic.yaml': `apiVersion: nexus/v1
kind: Tariff
name: basic
maxDevices: 3
protocols: [wireguard, vless]
`,
  'groups/staff.yaml': `apiVersion: nexus/v1
kind: Group
name: staff
`,
  'users/alice.yaml': `apiVersion: nexus/v1
kind: User
name: alice
tariff: basic
groups: [staff]
`,
  'nodes/gw-1.yaml': `apiVersion: nexus/v1
kind: Node
name: gw-1
ssh:
  host: 192.0.2.10
wireguard:
  interfaces:
    - name: wg0
      address: [10.66.0.1/24, "fd66::1/64"]
      listenPort: 51820
xray:
  inbounds:
    - tag: vless-reality
      protocol: vless
      port: 443
      security: reality
      flow: xtls-rprx-vision
      reality:
        target: www.example.com:443
        serverNames: [www.example.com]
        shortIds: ["6d44678d93a3b4f6"]
`,
  'peers/alice-laptop.yaml': `apiVersion: nexus/v1
kind: Peer
name: alice-laptop
user: alice
node: gw-1
interface: wg0
publicKey: ${WG_KEYS.a}
address: 10.66.0.2
`,
  'rules/no-smtp.yaml': `apiVersion: nexus/v1
kind: Rule
name: no-smtp
action: deny
protocol: tcp
ports: [25, 465]
`,
  'services/wiki.yaml': `apiVersion: nexus/v1
kind: Service
name: wiki
domains: [wiki.corp.example]
target:
  address: 10.10.0.20
  ports: 443
access:
  groups: [staff]
`,
}

/**
 * The base repo with some files replaced, added or (with `null`) removed,
 * loaded.
 */
export function loadWith(
  changes: Readonly<Record<string, string | Uint8Array | null>> = {},
  options?: LoadOptions,
): Inventory {
  const files: Record<string, string | Uint8Array> = {...BASE}
  for (const [path, content] of Object.entries(changes)) {
    if (content === null) delete files[path]
    else files[path] = content
  }
  return loadInventory(repo(files), options)
}

/** Diagnostics with a code, optionally of one severity. */
export function withCode(inventory: Inventory, code: string): Diagnostic[] {
  return inventory.diagnostics.filter((d) => d.code === code)
}

/** The single diagnostic with this code; fails loudly (listing all) otherwise. */
export function only(inventory: Inventory, code: string): Diagnostic {
  const found = withCode(inventory, code)
  if (found.length !== 1) {
    throw new Error(
      `expected exactly one ${code} diagnostic, got ${found.length}:\n${inventory.diagnostics
        .map((d) => `  ${d.severity} ${d.code} ${d.file}:${d.line}:${d.column} ${d.message}`)
        .join('\n')}`,
    )
  }
  return found[0] as Diagnostic
}

/** `file:line:col` of a diagnostic, for compact position assertions. */
export function at(d: Pick<Diagnostic, 'file' | 'line' | 'column'>): string {
  return `${d.file}:${d.line}:${d.column}`
}
