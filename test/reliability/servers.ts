/**
 * A small node:http server on loopback for fault tests: each test gives its own handler, every
 * request is counted, and close() ends every connection so nothing is left open.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'

export interface TestServer {
  readonly url: string
  readonly port: number
  /** Every request received, `METHOD /path`, in arrival order. */
  readonly requests: string[]
  count(path?: string | RegExp): number
  /** Replace the handler. */
  handle(handler: Handler): void
  close(): Promise<void>
}

export type Handler = (req: IncomingMessage, res: ServerResponse, url: URL) => void | Promise<void>

export async function startServer(handler: Handler = (_req, res) => json(res, 404, { message: 'Not Found' }), port = 0): Promise<TestServer> {
  let current = handler
  const requests: string[] = []
  const srv = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://127.0.0.1')
    requests.push(`${req.method} ${url.pathname}`)
    Promise.resolve(current(req, res, url)).catch(() => {
      if (!res.headersSent) res.writeHead(500).end()
    })
  })
  srv.keepAliveTimeout = 500
  await new Promise<void>((resolve, reject) => {
    srv.once('error', reject)
    srv.listen(port, '127.0.0.1', () => resolve())
  })
  const actual = (srv.address() as AddressInfo).port
  return {
    url: `http://127.0.0.1:${actual}`,
    port: actual,
    requests,
    count(path) {
      if (path === undefined) return requests.length
      return requests.filter((r) => (typeof path === 'string' ? r.endsWith(` ${path}`) : path.test(r))).length
    },
    handle(h) {
      current = h
    },
    close: () =>
      new Promise<void>((resolve) => {
        srv.close(() => resolve())
        srv.closeAllConnections()
      }),
  }
}

export function json(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(body)
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text), ...headers })
  res.end(text)
}

/** An OIDC issuer: discovery at the root, its key set at /oauth/discovery/keys. */
export function issuerHandler(keys: () => unknown): Handler {
  return (req, res, url) => {
    if (url.pathname === '/.well-known/openid-configuration') {
      json(res, 200, { issuer: `http://${req.headers.host}`, jwks_uri: `http://${req.headers.host}/oauth/discovery/keys` })
    } else if (url.pathname === '/oauth/discovery/keys') {
      json(res, 200, keys())
    } else {
      json(res, 404, { message: 'Not Found' })
    }
  }
}
