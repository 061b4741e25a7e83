/**
 * Named security cases. Each attack is run through every layer that meets a token: inspection,
 * preflight, the gateway-equivalent verifier (default and strict), the client (which must never send
 * what is refused), and — where a request can be sent at all — the emulator over real sockets.
 */
import { createHmac, generateKeyPairSync } from 'node:crypto'
import { Readable } from 'node:stream'
import { inspect } from 'node:util'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { asEvent } from '../client-support.js'
import { main } from '../../src/cli/main.js'
import type { CliIo } from '../../src/cli/io.js'
import {
  buildGatewayHeaders,
  createAuthenticatedFetch,
  createGatewayClient,
  createGatewayVerifier,
  createTokenIssuer,
  GatewayRedirectError,
  HeaderError,
  inspectToken,
  loadSigningKeySync,
  preflight,
  PreflightError,
  toJwks,
  type GatewayClient,
  type HeadersInput,
  type Logger,
  type TokenSource,
} from '../../src/index.js'
import { createCatalog } from '../../src/catalog/index.js'
import { MAX_TOKEN_BYTES } from '../../src/inspect/inspect.js'
import { RequestLog, startEmulator, type Emulator } from '../../src/emulator/index.js'
import { scrub } from '../../src/client/auth.js'
import { redact } from '../../src/redact.js'
import { loadCaseFixture } from '../cases/fixture.js'
import { b64url, b64urlJson, mintJwt, signSegments } from '../cases/mint.js'
import { expectPrototypesClean, INSTANCE_ID, rejection } from './config.js'
import { duplicateSignaturePair } from './dsks.js'
import { issuerHandler, json, startServer, type TestServer } from './servers.js'

const fx = loadCaseFixture(new Date())
const NOW = Math.floor(Date.now() / 1000)
const CLAIMS = { iss: fx.issuer, sub: INSTANCE_ID, aud: ['gitlab-ai-gateway'], iat: NOW, nbf: NOW - 5, exp: NOW + 3600, gitlab_realm: 'self-managed', scopes: ['complete_code'] }
const HEADER = { alg: 'RS256', typ: 'JWT', kid: fx.key.kid }
const attacker = loadSigningKeySync(generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ type: 'pkcs1', format: 'pem' }).toString())
const GOOD = mintJwt(HEADER, CLAIMS, fx.key.privateKey!)

const headersFor = (token: string): Record<string, string> => ({
  authorization: `Bearer ${token}`,
  'x-gitlab-authentication-type': 'oidc',
  'x-gitlab-instance-id': INSTANCE_ID,
  'x-gitlab-realm': 'self-managed',
})
const gatewayVerifier = createGatewayVerifier({ jwks: toJwks([fx.key]), now: () => new Date() })
const strictVerifier = createGatewayVerifier({ jwks: toJwks([fx.key]), now: () => new Date(), strict: { issuers: [fx.issuer] } })
const sdkHeaders = buildGatewayHeaders({ instance: { id: INSTANCE_ID, realm: 'self-managed' } })

/** A client whose fetch only counts: anything that reaches it was "sent" (with these Authorization values). */
function countingClient(token: string | (() => string)): { client: GatewayClient; sent: () => number; authorizations: string[] } {
  let sent = 0
  const authorizations: string[] = []
  const source: TokenSource = { getToken: async () => ({ token: typeof token === 'function' ? token() : token, source: 'self-issued', reason: 'security test' }) }
  const client = createGatewayClient({
    baseUrl: 'http://127.0.0.1:9',
    tokenSource: source,
    headers: { instance: { id: INSTANCE_ID, realm: 'self-managed' } },
    retry: false,
    fetch: async (input) => {
      sent++
      if (input instanceof Request) authorizations.push(input.headers.get('authorization') ?? '')
      return new Response('"ok"', { status: 200, headers: { 'content-type': 'application/json' } })
    },
  })
  return { client, sent: () => sent, authorizations }
}

const MODEL = { name: 'mistral', endpoint: 'http://model:8000/v1' }

/** The refusal every layer must give, and the client must not send. */
async function expectRefusedEverywhere(token: string, reason: string, code: string): Promise<void> {
  expect(inspectToken(token).problems.filter((p) => p.severity === 'error').map((p) => p.code)).toContain(code)
  const pf = preflight({ token, headers: sdkHeaders, unitPrimitive: 'complete_code' })
  expect(pf.ok).toBe(false)
  expect(pf.errors[0]?.code).toBe(code)
  expect(await gatewayVerifier.authenticate(headersFor(token))).toMatchObject({ status: 401, error: 'Forbidden by auth provider', reason })
  expect((await strictVerifier.authenticate(headersFor(token))).status).toBe(401)
  const { client, sent } = countingClient(token)
  const err = await rejection(client.checkModelConfiguration(MODEL))
  expect(err).toBeInstanceOf(PreflightError)
  expect((err as PreflightError).findings[0]?.code).toBe(code)
  expect(sent()).toBe(0)
}

describe('security: algorithms', () => {
  it('alg "none" (any spelling, with or without a signature) is refused everywhere and never sent', async () => {
    for (const alg of ['none', 'None', 'NONE', 'nOnE']) {
      const unsigned = `${b64urlJson({ ...HEADER, alg })}.${b64urlJson(CLAIMS)}.`
      await expectRefusedEverywhere(unsigned, 'The specified alg value is not allowed', 'ALG_NOT_ALLOWED')
      // a "none" header over a real RS256 signature is still "none"
      const resigned = signSegments(b64urlJson({ ...HEADER, alg }), b64urlJson(CLAIMS), fx.key.privateKey!)
      await expectRefusedEverywhere(resigned, 'The specified alg value is not allowed', 'ALG_NOT_ALLOWED')
    }
    // and no alg at all
    await expectRefusedEverywhere(`${b64urlJson({ typ: 'JWT', kid: fx.key.kid })}.${b64urlJson(CLAIMS)}.AAAA`, 'No algorithm was specified in the JWS header.', 'ALG_MISSING')
  })

  it('key confusion: HS256 signed with the trusted RSA public key (PEM, DER, JWK JSON, n) is refused', async () => {
    const secrets: (string | Buffer)[] = [
      fx.key.publicKey.export({ type: 'spki', format: 'pem' }) as string,
      fx.key.publicKey.export({ type: 'pkcs1', format: 'pem' }) as string,
      fx.key.publicKey.export({ type: 'spki', format: 'der' }),
      JSON.stringify(fx.key.publicJwk),
      Buffer.from(fx.key.publicJwk.n, 'base64url'),
    ]
    for (const secret of secrets) {
      for (const alg of ['HS256', 'HS384', 'HS512']) {
        const input = `${b64urlJson({ ...HEADER, alg })}.${b64urlJson(CLAIMS)}`
        const hash = { HS256: 'sha256', HS384: 'sha384', HS512: 'sha512' }[alg] as string
        const token = `${input}.${createHmac(hash, secret).update(input).digest('base64url')}`
        await expectRefusedEverywhere(token, 'The specified alg value is not allowed', 'ALG_NOT_ALLOWED')
        expect(inspectToken(token).problems[0]?.message).toMatch(/key-confusion attempt/)
      }
    }
  })

  it('RS256 signed by a key nobody trusts, claiming the trusted kid, fails the signature check', async () => {
    const forged = mintJwt(HEADER, CLAIMS, attacker.privateKey!)
    expect(await gatewayVerifier.authenticate(headersFor(forged))).toMatchObject({ status: 401, reason: 'Signature verification failed.' })
    expect(await strictVerifier.authenticate(headersFor(forged))).toMatchObject({ status: 401, reason: 'Signature verification failed.' })
    // preflight given the trusted keys refuses it too, so the client would not send it
    expect(preflight({ token: forged, headers: sdkHeaders, verificationKeys: toJwks([fx.key]) }).errors.map((p) => p.code)).toEqual(['SIGNATURE_INVALID'])
  })
})

describe('security: the "crit" header', () => {
  const signedWithCrit = (crit: unknown, extra: Record<string, unknown> = {}) => mintJwt({ ...HEADER, crit, ...extra }, CLAIMS, fx.key.privateKey!)

  it('the gateway (python-jose) ignores crit: the default verifier agrees (200) and inspection warns', async () => {
    const token = signedWithCrit(['exp'])
    expect((await gatewayVerifier.authenticate(headersFor(token))).status).toBe(200)
    const report = inspectToken(token)
    expect(report.problems.map((p) => `${p.severity}:${p.code}`)).toEqual(['warning:CRIT_HEADER'])
  })

  it('strict mode refuses every crit header: known names, unknown extensions, malformed values', async () => {
    for (const crit of [['exp'], ['b64'], ['urn:example:unknown'], [], 'b64', null, 1]) {
      const v = await strictVerifier.authenticate(headersFor(signedWithCrit(crit, { b64: false, 'urn:example:unknown': 1 })))
      expect(v, JSON.stringify(crit)).toEqual({
        status: 401,
        error: 'Forbidden by auth provider',
        reason: 'Unsupported critical header ("crit"): no JWS extension is supported',
        check: 'token',
      })
    }
    // the same token without crit passes the strict verifier
    expect((await strictVerifier.authenticate(headersFor(GOOD))).status).toBe(200)
  })
})

describe('security: key URLs in the token header are never fetched, never trusted', () => {
  let evil: TestServer
  let issuer: TestServer
  const attackerJwks = toJwks([attacker])
  beforeAll(async () => {
    evil = await startServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(attackerJwks))
    })
    issuer = await startServer((req, res, url) => {
      const body = url.pathname === '/.well-known/openid-configuration' ? { jwks_uri: `${issuer.url}/oauth/discovery/keys` } : toJwks([fx.key])
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(body))
    })
  })
  afterAll(async () => {
    await evil.close()
    await issuer.close()
  })

  it('jku, x5u and an embedded jwk pointing at / holding the attacker key: 401, zero fetches of them', async () => {
    const fetched: string[] = []
    const originalFetch = globalThis.fetch
    const countingFetch: typeof fetch = (input, init) => {
      fetched.push(input instanceof Request ? input.url : String(input))
      return originalFetch(input, init)
    }
    let globalCalls = 0
    globalThis.fetch = ((input: string | URL | Request, init?: RequestInit) => {
      globalCalls++
      return originalFetch(input, init)
    }) as typeof fetch
    try {
      const headers = [
        { alg: 'RS256', kid: attacker.kid, jku: `${evil.url}/jwks.json` },
        { alg: 'RS256', kid: attacker.kid, x5u: `${evil.url}/cert.pem` },
        { alg: 'RS256', kid: attacker.kid, jwk: attacker.publicJwk },
        { alg: 'RS256', kid: fx.key.kid, jwk: attacker.publicJwk, jku: `${evil.url}/jwks.json`, x5u: `${evil.url}/c`, x5c: ['MIIB'] },
      ]
      const withDiscovery = createGatewayVerifier({ issuerUrls: [issuer.url], fetch: countingFetch, now: () => new Date() })
      const strictDiscovery = createGatewayVerifier({ issuerUrls: [issuer.url], fetch: countingFetch, now: () => new Date(), strict: true })
      for (const h of headers) {
        const token = mintJwt(h, CLAIMS, attacker.privateKey!)
        expect(await gatewayVerifier.authenticate(headersFor(token))).toMatchObject({ status: 401, reason: 'Signature verification failed.' })
        expect(await withDiscovery.authenticate(headersFor(token))).toMatchObject({ status: 401, reason: 'Signature verification failed.' })
        const strict = await strictDiscovery.authenticate(headersFor(token))
        expect(strict.status).toBe(401)
        // the tokens name the fixture instance (iss), which is not the issuer these keys come from
        expect(['No trusted key has the kid of the token', 'No key of the issuer the token names (iss) has the kid of the token']).toContain(strict.reason)
        expect(inspectToken(token).kind).toBe('jwt')
        expect(preflight({ token, headers: sdkHeaders, verificationKeys: toJwks([fx.key]) }).errors.map((p) => p.code)).toEqual(['SIGNATURE_INVALID'])
      }
      expect(evil.count()).toBe(0)
      // only discovery was fetched: the issuer's well-known document and key set, once per verifier
      // (the strict one's reload for the attacker's unknown kid waits for the 30 s cooldown)
      expect(fetched.every((u) => u.startsWith(issuer.url))).toBe(true)
      expect(fetched.filter((u) => u.endsWith('/.well-known/openid-configuration'))).toHaveLength(2)
      expect(fetched.filter((u) => u.endsWith('/oauth/discovery/keys'))).toHaveLength(2)
      // inspection, preflight and the static-key verifier fetch nothing at all
      expect(globalCalls).toBe(0)
    } finally {
      globalThis.fetch = originalFetch
    }
  })

  it('the emulator (gateway over HTTP) refuses such a token and never contacts the URLs', async () => {
    const emulator = await startEmulator({ key: fx.key, instance: { instanceId: INSTANCE_ID } })
    try {
      const token = mintJwt({ alg: 'RS256', kid: attacker.kid, jku: `${evil.url}/jwks.json`, jwk: attacker.publicJwk }, { ...CLAIMS, iss: emulator.instanceUrl }, attacker.privateKey!)
      const res = await fetch(`${emulator.url}/v2/code/completions`, { method: 'POST', headers: { ...headersFor(token), 'content-type': 'application/json' }, body: '{}' })
      expect(res.status).toBe(401)
      expect(await res.json()).toEqual({ error: 'Forbidden by auth provider' })
      expect(emulator.requests.find((r) => r.side === 'gateway')?.verdict?.reason).toBe('Signature verification failed.')
      expect(evil.count()).toBe(0)
    } finally {
      await emulator.stop()
    }
  })
})

describe('security: size', () => {
  /** A validly signed token over 64 KiB whose header would crash the gateway's JSON parser if decoded. */
  const bombHeader = `{"alg":"RS256","kid":"${fx.key.kid}","x":${'['.repeat(40_000)}${']'.repeat(40_000)}}`
  const huge = signSegments(b64url(bombHeader), b64urlJson({ ...CLAIMS, pad: 'x'.repeat(10_000) }), fx.key.privateKey!)

  it('tokens over 64 KiB are refused before decoding: inspection, preflight, strict verifier, client, CLI', async () => {
    expect(huge.length).toBeGreaterThan(MAX_TOKEN_BYTES)
    const started = performance.now()
    const report = inspectToken(huge)
    // nothing was decoded: no header, no claims, and not the crash a decoded header would report
    expect(report).toMatchObject({ kind: 'malformed', length: huge.length })
    expect(report.header).toBeUndefined()
    expect(report.claims).toBeUndefined()
    expect(report.problems.map((p) => p.code)).toEqual(['TOKEN_TOO_LARGE'])
    const pf = preflight({ token: huge, headers: sdkHeaders, unitPrimitive: 'complete_code' })
    expect(pf.errors.map((p) => p.code)).toEqual(['TOKEN_TOO_LARGE'])
    expect(performance.now() - started).toBeLessThan(50)

    expect(await strictVerifier.authenticate(headersFor(huge))).toEqual({ status: 401, error: 'Forbidden by auth provider', reason: 'Token too large (over 65536 bytes)', check: 'token' })
    // multi-byte characters count as bytes, not characters
    const wide = 'é'.repeat(MAX_TOKEN_BYTES / 2 + 1)
    expect(inspectToken(wide).problems.map((p) => p.code)).toEqual(['TOKEN_TOO_LARGE'])
    expect((await strictVerifier.authenticate(headersFor(wide))).reason).toBe('Token too large (over 65536 bytes)')

    const { client, sent } = countingClient(huge)
    const err = await rejection(client.checkModelConfiguration(MODEL))
    expect(err).toBeInstanceOf(PreflightError)
    expect((err as PreflightError).findings.map((p) => p.code)).toEqual(['TOKEN_TOO_LARGE'])
    expect(sent()).toBe(0)

    let stdout = ''
    const io: CliIo = { stdout: { write: (s: string) => (stdout += s) }, stderr: { write: () => true }, stdin: Readable.from([]) as unknown as CliIo['stdin'], env: {} }
    expect(await main(['inspect', huge, '--json'], io)).toBe(1)
    expect(JSON.parse(stdout)).toMatchObject({ kind: 'malformed', accepted: false, problems: [{ code: 'TOKEN_TOO_LARGE' }] })
  })

  it('the gateway-equivalent verifier mirrors python-jose (no size limit) but parses in linear time', async () => {
    // A 400 KiB header of numbers: before the fix in src/inspect/python.ts, parsing it before the
    // signature check took O(n²) — 14 s for 100 KiB. Now it is refused in well under a second.
    const header = `{"alg":"RS256","a":[${'1,'.repeat(200_000)}1]}`
    const token = `${b64url(header)}.${b64urlJson(CLAIMS)}.${b64url('sig')}`
    const started = performance.now()
    expect(await gatewayVerifier.authenticate(headersFor(token))).toMatchObject({ status: 401, reason: 'Signature verification failed.' })
    expect(performance.now() - started).toBeLessThan(2_000)
  })
})

describe('security: prototype pollution through claims and headers', () => {
  const POISON = '{"polluted":true,"isAdmin":true,"alg":"RS256","scopes":["complete_code"]}'
  const payload = `{"__proto__":${POISON},"constructor":{"prototype":${POISON}},"prototype":${POISON},"iss":"${fx.issuer}","sub":"${INSTANCE_ID}","aud":["gitlab-ai-gateway"],"iat":${NOW},"nbf":${NOW - 5},"exp":${NOW + 3600},"gitlab_realm":"self-managed","scopes":["complete_code"]}`
  const poisoned = signSegments(b64urlJson(HEADER), b64url(payload), fx.key.privateKey!)

  it('__proto__ / constructor claims stay plain own data after inspect, preflight and verify', async () => {
    const report = inspectToken(poisoned)
    expect(report.kind).toBe('jwt')
    expect(Object.getPrototypeOf(report.claims)).toBe(Object.prototype)
    expect(Object.hasOwn(report.claims!, '__proto__')).toBe(true)
    expect(report.claims!.polluted).toBeUndefined()

    expect(preflight({ token: poisoned, headers: sdkHeaders, unitPrimitive: 'complete_code' }).ok).toBe(true)
    for (const v of [gatewayVerifier, strictVerifier]) {
      const verdict = await v.authenticate(headersFor(poisoned), { unitPrimitive: 'complete_code' })
      expect(verdict.status).toBe(200)
      expect(Object.getPrototypeOf(verdict.claims)).toBe(Object.prototype)
      expect((verdict.claims as Record<string, unknown>).isAdmin).toBeUndefined()
    }
    // Python's own decoder path (taken for payloads that JSON.parse rejects or that are long)
    const long = signSegments(b64urlJson(HEADER), b64url(`${payload.slice(0, -1)},"pad":"${'x'.repeat(4000)}"}`), fx.key.privateKey!)
    const verdict = await gatewayVerifier.authenticate(headersFor(long))
    expect(verdict.status).toBe(200)
    expect(Object.getPrototypeOf(verdict.claims)).toBe(Object.prototype)
    expectPrototypesClean()
  })

  it('an "alg" found only on a __proto__ member does not count: the header has no alg', async () => {
    const header = `{"__proto__":{"alg":"RS256"},"kid":"${fx.key.kid}"}`
    const token = signSegments(b64url(header), b64urlJson(CLAIMS), fx.key.privateKey!)
    await expectRefusedEverywhere(token, 'No algorithm was specified in the JWS header.', 'ALG_MISSING')
    expectPrototypesClean()
  })

  it('the same token through the client and the emulator, and the CLI: no prototype changes anywhere', async () => {
    const emulator: Emulator = await startEmulator({ key: fx.key, instance: { instanceId: INSTANCE_ID } })
    try {
      const token = signSegments(b64urlJson(HEADER), b64url(payload.replace(fx.issuer, emulator.instanceUrl)), fx.key.privateKey!)
      const client = createGatewayClient({
        baseUrl: emulator.url,
        tokenSource: { getToken: async () => ({ token, source: 'self-issued', reason: 'test' }) },
        headers: { instance: { id: INSTANCE_ID, realm: 'self-managed' } },
        retry: false,
      })
      expect((await client.checkModelConfiguration(MODEL)).status).toBe(200)
      const recorded = emulator.requests.find((r) => r.route === 'prompts')
      expect(recorded?.verdict?.status).toBe(200)
      expect(Object.getPrototypeOf(recorded?.verdict?.claims)).toBe(Object.prototype)
    } finally {
      await emulator.stop()
    }
    const io: CliIo = { stdout: { write: () => true }, stderr: { write: () => true }, stdin: Readable.from([]) as unknown as CliIo['stdin'], env: {} }
    expect(await main(['inspect', poisoned], io)).toBe(0)
    expectPrototypesClean()
  })

  it('extra claims, catalog items and header names cannot carry __proto__ either', () => {
    const extra = JSON.parse('{"__proto__":{"polluted":true}}') as Record<string, unknown>
    expect(() => createTokenIssuer({ issuer: fx.issuer, instanceId: INSTANCE_ID, realm: 'self-managed', key: fx.key, extraClaims: extra })).toThrow(
      expect.objectContaining({ code: 'ERR_RESERVED_CLAIM' }),
    )
    const item = JSON.parse('{"name":"x","description":"d","group":"g","feature_category":"f","backend_services":["s"],"__proto__":{"polluted":true}}') as unknown
    expect(() => createCatalog({ unitPrimitives: [item], backendServices: [{ name: 's', jwt_aud: 'a' }] })).toThrow(expect.objectContaining({ code: 'ERR_CATALOG_INVALID' }))
    const headers = buildGatewayHeaders({ instance: { id: INSTANCE_ID, realm: 'self-managed' }, extra: JSON.parse('{"__proto__":"x","constructor":"y"}') as Record<string, string> })
    expect(Object.getPrototypeOf(headers)).toBe(Object.prototype)
    expect(headers.constructor).toBe('y')
    expectPrototypesClean()
  })
})

describe('security: header injection (CR/LF)', () => {
  const INJECTIONS = ['a\r\nX-Injected: 1', 'a\nb', 'a\rb', '\r\n', 'a\u0000b', 'a\u2028b', 'é\r\n']
  const base = { instance: { id: INSTANCE_ID, realm: 'self-managed' as const } }

  it('buildGatewayHeaders refuses CR/LF (and any control or non-ASCII character) in every header value', () => {
    const places: [string, (v: string) => Parameters<typeof buildGatewayHeaders>[0]][] = [
      ['x-gitlab-instance-id', (v) => ({ instance: { id: v, realm: 'self-managed' } })],
      ['x-gitlab-host-name', (v) => ({ instance: { ...base.instance, hostName: v } })],
      ['x-gitlab-version', (v) => ({ instance: { ...base.instance, version: v } })],
      ['x-request-id', (v) => ({ ...base, requestId: v })],
      ['x-gitlab-global-user-id', (v) => ({ ...base, user: { id: 1, globalUserId: v } })],
      ['x-gitlab-user-id', (v) => ({ ...base, user: { id: v, salt: 's' } })],
      ['x-gitlab-subject-type', (v) => ({ ...base, user: { id: 1, salt: 's', subjectType: v } })],
      ['x-gitlab-feature-enablement-type', (v) => ({ ...base, feature: { enablementType: v } })],
      ['x-gitlab-enabled-feature-flags', (v) => ({ ...base, feature: { featureFlags: [v] } })],
      ['x-gitlab-root-namespace-id', (v) => ({ ...base, feature: { rootNamespaceId: v } })],
      ['x-custom', (v) => ({ ...base, extra: { 'X-Custom': v } })],
    ]
    for (const [header, ctx] of places) {
      for (const value of INJECTIONS) {
        let thrown: unknown
        try {
          buildGatewayHeaders(ctx(value))
        } catch (e) {
          thrown = e
        }
        expect(thrown, `${header} ${JSON.stringify(value)}`).toBeInstanceOf(HeaderError)
        expect((thrown as HeaderError).header).toBe(header)
        expect((thrown as HeaderError).code).toBe('ERR_INVALID_HEADER')
      }
    }
    // and a header NAME with CR/LF
    expect(() => buildGatewayHeaders({ ...base, extra: { 'x-a\r\nx-b': 'v' } })).toThrow(HeaderError)
  })

  it('the client never sends: bad context at construction, per call, a bad request id, a token with CR/LF', async () => {
    for (const value of INJECTIONS) {
      expect(() => createGatewayClient({ baseUrl: 'http://127.0.0.1:9', tokenSource: { getToken: async () => ({ token: GOOD, source: 'self-issued', reason: 'x' }) }, headers: { instance: { id: INSTANCE_ID, realm: 'self-managed', hostName: value } } })).toThrow(HeaderError)
      const { client, sent } = countingClient(GOOD)
      expect(await rejection(client.checkModelConfiguration(MODEL, { context: { extra: { 'x-note': value } } }))).toBeInstanceOf(HeaderError)
      expect(await rejection(client.checkModelConfiguration(MODEL, { context: { user: { id: 1, globalUserId: value } } }))).toBeInstanceOf(HeaderError)
      expect(await rejection(client.checkModelConfiguration(MODEL, { requestId: value }))).toBeInstanceOf(HeaderError)
      expect(sent()).toBe(0)
    }
    for (const token of [`${GOOD}\r\nX-Injected: 1`, `${GOOD.slice(0, 20)}\r\n${GOOD.slice(20)}`, `\r\n${GOOD}`, `${GOOD}\n\n${GOOD}`]) {
      const { client, sent } = countingClient(token)
      const err = await rejection(client.checkModelConfiguration(MODEL))
      expect(err).toBeInstanceOf(PreflightError)
      expect((err as PreflightError).findings.map((p) => p.code)).toContain('TOKEN_WHITESPACE')
      expect(sent()).toBe(0)
    }
  })

  it('a line break only at the END of a token is stripped by fetch: no CR/LF ever reaches the wire', async () => {
    // inspectToken calls this a warning (servers strip trailing whitespace); fetch's header
    // normalisation removes it before the request exists, so what is sent is the token alone.
    for (const token of [`${GOOD}\n`, `${GOOD}\r\n`, `${GOOD}\r`]) {
      expect(inspectToken(token).problems.map((p) => `${p.severity}:${p.code}`)).toEqual(['warning:TOKEN_WHITESPACE'])
      const { client, authorizations } = countingClient(token)
      expect((await client.checkModelConfiguration(MODEL)).status).toBe(200)
      expect(authorizations).toEqual([`Bearer ${GOOD}`])
    }
  })

  it('against the emulator: nothing arrives for any of these', async () => {
    const emulator = await startEmulator({ key: fx.key, instance: { instanceId: INSTANCE_ID } })
    try {
      const token = await emulator.instance.token()
      const client = createGatewayClient({
        baseUrl: emulator.url,
        tokenSource: { getToken: async () => ({ token: `${token}\r\nX-Injected: 1`, source: 'self-issued', reason: 'x' }) },
        headers: { instance: { id: emulator.instance.instanceId, realm: 'self-managed' } },
        retry: false,
      })
      expect(await rejection(client.checkModelConfiguration(MODEL))).toBeInstanceOf(PreflightError)
      expect(await rejection(client.checkModelConfiguration(MODEL, { requestId: 'a\r\nb' }))).toBeInstanceOf(HeaderError)
      expect(emulator.countRequests({ side: 'gateway' })).toBe(0)
    } finally {
      await emulator.stop()
    }
  })
})

describe('security: header bags from outside', () => {
  it('authenticate reads only own header names: a bag whose prototype carries authorization has none', async () => {
    const proto = headersFor(GOOD)
    const bag = Object.create(proto) as HeadersInput
    expect(await gatewayVerifier.authenticate(bag)).toMatchObject({ status: 401, error: 'No authorization header presented' })
    expectPrototypesClean()
  })
})

describe('security: no decoded or verified state is shared between trust sets (duplicate-signature keys)', () => {
  // Tenant A's verifier trusts the instance key K1; tenant B's trusts a key K2 that B's instance published.
  // B's operator sees one of A's genuine tokens h1.p1.S and builds K2 so that S also verifies over h2.p2 — a
  // header and claims of its choosing: any sub, every scope, no expiry.
  const ATTACKER_SUB = '00000000-0000-4000-8000-00000000b0b0'
  const genuineClaims = { ...CLAIMS, jti: 'genuine-a' }
  const forgedClaims = { iss: 'https://b.example.com', sub: ATTACKER_SUB, aud: ['gitlab-ai-gateway'], iat: NOW, gitlab_realm: 'self-managed', scopes: ['complete_code', 'generate_code', 'duo_chat', 'duo_classic_chat'] }
  const forgedHeader = { alg: 'RS256', typ: 'JWT', kid: 'tenant-b' }
  let pair: ReturnType<typeof duplicateSignaturePair>
  let jwksB: { keys: Record<string, unknown>[] }
  beforeAll(() => {
    pair = duplicateSignaturePair({ header: HEADER, claims: genuineClaims, key: fx.key.privateKey! }, { header: forgedHeader, claims: forgedClaims })
    jwksB = { keys: [{ ...pair.forgedJwk, kid: 'tenant-b', use: 'sig', alg: 'RS256' }] }
  }, 120_000)

  const attackerHeaders = (token: string): Record<string, string> => ({ ...headersFor(token), 'x-gitlab-instance-id': ATTACKER_SUB })
  const verifierA = (strict = false) => createGatewayVerifier({ jwks: toJwks([fx.key]), now: () => new Date(), ...(strict ? { strict: { issuers: [fx.issuer] } } : {}) })
  const verifierB = () => createGatewayVerifier({ jwks: jwksB as never, now: () => new Date() })

  it('the construction is real: the two tokens share their signature segment and each verifies under its own key only', async () => {
    expect(pair.forged.slice(pair.forged.lastIndexOf('.'))).toBe(pair.genuine.slice(pair.genuine.lastIndexOf('.')))
    expect(pair.forged).not.toBe(pair.genuine)
    const b = verifierB()
    expect(await b.authenticate(attackerHeaders(pair.forged), { unitPrimitive: 'generate_code' })).toEqual({ status: 200, claims: forgedClaims })
    expect(await b.authenticate(headersFor(pair.genuine))).toMatchObject({ status: 401, reason: 'Signature verification failed.' })
    expect(await verifierA().authenticate(attackerHeaders(pair.forged))).toMatchObject({ status: 401, reason: 'Signature verification failed.' })
  })

  it("B accepts h2.p2.S first; A, sent the genuine h1.p1.S, reads A's own claims — never B's (default and strict)", async () => {
    for (const strict of [false, true]) {
      const b = verifierB()
      expect((await b.authenticate(attackerHeaders(pair.forged))).claims).toEqual(forgedClaims)
      const a = verifierA(strict)
      // the replay with the attacker's identity headers: before the fix, 200 with the forged sub and scopes and no exp
      expect(await a.authenticate(attackerHeaders(pair.genuine), { unitPrimitive: 'generate_code' })).toEqual({
        status: 401,
        error: "Header mismatch 'X-Gitlab-Instance-Id'",
        claims: genuineClaims,
        check: 'headers',
        header: 'X-Gitlab-Instance-Id',
      })
      expect(await a.authenticate(headersFor(pair.genuine), { unitPrimitive: 'generate_code' })).toEqual({ status: 403, error: "Unauthorized to access 'generate_code'", claims: genuineClaims, check: 'scope' })
      expect(await a.authenticate(headersFor(pair.genuine), { unitPrimitive: 'complete_code' })).toEqual({ status: 200, claims: genuineClaims })
    }
  })

  it("in the other order, B never reads A's claims; one verifier trusting both keys tells the two tokens apart", async () => {
    const a = verifierA()
    const b = verifierB()
    expect((await a.authenticate(headersFor(pair.genuine))).claims).toEqual(genuineClaims)
    expect(await b.authenticate(attackerHeaders(pair.forged))).toEqual({ status: 200, claims: forgedClaims })

    // a multi-tenant verifier: both keys in one set, so both tokens verify; each keeps its own claims on every call
    const both = createGatewayVerifier({ jwks: [toJwks([fx.key]), jwksB as never], now: () => new Date() })
    for (let i = 0; i < 3; i++) {
      expect(await both.authenticate(attackerHeaders(pair.forged))).toEqual({ status: 200, claims: forgedClaims })
      expect(await both.authenticate(headersFor(pair.genuine))).toEqual({ status: 200, claims: genuineClaims })
      expect((await both.authenticate(attackerHeaders(pair.genuine))).header).toBe('X-Gitlab-Instance-Id')
    }
    // preflight's signature memo is per key set too
    expect(preflight({ token: pair.forged, headers: sdkHeaders, verificationKeys: toJwks([fx.key]) }).errors.map((p) => p.code)).toContain('SIGNATURE_INVALID')
    expect(preflight({ token: pair.genuine, headers: sdkHeaders, verificationKeys: jwksB as never }).errors.map((p) => p.code)).toContain('SIGNATURE_INVALID')
  })

  it("preflight's signature memo follows the key set it is given, also when that set is changed in place", () => {
    const trusted = { keys: [...toJwks([fx.key]).keys] }
    const codes = () => preflight({ token: pair.genuine, headers: sdkHeaders, verificationKeys: trusted }).errors.map((p) => p.code)
    expect(codes()).not.toContain('SIGNATURE_INVALID')
    // the instance key is revoked from the same object: its tokens no longer pass
    trusted.keys.splice(0, 1, ...(jwksB.keys as never[]))
    expect(codes()).toContain('SIGNATURE_INVALID')
    trusted.keys.splice(0, 1, ...toJwks([fx.key]).keys)
    expect(codes()).not.toContain('SIGNATURE_INVALID')
  })

  it('the memo still serves the same verifier: the same token again gives the very same (frozen) claims object', async () => {
    for (const size of [1024, 0]) {
      const a = createGatewayVerifier({ jwks: toJwks([fx.key]), now: () => new Date(), verifiedTokenCacheSize: size })
      const first = await a.authenticate(headersFor(pair.genuine))
      const again = await a.authenticate(headersFor(`${pair.genuine}`.slice(0)))
      expect(first.status).toBe(200)
      expect(again.claims).toBe(first.claims)
      expect(Object.isFrozen(first.claims)).toBe(true)
      // a different verifier decodes for itself
      expect((await verifierA().authenticate(headersFor(pair.genuine))).claims).not.toBe(first.claims)
    }
  })
})

describe('security: every pattern applied to untrusted text runs in linear time (hostile inputs of 64–256 KiB)', () => {
  // Each input made a regex backtrack quadratically before the fix: seconds (up to 23 s) for what now takes
  // milliseconds. The bounds are generous because the machine running the tests may be loaded.
  const BOUND_MS = 1_000
  const elapsed = async (fn: () => unknown): Promise<number> => {
    const started = performance.now()
    await fn()
    return performance.now() - started
  }

  it('Authorization with 250,000 spaces between the scheme and the token: the gateway-equivalent verifier strips it linearly', async () => {
    const value = ` Bearer${' '.repeat(250_000)}x`
    let verdict: Awaited<ReturnType<typeof gatewayVerifier.authenticate>> | undefined
    expect(await elapsed(async () => (verdict = await gatewayVerifier.authenticate({ ...headersFor('x'), authorization: value })))).toBeLessThan(BOUND_MS)
    // stripped of its surrounding whitespace as the HTTP server does, then split at the first space: the token is
    // everything after "Bearer " — 249,999 spaces and the "x" — which python-jose cannot split into segments
    expect(verdict).toEqual({ status: 401, error: 'Forbidden by auth provider', reason: 'Not enough segments', check: 'token' })
    // and a value that is all whitespace around a word, tabs included
    const tabs = `\t \t${'\t '.repeat(125_000)}Bearer${' \t'.repeat(125_000)}`
    expect(await elapsed(() => gatewayVerifier.authenticate({ ...headersFor('x'), authorization: tabs }))).toBeLessThan(BOUND_MS)
    // stripped, it is the bare word "Bearer": an empty token
    expect(await gatewayVerifier.authenticate({ ...headersFor('x'), authorization: tabs })).toMatchObject({ status: 401, reason: 'Not enough segments' })
  })

  it('a bearer value with 65,000 spaces inside: inspectToken and preflight judge it linearly', async () => {
    const cases: [string, string][] = [
      [`a${' '.repeat(65_000)}b`, 'TOKEN_WHITESPACE'],
      [`eyJ.${'\t'.repeat(65_000)}.x`, 'TOKEN_WHITESPACE'],
      [`Bearer ${' '.repeat(65_000)}b `, 'TOKEN_BEARER_PREFIX'],
    ]
    for (const [value, code] of cases) {
      let report: ReturnType<typeof inspectToken> | undefined
      expect(await elapsed(() => (report = inspectToken(value)))).toBeLessThan(BOUND_MS)
      expect(report?.problems[0]?.code).toBe(code)
      expect(await elapsed(() => preflight({ token: value, headers: sdkHeaders, unitPrimitive: 'complete_code' }))).toBeLessThan(BOUND_MS)
    }
  })

  it('an integer claim written as "1" + spaces + "x": python int() is emulated linearly (inspect, preflight, verifier)', async () => {
    // int(" 1   x") is a ValueError in Python: "Expiration Time claim (exp) must be an integer."
    const small = signSegments(b64urlJson(HEADER), b64urlJson({ ...CLAIMS, exp: `1${' '.repeat(43_000)}x` }), fx.key.privateKey!)
    expect(small.length).toBeLessThan(MAX_TOKEN_BYTES)
    let report: ReturnType<typeof inspectToken> | undefined
    expect(await elapsed(() => (report = inspectToken(small)))).toBeLessThan(BOUND_MS)
    expect(report?.problems.map((p) => p.code)).toContain('EXP_NOT_INTEGER')
    expect(await elapsed(() => preflight({ token: small, headers: sdkHeaders, unitPrimitive: 'complete_code' }))).toBeLessThan(BOUND_MS)
    // the default verifier has no size limit: 200,000 spaces in a validly signed token
    for (const exp of [`1${' '.repeat(200_000)}x`, `${'\u2003'.repeat(100_000)}1${'\u3000'.repeat(100_000)}x`]) {
      const big = signSegments(b64urlJson(HEADER), b64urlJson({ ...CLAIMS, exp }), fx.key.privateKey!)
      let verdict: Awaited<ReturnType<typeof gatewayVerifier.authenticate>> | undefined
      expect(await elapsed(async () => (verdict = await gatewayVerifier.authenticate(headersFor(big))))).toBeLessThan(BOUND_MS)
      expect(verdict).toMatchObject({ status: 401, reason: 'Expiration Time claim (exp) must be an integer.' })
    }
    // surrounding Python whitespace is still stripped: " 1 " is the integer 1, long ago
    const padded = signSegments(b64urlJson(HEADER), b64urlJson({ ...CLAIMS, exp: `${' '.repeat(100_000)}1\u2003` }), fx.key.privateKey!)
    expect(await gatewayVerifier.authenticate(headersFor(padded))).toMatchObject({ status: 401, reason: 'Signature has expired.' })
  })

  it('the client scrubs a 64 KiB error body of "eyJ" repeated (and 256 KiB through scrub itself) linearly', async () => {
    const body = 'eyJ'.repeat(Math.floor((64 * 1024) / 3))
    const server = await startServer((_req, res) => {
      res.writeHead(400, { 'content-type': 'text/plain' }).end(body)
    })
    try {
      const client = createGatewayClient({ baseUrl: server.url, tokenSource: { getToken: async () => ({ token: GOOD, source: 'self-issued', reason: 'test' }) }, headers: { instance: { id: INSTANCE_ID, realm: 'self-managed' } }, retry: false })
      let err: unknown
      expect(await elapsed(async () => (err = await rejection(client.checkModelConfiguration(MODEL))))).toBeLessThan(BOUND_MS)
      expect(err).toMatchObject({ code: 'ERR_GATEWAY_HTTP', status: 400 })
      expect(server.count()).toBe(1)
    } finally {
      await server.close()
    }
    for (const text of ['eyJ'.repeat(87_382), `eyJhbGciOi.${'eyJ.'.repeat(65_536)}`, `Bearer ${'Bearer '.repeat(37_449)}`, `${'eyJa'.repeat(32_768)}.${'a'.repeat(131_072)}`]) {
      expect(await elapsed(() => scrub(text, [GOOD]))).toBeLessThan(BOUND_MS)
    }
  })
})

describe('security: partial and escaped echoes of secrets are scrubbed', () => {
  // An api key with every character HTML escaping changes, and the request's token whose signature the
  // gateway (or a proxy in front of it) may quote on its own.
  const API_KEY = `sk-canary<7f3c>&"9e1d"'2b4a'`
  const htmlForms = [
    API_KEY.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;').replace(/'/g, '&#x27;'),
    API_KEY.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&#34;').replace(/'/g, '&#39;'),
    API_KEY.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;').replace(/'/g, '&#39;'),
  ]
  const forms = [API_KEY, ...htmlForms, JSON.stringify(API_KEY).slice(1, -1), encodeURIComponent(API_KEY)]
  const signature = GOOD.slice(GOOD.lastIndexOf('.') + 1)
  const leaks = (text: string): string[] => [...forms, signature, signature.slice(0, 40), signature.slice(-40)].filter((f) => text.includes(f))
  const shown = (e: unknown): string => `${(e as Error).message}\n${JSON.stringify(e)}\n${inspect(e, { depth: 8 })}`

  it('an HTML-, JSON- or URL-escaped api key in an error body never reaches the error (client, real socket)', async () => {
    const server = await startServer(async (req, res) => {
      for await (const _ of req) void _
      const which = Number(req.headers['x-form'] ?? 0)
      const form = forms[which] as string
      if (which % 2 === 0) json(res, 422, { detail: [{ loc: ['body', 'model_metadata', 'api_key'], msg: `invalid key ${form}`, type: 'value_error' }] })
      else res.writeHead(502, { 'content-type': 'text/html' }).end(`<html><body><p>upstream refused key ${form}</p></body></html>`)
    })
    try {
      const client = createGatewayClient({ baseUrl: server.url, tokenSource: { getToken: async () => ({ token: GOOD, source: 'self-issued', reason: 'test' }) }, headers: { instance: { id: INSTANCE_ID, realm: 'self-managed' } }, retry: false })
      for (let i = 0; i < forms.length; i++) {
        const err = await rejection(client.checkModelConfiguration({ ...MODEL, apiKey: API_KEY }, { context: { extra: { 'x-form': String(i) } } }))
        expect(err, `form ${i}`).toMatchObject({ status: i % 2 === 0 ? 422 : 502 })
        expect(leaks(shown(err)), `form ${i}: ${forms[i]}`).toEqual([])
      }
      expect(server.count()).toBe(forms.length)
    } finally {
      await server.close()
    }
  })

  it("the request token's bare signature segment in an error body is scrubbed (client and createAuthenticatedFetch's log)", async () => {
    const server = await startServer(async (req, res) => {
      for await (const _ of req) void _
      const sig = (req.headers.authorization ?? '').split('.').pop() ?? ''
      if (req.headers['x-status'] === '401') json(res, 401, { error: `Forbidden by auth provider: signature ${sig} rejected` })
      else res.writeHead(500, { 'content-type': 'text/plain' }).end(`verification of ${sig} failed`)
    })
    const lines: string[] = []
    const logger: Logger = { warn: (e, f) => lines.push(inspect({ e, f }, { depth: 8 })), error: (e, f) => lines.push(inspect({ e, f }, { depth: 8 })) }
    try {
      const tokenSource: TokenSource = { getToken: async () => ({ token: GOOD, source: 'self-issued', reason: 'test' }) }
      const client = createGatewayClient({ baseUrl: server.url, tokenSource, headers: { instance: { id: INSTANCE_ID, realm: 'self-managed' } }, retry: false, logger })
      for (const status of ['401', '500']) {
        const err = await rejection(client.checkModelConfiguration(MODEL, { context: { extra: { 'x-status': status } } }))
        expect(err).toMatchObject({ status: Number(status) })
        expect(leaks(shown(err))).toEqual([])
      }
      const authed = createAuthenticatedFetch({ baseUrl: server.url, tokenSource, headers: { instance: { id: INSTANCE_ID, realm: 'self-managed' } }, logger, throwOnAuthFailure: true })
      const err = await rejection(authed(`${server.url}/v2/code/completions`, { method: 'POST', headers: { 'content-type': 'application/json', 'x-status': '401' }, body: '{}' }))
      expect(err).toMatchObject({ code: 'ERR_GATEWAY_UNAUTHORIZED' })
      expect(leaks(shown(err))).toEqual([])
      expect(lines.length).toBeGreaterThan(0)
      expect(leaks(lines.join('\n'))).toEqual([])
    } finally {
      await server.close()
    }
  })
})

describe('security: strict mode ties keys to their issuer; private key material is never trusted silently', () => {
  // Issuer A publishes the fixture key; issuer B (another instance, trusted for its own tokens) publishes its own.
  let a: TestServer
  let b: TestServer
  let publishedByB: unknown[]
  beforeAll(async () => {
    a = await startServer(issuerHandler(() => toJwks([fx.key])))
    publishedByB = toJwks([attacker]).keys
    b = await startServer(issuerHandler(() => ({ keys: publishedByB })))
  })
  afterAll(async () => {
    await a.close()
    await b.close()
  })
  const signed = (key: typeof attacker, iss: string, extra: Record<string, unknown> = {}) => mintJwt({ alg: 'RS256', typ: 'JWT', kid: key.kid }, { ...CLAIMS, iss, ...extra }, key.privateKey!)
  const WRONG_ISSUER = { status: 401, error: 'Forbidden by auth provider', reason: 'No key of the issuer the token names (iss) has the kid of the token', check: 'token' }

  it("a token signed with issuer B's key that names issuer A (iss) is refused in strict mode; the gateway-equivalent mode accepts it, as the gateway does", async () => {
    for (const requireKid of [true, false]) {
      const strict = createGatewayVerifier({ issuerUrls: [a.url, b.url], now: () => new Date(), strict: { requireKid } })
      // without requireKid every key of the named issuer is tried, and none verifies
      const refused = requireKid ? WRONG_ISSUER : { ...WRONG_ISSUER, reason: 'Signature verification failed.' }
      expect(await strict.authenticate(headersFor(signed(attacker, a.url)))).toEqual(refused)
      expect(await strict.authenticate(headersFor(signed(fx.key, b.url)))).toEqual(refused)
      expect(await strict.authenticate(headersFor(signed(attacker, `${a.url}/`)))).toEqual(refused)
      // each issuer's own tokens pass (a trailing "/" in iss is ignored)
      expect((await strict.authenticate(headersFor(signed(fx.key, a.url)))).status).toBe(200)
      expect((await strict.authenticate(headersFor(signed(attacker, `${b.url}/`)))).status).toBe(200)
      // a token naming no issuer, or one that is not configured, gets no discovered key at all
      expect(await strict.authenticate(headersFor(signed(attacker, 7 as never)))).toMatchObject({ status: 401, reason: 'The token names no issuer (iss) whose keys could verify it' })
      expect(await strict.authenticate(headersFor(signed(attacker, 'https://elsewhere.example')))).toEqual(WRONG_ISSUER)
    }
    const gateway = createGatewayVerifier({ issuerUrls: [a.url, b.url], now: () => new Date() })
    expect((await gateway.authenticate(headersFor(signed(attacker, a.url)))).status).toBe(200)
  })

  it('a key both issuers publish signs for both; issuerAliases maps an internal discovery URL to the iss its tokens carry', async () => {
    publishedByB = [...toJwks([attacker]).keys, ...toJwks([fx.key]).keys]
    try {
      const strict = createGatewayVerifier({ issuerUrls: [a.url, b.url], now: () => new Date(), strict: true })
      expect((await strict.authenticate(headersFor(signed(fx.key, a.url)))).status).toBe(200)
      expect((await strict.authenticate(headersFor(signed(fx.key, b.url)))).status).toBe(200)
      expect(await strict.authenticate(headersFor(signed(attacker, a.url)))).toEqual(WRONG_ISSUER)
    } finally {
      publishedByB = toJwks([attacker]).keys
    }
    const external = 'https://gitlab.example.com'
    const aliased = createGatewayVerifier({ issuerUrls: [a.url, b.url], now: () => new Date(), strict: { issuerAliases: { [a.url]: external } } })
    expect((await aliased.authenticate(headersFor(signed(fx.key, external)))).status).toBe(200)
    expect(await aliased.authenticate(headersFor(signed(attacker, external)))).toEqual(WRONG_ISSUER)
    expect(() => createGatewayVerifier({ issuerUrls: [a.url], strict: { issuerAliases: { 'https://other.example': external } } })).toThrow(
      expect.objectContaining({ code: 'ERR_INVALID_OPTIONS', message: expect.stringContaining('"https://other.example/", which is not in options.issuerUrls') }),
    )
  })

  it('a static JWKS holding private members: a warning naming the members (never their values); strict mode refuses it', async () => {
    const privateJwk: Record<string, unknown> = { ...(fx.key.privateKey!.export({ format: "jwk" }) as Record<string, unknown>), kid: fx.key.kid, use: "sig", alg: "RS256" }
    const events: { event: string; fields: Record<string, unknown> }[] = []
    const logger: Logger = { warn: asEvent((event, fields) => events.push({ event, fields })) }
    const v = createGatewayVerifier({ jwks: { keys: [privateJwk] } as never, now: () => new Date(), logger })
    expect(events).toEqual([{ event: 'gateway_verifier.private_jwk', fields: { path: 'options.jwks.keys[0]', kid: fx.key.kid, members: ['d', 'p', 'q', 'dp', 'dq', 'qi'] } }])
    // only its public half is used
    expect((await v.authenticate(headersFor(GOOD))).status).toBe(200)

    let thrown: unknown
    try {
      createGatewayVerifier({ jwks: [toJwks([attacker]), { keys: [privateJwk] }] as never, strict: true })
    } catch (e) {
      thrown = e
    }
    expect(thrown).toMatchObject({ code: 'ERR_INVALID_OPTIONS', issues: [{ path: 'options.jwks[1].keys[0]', message: expect.stringContaining('holds private key material (d, p, q, dp, dq, qi)') }] })
    const shown = `${(thrown as Error).message} ${JSON.stringify(thrown)} ${inspect(thrown, { depth: 6 })}`
    for (const m of ['d', 'p', 'q', 'dp', 'dq', 'qi']) expect(shown).not.toContain(String(privateJwk[m]).slice(0, 24))
  })

  it('an issuer that publishes private key material: warned in both modes; strict mode does not trust that key', async () => {
    const leaky = await startServer(issuerHandler(() => ({ keys: [{ ...(fx.key.privateKey!.export({ format: 'jwk' }) as Record<string, unknown>), kid: fx.key.kid }] })))
    try {
      for (const strict of [false, true]) {
        const events: { event: string; fields: Record<string, unknown> }[] = []
        const v = createGatewayVerifier({ issuerUrls: [leaky.url], now: () => new Date(), strict, logger: { warn: asEvent((event, fields) => events.push({ event, fields })) } })
        const verdict = await v.authenticate(headersFor(signed(fx.key, leaky.url)))
        expect(verdict.status).toBe(strict ? 500 : 200)
        expect(events.filter((e) => e.event === 'gateway_verifier.private_jwk')).toEqual([
          { event: 'gateway_verifier.private_jwk', fields: { issuer: `${leaky.url}/`, kid: fx.key.kid, members: ['d', 'p', 'q', 'dp', 'dq', 'qi'], trusted: !strict } },
        ])
      }
    } finally {
      await leaky.close()
    }
  })
})

describe('security: createAuthenticatedFetch never carries the token or the identity headers outside baseUrl (real sockets)', () => {
  // The gateway is mounted under /ai; "/elsewhere" on the same origin is outside baseUrl, and so is a second server.
  interface Hit {
    method: string
    path: string
    authorization: string | undefined
    gitlab: string[]
    contentType: string | undefined
    body: string
  }
  let gw: TestServer
  let other: TestServer
  const hits: Hit[] = []
  let plan: (path: string, method: string) => { status: number; location?: string } = () => ({ status: 200 })
  const record = async (req: import('node:http').IncomingMessage, url: URL): Promise<Hit> => {
    let body = ''
    for await (const chunk of req) body += String(chunk)
    const hit: Hit = {
      method: req.method ?? '',
      path: url.pathname,
      authorization: req.headers.authorization,
      gitlab: Object.keys(req.headers).filter((h) => h.startsWith('x-gitlab-')),
      contentType: req.headers['content-type'],
      body,
    }
    hits.push(hit)
    return hit
  }
  beforeAll(async () => {
    gw = await startServer(async (req, res, url) => {
      await record(req, url)
      const answer = plan(url.pathname, req.method ?? '')
      if (answer.location === undefined) json(res, answer.status, { ok: url.pathname })
      else res.writeHead(answer.status, { location: answer.location.replace('$OTHER', other.url).replace('$GW', gw.url) }).end()
    })
    other = await startServer(async (req, res, url) => {
      await record(req, url)
      if (url.pathname === '/bounce') return void res.writeHead(307, { location: `${gw.url}/ai/v2/code/completions` }).end()
      json(res, 200, { ok: 'other' })
    })
  })
  afterAll(async () => {
    await gw.close()
    await other.close()
  })
  const source: TokenSource = { getToken: async () => ({ token: GOOD, source: 'self-issued', reason: 'test' }) }
  const authed = (redirect?: 'error' | 'follow') =>
    createAuthenticatedFetch({ baseUrl: `${gw.url}/ai`, tokenSource: source, headers: { instance: { id: INSTANCE_ID, realm: 'self-managed' } }, ...(redirect === undefined ? {} : { redirect }) })
  const BODY = '{"current_file":{"file_name":"a.py","content_above_cursor":"x","content_below_cursor":""}}'
  const post = (f: typeof fetch, path = '/ai/v2/code/completions', init: RequestInit = {}) =>
    f(`${gw.url}${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: BODY, ...init })
  const reset = (p: typeof plan) => {
    hits.length = 0
    plan = p
  }

  it('by default a redirect is refused with GatewayRedirectError: same origin outside baseUrl, cross-origin, 307/308 — nothing re-sent', async () => {
    for (const [status, location] of [[302, '/elsewhere'], [301, '$OTHER/v2/code/completions'], [307, '$OTHER/x'], [308, '$GW/elsewhere'], [303, '/ai/v2/code/completions']] as const) {
      reset((path) => (path === '/ai/v2/code/completions' && hits.length === 1 ? { status, location } : { status: 200 }))
      const err = await rejection(post(authed()))
      expect(err, `${status} ${location}`).toBeInstanceOf(GatewayRedirectError)
      expect(err).toMatchObject({ code: 'ERR_GATEWAY_REDIRECT', status, method: 'POST', path: '/v2/code/completions', endpoint: 'codeCompletions', attempts: 1 })
      expect((err as Error).message).toContain("pass redirect: 'follow' to createAuthenticatedFetch")
      expect(hits.map((h) => `${h.method} ${h.path}`)).toEqual(['POST /ai/v2/code/completions'])
    }
    // a request's own redirect: 'manual' gets the 3xx back, unfollowed
    reset(() => ({ status: 307, location: '$OTHER/x' }))
    const manual = await post(authed(), undefined, { redirect: 'manual' })
    expect(manual.status).toBe(307)
    expect(hits).toHaveLength(1)
  })

  it("redirect: 'follow' — a hop outside baseUrl (same origin or another) gets neither the token nor any x-gitlab-* header", async () => {
    const f = authed('follow')
    // 302 after a POST becomes a GET without a body (as fetch does), to a same-origin path outside /ai
    reset((path) => (path === '/ai/v2/code/completions' ? { status: 302, location: '/elsewhere' } : { status: 200 }))
    let res = await post(f)
    expect(res.status).toBe(200)
    expect(await res.json()).toEqual({ ok: '/elsewhere' })
    expect(hits.map((h) => `${h.method} ${h.path} ${h.authorization ?? '-'} ${h.gitlab.length}`)).toEqual([
      `POST /ai/v2/code/completions Bearer ${GOOD} ${hits[0]?.gitlab.length}`,
      'GET /elsewhere - 0',
    ])
    expect(hits[0]?.gitlab).toContain('x-gitlab-instance-id')
    expect(hits[1]?.body).toBe('')

    // 307 and 308 cross-origin repeat the method and the body, still without token or identity headers
    for (const status of [307, 308]) {
      reset((path) => (path === '/ai/v2/code/completions' ? { status, location: '$OTHER/v2/code/completions' } : { status: 200 }))
      res = await post(f)
      expect(res.status).toBe(200)
      expect(await res.json()).toEqual({ ok: 'other' })
      expect(hits[1]).toEqual({ method: 'POST', path: '/v2/code/completions', authorization: undefined, gitlab: [], contentType: 'application/json', body: BODY })
    }

    // the caller's own Authorization and x-gitlab-* headers do not leave baseUrl either
    reset((path) => (path === '/ai/v2/code/completions' ? { status: 307, location: '$OTHER/x' } : { status: 200 }))
    await post(f, undefined, { headers: { 'content-type': 'application/json', authorization: 'Bearer caller-secret', 'x-gitlab-custom': 'mine' } })
    expect(hits[1]).toMatchObject({ path: '/x', authorization: undefined, gitlab: [] })
  })

  it("redirect: 'follow' — a hop that stays under baseUrl is authenticated for its own path; a chain back in and a loop are handled", async () => {
    const f = authed('follow')
    const check = '/ai/v1/prompts/model_configuration%2Fcheck'
    reset((path) => (path === check ? { status: 308, location: '/ai/v2/code/completions' } : { status: 200 }))
    const res = await post(f, check, {})
    expect(res.status).toBe(200)
    expect(hits.map((h) => `${h.method} ${h.path} ${h.authorization === `Bearer ${GOOD}`} ${h.body === BODY}`)).toEqual([`POST ${check} true true`, 'POST /ai/v2/code/completions true true'])

    // out (no token) and back in (token again): gateway 302 → other /bounce → 307 → gateway
    reset((path) => (path === '/ai/v2/code/completions' && hits.length === 1 ? { status: 302, location: '$OTHER/bounce' } : { status: 200 }))
    expect((await post(f)).status).toBe(200)
    expect(hits.map((h) => `${h.method} ${h.path} ${h.authorization === undefined ? 'no-token' : 'token'} ${h.gitlab.length > 0}`)).toEqual([
      'POST /ai/v2/code/completions token true',
      'GET /bounce no-token false',
      'GET /ai/v2/code/completions token true',
    ])

    // a loop ends after fetch's 20 redirects with a typed error, not a hang
    reset(() => ({ status: 307, location: '/ai/v2/code/completions' }))
    expect(await rejection(post(f))).toMatchObject({ code: 'ERR_GATEWAY_REDIRECT', message: expect.stringContaining('redirected more than 20 times') })
    expect(hits).toHaveLength(21)
    // a Location that is not http(s) is not followed
    reset(() => ({ status: 302, location: 'file:///etc/passwd' }))
    expect(await rejection(post(f))).toMatchObject({ code: 'ERR_GATEWAY_REDIRECT', message: expect.stringContaining('not an http(s) URL') })
  })

  it('a JSON string body without a content type reaches the gateway as application/json (the emulator, a real socket, answers 422 to text/plain)', async () => {
    const emulator = await startEmulator({ key: fx.key, instance: { instanceId: INSTANCE_ID } })
    try {
      const token = await emulator.instance.token()
      const f = createAuthenticatedFetch({
        baseUrl: emulator.url,
        tokenSource: { getToken: async () => ({ token, source: 'self-issued', reason: 'test' }) },
        headers: { instance: { id: INSTANCE_ID, realm: 'self-managed' } },
      })
      const body = JSON.stringify({ inputs: {}, stream: false, model_metadata: { name: 'mistral', provider: 'openai', endpoint: 'http://model:8000/v1' } })
      const res = await f(`${emulator.url}/v1/prompts/model_configuration%2Fcheck`, { method: 'POST', body })
      expect(res.status).toBe(200)
      const recorded = emulator.requests.filter((r) => r.side === 'gateway')
      expect(recorded.map((r) => [r.status, r.headers['content-type']])).toEqual([[200, 'application/json']])
      // a content type the caller chose stands, even a wrong one (and the gateway refuses it, as FastAPI does)
      const plain = await f(`${emulator.url}/v1/prompts/model_configuration%2Fcheck`, { method: 'POST', body, headers: { 'content-type': 'text/plain' } })
      expect(plain.status).toBe(422)
      // the same through a Request built by the caller
      const viaRequest = await f(new Request(`${emulator.url}/v1/prompts/model_configuration%2Fcheck`, { method: 'POST', body }))
      expect(viaRequest.status).toBe(200)
      expect(emulator.countRequests({ side: 'gateway' })).toBe(3)
    } finally {
      await emulator.stop()
    }
  })
})

describe("security: the emulator's request log is bounded and redacts token- and key-shaped values wherever they are", () => {
  it('keeps the newest maxEntries requests, within maxBytes, and no body over maxBodyBytes (real socket)', async () => {
    const emulator = await startEmulator({ key: fx.key, instance: { instanceId: INSTANCE_ID }, requestLog: { maxEntries: 5, maxBytes: 512 * 1024, maxBodyBytes: 128 * 1024 } })
    try {
      const send = (bytes: number, i: number) =>
        fetch(`${emulator.url}/v2/code/completions`, { method: 'POST', headers: { 'content-type': 'application/json', 'x-i': String(i) }, body: JSON.stringify({ pad: 'lorem ipsum '.repeat(Math.ceil(bytes / 12)).slice(0, bytes), i }) })
      // unauthenticated requests too: they were all kept with their bodies
      for (let i = 0; i < 8; i++) expect((await send(10, i)).status).toBe(401)
      expect(emulator.countRequests()).toBe(5)
      expect(emulator.requests.map((r) => r.headers['x-i'])).toEqual(['3', '4', '5', '6', '7'])
      expect(emulator.requests.map((r) => r.seq)).toEqual([4, 5, 6, 7, 8])

      // a body over maxBodyBytes is recorded as a placeholder saying its size
      expect((await send(200 * 1024, 8)).status).toBe(401)
      expect(emulator.requests.at(-1)?.body).toMatch(/^<body of about 2048\d\d bytes not kept: over the request log's maxBodyBytes \(131072\)>$/)
      // 100 KiB bodies: four of them (plus headers) exceed maxBytes, so fewer than maxEntries stay
      for (let i = 9; i < 15; i++) expect((await send(100 * 1024, i)).status).toBe(401)
      const kept = emulator.requests
      expect(kept.length).toBeLessThanOrEqual(5)
      expect(kept.length).toBeGreaterThanOrEqual(4)
      expect(kept.at(-1)?.headers['x-i']).toBe('14')
      expect(JSON.stringify(kept).length).toBeLessThan(512 * 1024 + 8 * 1024)
    } finally {
      await emulator.stop()
    }
    // the defaults: a 2 MiB body (the issue's case: 40 × 9 MiB grew the heap by 350 MiB) is not kept
    const defaults = await startEmulator({ key: fx.key, instance: { instanceId: INSTANCE_ID } })
    try {
      const big = JSON.stringify({ pad: 'lorem ipsum '.repeat(180_000) })
      expect((await fetch(`${defaults.url}/v2/code/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: big })).status).toBe(401)
      expect(defaults.requests.at(-1)?.body).toMatch(/^<body of about \d+ bytes not kept: over the request log's maxBodyBytes \(1048576\)>$/)
    } finally {
      await defaults.stop()
    }
    expect(() => new RequestLog(() => new Date(), { maxEntries: 0 })).toThrow(expect.objectContaining({ code: 'ERR_INVALID_OPTIONS' }))
    expect(await rejection(startEmulator({ requestLog: { maxBytes: 1.5 } }))).toMatchObject({ code: 'ERR_INVALID_OPTIONS', message: 'RequestLog: maxBytes must be a positive integer (got 1.5).' })
  })

  it('a token or key under any header, body member, query parameter or path is stored redacted (real socket)', async () => {
    const emulator = await startEmulator({ key: fx.key, instance: { instanceId: INSTANCE_ID } })
    try {
      const token = await emulator.instance.token()
      const signature = token.slice(token.lastIndexOf('.') + 1)
      const pem = attacker.privateKey!.export({ type: 'pkcs1', format: 'pem' }).toString()
      const jwk = attacker.privateKey!.export({ format: 'jwk' }) as Record<string, string>
      const secrets = {
        token,
        signature: signature.slice(0, 40),
        aws: 'AKIAIOSFODNN7EXAMPLE',
        openai: 'sk-proj-4fQ2n8XvL0pR7sT1uW3yZ5bD',
        gitlab: 'glpat-Ab3Cd5Ef7Gh9Ij1Kl3Mn',
        basic: 'dXNlcjpzM2NyZXQtcGFzc3dvcmQ=',
        // a line of the private exponent: the first lines of a PKCS#1 PEM hold the public modulus, which the
        // recorded JWK keeps (it is public) and which may share a line's characters
        pemLine: pem.split('\n')[10] as string,
        jwkD: (jwk.d as string).slice(0, 40),
        jwkP: (jwk.p as string).slice(0, 40),
        custom: 'my-own-secret-value-1234',
      }
      const body = {
        inputs: {},
        stream: false,
        model_metadata: { name: 'mistral', provider: 'openai', endpoint: 'http://model:8000/v1' },
        credentials: secrets.aws,
        notes: [`forwarded token ${token} for checking`, { deep: { deeper: `key ${secrets.openai}` } }],
        config: { private_key: pem, key_file: pem, signing: { ...jwk, kid: 'k1' } },
        [`${secrets.gitlab}`]: 'as a member name',
        client_secret: secrets.custom,
      }
      const url = `${emulator.url}/v1/prompts/model_configuration%2Fcheck?private_token=${secrets.gitlab}&state=${token}&page=2`
      const res = await fetch(url, {
        method: 'POST',
        headers: {
          ...emulator.instance.headers(),
          authorization: `Bearer ${token}`,
          'content-type': 'application/json',
          'x-forwarded-authorization': `Bearer ${token}`,
          'x-upstream-basic': `Basic ${secrets.basic}`,
          'x-debug': `token=${token}; aws=${secrets.aws}; sig=${signature}`,
          'x-openai-key': secrets.openai,
        },
        body: JSON.stringify(body),
      })
      expect(res.status).toBe(200)
      const [recorded] = emulator.requests.filter((r) => r.side === 'gateway')
      const stored = JSON.stringify(emulator.requests)
      for (const [name, value] of Object.entries(secrets)) expect(stored.includes(value), `${name} in ${stored.slice(Math.max(0, stored.indexOf(value) - 300), stored.indexOf(value) + 80)}`).toBe(false)
      // what is not secret is kept, and redacted values still tell two values apart
      expect(recorded?.headers['x-forwarded-authorization']).toBe(`Bearer ${redact(token)}`)
      expect(recorded?.headers['x-upstream-basic']).toBe(`Basic ${redact(secrets.basic)}`)
      expect(recorded?.headers['x-gitlab-instance-id']).toBe(INSTANCE_ID)
      expect(recorded?.query).toBe(`private_token=${redact(secrets.gitlab)}&state=${encodeURIComponent(redact(token))}&page=2`)
      const b = recorded?.body as typeof body
      expect(b.model_metadata).toEqual(body.model_metadata)
      expect(b.credentials).toBe(redact(secrets.aws))
      expect(b.notes[0]).toBe(`forwarded token ${redact(token)} for checking`)
      expect(b.config.signing).toMatchObject({ kty: 'RSA', n: jwk.n, e: jwk.e, kid: 'k1', d: redact(jwk.d as string) })
      expect(b.config.key_file).toBe(redact(pem.trimEnd()) + '\n')
      expect(b.client_secret).toBe(redact(secrets.custom))
      expect(Object.keys(b)).toContain(redact(secrets.gitlab))
    } finally {
      await emulator.stop()
    }
  })
})
