/**
 * A small HTTP/1.1 server around a synchronous handler: it turns node:http
 * requests into plain values, writes the handler's reply (no body for HEAD),
 * and shuts down gracefully: no new connections, in-flight requests finish,
 * idle keep-alive sockets close at once, the rest after a grace period.
 */
import {createServer, type IncomingMessage, type ServerResponse} from 'node:http'
import type {AddressInfo} from 'node:net'

import {NexusError} from '../errors.js'

export interface HttpRequest {
  readonly method: string
  /** Path and query as received. */
  readonly url: string
  /** Lower-case names; repeated headers joined with `, `. */
  readonly headers: Readonly<Record<string, string | undefined>>
  readonly remoteAddress: string | undefined
}

export interface HttpReply {
  readonly status: number
  readonly headers: Readonly<Record<string, string>>
  readonly body: string
}

export interface HttpServerOptions<R extends HttpReply = HttpReply> {
  readonly host: string
  /** 0 picks a free port. */
  readonly port: number
  readonly handle: (request: HttpRequest) => R
  /** Called after each reply is handed to the socket: body bytes sent, milliseconds since the request came in. */
  readonly onReply?: (request: HttpRequest, reply: R, sent: {readonly bytes: number; readonly ms: number}) => void
  /** A handler that threw: the client got a 500. */
  readonly onError?: (error: unknown) => void
}

export interface HttpServer {
  readonly host: string
  readonly port: number
  /** `http://host:port/`, IPv6 hosts in brackets. */
  readonly url: string
  /** Stops accepting, lets in-flight requests finish for up to `graceMs`, then drops what is left. */
  close(graceMs?: number): Promise<void>
}

export async function startHttpServer<R extends HttpReply>(options: HttpServerOptions<R>): Promise<HttpServer> {
  const server = createServer((req, res) => serve(req, res, options))
  server.keepAliveTimeout = 5_000
  server.headersTimeout = 10_000
  server.requestTimeout = 15_000
  await new Promise<void>((resolve, reject) => {
    const failed = (error: NodeJS.ErrnoException) => {
      reject(
        new NexusError(
          'listen_failed',
          `cannot listen on ${hostPort(options.host, options.port)}: ${error.code ?? error.message}`,
          error.code === 'EADDRINUSE' ? 'pick another --port, or stop what holds it' : 'check --host and --port',
        ),
      )
    }
    server.once('error', failed)
    server.listen(options.port, options.host, () => {
      server.off('error', failed)
      resolve()
    })
  })
  const address = server.address() as AddressInfo
  let closing: Promise<void> | undefined
  return {
    host: address.address,
    port: address.port,
    url: `http://${hostPort(address.address, address.port)}/`,
    close(graceMs = 5_000) {
      closing ??= new Promise<void>((resolve) => {
        const force = setTimeout(() => server.closeAllConnections(), graceMs)
        force.unref()
        server.close(() => {
          clearTimeout(force)
          resolve()
        })
        server.closeIdleConnections()
      })
      return closing
    },
  }
}

function serve<R extends HttpReply>(req: IncomingMessage, res: ServerResponse, options: HttpServerOptions<R>): void {
  const started = performance.now()
  const request: HttpRequest = {
    method: req.method ?? 'GET',
    url: req.url ?? '/',
    headers: flatHeaders(req),
    remoteAddress: req.socket.remoteAddress,
  }
  const head = request.method === 'HEAD'
  let reply: R
  let body: Buffer
  try {
    reply = options.handle(request)
    body = Buffer.from(reply.body, 'utf8')
    res.writeHead(reply.status, {...reply.headers, 'content-length': String(body.length)})
  } catch (error) {
    options.onError?.(error)
    const text = 'internal error\n'
    if (!res.headersSent) {
      res.writeHead(500, {'content-type': 'text/plain; charset=utf-8', 'content-length': String(text.length)})
    }
    res.end(head ? undefined : text)
    return
  }
  res.end(head ? undefined : body)
  options.onReply?.(request, reply, {bytes: head ? 0 : body.length, ms: performance.now() - started})
}

function flatHeaders(req: IncomingMessage): Record<string, string | undefined> {
  const headers: Record<string, string | undefined> = {}
  for (const [name, value] of Object.entries(req.headers)) {
    headers[name] = Array.isArray(value) ? value.join(', ') : value
  }
  return headers
}

function hostPort(host: string, port: number): string {
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`
}
