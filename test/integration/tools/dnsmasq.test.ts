/**
 * The rendered dnsmasq file checked by dnsmasq itself (formats.md §11), and
 * then served for real inside a private network namespace: a second dnsmasq
 * plays the upstream and answers every forwarded query with a sentinel
 * address, so a test can tell a local answer from a forwarded one.
 */
import {join} from 'node:path'

import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import type {Desired, Service} from '../../../src/model/desired.js'
import {Fleet} from '../../../src/model/fleet.js'
import {renderDnsmasq} from '../../../src/render/dnsmasq.js'
import {desired, ip, node, state} from '../../helpers/fixture.js'
import {checkDnsmasq, stopIfStillRunning} from '../../helpers/real-tools.js'
import {inPrivateNetns, requireTool, shellQuote, tempDir, writeTemp} from '../../helpers/tools.js'

const UPSTREAM_V4 = '203.0.113.99'
const UPSTREAM_V6 = '2001:db8::99'

interface Answer {
  readonly query: string
  readonly rcode: number
  readonly answers: readonly string[]
}

/**
 * A minimal DNS client (dig is not installed everywhere). It runs as its own
 * node process inside the namespace, so it is plain JavaScript: one UDP query
 * per name/type, printing rcode and A/AAAA answers as JSON.
 */
const QUERY_SCRIPT = `
import dgram from 'node:dgram'
const [server, ...queries] = process.argv.slice(2)
const TYPES = {A: 1, AAAA: 28}
function encode(id, name, type) {
  const header = Buffer.alloc(12)
  header.writeUInt16BE(id, 0)
  header.writeUInt16BE(0x0100, 2) // recursion desired
  header.writeUInt16BE(1, 4)
  const labels = name.split('.').flatMap((label) => [Buffer.from([label.length]), Buffer.from(label)])
  const tail = Buffer.alloc(4)
  tail.writeUInt16BE(type, 0)
  tail.writeUInt16BE(1, 2)
  return Buffer.concat([header, ...labels, Buffer.from([0]), tail])
}
function skipName(buf, offset) {
  for (;;) {
    const length = buf[offset]
    if (length === 0) return offset + 1
    if ((length & 0xc0) === 0xc0) return offset + 2
    offset += length + 1
  }
}
function formatV6(data) {
  return Array.from({length: 8}, (_, i) => data.readUInt16BE(i * 2).toString(16)).join(':')
}
function decode(buf) {
  const rcode = buf.readUInt16BE(2) & 0xf
  let offset = 12
  for (let i = 0; i < buf.readUInt16BE(4); i++) offset = skipName(buf, offset) + 4
  const answers = []
  for (let i = 0; i < buf.readUInt16BE(6); i++) {
    offset = skipName(buf, offset)
    const type = buf.readUInt16BE(offset)
    const length = buf.readUInt16BE(offset + 8)
    const data = buf.subarray(offset + 10, offset + 10 + length)
    offset += 10 + length
    if (type === 1) answers.push([...data].join('.'))
    if (type === 28) answers.push(formatV6(data))
  }
  return {rcode, answers}
}
const socket = dgram.createSocket('udp4')
const results = []
for (const [i, query] of queries.entries()) {
  const [name, type] = query.split('/')
  const reply = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('no answer to ' + query)), 3000)
    socket.once('message', (message) => { clearTimeout(timer); resolve(message) })
    socket.send(encode(i + 1, name, TYPES[type]), 53, server)
  })
  results.push({query, ...decode(reply)})
}
socket.close()
console.log(JSON.stringify(results))
`

let work: {path: string; cleanup: () => void} | undefined
const pidFiles: string[] = []

function workDir(): string {
  if (!work) throw new Error('beforeAll did not run')
  return work.path
}

function render(d: Desired): string {
  const fleet = new Fleet(d, state)
  const text = renderDnsmasq(fleet, fleet.nodes.get(node.name)!)
  if (text === undefined) throw new Error('expected a dnsmasq config')
  return text
}

/** A v4-only service, so the AAAA guard is exercised; its wildcard has no apex record of its own. */
const intranet: Service = {
  name: 'intranet',
  domains: ['intranet.corp.example', '*.apps.corp.example'],
  target: {addresses: [ip('10.20.0.20')], ports: [{from: 443, to: 443}], protocol: 'tcp'},
  access: {groups: [], users: ['bob']},
  nodes: {kind: 'all'},
}

/** The fixture served on loopback, forwarding to the sentinel upstream (which also exercises `#port`). */
const served: Desired = {
  ...desired,
  nodes: [{...node, dns: {enabled: true, listen: [ip('127.0.0.1')], upstreams: ['127.0.0.2#5300']}}],
  services: [...desired.services, intranet],
}

async function serveAndQuery(queries: readonly string[]): Promise<Map<string, Answer>> {
  const dir = workDir()
  const conf = writeTemp(dir, 'served.conf', render(served))
  const query = writeTemp(dir, 'query.mjs', QUERY_SCRIPT)
  const upstreamPid = join(dir, 'upstream.pid')
  const mainPid = join(dir, 'main.pid')
  pidFiles.push(upstreamPid, mainPid)
  // Foreground daemons stay children of this shell, so the trap can stop and reap them.
  // dnsmasq writes its pid file only after binding its sockets: that is the readiness signal.
  const script = `
    pids=()
    stop() { for pid in "\${pids[@]}"; do kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; done; }
    trap stop EXIT
    ready() { for _ in $(seq 200); do [ -s "$1" ] && return 0; sleep 0.05; done; echo "dnsmasq did not start: $1" >&2; return 1; }
    ip link set lo up
    dnsmasq --keep-in-foreground --conf-file=/dev/null --no-resolv --no-hosts --bind-interfaces \
      --listen-address=127.0.0.2 --port=5300 --address=/#/${UPSTREAM_V4} --address=/#/${UPSTREAM_V6} \
      --pid-file=${shellQuote(upstreamPid)} &
    pids+=($!)
    dnsmasq --keep-in-foreground --conf-file=${shellQuote(conf)} --pid-file=${shellQuote(mainPid)} &
    pids+=($!)
    ready ${shellQuote(upstreamPid)}
    ready ${shellQuote(mainPid)}
    ${shellQuote(process.execPath)} ${shellQuote(query)} 127.0.0.1 ${queries.map(shellQuote).join(' ')}
  `
  const result = await inPrivateNetns(script)
  expect(result.stderr).toBe('')
  expect(result.exitCode).toBe(0)
  const answers = JSON.parse(String(result.stdout)) as Answer[]
  return new Map(answers.map((answer) => [answer.query, answer]))
}

describe('dnsmasq config checked and served by dnsmasq', () => {
  beforeAll(async () => {
    for (const tool of ['dnsmasq', 'ip', 'unshare']) await requireTool(tool)
    work = tempDir('nexus-dnsmasq-')
  })

  afterAll(() => {
    // The script's trap stops both daemons; this catches a script killed before it could.
    // Each dnsmasq is told its pid file on the command line, which marks it as ours.
    for (const pidFile of pidFiles) stopIfStillRunning(pidFile, 'dnsmasq', pidFile)
    work?.cleanup()
  })

  it('passes dnsmasq --test', async () => {
    const result = await checkDnsmasq(workDir(), 'nexus.conf', render(desired))
    expect(result.exitCode).toBe(0)
    expect(result.stderr).toContain('syntax check OK')
  })

  it('passes dnsmasq --test with the local= guard of a v4-only service', async () => {
    const text = render({...desired, services: [...desired.services, intranet]})
    expect(text).toContain('local=/intranet.corp.example/')
    const result = await checkDnsmasq(workDir(), 'guarded.conf', text)
    expect(result.exitCode).toBe(0)
    expect(result.stderr).toContain('syntax check OK')
  })

  it('fails dnsmasq --test on a broken address', async () => {
    const broken = render(desired).replace(
      'address=/git.corp.example/10.10.0.10',
      'address=/git.corp.example/10.10.0.300',
    )
    const result = await checkDnsmasq(workDir(), 'broken.conf', broken)
    expect(result.exitCode).not.toBe(0)
    expect(result.stderr).toContain('Bad address')
  })

  it('answers service domains locally and forwards everything else', async () => {
    const answers = await serveAndQuery([
      'git.corp.example/A',
      'git.corp.example/AAAA',
      'deep.git.corp.example/A',
      'a.wiki.corp.example/A',
      'a.b.wiki.corp.example/AAAA',
      'wiki.corp.example/A',
      'intranet.corp.example/A',
      'intranet.corp.example/AAAA',
      'x.apps.corp.example/A',
      'x.apps.corp.example/AAAA',
      'elsewhere.example/A',
      'elsewhere.example/AAAA',
    ])
    const answer = (query: string) => answers.get(query)
    // Exact domains answer for themselves and every name below them.
    expect(answer('git.corp.example/A')).toMatchObject({rcode: 0, answers: ['10.10.0.10']})
    expect(answer('git.corp.example/AAAA')).toMatchObject({rcode: 0, answers: ['fd10:0:0:0:0:0:0:10']})
    expect(answer('deep.git.corp.example/A')).toMatchObject({rcode: 0, answers: ['10.10.0.10']})
    // /*.wiki.corp.example/ answers names below it, at any depth, but not wiki.corp.example itself.
    expect(answer('a.wiki.corp.example/A')).toMatchObject({rcode: 0, answers: ['10.10.0.10']})
    expect(answer('a.b.wiki.corp.example/AAAA')).toMatchObject({rcode: 0, answers: ['fd10:0:0:0:0:0:0:10']})
    expect(answer('wiki.corp.example/A')).toMatchObject({rcode: 0, answers: [UPSTREAM_V4]})
    // A v4-only service: AAAA is answered locally with no data, never forwarded upstream.
    expect(answer('intranet.corp.example/A')).toMatchObject({rcode: 0, answers: ['10.20.0.20']})
    expect(answer('intranet.corp.example/AAAA')).toMatchObject({rcode: 0, answers: []})
    expect(answer('x.apps.corp.example/A')).toMatchObject({rcode: 0, answers: ['10.20.0.20']})
    expect(answer('x.apps.corp.example/AAAA')).toMatchObject({rcode: 0, answers: []})
    // The upstream is reachable, so the empty AAAA answers above are local, not a failed forward.
    expect(answer('elsewhere.example/A')).toMatchObject({rcode: 0, answers: [UPSTREAM_V4]})
    expect(answer('elsewhere.example/AAAA')).toMatchObject({rcode: 0, answers: ['2001:db8:0:0:0:0:0:99']})
  })
})
