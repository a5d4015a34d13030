/**
 * The files `nexus init` writes: a valid, minimal repo one folder per kind,
 * each declaration headed by the yaml-language-server schema comment.
 */
import type {Kind} from '../model/declarations.js'
import {generateJsonSchemas, schemaFileName} from '../model/json-schema.js'

export const KIND_FOLDERS: Record<Exclude<Kind, 'Project'>, string> = {
  Tariff: 'tariffs',
  User: 'users',
  Peer: 'peers',
  Node: 'nodes',
  Rule: 'rules',
  Service: 'services',
  Group: 'groups',
}

function header(kind: Kind, depth: number): string {
  return `# yaml-language-server: $schema=${'../'.repeat(depth)}schemas/${schemaFileName(kind)}\n`
}

export function scaffoldFiles(projectName: string): Map<string, string> {
  const files = new Map<string, string>()
  files.set('.gitignore', '# nexus state (embedded database, secret key file) never goes to git\n.nexus/\n')
  files.set(
    'nexus.yaml',
    `${header('Project', 0)}apiVersion: nexus/v1
kind: Project
name: ${projectName}
defaults:
  mtu: 1420
  keepalive: 25
  tunnel: full      # clients send everything through the VPN; "split" sends only what they may reach
  firewall: allow   # VPN traffic no rule matched is allowed; "deny" makes rules an allow-list
subscription:
  title: ${projectName}
`,
  )
  files.set(
    'tariffs/standard.yaml',
    `${header('Tariff', 1)}apiVersion: nexus/v1
kind: Tariff
name: standard
durationMonths: 1
trafficLimit: 200GiB
trafficReset: monthly
maxDevices: 3
protocols: [wireguard]
`,
  )
  files.set(
    'groups/admins.yaml',
    `${header('Group', 1)}apiVersion: nexus/v1
kind: Group
name: admins
description: People who run the fleet.
`,
  )
  files.set(
    'nodes/gw-1.yaml',
    `${header('Node', 1)}apiVersion: nexus/v1
kind: Node
name: gw-1
labels: {region: eu}
ssh:
  host: 192.0.2.1   # replace with your gateway's address
  user: root
endpoint: vpn.example.com
wireguard:
  interfaces:
    - name: wg0
      address: [10.66.0.1/24, "fd66::1/64"]
      listenPort: 51820
`,
  )
  // Folders for the kinds the starter repo has no declaration of yet.
  for (const folder of ['users', 'peers', 'rules', 'services']) files.set(`${folder}/.gitkeep`, '')
  for (const [name, content] of generateJsonSchemas()) files.set(`schemas/${name}`, content)
  return files
}
