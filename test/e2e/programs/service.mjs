/**
 * The internal service host of the end-to-end topology (runs inside its
 * network namespace): `node service.mjs DIR`.
 *
 * - HTTP on 80 (the wiki the Service declares), 8080 (named by a deny rule)
 *   and 8081 (named by no rule but a log rule); each answers with its port, and
 *   keeps connections alive for 2 minutes so a test can hold one across an apply.
 *   `GET /bytes/N` answers with N bytes instead (up to 16 MiB): a payload of known size.
 *   Every request is logged to DIR/http.log (`PORT FROM HOST`).
 * - UDP on 9999 (named by a rate_limit rule): counts datagrams into DIR/udp-9999.count.
 * - DNS on UDP 5353: the gateways' upstream. It answers every A query with
 *   10.231.1.99 and every AAAA query with fd31:1::99, and logs each question to
 *   DIR/dns-queries.log, so a test sees both what leaked upstream and the answer it got.
 *
 * Prints `ready` once everything listens.
 */
import {appendFileSync, writeFileSync} from 'node:fs'
import {createSocket} from 'node:dgram'
import {createServer} from 'node:http'
import {join} from 'node:path'

const dir = process.argv[2]
if (!dir) throw new Error('usage: service.mjs DIR')

const UPSTREAM_A = [10, 231, 1, 99]
const MAX_PAYLOAD = 16 * 1024 * 1024
const UPSTREAM_AAAA = [0xfd, 0x31, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x99]

function http(port, text) {
  const server = createServer((request, response) => {
    appendFileSync(join(dir, 'http.log'), `${port} ${request.socket.remoteAddress} ${request.headers.host ?? '-'}\n`)
    response.setHeader('content-type', 'text/plain')
    response.setHeader('x-port', String(port))
    const size = /^\/bytes\/(\d+)$/.exec(request.url ?? '')?.[1]
    if (size !== undefined && Number(size) <= MAX_PAYLOAD) {
      response.setHeader('content-length', size)
      response.end(Buffer.alloc(Number(size), 'x'))
      return
    }
    response.end(`${text}\n`)
  })
  server.keepAliveTimeout = 120_000
  return new Promise((resolve) => server.listen(port, '0.0.0.0', resolve))
}

function udpCounter(port) {
  let count = 0
  const file = join(dir, `udp-${port}.count`)
  writeFileSync(file, '0')
  const socket = createSocket('udp4')
  socket.on('message', () => {
    count++
    writeFileSync(file, String(count))
  })
  return new Promise((resolve) => socket.bind(port, '0.0.0.0', resolve))
}

/** The question of a DNS query: name (lower case), type, and where the question ends. */
function question(message) {
  const labels = []
  let offset = 12
  while (offset < message.length && message[offset] !== 0) {
    const length = message[offset]
    labels.push(message.subarray(offset + 1, offset + 1 + length).toString('ascii'))
    offset += length + 1
  }
  offset += 1
  const type = message.readUInt16BE(offset)
  return {name: labels.join('.').toLowerCase(), type, end: offset + 4}
}

function dnsAnswer(query) {
  const q = question(query)
  const rdata = q.type === 1 ? UPSTREAM_A : q.type === 28 ? UPSTREAM_AAAA : undefined
  appendFileSync(join(dir, 'dns-queries.log'), `${q.name} ${q.type === 1 ? 'A' : q.type === 28 ? 'AAAA' : q.type}\n`)
  const header = Buffer.alloc(12)
  query.copy(header, 0, 0, 2)
  header.writeUInt16BE(0x8180 | (query.readUInt16BE(2) & 0x0100), 2) // response, recursion available, RD echoed
  header.writeUInt16BE(1, 4)
  header.writeUInt16BE(rdata ? 1 : 0, 6)
  const parts = [header, query.subarray(12, q.end)]
  if (rdata) {
    const answer = Buffer.alloc(12)
    answer.writeUInt16BE(0xc00c, 0) // the name of the question
    answer.writeUInt16BE(q.type, 2)
    answer.writeUInt16BE(1, 4)
    answer.writeUInt32BE(0, 6)
    answer.writeUInt16BE(rdata.length, 10)
    parts.push(answer, Buffer.from(rdata))
  }
  return Buffer.concat(parts)
}

function dns(port) {
  const socket = createSocket('udp4')
  socket.on('message', (message, remote) => {
    try {
      socket.send(dnsAnswer(message), remote.port, remote.address)
    } catch (error) {
      appendFileSync(join(dir, 'dns-queries.log'), `error ${String(error)}\n`)
    }
  })
  return new Promise((resolve) => socket.bind(port, '0.0.0.0', resolve))
}

await Promise.all([
  http(80, 'wiki: hello from the internal wiki'),
  http(8080, 'admin console'),
  http(8081, 'public page'),
  udpCounter(9999),
  dns(5353),
])
process.stdout.write('ready\n')
