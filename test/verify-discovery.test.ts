/**
 * OIDC discovery as the gateway does it, against msw: the well-known document at the issuer's
 * origin, then jwks_uri; failing issuers skipped; the merged key set cached (24 h by default) and
 * shared by concurrent callers.
 */
import { generateKeyPairSync } from 'node:crypto'
import { delay, http, HttpResponse } from 'msw'
import { setupServer } from 'msw/node'
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import { asEvent } from './client-support.js'
import { createGatewayVerifier, JwksError, toJwks, type Logger } from '../src/index.js'
import { discoverJwks } from '../src/verify/discovery.js'
import { openIdConfigurationUrl } from '../src/verify/index.js'
import { loadCaseFixture } from './cases/fixture.js'
import { mintJwt } from './cases/mint.js'

const fx = loadCaseFixture()
const now = Math.floor(fx.now.getTime() / 1000)
const claims = { iss: fx.issuer, sub: fx.instanceId, aud: ['gitlab-ai-gateway'], iat: now, nbf: now - 5, exp: now + 7 * 86_400, gitlab_realm: 'self-managed', scopes: ['complete_code'] }
const instanceToken = mintJwt({ alg: 'RS256', typ: 'JWT', kid: fx.key.kid }, claims, fx.key.privateKey!)
const portalToken = mintJwt({ alg: 'RS256', typ: 'JWT', kid: fx.otherKey.kid }, { ...claims, iss: 'https://customers.gitlab.example' }, fx.otherKey.privateKey!)
const headersFor = (token: string) => ({
  authorization: `Bearer ${token}`,
  'x-gitlab-authentication-type': 'oidc',
  'x-gitlab-instance-id': fx.instanceId,
  'x-gitlab-realm': 'self-managed',
})

const INSTANCE = 'https://gitlab.example.com'
const PORTAL = 'https://customers.gitlab.example'
const THIRD = 'https://third.example.com'

const server = setupServer()
let requests: string[] = []
beforeAll(() => {
  server.listen({ onUnhandledRequest: 'error' })
  server.events.on('request:start', ({ request }) => {
    requests.push(`${request.method} ${request.url}`)
  })
})
beforeEach(() => {
  requests = []
})
afterEach(() => server.resetHandlers())
afterAll(() => server.close())

/** An issuer serving discovery and its key set. */
function issuer(origin: string, keys: unknown[], jwksPath = '/oauth/discovery/keys') {
  return [
    http.get(`${origin}/.well-known/openid-configuration`, () => HttpResponse.json({ issuer: origin, jwks_uri: `${origin}${jwksPath}` })),
    http.get(`${origin}${jwksPath}`, () => HttpResponse.json({ keys })),
  ]
}

function clock(start: Date) {
  let t = start.getTime()
  return { now: () => new Date(t), advance: (seconds: number) => (t += seconds * 1000) }
}

function recordingLogger() {
  const events: [string, string, Record<string, unknown>][] = []
  const logger: Logger = {
    debug: asEvent((e, f) => events.push(['debug', e, f])),
    info: asEvent((e, f) => events.push(['info', e, f])),
    warn: asEvent((e, f) => events.push(['warn', e, f])),
    error: asEvent((e, f) => events.push(['error', e, f])),
  }
  return { logger, events }
}

describe('OIDC discovery', () => {
  it('fetches the well-known document at the issuer origin, then jwks_uri, and verifies with it', async () => {
    server.use(...issuer(INSTANCE, toJwks([fx.key]).keys))
    const verifier = createGatewayVerifier({ issuerUrls: [INSTANCE], now: () => fx.now })
    const v = await verifier.authenticate(headersFor(instanceToken), { unitPrimitive: 'complete_code' })
    expect(v.status).toBe(200)
    expect(requests).toEqual([`GET ${INSTANCE}/.well-known/openid-configuration`, `GET ${INSTANCE}/oauth/discovery/keys`])
  })

  it('drops a sub-path of the issuer URL, as urljoin with an absolute path does', async () => {
    expect(openIdConfigurationUrl('https://host.example/gitlab/')).toBe('https://host.example/.well-known/openid-configuration')
    expect(openIdConfigurationUrl('http://127.0.0.1:8080/a/b?x=1#f')).toBe('http://127.0.0.1:8080/.well-known/openid-configuration')
    server.use(...issuer('https://host.example', toJwks([fx.key]).keys, '/gitlab/oauth/discovery/keys'))
    const found = await discoverJwks('https://host.example/gitlab')
    expect(found.jwksUri).toBe('https://host.example/gitlab/oauth/discovery/keys')
    expect(found.keys).toEqual(toJwks([fx.key]).keys)
  })

  it('reads the body whatever the status (the gateway does not check it)', async () => {
    server.use(
      http.get(`${INSTANCE}/.well-known/openid-configuration`, () => HttpResponse.json({ jwks_uri: `${INSTANCE}/keys` }, { status: 404 })),
      http.get(`${INSTANCE}/keys`, () => HttpResponse.json({ keys: toJwks([fx.key]).keys }, { status: 500 })),
    )
    expect((await discoverJwks(INSTANCE)).keys).toHaveLength(1)
  })

  it.each([
    ['is down', [http.get(`${INSTANCE}/.well-known/openid-configuration`, () => HttpResponse.error())], 'ERR_DISCOVERY_FAILED', /OIDC discovery for https:\/\/gitlab\.example\.com\/ failed: GET https:\/\/gitlab\.example\.com\/\.well-known\/openid-configuration: /],
    ['has no jwks_uri', [http.get(`${INSTANCE}/.well-known/openid-configuration`, () => HttpResponse.json({ issuer: INSTANCE }))], 'ERR_DISCOVERY_FAILED', /has no "jwks_uri"/],
    ['answers HTML', [http.get(`${INSTANCE}/.well-known/openid-configuration`, () => HttpResponse.html('<html>login</html>'))], 'ERR_DISCOVERY_FAILED', /did not return JSON/],
    [
      'serves a key set without "keys"',
      [
        http.get(`${INSTANCE}/.well-known/openid-configuration`, () => HttpResponse.json({ jwks_uri: `${INSTANCE}/keys` })),
        http.get(`${INSTANCE}/keys`, () => HttpResponse.json({ key: 'x' })),
      ],
      'ERR_JWKS_INVALID',
      /is not a JWKS: it needs a "keys" array/,
    ],
    [
      'loses its key set',
      [
        http.get(`${INSTANCE}/.well-known/openid-configuration`, () => HttpResponse.json({ jwks_uri: `${INSTANCE}/keys` })),
        http.get(`${INSTANCE}/keys`, () => HttpResponse.error()),
      ],
      'ERR_JWKS_UNAVAILABLE',
      /Fetching the key set of https:\/\/gitlab\.example\.com\/ failed/,
    ],
  ])('an issuer that %s fails with a JwksError saying which step', async (_, handlers, code, message) => {
    server.use(...handlers)
    const err = await discoverJwks(INSTANCE).then(
      () => undefined,
      (e: unknown) => e,
    )
    expect(err).toBeInstanceOf(JwksError)
    expect((err as JwksError).code).toBe(code)
    expect((err as JwksError).message).toMatch(message)
  })

  it('times out per request', async () => {
    server.use(
      http.get(`${INSTANCE}/.well-known/openid-configuration`, async () => {
        await delay('infinite')
        return HttpResponse.json({})
      }),
    )
    const err = (await discoverJwks(INSTANCE, { timeoutMs: 50 }).catch((e: unknown) => e)) as JwksError
    expect(err.code).toBe('ERR_DISCOVERY_FAILED')
    expect(err.message).toContain('no answer within 50 ms')
  })

  it('sends URL credentials as basic auth (as requests does) and never puts them in messages', async () => {
    const seen: (string | null)[] = []
    server.use(
      http.get('https://gitlab.example.com/.well-known/openid-configuration', ({ request }) => {
        seen.push(request.headers.get('authorization'))
        return HttpResponse.error()
      }),
    )
    const err = (await discoverJwks('https://user:s3cret@gitlab.example.com').catch((e: unknown) => e)) as JwksError
    expect(seen).toEqual([`Basic ${Buffer.from('user:s3cret').toString('base64')}`])
    expect(`${err.message} ${JSON.stringify(err)}`).not.toContain('s3cret')
    expect(err.url).toBe('https://gitlab.example.com/.well-known/openid-configuration')
  })
})

describe('the verifier over discovery', () => {
  it('an issuer that is down: no key at all is the CriticalAuthError, 500', async () => {
    server.use(http.get(`${INSTANCE}/.well-known/openid-configuration`, () => HttpResponse.error()))
    const { logger, events } = recordingLogger()
    const verifier = createGatewayVerifier({ issuerUrls: [INSTANCE], now: () => fx.now, logger })
    expect(await verifier.authenticate(headersFor(instanceToken))).toEqual({
      status: 500,
      error: 'No keys founds in JWKS; are OIDC providers up?',
      reason: 'CriticalAuthError: No keys founds in JWKS; are OIDC providers up?',
      check: 'keys',
    })
    expect(events.map(([level, event, f]) => [level, event, f.issuer ?? null, f.code ?? null])).toEqual([
      ['warn', 'gateway_verifier.issuer_failed', 'https://gitlab.example.com/', 'ERR_DISCOVERY_FAILED'],
      ['error', 'gateway_verifier.no_keys', null, null],
    ])
    // the operator reads why the issuer failed: discovery's own message, as is
    const failure = await discoverJwks(INSTANCE).then(() => undefined, (e: unknown) => e as JwksError)
    expect(failure).toBeInstanceOf(JwksError)
    expect(events[0]?.[2].message).toBe(failure?.message)
  })

  it('jwks_uri missing, or an empty key set: 500 as well', async () => {
    server.use(http.get(`${INSTANCE}/.well-known/openid-configuration`, () => HttpResponse.json({})), ...issuer(PORTAL, []))
    const verifier = createGatewayVerifier({ issuerUrls: [INSTANCE, PORTAL], now: () => fx.now })
    expect((await verifier.authenticate(headersFor(instanceToken))).status).toBe(500)
    expect(await verifier.keySet()).toMatchObject({ kids: [], unusable: 0 })
  })

  it('one of two issuers down: the other\'s keys still verify', async () => {
    server.use(http.get(`${INSTANCE}/.well-known/openid-configuration`, () => HttpResponse.error()), ...issuer(PORTAL, toJwks([fx.otherKey]).keys))
    const verifier = createGatewayVerifier({ issuerUrls: [INSTANCE, PORTAL], now: () => fx.now })
    expect((await verifier.authenticate(headersFor(portalToken))).status).toBe(200)
    expect(await verifier.authenticate(headersFor(instanceToken))).toMatchObject({ status: 401, reason: 'Signature verification failed.' })
  })

  it('keys from both issuers are merged, in order, after the static ones', async () => {
    const extra = generateKeyPairSync('rsa', { modulusLength: 1024 }).publicKey.export({ format: 'jwk' })
    server.use(...issuer(INSTANCE, toJwks([fx.key]).keys), ...issuer(PORTAL, toJwks([fx.otherKey]).keys))
    const verifier = createGatewayVerifier({ issuerUrls: [INSTANCE, PORTAL], jwks: { keys: [{ ...extra, kid: 'static' } as never] }, now: () => fx.now })
    expect((await verifier.keySet()).kids).toEqual(['static', fx.key.kid, fx.otherKey.kid])
    expect((await verifier.authenticate(headersFor(instanceToken))).status).toBe(200)
    expect((await verifier.authenticate(headersFor(portalToken))).status).toBe(200)
  })

  it('reuses the key set within its TTL and fetches again after, by the injected clock', async () => {
    server.use(...issuer(INSTANCE, toJwks([fx.key]).keys))
    const c = clock(fx.now)
    const verifier = createGatewayVerifier({ issuerUrls: [INSTANCE], now: c.now })
    for (let i = 0; i < 3; i++) expect((await verifier.authenticate(headersFor(instanceToken))).status).toBe(200)
    expect(requests).toHaveLength(2)
    c.advance(86_399)
    await verifier.authenticate(headersFor(instanceToken))
    expect(requests).toHaveLength(2)
    c.advance(1)
    await verifier.authenticate(headersFor(instanceToken))
    expect(requests).toHaveLength(4)
    expect((await verifier.keySet()).expiresAt).toEqual(new Date(fx.now.getTime() + 2 * 86_400_000))
  })

  it('a refused token never makes the verifier fetch again: only strict mode, for a kid it does not know, reloads', async () => {
    server.use(...issuer(INSTANCE, toJwks([fx.key]).keys))
    const c = clock(fx.now)
    const forged = mintJwt({ alg: 'RS256', typ: 'JWT', kid: fx.key.kid }, claims, fx.otherKey.privateKey!)
    const unknownKid = mintJwt({ alg: 'RS256', typ: 'JWT', kid: 'published-later' }, claims, fx.otherKey.privateKey!)
    const gateway = createGatewayVerifier({ issuerUrls: [INSTANCE], now: c.now })
    const strict = createGatewayVerifier({ issuerUrls: [INSTANCE], now: c.now, strict: true })
    for (const v of [gateway, strict]) expect((await v.authenticate(headersFor(instanceToken))).status).toBe(200)
    expect(requests).toHaveLength(4)
    c.advance(60)
    for (const t of [forged, unknownKid]) expect((await gateway.authenticate(headersFor(t))).status).toBe(401)
    expect(await strict.authenticate(headersFor(forged))).toMatchObject({ status: 401, reason: 'Signature verification failed.' })
    expect(requests).toHaveLength(4)
    expect(await strict.authenticate(headersFor(unknownKid))).toMatchObject({ status: 401, reason: 'No trusted key has the kid of the token' })
    expect(requests).toHaveLength(6)
  })

  it('strict: a token signed with a key published since the last load verifies on its first request, after one reload', async () => {
    server.use(...issuer(INSTANCE, toJwks([fx.key]).keys))
    const c = clock(fx.now)
    const strict = createGatewayVerifier({ issuerUrls: [INSTANCE], now: c.now, strict: true })
    expect((await strict.authenticate(headersFor(instanceToken))).status).toBe(200)
    server.use(...issuer(INSTANCE, [...toJwks([fx.key]).keys, { ...toJwks([fx.otherKey]).keys[0], kid: 'rotated' }]))
    c.advance(60)
    const signedWithNew = mintJwt({ alg: 'RS256', typ: 'JWT', kid: 'rotated' }, claims, fx.otherKey.privateKey!)
    expect(await strict.authenticate(headersFor(signedWithNew))).toEqual({ status: 200, claims })
    expect(requests).toHaveLength(4)
  })

  it('cacheTtlSeconds is configurable', async () => {
    server.use(...issuer(INSTANCE, toJwks([fx.key]).keys))
    const c = clock(fx.now)
    const verifier = createGatewayVerifier({ issuerUrls: [INSTANCE], now: c.now, cacheTtlSeconds: 60 })
    await verifier.authenticate(headersFor(instanceToken))
    c.advance(61)
    await verifier.authenticate(headersFor(instanceToken))
    expect(requests).toHaveLength(4)
  })

  it('keeps an empty key set for the whole TTL, as the gateway does, unless told otherwise', async () => {
    let up = false
    server.use(
      http.get(`${INSTANCE}/.well-known/openid-configuration`, () => (up ? HttpResponse.json({ jwks_uri: `${INSTANCE}/keys` }) : HttpResponse.error())),
      http.get(`${INSTANCE}/keys`, () => HttpResponse.json(toJwks([fx.key]))),
    )
    const c = clock(fx.now)
    const gatewayLike = createGatewayVerifier({ issuerUrls: [INSTANCE], now: c.now })
    expect((await gatewayLike.authenticate(headersFor(instanceToken))).status).toBe(500)
    up = true
    c.advance(3600)
    expect((await gatewayLike.authenticate(headersFor(instanceToken))).status).toBe(500)

    up = false
    const retrying = createGatewayVerifier({ issuerUrls: [INSTANCE], now: c.now, emptyKeySetTtlSeconds: 30 })
    expect((await retrying.authenticate(headersFor(instanceToken))).status).toBe(500)
    up = true
    c.advance(31)
    expect((await retrying.authenticate(headersFor(instanceToken))).status).toBe(200)
  })

  it('50 concurrent callers share one fetch', async () => {
    let wellKnown = 0
    let keys = 0
    server.use(
      http.get(`${INSTANCE}/.well-known/openid-configuration`, async () => {
        wellKnown++
        await delay(20)
        return HttpResponse.json({ jwks_uri: `${INSTANCE}/keys` })
      }),
      http.get(`${INSTANCE}/keys`, () => {
        keys++
        return HttpResponse.json(toJwks([fx.key]))
      }),
    )
    const verifier = createGatewayVerifier({ issuerUrls: [INSTANCE], now: () => fx.now })
    const verdicts = await Promise.all(Array.from({ length: 50 }, () => verifier.authenticate(headersFor(instanceToken))))
    expect(verdicts.every((v) => v.status === 200)).toBe(true)
    expect([wellKnown, keys]).toEqual([1, 1])
    expect(requests).toHaveLength(2)

    // refreshKeys reloads at once, also shared
    await Promise.all([verifier.refreshKeys(), verifier.refreshKeys(), verifier.authenticate(headersFor(instanceToken))])
    expect([wellKnown, keys]).toEqual([2, 2])
  })

  it('uses the injected fetch, with the per-request timeout', async () => {
    const urls: string[] = []
    const fetch: typeof globalThis.fetch = async (input, init) => {
      urls.push(String(input))
      expect(init?.signal).toBeInstanceOf(AbortSignal)
      if (String(input).endsWith('openid-configuration')) return Response.json({ jwks_uri: `${INSTANCE}/keys` })
      return Response.json(toJwks([fx.key]))
    }
    const verifier = createGatewayVerifier({ issuerUrls: [INSTANCE], fetch, now: () => fx.now })
    expect((await verifier.authenticate(headersFor(instanceToken))).status).toBe(200)
    expect(urls).toEqual([`${INSTANCE}/.well-known/openid-configuration`, `${INSTANCE}/keys`])
    expect(requests).toEqual([])
  })

  it('a slow issuer is skipped after the timeout', async () => {
    server.use(
      http.get(`${INSTANCE}/.well-known/openid-configuration`, async () => {
        await delay('infinite')
        return HttpResponse.json({})
      }),
      ...issuer(PORTAL, toJwks([fx.key]).keys),
    )
    const verifier = createGatewayVerifier({ issuerUrls: [INSTANCE, PORTAL], now: () => fx.now, fetchTimeoutMs: 50 })
    expect((await verifier.authenticate(headersFor(instanceToken))).status).toBe(200)
  })

  it('never fetches a URL named by the token (jku, x5u)', async () => {
    server.use(...issuer(INSTANCE, toJwks([fx.key]).keys))
    const token = mintJwt({ alg: 'RS256', kid: 'evil', jku: 'https://attacker.example/jwks', x5u: 'https://attacker.example/cert' }, claims, fx.otherKey.privateKey!)
    const verifier = createGatewayVerifier({ issuerUrls: [INSTANCE], now: () => fx.now })
    expect(await verifier.authenticate(headersFor(token))).toMatchObject({ status: 401, reason: 'Signature verification failed.' })
    expect(requests.every((r) => r.includes('gitlab.example.com'))).toBe(true)
  })

  it('a key python-jose cannot construct fails the request once reached (500), not before', async () => {
    const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey.export({ format: 'jwk' })
    server.use(...issuer(INSTANCE, [...toJwks([fx.key]).keys, { ...ec, kid: 'ec' }]))
    const verifier = createGatewayVerifier({ issuerUrls: [INSTANCE], now: () => fx.now })
    expect((await verifier.authenticate(headersFor(instanceToken))).status).toBe(200)
    expect(await verifier.authenticate(headersFor(portalToken))).toEqual({
      status: 500,
      error: 'Internal Server Error',
      reason: "JWKError: Incorrect key type. Expected: 'RSA', Received: EC",
      check: 'token',
    })
    expect(await verifier.keySet()).toMatchObject({ kids: [fx.key.kid, 'ec'], unusable: 1 })
  })
})

describe('strict mode over discovery: which issuer a key signs for', () => {
  const INTERNAL = 'http://gitlab.internal'
  const signedAs = (iss: string, key = fx.key) => mintJwt({ alg: 'RS256', typ: 'JWT', kid: key.kid }, { ...claims, iss }, key.privateKey!)

  it('an alias list: tokens naming any of the listed iss values verify with the keys fetched from the internal URL, others do not', async () => {
    server.use(...issuer(INTERNAL, toJwks([fx.key]).keys))
    const v = createGatewayVerifier({ issuerUrls: [INTERNAL], now: () => fx.now, strict: { issuerAliases: { [INTERNAL]: [INSTANCE, 'https://old.example.com'] } } })
    expect((await v.authenticate(headersFor(signedAs(INSTANCE)))).status).toBe(200)
    expect((await v.authenticate(headersFor(signedAs('https://old.example.com/')))).status).toBe(200)
    expect(await v.authenticate(headersFor(signedAs(PORTAL)))).toMatchObject({ status: 401, reason: 'No key of the issuer the token names (iss) has the kid of the token' })
  })

  it("a token signed with issuer B's key that names issuer A is refused when keys given directly are tried too (strict, requireKid: false)", async () => {
    server.use(...issuer(INSTANCE, toJwks([fx.key]).keys), ...issuer(PORTAL, toJwks([fx.otherKey]).keys))
    const extra = generateKeyPairSync('rsa', { modulusLength: 1024 }).publicKey.export({ format: 'jwk' })
    const v = createGatewayVerifier({ issuerUrls: [INSTANCE, PORTAL], jwks: { keys: [{ ...extra, kid: 'static' } as never] }, now: () => fx.now, strict: { requireKid: false } })
    expect((await v.authenticate(headersFor(signedAs(INSTANCE)))).status).toBe(200)
    expect((await v.authenticate(headersFor(signedAs(PORTAL, fx.otherKey)))).status).toBe(200)
    // the portal's key is not one of the instance's: only the static key and the instance's are tried
    expect(await v.authenticate(headersFor(signedAs(INSTANCE, fx.otherKey)))).toMatchObject({ status: 401, reason: 'Signature verification failed.' })
  })

  it("a token naming an issuer that does not publish its kid reloads the keys once (the issuer may have published it since); a token naming no issuer never does", async () => {
    server.use(...issuer(INSTANCE, toJwks([fx.key]).keys), ...issuer(PORTAL, toJwks([fx.otherKey]).keys))
    const c = clock(fx.now)
    const v = createGatewayVerifier({ issuerUrls: [INSTANCE, PORTAL], now: c.now, strict: { requireAud: false } })
    expect((await v.authenticate(headersFor(signedAs(INSTANCE)))).status).toBe(200)
    expect(requests).toHaveLength(4)
    c.advance(60)
    const noIss = mintJwt({ alg: 'RS256', typ: 'JWT', kid: fx.otherKey.kid }, { ...claims, iss: undefined }, fx.otherKey.privateKey!)
    expect(await v.authenticate(headersFor(noIss))).toMatchObject({ status: 401, reason: 'The token names no issuer (iss) whose keys could verify it' })
    expect(requests).toHaveLength(4)
    // the instance now publishes the portal's key too: a token naming the instance, signed with it, verifies after one reload
    server.use(...issuer(INSTANCE, [...toJwks([fx.key]).keys, ...toJwks([fx.otherKey]).keys]))
    expect((await v.authenticate(headersFor(signedAs(INSTANCE, fx.otherKey)))).status).toBe(200)
    expect(requests).toHaveLength(8)
  })

  it('tokens with a newly published kid that arrive while its reload is in flight wait for it and verify: one reload for all', async () => {
    server.use(...issuer(INSTANCE, toJwks([fx.key]).keys))
    const c = clock(fx.now)
    const v = createGatewayVerifier({ issuerUrls: [INSTANCE], now: c.now, strict: true })
    expect((await v.authenticate(headersFor(signedAs(INSTANCE)))).status).toBe(200)
    server.use(...issuer(INSTANCE, [...toJwks([fx.key]).keys, { ...toJwks([fx.otherKey]).keys[0], kid: 'rotated' }]))
    c.advance(60)
    const rotated = mintJwt({ alg: 'RS256', typ: 'JWT', kid: 'rotated' }, claims, fx.otherKey.privateKey!)
    const verdicts = await Promise.all([1, 2, 3].map(() => v.authenticate(headersFor(rotated))))
    expect(verdicts.map((r) => r.status)).toEqual([200, 200, 200])
    expect(requests).toHaveLength(4)
  })

  it('keys given directly sign for any configured issuer, and iss must still be one of them', async () => {
    server.use(...issuer(INSTANCE, toJwks([fx.key]).keys))
    for (const requireKid of [true, false]) {
      const v = createGatewayVerifier({ issuerUrls: [INSTANCE], jwks: toJwks([fx.otherKey]), now: () => fx.now, strict: { requireKid } })
      expect((await v.authenticate(headersFor(signedAs(INSTANCE, fx.otherKey)))).status).toBe(200)
      expect(await v.authenticate(headersFor(signedAs(PORTAL, fx.otherKey)))).toMatchObject({ status: 401, reason: 'Invalid issuer' })
    }
  })
})

describe('the key set over discovery: what is logged, kept and replaced', () => {
  const ecKey = { kty: 'EC', kid: 'ec', crv: 'P-256', x: 'x', y: 'y' }

  it('a load logs the kids, the unusable entries and the failing issuers; keySet() reports the same', async () => {
    // one usable key and two unusable entries, one failing issuer of three: no count can be read the other way round
    const okp = { kty: 'OKP', kid: 'okp', crv: 'Ed25519', x: '11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo' }
    server.use(
      ...issuer(INSTANCE, [...toJwks([fx.key]).keys, ecKey, okp]),
      http.get(`${PORTAL}/.well-known/openid-configuration`, () => HttpResponse.error()),
      ...issuer(THIRD, []),
    )
    const { logger, events } = recordingLogger()
    const verifier = createGatewayVerifier({ issuerUrls: [INSTANCE, PORTAL, THIRD], now: () => fx.now, logger, cacheTtlSeconds: 100, emptyKeySetTtlSeconds: 10 })
    expect(await verifier.keySet()).toEqual({ kids: [fx.key.kid, 'ec', 'okp'], unusable: 2, loadedAt: fx.now, expiresAt: new Date(fx.now.getTime() + 100_000) })
    expect(events.map(([level, event]) => `${level} ${event}`)).toEqual(['warn gateway_verifier.issuer_failed', 'info gateway_verifier.keys_loaded'])
    expect(events[1]?.[2]).toEqual({ kids: [fx.key.kid, 'ec', 'okp'], unusable: 2, issuersFailed: 1 })
  })

  it('no key at all is logged with the issuers asked and the gateway message', async () => {
    server.use(...issuer(INSTANCE, []))
    const { logger, events } = recordingLogger()
    await createGatewayVerifier({ issuerUrls: [INSTANCE], now: () => fx.now, logger }).keySet()
    expect(events).toEqual([['error', 'gateway_verifier.no_keys', { issuers: ['https://gitlab.example.com/'], message: 'No keys founds in JWKS; are OIDC providers up?' }]])
  })

  it('at the end of the TTL the set is replaced by what answers, as the gateway does: a failing issuer loses its keys', async () => {
    server.use(...issuer(INSTANCE, toJwks([fx.key]).keys), ...issuer(PORTAL, toJwks([fx.otherKey]).keys))
    const c = clock(fx.now)
    const verifier = createGatewayVerifier({ issuerUrls: [INSTANCE, PORTAL], now: c.now })
    expect((await verifier.authenticate(headersFor(portalToken))).status).toBe(200)
    server.use(http.get(`${PORTAL}/.well-known/openid-configuration`, () => HttpResponse.error()))
    c.advance(86_400)
    expect(await verifier.authenticate(headersFor(portalToken))).toMatchObject({ status: 401, reason: 'Signature verification failed.' })
    expect((await verifier.keySet()).kids).toEqual([fx.key.kid])
  })

  it('strict: a reload for an unknown kid keeps the working set when an issuer fails meanwhile, and says so', async () => {
    server.use(...issuer(INSTANCE, toJwks([fx.key]).keys), ...issuer(PORTAL, toJwks([fx.otherKey]).keys), ...issuer(THIRD, []))
    const c = clock(fx.now)
    const { logger, events } = recordingLogger()
    // one issuer of three fails during the reload
    const verifier = createGatewayVerifier({ issuerUrls: [INSTANCE, PORTAL, THIRD], now: c.now, logger, strict: true })
    expect((await verifier.authenticate(headersFor(instanceToken))).status).toBe(200)
    // the instance publishes a new key; the portal is down when a token signed with it arrives
    const rotated = { ...toJwks([fx.otherKey]).keys[0], kid: 'rotated' }
    server.use(...issuer(INSTANCE, [...toJwks([fx.key]).keys, rotated]), http.get(`${PORTAL}/.well-known/openid-configuration`, () => HttpResponse.error()))
    c.advance(60)
    const signedWithNew = mintJwt({ alg: 'RS256', typ: 'JWT', kid: 'rotated' }, claims, fx.otherKey.privateKey!)
    expect(await verifier.authenticate(headersFor(signedWithNew))).toMatchObject({ status: 401, reason: 'No trusted key has the kid of the token' })
    expect(events.filter(([, e]) => e === 'gateway_verifier.reload_kept_keys').map(([, , f]) => f)).toEqual([{ issuersFailed: 1, kids: [fx.key.kid, fx.otherKey.kid] }])
    expect((await verifier.authenticate(headersFor(portalToken))).status).toBe(200)
  })

  it('strict: only usable keys with the kid are tried (an unusable entry with the same kid is not reached)', async () => {
    server.use(...issuer(INSTANCE, [{ ...ecKey, kid: fx.key.kid }, ...toJwks([fx.key]).keys]))
    const verifier = createGatewayVerifier({ issuerUrls: [INSTANCE], now: () => fx.now, strict: true })
    expect((await verifier.authenticate(headersFor(instanceToken))).status).toBe(200)
  })
})
