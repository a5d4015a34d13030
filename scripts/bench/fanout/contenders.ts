/**
 * The four ways the fan-out benchmark pushes a fleet's files and runs its
 * commands, each as one child process measured by `measure()`:
 *
 * - nexus: `nexus apply --yes --parallel N` (plan, upload, check, swap,
 *   reload, firewall confirmation over a new connection, read-back, state).
 * - ansible: ansible-playbook with pipelining, forks = N, no fact gathering:
 *   `command: mkdir -p`, `copy` with `validate` (nexus's own checks), then a
 *   `command` per reload.
 * - tar-ssh: per host in parallel, `tar -cf - | ssh HOST 'tar -xf - && checks && reloads'`.
 * - ssh2: ssh2-floor.ts, one connection, one SFTP session and one exec per host.
 *
 * All four write the same rendered files to the same paths and run the same
 * checks and reload commands; nexus additionally does what makes it nexus
 * (observation before and after, staging and swap, the firewall watchdog).
 */
import {chmodSync, copyFileSync, mkdirSync, readdirSync, readFileSync, writeFileSync} from 'node:fs'
import {dirname, join} from 'node:path'
import {fileURLToPath} from 'node:url'

import {execa} from 'execa'
import ts from 'typescript'
import {stringify} from 'yaml'

import {shellQuote} from '../../../src/transport/shell.js'
import {BIN, ROOT} from '../../../test/helpers/cli.js'
import {measure, type Measured} from '../measure.js'
import {checkAndReloadScript, type Fleet, type Host} from './fleet.js'
import type {FloorJob} from './ssh2-floor.js'

export type Tool = 'nexus' | 'ansible' | 'tar-ssh' | 'ssh2'

export interface Contender {
  readonly tool: Tool
  /** One timed push to the whole fleet (the fleet is reset before, and checked after, by the caller). */
  run(): Promise<Measured>
  /** Untimed, after each run: whatever the tool left running (Ansible's ssh masters). */
  after?(): Promise<void>
}

const HERE = dirname(fileURLToPath(import.meta.url))

/** OpenSSH client options shared by Ansible and tar|ssh: the pinned host keys, key auth only. */
function sshOptions(fleet: Fleet): string[] {
  return [
    '-o',
    'BatchMode=yes',
    '-o',
    'IdentitiesOnly=yes',
    '-o',
    `UserKnownHostsFile=${fleet.knownHosts}`,
    '-o',
    'StrictHostKeyChecking=yes',
    '-o',
    'GlobalKnownHostsFile=/dev/null',
  ]
}

export function nexusContender(fleet: Fleet): Contender {
  return {
    tool: 'nexus',
    run: async () => {
      const run = await measure(
        'node',
        [
          BIN,
          'apply',
          '--yes',
          '--allow-dirty',
          '--json',
          '--parallel',
          String(fleet.hosts.length),
          '--repo',
          fleet.repo,
        ],
        {cwd: ROOT, env: {...process.env, NEXUS_DATABASE_URL: undefined, NO_COLOR: '1'}},
      )
      const last = run.stdout.trim().split('\n').at(-1) ?? ''
      if (!last.includes('"type":"apply_complete"') || !last.includes('"result":"success"'))
        throw new Error(`nexus apply did not succeed: ${last}\n${run.stderr}`)
      return run
    },
  }
}

export function ansibleContender(fleet: Fleet): Contender {
  const dir = join(fleet.dir, 'ansible')
  const controlDir = join(dir, 'cp')
  mkdirSync(controlDir, {recursive: true})
  mkdirSync(join(dir, 'host_vars'))
  const n = fleet.hosts.length
  writeFileSync(
    join(dir, 'ansible.cfg'),
    [
      '[defaults]',
      'inventory = inventory.yml',
      `forks = ${n}`,
      // Host keys are checked, against the pinned known_hosts file (ansible_ssh_common_args).
      'host_key_checking = True',
      'gathering = explicit',
      'interpreter_python = /usr/bin/python3',
      `local_tmp = ${join(dir, 'tmp')}`,
      'retry_files_enabled = False',
      'nocows = True',
      '',
      '[ssh_connection]',
      'pipelining = True',
      `control_path_dir = ${controlDir}`,
      '',
    ].join('\n'),
  )
  const hosts: Record<string, unknown> = {}
  for (const host of fleet.hosts) {
    hosts[host.name] = {
      ansible_host: '127.0.0.1',
      ansible_port: host.port,
      ansible_user: 'root',
      ansible_ssh_private_key_file: host.userKey,
    }
    writeFileSync(
      join(dir, 'host_vars', `${host.name}.yml`),
      stringify({
        nexus_dirs: host.dirs.map((d) => join(host.root, d)),
        nexus_files: host.files.map((f) => ({
          src: f.local,
          dest: f.remote,
          mode: `0${f.mode.toString(8)}`,
          ...(f.validate ? {validate: f.validate} : {}),
        })),
        nexus_reloads: host.reloads,
      }),
    )
  }
  writeFileSync(
    join(dir, 'inventory.yml'),
    stringify({all: {hosts, vars: {ansible_ssh_common_args: sshOptions(fleet).join(' ')}}}),
  )
  writeFileSync(
    join(dir, 'playbook.yml'),
    stringify([
      {
        name: 'push the rendered files',
        hosts: 'all',
        gather_facts: false,
        tasks: [
          {name: 'directories', 'ansible.builtin.command': {argv: "{{ ['mkdir', '-p', '--'] + nexus_dirs }}"}},
          {
            name: 'files, checked before they replace anything',
            'ansible.builtin.copy': {
              src: '{{ item.src }}',
              dest: '{{ item.dest }}',
              mode: '{{ item.mode }}',
              validate: '{{ item.validate | default(omit) }}',
            },
            loop: '{{ nexus_files }}',
          },
          {name: 'reloads', 'ansible.builtin.command': '{{ item }}', loop: '{{ nexus_reloads }}'},
        ],
      },
    ]),
  )
  const env = {
    ...process.env,
    ANSIBLE_CONFIG: join(dir, 'ansible.cfg'),
    ANSIBLE_HOME: join(dir, 'home'),
    ANSIBLE_NOCOLOR: '1',
  }
  return {
    tool: 'ansible',
    run: () => measure('ansible-playbook', ['playbook.yml'], {cwd: dir, env}),
    // ControlPersist keeps one ssh master per host for 60 s: end them, so the next run connects afresh.
    after: async () => {
      for (const socket of readdirSync(controlDir)) {
        await execa('ssh', ['-o', `ControlPath=${join(controlDir, socket)}`, '-O', 'exit', 'bench'], {
          reject: false,
          stdin: 'ignore',
        })
      }
    },
  }
}

export function tarSshContender(fleet: Fleet): Contender {
  const dir = join(fleet.dir, 'tar-ssh')
  const lines = ['#!/bin/bash', 'set -u', 'pids=()']
  for (const host of fleet.hosts) {
    // The tree as it lands below the host root.
    const staged = join(dir, host.name)
    for (const file of host.files) {
      const path = join(staged, file.underRoot)
      mkdirSync(dirname(path), {recursive: true})
      copyFileSync(file.local, path)
      chmodSync(path, file.mode)
    }
    const remote = checkAndReloadScript(host, [`tar -C ${shellQuote(host.root)} -xf -`])
    const ssh = ['ssh', ...sshOptions(fleet), '-i', host.userKey, '-p', String(host.port), 'root@127.0.0.1', remote]
    lines.push(`tar -C ${shellQuote(staged)} -cf - . | ${ssh.map(shellQuote).join(' ')} &`, 'pids+=($!)')
  }
  lines.push('status=0', 'for pid in "${pids[@]}"; do wait "$pid" || status=1; done', 'exit "$status"', '')
  const script = join(dir, 'push.sh')
  writeFileSync(script, lines.join('\n'), {mode: 0o755})
  return {tool: 'tar-ssh', run: () => measure('bash', [script], {cwd: dir})}
}

export function ssh2Contender(fleet: Fleet): Contender {
  const dir = join(fleet.dir, 'ssh2')
  mkdirSync(dir, {recursive: true})
  // Plain JavaScript, so the floor pays no TypeScript loader.
  const source = readFileSync(join(HERE, 'ssh2-floor.ts'), 'utf8')
  const program = join(dir, 'ssh2-floor.mjs')
  writeFileSync(
    program,
    ts.transpileModule(source, {
      compilerOptions: {module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022},
    }).outputText,
  )
  const job: FloorJob = {hosts: fleet.hosts.map((host) => floorHost(host))}
  const jobFile = join(dir, 'job.json')
  writeFileSync(jobFile, JSON.stringify(job))
  // cwd: the repo, whose node_modules holds ssh2.
  return {tool: 'ssh2', run: () => measure('node', [program, jobFile], {cwd: ROOT})}
}

function floorHost(host: Host): FloorJob['hosts'][number] {
  const dirs = new Set<string>()
  for (const dir of host.dirs) {
    const parts = dir.split('/')
    for (let i = 1; i <= parts.length; i++) dirs.add(join(host.root, ...parts.slice(0, i)))
  }
  return {
    name: host.name,
    port: host.port,
    hostKey: host.hostKey,
    privateKeyFile: host.userKey,
    dirs: [...dirs],
    files: host.files.map((f) => ({local: f.local, remote: f.remote, mode: f.mode})),
    script: checkAndReloadScript(host),
  }
}
