/**
 * Redirects, over real loopback sockets (not msw: what matters is what fetch itself does with a 3xx).
 * By default the client refuses them: the token and the body (api key included) never go to a URL the
 * caller did not configure, and nothing is retried. `redirect: 'follow'` follows them by fetch's rules, but the
 * token and the `x-gitlab-*` headers go only to URLs under `baseUrl`.
 */
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { inspect } from 'node:util'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { createGatewayClient, GatewayRedirectError, NetworkError, type GatewayClientOptions } from '../src/client/index.js'
import { InvalidOptionsError } from '../src/errors.js'
import { claims, fixedSource, INSTANCE, now, signJwt } from './client-support.js'

const TOKEN = signJwt(claims())
const API_KEY = 'sk-live-redirect-0123456789SECRET'
const MODEL = { name: 'mistral', endpoint: 'http://model:8000/v1', apiKey: API_KEY }
const SUGGESTION = {
  id: 'id',
  model: { engine: 'vertex-ai', name: 'code-gecko@002', lang: 'python' },
  created: 1_772_366_400,
  choices: [{ text: 'return a + b', index: 0, finish_reason: 'length' }],
}
const BODY = { current_file: { file_name: 'app.py', content_above_cursor: 'def add(a, b):\n    ' } }
/** BODY as sent: the schema fills the gateway's defaults. */
const SENT = { current_file: { ...BODY.current_file, content_below_cursor: '' }, prompt_version: 1 }

interface Seen {
  method: string
  url: string
  headers: IncomingHttpHeaders
  body: string
}

/** A loopback HTTP server that records each request and answers with `answer(request)`. */
function loopback(answer: (seen: Seen) => { status: number; headers?: Record<string, string>; body?: string }) {
  const seen: Seen[] = []
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = []
    req.on('data', (c: Buffer) => chunks.push(c))
    req.on('end', () => {
      const entry: Seen = { method: req.method ?? '', url: req.url ?? '', headers: req.headers, body: Buffer.concat(chunks).toString('utf8') }
      seen.push(entry)
      const a = answer(entry)
      res.writeHead(a.status, a.headers ?? {})
      res.end(a.body ?? '')
    })
  })
  return {
    seen,
    server,
    listen: () => new Promise<string>((resolve) => server.listen(0, '127.0.0.1', () => resolve(`http://127.0.0.1:${(server.address() as AddressInfo).port}`))),
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  }
}

const target = loopback(() => ({ status: 200, headers: { 'content-type': 'application/json' }, body: JSON.stringify(SUGGESTION) }))
let targetUrl = ''
let status = 307
const gateway = loopback(() => ({ status, headers: { location: `${targetUrl}/v2/code/completions` } }))
let gatewayUrl = ''

beforeAll(async () => {
  targetUrl = await target.listen()
  gatewayUrl = await gateway.listen()
})
afterEach(() => {
  target.seen.length = 0
  gateway.seen.length = 0
  status = 307
})
afterAll(async () => {
  await gateway.close()
  await target.close()
})

function client(overrides: Partial<GatewayClientOptions> = {}) {
  return createGatewayClient({ baseUrl: gatewayUrl, tokenSource: fixedSource(TOKEN), headers: { instance: INSTANCE }, now, ...overrides })
}

async function rejection(p: Promise<unknown>): Promise<unknown> {
  try {
    await p
  } catch (e) {
    return e
  }
  throw new Error('expected a rejection')
}

describe('client: redirects', () => {
  for (const code of [301, 302, 307, 308]) {
    it(`refuses a ${code} by default: GatewayRedirectError, one request at the gateway, none at the target, no retry`, async () => {
      status = code
      const e = (await rejection(client().codeCompletions(BODY))) as GatewayRedirectError
      expect(e).toBeInstanceOf(GatewayRedirectError)
      expect(e.code).toBe('ERR_GATEWAY_REDIRECT')
      expect(e.message).toMatch(/^codeCompletions: the AI Gateway answered POST \/v2\/code\/completions \(request id [0-9a-f-]{36}\) with a redirect \(3xx\)\./)
      expect(e.message).toContain("Set baseUrl to the gateway's final URL")
      expect(e.message).toContain("redirect: 'follow'")
      expect(e.attempts).toBe(1)
      // codeCompletions is retry-safe, yet a redirect is not a network failure: exactly one request
      expect(gateway.seen).toHaveLength(1)
      expect(target.seen).toHaveLength(0)
      // the one request that left was whole: token, gateway headers and body
      expect(gateway.seen[0]?.headers['authorization']).toBe(`Bearer ${TOKEN}`)
      expect(gateway.seen[0]?.headers['x-gitlab-instance-id']).toBe(INSTANCE.id)
      expect(JSON.parse(gateway.seen[0]?.body ?? '')).toEqual(SENT)
    })
  }

  it('the refusal carries no token or api key, in its message or in inspect()', async () => {
    const e = await rejection(client().checkModelConfiguration(MODEL))
    expect(e).toBeInstanceOf(GatewayRedirectError)
    const shown = `${String(e)}\n${inspect(e, { depth: 8 })}\n${JSON.stringify(e)}`
    expect(shown).not.toContain(API_KEY)
    expect(shown).not.toContain(TOKEN.split('.')[2])
    expect(gateway.seen).toHaveLength(1)
    expect(target.seen).toHaveLength(0)
  })

  it("redirect: 'follow' follows a 307 to another origin and re-sends the POST, without the token or any x-gitlab-* header", async () => {
    const r = await client({ redirect: 'follow' }).codeCompletions(BODY)
    expect(r.status).toBe(200)
    expect(r.data.choices[0]?.text).toBe('return a + b')
    expect(gateway.seen).toHaveLength(1)
    expect(target.seen).toHaveLength(1)
    expect(target.seen[0]?.method).toBe('POST')
    expect(JSON.parse(target.seen[0]?.body ?? '')).toEqual(SENT)
    expect(target.seen[0]?.body).toBe(gateway.seen[0]?.body)
    expect(target.seen[0]?.headers['content-length']).toBe(String(Buffer.byteLength(target.seen[0]?.body ?? '')))
    // the gateway got the whole request; the other origin none of the gateway-only headers
    expect(gateway.seen[0]?.headers['authorization']).toBe(`Bearer ${TOKEN}`)
    expect(Object.keys(gateway.seen[0]?.headers ?? {}).filter((h) => h.startsWith('x-gitlab-')).length).toBeGreaterThan(3)
    expect(target.seen[0]?.headers['authorization']).toBeUndefined()
    expect(Object.keys(target.seen[0]?.headers ?? {}).filter((h) => h.startsWith('x-gitlab-'))).toEqual([])
  })

  it("redirect: 'follow' — a same-origin hop outside baseUrl gets no token; a hop back under baseUrl gets it again", async () => {
    // baseUrl has a path prefix; the server sends /gw/... to /elsewhere/..., and /elsewhere/... back to /gw/x/...
    const site = loopback((seen): { status: number; headers: Record<string, string>; body?: string } => {
      if (seen.url === '/gw/v2/code/completions') return { status: 308, headers: { location: '/elsewhere/v2/code/completions' } }
      if (seen.url === '/elsewhere/v2/code/completions') return { status: 307, headers: { location: '/gw/x/v2/code/completions' } }
      return { status: 200, headers: { 'content-type': 'application/json' }, body: JSON.stringify(SUGGESTION) }
    })
    const url = await site.listen()
    try {
      const c = createGatewayClient({ baseUrl: `${url}/gw`, tokenSource: fixedSource(TOKEN), headers: { instance: INSTANCE }, now, redirect: 'follow' })
      const r = await c.codeCompletions(BODY)
      expect(r.data).toEqual(SUGGESTION)
      expect(site.seen.map((x) => x.url)).toEqual(['/gw/v2/code/completions', '/elsewhere/v2/code/completions', '/gw/x/v2/code/completions'])
      expect(site.seen.map((x) => x.headers['authorization'])).toEqual([`Bearer ${TOKEN}`, undefined, `Bearer ${TOKEN}`])
      expect(site.seen.map((x) => x.headers['x-gitlab-instance-id'])).toEqual([INSTANCE.id, undefined, INSTANCE.id])
      expect(site.seen.map((x) => JSON.parse(x.body))).toEqual([SENT, SENT, SENT])
    } finally {
      await site.close()
    }
  })

  it("redirect: 'follow' — a 303 becomes a GET without the body or its headers", async () => {
    status = 303
    const r = await client({ redirect: 'follow' }).codeCompletions(BODY)
    expect(r.status).toBe(200)
    expect(target.seen[0]?.method).toBe('GET')
    expect(target.seen[0]?.body).toBe('')
    expect(target.seen[0]?.headers['content-type']).toBeUndefined()
    expect(target.seen[0]?.headers['content-length']).toBeUndefined()
  })

  it("redirect: 'follow' and a redirect loop: GatewayRedirectError after fetch's limit of 20 redirects, nothing retried", async () => {
    const loop = loopback((seen) => ({ status: 307, headers: { location: seen.url } }))
    const url = await loop.listen()
    try {
      const c = createGatewayClient({ baseUrl: url, tokenSource: fixedSource(TOKEN), headers: { instance: INSTANCE }, now, redirect: 'follow' })
      const e = (await rejection(c.codeCompletions(BODY))) as GatewayRedirectError
      expect(e).toBeInstanceOf(GatewayRedirectError)
      expect(e.code).toBe('ERR_GATEWAY_REDIRECT')
      expect(e.message).toBe('codeCompletions: POST /v2/code/completions was redirected more than 20 times (a redirect loop?); the last one was not followed.')
      expect(e).toMatchObject({ endpoint: 'codeCompletions', status: 307, attempts: 1 })
      // the first request and 20 redirects
      expect(loop.seen).toHaveLength(21)
    } finally {
      await loop.close()
    }
  })

  it("redirect: 'follow' — a Location that is not http(s) is not followed", async () => {
    const odd = loopback(() => ({ status: 302, headers: { location: 'file:///etc/passwd' } }))
    const url = await odd.listen()
    try {
      const c = createGatewayClient({ baseUrl: url, tokenSource: fixedSource(TOKEN), headers: { instance: INSTANCE }, now, redirect: 'follow' })
      const e = (await rejection(c.codeCompletions(BODY))) as GatewayRedirectError
      expect(e).toBeInstanceOf(GatewayRedirectError)
      expect(e.message).toBe('codeCompletions: the AI Gateway answered POST /v2/code/completions with a redirect (302) to a location that is not an http(s) URL; it was not followed.')
      expect(odd.seen).toHaveLength(1)
    } finally {
      await odd.close()
    }
  })

  it('without a redirect, the default client sends each request once and reads the answer', async () => {
    const direct = createGatewayClient({ baseUrl: targetUrl, tokenSource: fixedSource(TOKEN), headers: { instance: INSTANCE }, now })
    for (let i = 0; i < 3; i++) {
      const r = await direct.codeCompletions(BODY)
      expect(r.data).toEqual(SUGGESTION)
      expect(r.attempts).toBe(1)
    }
    expect(target.seen).toHaveLength(3)
    expect(new Set(target.seen.map((s) => s.headers['x-request-id'])).size).toBe(3)
  })

  it('validates the option', () => {
    expect(() => client({ redirect: 'manual' as never })).toThrow(InvalidOptionsError)
  })
})
