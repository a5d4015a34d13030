/**
 * Client-side traffic for the end-to-end tests (runs inside a client's
 * network namespace). Prints one JSON line per result; failures are results
 * (`{ok: false, code}`), never a non-zero exit, so a test can assert either.
 *
 *   tcp HOST PORT MS              connect and read the first bytes (a banner)
 *   http URL MS                   GET
 *   http-proxy PROXY PORT URL MS  GET through an HTTP proxy
 *   download URL MS               GET, reporting only the body's size (`bytes`)
 *   download-proxy PROXY PORT URL MS   the same through an HTTP proxy
 *   dns SERVER NAME A|AAAA MS     one query to SERVER
 *   udp HOST PORT COUNT           COUNT datagrams back to back (and how long that took)
 *   hold HOST PORT GOFILE MS      HTTP/1.1 keep-alive: one request, then (once
 *                                 GOFILE exists) another on the same socket
 *
 * `code` is TIMEOUT when nothing answered in time (a drop), else the system's
 * error code (ECONNREFUSED, ENODATA, ...).
 */
import {existsSync} from 'node:fs'
import {connect} from 'node:net'
import {request} from 'node:http'
import {Resolver} from 'node:dns/promises'
import {createSocket} from 'node:dgram'

const [command, ...args] = process.argv.slice(2)
const print = (value) => process.stdout.write(`${JSON.stringify(value)}\n`)
const failure = (error) => ({
  ok: false,
  code: error?.code ?? error?.name ?? 'ERROR',
  message: String(error?.message ?? error),
})
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms))

function tcp(host, port, ms) {
  return new Promise((resolve) => {
    const socket = connect({host, port: Number(port)})
    const timer = setTimeout(() => {
      socket.destroy()
      resolve({ok: false, code: 'TIMEOUT'})
    }, Number(ms))
    socket.once('data', (chunk) => {
      clearTimeout(timer)
      socket.destroy()
      resolve({ok: true, banner: chunk.toString('latin1').split('\r\n')[0]})
    })
    socket.once('error', (error) => {
      clearTimeout(timer)
      resolve(failure(error))
    })
  })
}

/** A GET; with `sizeOnly`, the result has the body's length in bytes instead of the body. */
function get(options, ms, sizeOnly = false) {
  return new Promise((resolve) => {
    const req = request({...options, agent: false, signal: AbortSignal.timeout(Number(ms))}, (response) => {
      const chunks = []
      let bytes = 0
      response.on('data', (chunk) => {
        bytes += chunk.length
        if (!sizeOnly) chunks.push(chunk)
      })
      response.on('end', () =>
        resolve(
          sizeOnly
            ? {ok: true, status: response.statusCode, bytes}
            : {ok: true, status: response.statusCode, body: Buffer.concat(chunks).toString('utf8')},
        ),
      )
      response.on('error', (error) => resolve(failure(error)))
    })
    req.on('error', (error) => resolve(error?.name === 'AbortError' ? {ok: false, code: 'TIMEOUT'} : failure(error)))
    req.end()
  })
}

async function dns(server, name, type, ms) {
  const resolver = new Resolver({timeout: Number(ms), tries: 1})
  resolver.setServers([server])
  try {
    const addresses = type === 'AAAA' ? await resolver.resolve6(name) : await resolver.resolve4(name)
    return {ok: true, addresses}
  } catch (error) {
    return failure(error)
  }
}

async function udp(host, port, count) {
  const socket = createSocket(host.includes(':') ? 'udp6' : 'udp4')
  const started = performance.now()
  for (let i = 0; i < Number(count); i++) {
    await new Promise((resolve) => socket.send(Buffer.from(`probe ${i}`), Number(port), host, resolve))
  }
  socket.close()
  return {ok: true, sent: Number(count), ms: Math.ceil(performance.now() - started)}
}

/** Two HTTP requests on one TCP connection, the second once GOFILE exists. */
function hold(host, port, goFile, ms) {
  return new Promise((resolve) => {
    const socket = connect({host, port: Number(port)})
    const results = []
    let buffer = ''
    let local = ''
    const send = () => socket.write(`GET / HTTP/1.1\r\nHost: ${host}\r\nConnection: keep-alive\r\n\r\n`)
    const finish = (value) => {
      socket.destroy()
      resolve(value)
    }
    socket.setTimeout(Number(ms), () => finish({ok: false, code: 'TIMEOUT', responses: results}))
    socket.once('connect', () => {
      local = `${socket.localAddress}:${socket.localPort}`
      send()
    })
    socket.on('data', async (chunk) => {
      buffer += chunk.toString('latin1')
      const end = buffer.indexOf('\r\n\r\n')
      const length = Number(/content-length: (\d+)/i.exec(buffer)?.[1] ?? -1)
      if (end < 0 || length < 0 || buffer.length < end + 4 + length) return
      results.push(buffer.slice(end + 4, end + 4 + length).trim())
      buffer = ''
      if (results.length === 2) return finish({ok: true, responses: results, local})
      print({ok: true, stage: 'first', responses: [results[0]], local})
      socket.setTimeout(0)
      while (!existsSync(goFile)) await sleep(50)
      socket.setTimeout(Number(ms), () => finish({ok: false, code: 'TIMEOUT', responses: results}))
      send()
    })
    socket.on('error', (error) => finish({...failure(error), responses: results}))
    socket.on('close', () => finish({ok: false, code: 'CLOSED', responses: results}))
  })
}

switch (command) {
  case 'tcp':
    print(await tcp(args[0], args[1], args[2] ?? 3000))
    break
  case 'http':
  case 'download': {
    const url = new URL(args[0])
    print(
      await get(
        {host: url.hostname.replace(/^\[|\]$/g, ''), port: url.port || 80, path: url.pathname},
        args[1] ?? 3000,
        command === 'download',
      ),
    )
    break
  }
  case 'http-proxy':
  case 'download-proxy':
    print(
      await get(
        {host: args[0], port: Number(args[1]), path: args[2], headers: {host: new URL(args[2]).host}},
        args[3] ?? 5000,
        command === 'download-proxy',
      ),
    )
    break
  case 'dns':
    print(await dns(args[0], args[1], args[2], args[3] ?? 2000))
    break
  case 'udp':
    print(await udp(args[0], args[1], args[2]))
    break
  case 'hold':
    print(await hold(args[0], args[1], args[2], args[3] ?? 5000))
    break
  default:
    print({ok: false, code: 'USAGE', message: `unknown command ${command}`})
}
