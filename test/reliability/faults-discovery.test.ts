/**
 * Faults of the verifier's key discovery (OIDC well-known document → jwks_uri), served by real
 * node:http servers on loopback: down, slow beyond the timeout (headers or body), non-JSON,
 * redirects, an empty or invalid key set, one issuer of two down. Every fault fails closed with a
 * clear code (discoverJwks throws a JwksError; authenticate answers the gateway's 500 "No keys founds
 * in JWKS" and logs the code), concurrent callers share one fetch, and strict mode reloads for an
 * unknown kid at most once per cooldown.
 */
import { randomUUID } from 'node:crypto'
import type { ServerResponse } from 'node:http'
import { setFlagsFromString } from 'node:v8'
import { runInNewContext } from 'node:vm'
import { afterEach, describe, expect, it } from 'vitest'
import { asEvent } from '../client-support.js'
import {
  createGatewayVerifier,
  JwksError,
  toJwks,
  type GatewayVerifier,
  type Logger,
} from '../../src/index.js'
import { discoverJwks, MAX_DISCOVERY_BYTES } from '../../src/verify/discovery.js'
import { UNKNOWN_KID_COOLDOWN_SECONDS } from '../../src/verify/verifier.js'
import { loadCaseFixture } from '../cases/fixture.js'
import { mintJwt } from '../cases/mint.js'
import { INSTANCE_ID, manualClock } from './config.js'
import { issuerHandler, json, startServer, type TestServer } from './servers.js'

const fx = loadCaseFixture()
const NOW = Math.floor(fx.now.getTime() / 1000)
const claims = { sub: INSTANCE_ID, aud: ['gitlab-ai-gateway'], iat: NOW, nbf: NOW - 5, exp: NOW + 7 * 86_400, gitlab_realm: 'self-managed', scopes: ['complete_code'] }
const tokenBy = (key: typeof fx.key, kid = key.kid, iss = 'http://127.0.0.1') => mintJwt({ alg: 'RS256', typ: 'JWT', kid }, { ...claims, iss }, key.privateKey!)
const headersFor = (token: string) => ({ authorization: `Bearer ${token}`, 'x-gitlab-authentication-type': 'oidc', 'x-gitlab-instance-id': INSTANCE_ID, 'x-gitlab-realm': 'self-managed' })
const NO_KEYS = { status: 500, error: 'No keys founds in JWKS; are OIDC providers up?', reason: 'CriticalAuthError: No keys founds in JWKS; are OIDC providers up?', check: 'keys' }

const servers: TestServer[] = []
async function server(handler?: Parameters<typeof startServer>[0]): Promise<TestServer> {
  const s = await startServer(handler)
  servers.push(s)
  return s
}
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.close()))
})

function recorder() {
  const events: { level: string; event: string; fields: Record<string, unknown> }[] = []
  const logger: Logger = {
    debug: asEvent((event, fields) => events.push({ level: 'debug', event, fields })),
    info: asEvent((event, fields) => events.push({ level: 'info', event, fields })),
    warn: asEvent((event, fields) => events.push({ level: 'warn', event, fields })),
    error: asEvent((event, fields) => events.push({ level: 'error', event, fields })),
  }
  return { logger, events, codes: () => events.filter((e) => e.event === 'gateway_verifier.issuer_failed').map((e) => e.fields.code) }
}

async function rejectionOf(p: Promise<unknown>): Promise<JwksError> {
  try {
    await p
  } catch (e) {
    expect(e).toBeInstanceOf(JwksError)
    return e as JwksError
  }
  throw new Error('expected a JwksError')
}

/** Wait (up to 2 s) for something a server sees asynchronously, such as a connection closing. */
async function until(condition: () => boolean): Promise<void> {
  for (let waited = 0; !condition(); waited += 10) {
    if (waited >= 2_000) throw new Error('condition not met within 2 s')
    await new Promise((resolve) => setTimeout(resolve, 10))
  }
}

async function discoveryError(url: string, timeoutMs = 10_000): Promise<JwksError> {
  try {
    await discoverJwks(url, { timeoutMs })
  } catch (e) {
    expect(e).toBeInstanceOf(JwksError)
    return e as JwksError
  }
  throw new Error('discovery succeeded')
}

/** A fault must fail closed: the gateway's 500, the failing issuer's code logged, and no token accepted. */
async function expectFailsClosed(issuerUrl: string, code: string, options: { fetchTimeoutMs?: number } = {}): Promise<void> {
  const { logger, codes } = recorder()
  const verifier = createGatewayVerifier({ issuerUrls: [issuerUrl], now: () => fx.now, logger, ...options })
  expect(await verifier.authenticate(headersFor(tokenBy(fx.key)))).toEqual(NO_KEYS)
  expect(codes()).toEqual([code])
}

describe('discovery faults fail closed with a clear code', () => {
  it('issuer down (connection refused): ERR_DISCOVERY_FAILED naming ECONNREFUSED; 500 no keys', async () => {
    const s = await server()
    const url = s.url
    await s.close()
    const err = await discoveryError(url)
    expect(err.code).toBe('ERR_DISCOVERY_FAILED')
    expect(err.url).toBe(`${url}/.well-known/openid-configuration`)
    expect(err.message).toContain('ECONNREFUSED')
    expect(err.message).toContain('check the URL (AIGW_GITLAB_URL / AIGW_CUSTOMER_PORTAL_URL)')
    await expectFailsClosed(url, 'ERR_DISCOVERY_FAILED')
  })

  it('slow beyond the timeout, before the headers: ERR_DISCOVERY_FAILED "no answer within 150 ms", on time', async () => {
    const held: ServerResponse[] = []
    const s = await server((_req, res) => {
      held.push(res) // never answered; closed with the server
    })
    const started = performance.now()
    const err = await discoveryError(s.url, 150)
    const elapsed = performance.now() - started
    expect(err.code).toBe('ERR_DISCOVERY_FAILED')
    expect(err.message).toContain('no answer within 150 ms')
    expect(elapsed).toBeGreaterThanOrEqual(140)
    expect(elapsed).toBeLessThan(2_000)
    await expectFailsClosed(s.url, 'ERR_DISCOVERY_FAILED', { fetchTimeoutMs: 150 })
  })

  it('slow beyond the timeout in the body of the key set: ERR_JWKS_UNAVAILABLE, on time', async () => {
    const s = await server((req, res, url) => {
      if (url.pathname === '/.well-known/openid-configuration') return json(res, 200, { jwks_uri: `http://${req.headers.host}/keys` })
      res.writeHead(200, { 'content-type': 'application/json' })
      res.write('{"keys": [') // and nothing more
    })
    const started = performance.now()
    const err = await discoveryError(s.url, 150)
    expect(err.code).toBe('ERR_JWKS_UNAVAILABLE')
    expect(err.message).toContain('no answer within 150 ms')
    expect(performance.now() - started).toBeLessThan(2_000)
    await expectFailsClosed(s.url, 'ERR_JWKS_UNAVAILABLE', { fetchTimeoutMs: 150 })
  })

  it('a body that stalls past a garbage collection still times out', async () => {
    // a guard: the client's reads once lost their abort in a collection (a weakly held AbortSignal.any);
    // discovery reads through the same BodyReader, which holds the timeout signal itself
    setFlagsFromString('--expose-gc')
    const gc = runInNewContext('gc') as () => void
    let headersSent!: () => void
    const sent = new Promise<void>((resolve) => (headersSent = resolve))
    const s = await server((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' })
      res.write('{"jwks_uri": "http://') // and nothing more
      headersSent()
    })
    const started = performance.now()
    const pending = discoveryError(s.url, 400)
    await sent
    await new Promise((resolve) => setTimeout(resolve, 50))
    gc()
    const err = await pending
    expect(err.code).toBe('ERR_DISCOVERY_FAILED')
    expect(err.message).toContain('no answer within 400 ms')
    expect(performance.now() - started).toBeLessThan(5_000)
  })

  it('non-JSON (a login page): ERR_DISCOVERY_FAILED for the document, ERR_JWKS_UNAVAILABLE for the key set', async () => {
    const html = (res: ServerResponse): void => void res.writeHead(200, { 'content-type': 'text/html' }).end('<html><body>Sign in</body></html>')
    const page = await server((_req, res) => html(res))
    const err = await discoveryError(page.url)
    expect(err.code).toBe('ERR_DISCOVERY_FAILED')
    expect(err.message).toContain('did not return JSON (a login page, a proxy error or the wrong host?)')
    await expectFailsClosed(page.url, 'ERR_DISCOVERY_FAILED')

    const keysPage = await server((req, res, url) => (url.pathname === '/.well-known/openid-configuration' ? json(res, 200, { jwks_uri: `http://${req.headers.host}/keys` }) : html(res)))
    expect((await discoveryError(keysPage.url)).code).toBe('ERR_JWKS_UNAVAILABLE')
    await expectFailsClosed(keysPage.url, 'ERR_JWKS_UNAVAILABLE')
  })

  it('a redirect to the key set is followed, as the gateway (python requests) follows it', async () => {
    const s = await server((req, res, url) => {
      if (url.pathname === '/.well-known/openid-configuration') return json(res, 200, { jwks_uri: `http://${req.headers.host}/old/keys` })
      if (url.pathname === '/old/keys') return void res.writeHead(301, { location: '/oauth/discovery/keys' }).end()
      json(res, 200, toJwks([fx.key]))
    })
    const verifier = createGatewayVerifier({ issuerUrls: [s.url], now: () => fx.now })
    expect((await verifier.authenticate(headersFor(tokenBy(fx.key)))).status).toBe(200)
    expect(s.requests).toEqual(['GET /.well-known/openid-configuration', 'GET /old/keys', 'GET /oauth/discovery/keys'])
  })

  it('a redirect loop, and a redirect to a page that is not JSON, fail closed', async () => {
    const loop = await server((_req, res, url) => void res.writeHead(302, { location: url.pathname === '/a' ? '/b' : '/a' }).end())
    const err = await discoveryError(loop.url)
    expect(err.code).toBe('ERR_DISCOVERY_FAILED')
    expect(err.message).toMatch(/redirect/i)
    await expectFailsClosed(loop.url, 'ERR_DISCOVERY_FAILED')
    // fetch stops after 20 redirects: bounded
    expect(loop.count()).toBeLessThanOrEqual(2 * 21)

    const away = await server((req, res, url) =>
      url.pathname === '/login' ? void res.writeHead(200, { 'content-type': 'text/html' }).end('<html>') : void res.writeHead(302, { location: `http://${req.headers.host}/login` }).end(),
    )
    await expectFailsClosed(away.url, 'ERR_DISCOVERY_FAILED')
  })

  it('an empty key set is the 500; a document without "keys" is ERR_JWKS_INVALID; no jwks_uri is ERR_DISCOVERY_FAILED', async () => {
    const empty = await server(issuerHandler(() => ({ keys: [] })))
    expect((await discoverJwks(empty.url)).keys).toEqual([])
    const { logger, events } = recorder()
    const verifier = createGatewayVerifier({ issuerUrls: [empty.url], now: () => fx.now, logger })
    expect(await verifier.authenticate(headersFor(tokenBy(fx.key)))).toEqual(NO_KEYS)
    expect(events.map((e) => `${e.level} ${e.event}`)).toEqual(['error gateway_verifier.no_keys'])

    const invalid = await server(issuerHandler(() => ({ kty: 'RSA' })))
    expect((await discoveryError(invalid.url)).code).toBe('ERR_JWKS_INVALID')
    await expectFailsClosed(invalid.url, 'ERR_JWKS_INVALID')

    const noUri = await server((_req, res) => json(res, 200, { issuer: 'x' }))
    expect((await discoveryError(noUri.url)).message).toContain('has no "jwks_uri"')
    await expectFailsClosed(noUri.url, 'ERR_DISCOVERY_FAILED')
  })

  it('one issuer of two down: its tokens fail, the other issuer\'s still verify', async () => {
    const up = await server(issuerHandler(() => toJwks([fx.key])))
    const down = await server()
    const downUrl = down.url
    await down.close()
    const { logger, codes } = recorder()
    const verifier = createGatewayVerifier({ issuerUrls: [downUrl, up.url], now: () => fx.now, logger })
    expect((await verifier.authenticate(headersFor(tokenBy(fx.key)))).status).toBe(200)
    expect(await verifier.authenticate(headersFor(tokenBy(fx.otherKey)))).toMatchObject({ status: 401, reason: 'Signature verification failed.' })
    expect(codes()).toEqual(['ERR_DISCOVERY_FAILED'])
    expect((await verifier.keySet()).kids).toEqual([fx.key.kid])
  })
})

describe('load sharing and cooldown', () => {
  it('100 concurrent callers on a cold verifier share one discovery; again once the cache expires', async () => {
    const s = await server(issuerHandler(() => toJwks([fx.key])))
    const clock = manualClock(fx.now)
    const verifier = createGatewayVerifier({ issuerUrls: [s.url], now: clock.now })
    const token = tokenBy(fx.key)
    const burst = async () => (await Promise.all(Array.from({ length: 100 }, () => verifier.authenticate(headersFor(token))))).map((v) => v.status)
    expect(new Set(await burst())).toEqual(new Set([200]))
    expect(s.requests).toEqual(['GET /.well-known/openid-configuration', 'GET /oauth/discovery/keys'])
    clock.advance(86_400 - 1)
    await burst()
    expect(s.count()).toBe(2)
    clock.advance(1)
    expect(new Set(await burst())).toEqual(new Set([200]))
    expect(s.count()).toBe(4)
  })

  it('gateway-equivalent mode never reloads for a token it cannot verify (the gateway does not either)', async () => {
    const s = await server(issuerHandler(() => toJwks([fx.key])))
    const verifier = createGatewayVerifier({ issuerUrls: [s.url], now: () => fx.now })
    const forged = Array.from({ length: 200 }, () => tokenBy(fx.otherKey, randomUUID()))
    const verdicts = await Promise.all(forged.map((t) => verifier.authenticate(headersFor(t))))
    expect(new Set(verdicts.map((v) => v.reason))).toEqual(new Set(['Signature verification failed.']))
    expect(s.count()).toBe(2)
  })

  describe('strict mode: an unknown kid reloads the keys at most once per cooldown', () => {
    let published: unknown[]
    let s: TestServer
    let clock: ReturnType<typeof manualClock>
    let verifier: GatewayVerifier
    const jwksFetches = () => s.count('/oauth/discovery/keys')

    async function setup(): Promise<void> {
      published = toJwks([fx.key]).keys
      s = await server(issuerHandler(() => ({ keys: published })))
      clock = manualClock(fx.now)
      verifier = createGatewayVerifier({ issuerUrls: [s.url], now: clock.now, strict: { issuerAliases: { [s.url]: 'http://127.0.0.1' } } })
      expect((await verifier.authenticate(headersFor(tokenBy(fx.key)))).status).toBe(200)
      expect(jwksFetches()).toBe(1)
    }

    it(`no fetch storm: 1,000 unknown kids within ${UNKNOWN_KID_COOLDOWN_SECONDS} s of a load cost no fetch; after it, 1,000 cost one`, async () => {
      await setup()
      const storm = () => Promise.all(Array.from({ length: 1000 }, () => verifier.authenticate(headersFor(tokenBy(fx.otherKey, randomUUID())))))
      let verdicts = await storm()
      expect(new Set(verdicts.map((v) => `${v.status} ${v.reason}`))).toEqual(new Set(['401 No trusted key has the kid of the token']))
      expect(jwksFetches()).toBe(1)

      clock.advance(UNKNOWN_KID_COOLDOWN_SECONDS - 1)
      await storm()
      expect(jwksFetches()).toBe(1)

      clock.advance(1)
      verdicts = await storm()
      expect(new Set(verdicts.map((v) => v.status))).toEqual(new Set([401]))
      expect(jwksFetches()).toBe(2)
      expect(s.count('/.well-known/openid-configuration')).toBe(2)
      // the known key was never disturbed
      expect((await verifier.authenticate(headersFor(tokenBy(fx.key)))).status).toBe(200)
    })

    it('a key published after the last load is picked up by the first token naming it once the cooldown allows', async () => {
      await setup()
      published = toJwks([fx.key, fx.otherKey]).keys
      const newToken = tokenBy(fx.otherKey)
      clock.advance(10)
      expect(await verifier.authenticate(headersFor(newToken))).toMatchObject({ status: 401, reason: 'No trusted key has the kid of the token' })
      expect(jwksFetches()).toBe(1)
      clock.advance(UNKNOWN_KID_COOLDOWN_SECONDS - 10)
      expect((await verifier.authenticate(headersFor(newToken))).status).toBe(200)
      expect(jwksFetches()).toBe(2)
      expect((await verifier.keySet()).kids).toEqual([fx.key.kid, fx.otherKey.kid])
    })

    it('an issuer failing during such a reload keeps the working key set (no 500 caused by a token)', async () => {
      await setup()
      s.handle((_req, res) => void res.writeHead(503, { 'content-type': 'text/html' }).end('<html>maintenance'))
      clock.advance(UNKNOWN_KID_COOLDOWN_SECONDS)
      expect((await verifier.authenticate(headersFor(tokenBy(fx.otherKey, 'unknown')))).status).toBe(401)
      expect(s.count('/.well-known/openid-configuration')).toBe(2)
      expect((await verifier.authenticate(headersFor(tokenBy(fx.key)))).status).toBe(200)
      expect((await verifier.keySet()).kids).toEqual([fx.key.kid])
    })
  })
})

describe('discovery reads at most MAX_DISCOVERY_BYTES and fetches http(s) key sets only', () => {
  /**
   * Streams `total` bytes of JSON-ish filler (no Content-Length) per response, adding what the socket accepted
   * before it closed to `sent.bytes`; `sent.closed` counts the responses whose connection the client closed.
   */
  function flood(res: ServerResponse, total: number, sent: { bytes: number; closed: number }): void {
    res.writeHead(200, { 'content-type': 'application/json' })
    const chunk = Buffer.alloc(64 * 1024, 0x20)
    let written = 0
    let closed = false
    res.on('close', () => {
      closed = true
      sent.closed++
    })
    const pump = (): void => {
      while (written < total && !closed) {
        written += chunk.length
        sent.bytes += chunk.length
        if (!res.write(chunk)) return void res.once('drain', pump)
      }
      if (!closed) res.end()
    }
    res.write('{"jwks_uri": "')
    pump()
  }

  it('a discovery document streamed past 1 MiB: refused while streaming, the rest never read, the issuer named', async () => {
    const sent = { bytes: 0, closed: 0 }
    const s = await server((_req, res) => flood(res, 256 * 1024 * 1024, sent))
    const started = performance.now()
    const err = await discoveryError(s.url)
    expect(performance.now() - started).toBeLessThan(5_000)
    expect(err.code).toBe('ERR_DISCOVERY_FAILED')
    expect(err.issuer).toBe(`${s.url}/`)
    expect(err.url).toBe(`${s.url}/.well-known/openid-configuration`)
    expect(err.message).toBe(
      `OIDC discovery for ${s.url}/ failed: GET ${s.url}/.well-known/openid-configuration answered with more than 1 MiB; a GitLab discovery document or key set is a few KiB, so this is not one (the wrong URL, or a hostile server). Nothing past the limit was read.`,
    )
    // the connection was closed long before the 256 MiB were sent (socket buffers hold a few MiB at most)
    await until(() => sent.closed === 1)
    expect(sent.bytes).toBeLessThan(32 * 1024 * 1024)
    const again = performance.now()
    await expectFailsClosed(s.url, 'ERR_DISCOVERY_FAILED')
    expect(performance.now() - again).toBeLessThan(5_000)
    await until(() => sent.closed === 2)
  })

  it('a key set announced (Content-Length) or streamed over 1 MiB: ERR_JWKS_UNAVAILABLE naming the issuer; exactly 1 MiB is read', async () => {
    const big = JSON.stringify({ keys: [toJwks([fx.key]).keys[0], { kty: 'RSA', pad: ' '.repeat(MAX_DISCOVERY_BYTES) }] })
    const sent = { bytes: 0, closed: 0 }
    let announced = 0
    const s = await server((req, res, url) => {
      if (url.pathname === '/.well-known/openid-configuration') return json(res, 200, { jwks_uri: `http://${req.headers.host}${url.search === '' ? '/keys' : '/stream'}` })
      if (url.pathname === '/stream') return flood(res, 64 * 1024 * 1024, sent)
      announced++
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(big) }).end(big)
    })
    for (const path of ['/keys', '/stream']) {
      // discovery drops the issuer's query as the gateway's urljoin does: a tiny fetch tells the server which
      const fetchFor: typeof fetch = (input, init) => globalThis.fetch(String(input).endsWith('/openid-configuration') && path === '/stream' ? `${String(input)}?s` : input, init)
      const err = await rejectionOf(discoverJwks(s.url, { fetch: fetchFor }))
      expect(err).toMatchObject({ code: 'ERR_JWKS_UNAVAILABLE', issuer: `${s.url}/` })
      expect(err.message).toContain(`Fetching the key set of ${s.url}/ failed: GET ${s.url}${path} answered with more than 1 MiB`)
    }
    expect(announced).toBe(1)
    await until(() => sent.closed === 1)
    expect(sent.bytes).toBeLessThan(32 * 1024 * 1024)
    await expectFailsClosed(s.url, 'ERR_JWKS_UNAVAILABLE')

    // the limit itself is fine: a key set of exactly MAX_DISCOVERY_BYTES verifies
    const jwks = toJwks([fx.key])
    const exact = JSON.stringify({ ...jwks, pad: '' })
    const filled = `${exact.slice(0, -2)}${' '.repeat(MAX_DISCOVERY_BYTES - Buffer.byteLength(exact))}"}`
    expect(Buffer.byteLength(filled)).toBe(MAX_DISCOVERY_BYTES)
    const ok = await server((req, res, url) => (url.pathname === '/.well-known/openid-configuration' ? json(res, 200, { jwks_uri: `http://${req.headers.host}/keys` }) : void res.writeHead(200, { 'content-type': 'application/json' }).end(filled)))
    const verifier = createGatewayVerifier({ issuerUrls: [ok.url], now: () => fx.now })
    expect((await verifier.authenticate(headersFor(tokenBy(fx.key)))).status).toBe(200)
  })

  it('a jwks_uri with a data:, file: or ftp: URL is never fetched: ERR_JWKS_UNAVAILABLE, and the gateway\'s 500 when no issuer has keys', async () => {
    // The gateway's Python requests raises InvalidSchema ("No connection adapters were found for ...") for any
    // scheme but http(s); providers.py logs it and keeps no key from that issuer: with no other issuer, 500.
    const dataUrl = `data:application/json;base64,${Buffer.from(JSON.stringify(toJwks([fx.key]))).toString('base64')}`
    for (const uri of [dataUrl, 'file:///etc/passwd', 'ftp://127.0.0.1/keys', 'javascript:alert(1)']) {
      const s = await server((_req, res) => json(res, 200, { jwks_uri: uri }))
      const err = await discoveryError(s.url)
      expect(err.code).toBe('ERR_JWKS_UNAVAILABLE')
      expect(err.issuer).toBe(`${s.url}/`)
      expect(err.message).toContain(`"jwks_uri" uses the ${new URL(uri).protocol} scheme; only http(s) key sets are fetched`)
      expect(err.message).not.toContain(uri.slice(0, 40))
      await expectFailsClosed(s.url, 'ERR_JWKS_UNAVAILABLE')
      // with a second issuer that works, its tokens still verify (the gateway skips the failing one)
      const good = await server(issuerHandler(() => toJwks([fx.key])))
      const both = createGatewayVerifier({ issuerUrls: [s.url, good.url], now: () => fx.now })
      expect((await both.authenticate(headersFor(tokenBy(fx.key)))).status).toBe(200)
      expect(s.requests).toEqual(['GET /.well-known/openid-configuration', 'GET /.well-known/openid-configuration', 'GET /.well-known/openid-configuration'])
    }
    // and discoverJwks refuses a non-http(s) issuer URL itself
    expect((await rejectionOf(discoverJwks('file:///etc/'))).message).toContain('is not an absolute http(s) URL')
  })
})
