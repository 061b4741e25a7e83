/**
 * Bad input, everywhere: every parser and entry point of the SDK under fast-check. The one property
 * each target must keep: no uncaught exception and no untyped error — whatever is thrown is a
 * CloudConnectorError with a stable code — and no object prototype is altered on the way.
 *
 * CI: ≥ 1,000 runs per target. CC_HEAVY=1: 100,000 runs per target (see config.ts).
 * The CLI's arguments are fuzzed in fuzz-cli.test.ts (it needs module mocks of its own).
 */
import { generateKeyPairSync, createSecretKey, randomBytes, type JsonWebKey } from 'node:crypto'
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import fc from 'fast-check'
import { stringify } from 'yaml'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  buildGatewayHeaders,
  createAuthenticatedFetch,
  createGatewayClient,
  createGatewayVerifier,
  createKeyRing,
  createTokenIssuer,
  createTokenSource,
  inspectToken,
  loadSigningKey,
  loadVerificationKey,
  preflight,
  toJwks,
  CatalogError,
  GatewayValidationError,
  HeaderError,
  JwksError,
  KeyError,
  type GatewayClient,
} from '../../src/index.js'
import { builtInCatalog, createCatalog, loadCatalogDir } from '../../src/catalog/index.js'
import { createGatewayCore } from '../../src/emulator/core.js'
import { discoverJwks, MAX_DISCOVERY_BYTES } from '../../src/verify/discovery.js'
import { RequestLog } from '../../src/emulator/index.js'
import { ModelConfigurationCheckBodySchema, CodeCompletionsBodySchema, CodeGenerationsBodySchema, ChatAgentBodySchema, ModelMetadataSchema } from '../../src/client/endpoints.js'
import { scrub } from '../../src/client/auth.js'
import { redact } from '../../src/redact.js'
import { loadCaseFixture } from '../cases/fixture.js'
import { mintJwt } from '../cases/mint.js'
import { anyValue, b64url, DANGEROUS_KEYS, edgeNumber, headerBag, jsonishValue, tokenish } from './arbitraries.js'
import { duplicateSignaturePair } from './dsks.js'
import { budget, expectPrototypesClean, expectTyped, FIXTURE_PEM, runs, typedOutcome, typedOutcomeAsync } from './config.js'

const fx = loadCaseFixture()
const NOW = Math.floor(fx.now.getTime() / 1000)
const GOOD_CLAIMS = { iss: fx.issuer, sub: fx.instanceId, aud: ['gitlab-ai-gateway'], iat: NOW, nbf: NOW - 5, exp: NOW + 3600, gitlab_realm: 'self-managed', scopes: ['complete_code', 'generate_code', 'duo_chat', 'duo_classic_chat'] }
const GOOD = mintJwt({ alg: 'RS256', typ: 'JWT', kid: fx.key.kid }, GOOD_CLAIMS, fx.key.privateKey!)
const TOKENS = tokenish(GOOD, fx.key.privateKey!)
const KINDS = ['empty', 'opaque', 'malformed', 'jwt']
const JWT_PATTERN = /eyJ[A-Za-z0-9_-]{2,}\.[A-Za-z0-9_-]*\.[A-Za-z0-9_-]+/

describe('fuzz: token inspection and verification', () => {
  it(
    'inspectToken: never throws, on any value; reports are well formed and decoded parts are frozen',
    () => {
      fc.assert(
        fc.property(fc.oneof(TOKENS, anyValue), (v) => {
          const r = inspectToken(v)
          expect(KINDS).toContain(r.kind)
          expect(Number.isInteger(r.length)).toBe(true)
          for (const p of r.problems) {
            expect(typeof p.code).toBe('string')
            expect(typeof p.message).toBe('string')
            expect(typeof p.fix).toBe('string')
          }
          if (r.claims) expect(Object.isFrozen(r.claims)).toBe(true)
          if (r.header) expect(Object.isFrozen(r.header)).toBe(true)
          if (typeof v === 'string' && v.length > 64 * 1024) expect(r.problems.map((p) => p.code)).toEqual(['TOKEN_TOO_LARGE'])
        }),
        { numRuns: runs(3000) },
      )
      expectPrototypesClean()
    },
    budget(30_000),
  )

  it(
    'preflight: never throws, whatever the token, headers, clock, leeway, keys and token result',
    () => {
      const clocks = fc.oneof(
        fc.constant(() => fx.now),
        fc.date({ noInvalidDate: false }).map((d) => () => d),
        fc.constant(() => new Date(Number.NaN)),
      )
      const keys = fc.oneof(fc.constant(undefined), fc.constant(toJwks([fx.key])), fc.constant([fx.otherKey]), anyValue)
      const tokenResult = fc.oneof(
        fc.constant(undefined),
        fc.record({ token: fc.option(TOKENS, { nil: undefined }), source: fc.constantFrom('self-issued', 'synced', 'none'), reason: fc.string({ maxLength: 30 }) }),
        anyValue,
      )
      fc.assert(
        fc.property(
          fc.option(TOKENS, { nil: undefined }),
          headerBag(),
          fc.option(fc.string({ maxLength: 20 }), { nil: undefined }),
          fc.option(fc.oneof(fc.constant('gitlab-ai-gateway'), fc.string({ maxLength: 12 })), { nil: undefined }),
          clocks,
          fc.option(edgeNumber, { nil: undefined }),
          fc.option(edgeNumber, { nil: undefined }),
          tokenResult,
          keys,
          (token, headers, unitPrimitive, audience, now, leewaySeconds, requestTimeoutMs, result, verificationKeys) => {
            const r = preflight({
              token,
              headers: headers as never,
              unitPrimitive,
              audience,
              now,
              leewaySeconds,
              requestTimeoutMs,
              tokenResult: result as never,
              verificationKeys: verificationKeys as never,
            })
            expect(r.ok).toBe(r.errors.length === 0)
            expect(r.problems).toEqual([...r.errors, ...r.warnings])
            if (!r.ok && r.status !== undefined) expect([401, 403]).toContain(r.status)
          },
        ),
        { numRuns: runs(2000) },
      )
      expectPrototypesClean()
    },
    budget(30_000),
  )

  const defaultVerifier = createGatewayVerifier({ jwks: toJwks([fx.otherKey, fx.key]), now: () => fx.now })
  const strictVerifier = createGatewayVerifier({ jwks: toJwks([fx.key]), now: () => fx.now, strict: { issuers: [fx.issuer] } })

  it(
    'authenticate (gateway-equivalent and strict): never throws, always a gateway status',
    async () => {
      const authorization = fc.oneof(
        TOKENS.map((t) => `Bearer ${t}`),
        TOKENS.map((t) => `bearer  ${t}`),
        fc.string({ unit: 'binary', maxLength: 60 }),
      )
      await fc.assert(
        fc.asyncProperty(authorization, headerBag(), fc.option(fc.string({ maxLength: 20 }), { nil: undefined }), fc.boolean(), async (auth, rest, unitPrimitive, strict) => {
          const headers = rest !== null && typeof rest === 'object' && !Array.isArray(rest) ? { ...(rest as object), authorization: auth, 'x-gitlab-authentication-type': 'oidc' } : rest
          const v = await (strict ? strictVerifier : defaultVerifier).authenticate(headers as never, unitPrimitive === undefined ? {} : { unitPrimitive })
          expect([200, 401, 403, 500]).toContain(v.status)
          if (v.status !== 200) expect(typeof v.error).toBe('string')
        }),
        { numRuns: runs(2000) },
      )
      expectPrototypesClean()
    },
    budget(40_000),
  )
})

describe('fuzz: the verifier memo never crosses trust sets', () => {
  // h1.p1.S (signed by the fixture key) and h2.p2.S (the same S, verifying under a duplicate-signature key),
  // plus the two cross-overs h1.p2.S and h2.p1.S that verify under no key. A check under the duplicate key
  // costs a full-size exponentiation (its e is as long as n), hence the short sequences.
  const forgedClaims = { ...GOOD_CLAIMS, sub: '00000000-0000-4000-8000-00000000b0b0', iss: 'https://b.example.com', exp: undefined, scopes: ['complete_code', 'duo_chat', 'generate_code'] }
  let tokens: string[] = []
  let jwksB: { keys: Record<string, unknown>[] }
  beforeAll(() => {
    const pair = duplicateSignaturePair({ header: { alg: 'RS256', typ: 'JWT', kid: fx.key.kid }, claims: { ...GOOD_CLAIMS, jti: 'fuzz-a' }, key: fx.key.privateKey! }, { header: { alg: 'RS256', kid: 'b' }, claims: forgedClaims })
    jwksB = { keys: [{ ...pair.forgedJwk, kid: 'b' }] }
    const [h1, p1, sig] = pair.genuine.split('.') as [string, string, string]
    const [h2, p2] = pair.forged.split('.') as [string, string]
    tokens = [pair.genuine, pair.forged, `${h1}.${p2}.${sig}`, `${h2}.${p1}.${sig}`]
  }, 120_000)

  it(
    'any sequence of these tokens sent to verifiers trusting A, B or both: each verdict is the one of the exact token sent',
    async () => {
      const payloadOf = (token: string) => JSON.parse(Buffer.from(token.split('.')[1] ?? '', 'base64url').toString('utf8')) as Record<string, unknown>
      const step = fc.record({ verifier: fc.integer({ min: 0, max: 2 }), token: fc.integer({ min: 0, max: 3 }), size: fc.constantFrom(0, 1, 1024) })
      await fc.assert(
        fc.asyncProperty(fc.array(step, { minLength: 1, maxLength: 6 }), async (steps) => {
          const made = new Map<string, ReturnType<typeof createGatewayVerifier>>()
          for (const s of steps) {
            const id = `${s.verifier}/${s.size}`
            let v = made.get(id)
            if (v === undefined) {
              const jwks = [[toJwks([fx.key])], [jwksB], [toJwks([fx.key]), jwksB]][s.verifier] as never
              v = createGatewayVerifier({ jwks, now: () => fx.now, verifiedTokenCacheSize: s.size })
              made.set(id, v)
            }
            const token = tokens[s.token] as string
            const claims = payloadOf(token)
            const verdict = await v.authenticate({ authorization: `Bearer ${token}`, 'x-gitlab-authentication-type': 'oidc', 'x-gitlab-instance-id': String(claims.sub), 'x-gitlab-realm': 'self-managed' })
            const trusted = (s.token === 0 && s.verifier !== 1) || (s.token === 1 && s.verifier !== 0)
            if (trusted) expect(verdict).toEqual({ status: 200, claims })
            else expect(verdict).toMatchObject({ status: 401, reason: 'Signature verification failed.' })
          }
        }),
        { numRuns: runs(1000) },
      )
    },
    budget(60_000),
  )
})

describe('fuzz: text from outside is handled in linear time', () => {
  // Inputs built from the units the patterns of the SDK react to, one of them repeated thousands of times:
  // the shape that made a trimming or token-finding regex backtrack quadratically.
  const unit = fc.constantFrom(' ', '\t', ' \t', 'eyJ', 'eyJa.', '.', 'a', '1', '_1', 'Bearer ', '\u3000', '\u2003', '\n', 'eyJhbGciOi.', '=', '/')
  const hostile = fc
    .tuple(fc.constantFrom('', ' ', 'Bearer ', 'eyJ', '1', ' Bearer'), unit, fc.integer({ min: 1, max: 8192 }), fc.constantFrom('', 'x', ' ', '.x', 'b', '\t'))
    .map(([prefix, u, n, suffix]) => `${prefix}${u.repeat(n)}${suffix}`)
  const verifier = createGatewayVerifier({ jwks: toJwks([fx.key]), now: () => fx.now })
  const headers = { 'x-gitlab-authentication-type': 'oidc', 'x-gitlab-instance-id': fx.instanceId, 'x-gitlab-realm': 'self-managed' }

  it(
    'inspectToken, preflight, authenticate, python int() and scrub: each call well under the quadratic cost',
    async () => {
      let total = 0
      await fc.assert(
        fc.asyncProperty(hostile, async (text) => {
          const withClaim = `${b64url('{"alg":"RS256"}')}.${b64url(JSON.stringify({ exp: text }))}.AAAA`
          const work = async () => {
            const started = performance.now()
            inspectToken(text)
            preflight({ token: text, headers, unitPrimitive: 'complete_code' })
            await verifier.authenticate({ ...headers, authorization: text })
            await verifier.authenticate({ ...headers, authorization: `Bearer ${text}` })
            const claims = inspectToken(withClaim)
            const out = scrub(text, [GOOD], Number.POSITIVE_INFINITY)
            return { took: performance.now() - started, claims, out }
          }
          const first = await work()
          total += first.took
          // 8 KiB through a quadratic pattern costs hundreds of milliseconds; linear, about one. A loaded
          // machine can pause any single call (a 100,000-run heavy pass met one 275 ms pause): a slow call is
          // measured twice more, and only a cost that stays is a failure.
          let took = first.took
          for (let again = 0; again < 2 && took >= 250; again++) took = Math.min(took, (await work()).took)
          expect(took).toBeLessThan(250)
          const { claims, out } = first
          expect(claims.kind).toBe(withClaim.length > 64 * 1024 ? 'malformed' : 'jwt')
          expect(JWT_PATTERN.test(out)).toBe(false)
        }),
        { numRuns: runs(1000) },
      )
      // and in sum: 1,000 such inputs took minutes with the quadratic patterns
      expect(total).toBeLessThan(runs(1000) * 20)
    },
    budget(60_000),
  )

  it(
    'scrub finds exactly the JWTs and Bearer values the reference patterns find (short texts)',
    () => {
      const piece = fc.constantFrom('eyJ', 'eyJhb', 'a', 'Z9', '.', '..', '-', '_', ' ', '"', ',', '<', 'Bearer ', 'bearer\t', 'é', 'x'.repeat(9))
      fc.assert(
        fc.property(fc.array(piece, { maxLength: 40 }).map((p) => p.join('')), (text) => {
          const reference = text
            .replace(/eyJ[A-Za-z0-9_-]{2,}\.[A-Za-z0-9_-]*\.[A-Za-z0-9_-]+/g, (m) => redact(m))
            .replace(/(bearer\s+)([^\s"',;<]{8,})/gi, (_m, p: string, v: string) => `${p}${redact(v)}`)
          expect(scrub(text, [], Number.POSITIVE_INFINITY)).toBe(reference)
        }),
        { numRuns: runs(3000) },
      )
    },
    budget(30_000),
  )
})


describe('fuzz: key discovery', () => {
  // An in-memory issuer: any discovery document, any jwks_uri, bodies of any size up to a few MiB (streamed
  // from one shared chunk, so nothing large is allocated). Nothing but http(s) may ever be requested.
  const CHUNK = new Uint8Array(64 * 1024).fill(0x20)
  const streamOf = (prefix: string, padChunks: number, suffix: string): ReadableStream<Uint8Array> => {
    let i = -1
    return new ReadableStream({
      pull(controller) {
        if (i === -1) controller.enqueue(new TextEncoder().encode(prefix))
        else if (i < padChunks) controller.enqueue(CHUNK)
        else {
          controller.enqueue(new TextEncoder().encode(suffix))
          controller.close()
        }
        i++
      },
    })
  }
  const jwksUri = fc.oneof(
    fc.constantFrom('http://issuer.test/keys', 'https://issuer.test/keys', 'data:application/json,{"keys":[]}', 'file:///etc/passwd', 'ftp://issuer.test/k', 'javascript:1', 'blob:x', '//issuer.test/keys', '/keys', ''),
    fc.webUrl(),
    fc.string({ maxLength: 30 }),
    anyValue,
  )

  it(
    'discoverJwks: keys or a JwksError naming the issuer; only http(s) URLs requested; never more than 1 MiB accepted',
    async () => {
      await fc.assert(
        fc.asyncProperty(jwksUri, fc.integer({ min: 0, max: 20 }), fc.integer({ min: 0, max: 20 }), fc.boolean(), async (uri, docPad, keysPad, announce) => {
          const requested: string[] = []
          const fakeFetch: typeof fetch = async (input) => {
            const url = String(input)
            requested.push(url)
            const isDoc = url.endsWith('/.well-known/openid-configuration')
            const [prefix, suffix] = isDoc ? [`{"jwks_uri":${JSON.stringify(uri) ?? 'null'},"pad":"`, '"}'] : ['{"keys":[],"pad":"', '"}']
            const pad = isDoc ? docPad : keysPad
            const length = prefix.length + suffix.length + pad * CHUNK.length
            return new Response(streamOf(prefix, pad, suffix), { status: 200, headers: announce ? { 'content-length': String(length) } : {} })
          }
          const out = await typedOutcomeAsync(() => discoverJwks('https://issuer.test/gitlab', { fetch: fakeFetch }), 'discoverJwks')
          for (const u of requested) expect(['http:', 'https:']).toContain(new URL(u).protocol)
          if (out.ok) {
            expect(out.value.keys).toEqual([])
            expect(docPad * CHUNK.length).toBeLessThan(MAX_DISCOVERY_BYTES)
            expect(keysPad * CHUNK.length).toBeLessThan(MAX_DISCOVERY_BYTES)
          } else {
            expect(out.error).toBeInstanceOf(JwksError)
            expect((out.error as JwksError).issuer).toBe('https://issuer.test/gitlab')
            expect(out.error.message).toContain('https://issuer.test/gitlab')
          }
        }),
        { numRuns: runs(1000) },
      )
    },
    budget(60_000),
  )
})


describe('fuzz: strict mode ties keys to issuers', () => {
  // Two issuers served from memory: A publishes the fixture key, B the other fixture key (and, in some runs,
  // the fixture key too). A strict verifier accepts a token only when a key of the issuer its iss names signed it.
  const A = 'https://a.example.com'
  const B = 'https://b.example.com/sub'
  const jwksOf = (url: string, shared: boolean) => (url.startsWith(A) ? toJwks([fx.key]) : toJwks(shared ? [fx.otherKey, fx.key] : [fx.otherKey]))
  const fetchFor = (shared: boolean): typeof fetch => async (input) => {
    const url = String(input)
    const origin = new URL(url).origin
    const issuer = origin === new URL(A).origin ? A : B
    const body = url.endsWith('/.well-known/openid-configuration') ? { issuer, jwks_uri: `${origin}/keys` } : jwksOf(issuer, shared)
    return new Response(JSON.stringify(body), { status: 200, headers: { 'content-type': 'application/json' } })
  }
  const verifiers = new Map<string, ReturnType<typeof createGatewayVerifier>>()
  const verifierFor = (shared: boolean, requireKid: boolean) => {
    const id = `${shared}/${requireKid}`
    let v = verifiers.get(id)
    if (v === undefined) {
      v = createGatewayVerifier({ issuerUrls: [A, B], fetch: fetchFor(shared), now: () => fx.now, strict: { requireKid } })
      verifiers.set(id, v)
    }
    return v
  }

  it(
    'a token passes strict mode exactly when a key its iss issuer publishes signed it',
    async () => {
      const iss = fc.constantFrom<unknown>(A, `${A}/`, B, `${B}//`, 'https://a.example.com/other', 'https://c.example.com', '', 7, null, undefined)
      await fc.assert(
        fc.asyncProperty(fc.boolean(), iss, fc.boolean(), fc.boolean(), fc.constantFrom('own', 'other', 'none'), async (signedByA, claimIss, shared, requireKid, kidChoice) => {
          const key = signedByA ? fx.key : fx.otherKey
          const kid = kidChoice === 'own' ? key.kid : kidChoice === 'other' ? (signedByA ? fx.otherKey.kid : fx.key.kid) : undefined
          const claims: Record<string, unknown> = { ...GOOD_CLAIMS }
          if (claimIss === undefined) delete claims.iss
          else claims.iss = claimIss
          const token = mintJwt(kid === undefined ? { alg: 'RS256' } : { alg: 'RS256', kid }, claims, key.privateKey!)
          const verdict = await verifierFor(shared, requireKid).authenticate({ authorization: `Bearer ${token}`, 'x-gitlab-authentication-type': 'oidc', 'x-gitlab-instance-id': fx.instanceId, 'x-gitlab-realm': 'self-managed' })
          // strict mode accepts an issuer's URL with or without one trailing "/"
          const named = [A, B].find((i) => claimIss === i || claimIss === `${i}/`)
          const issuerPublishes = named === A ? signedByA : named === B ? !signedByA || shared : false
          const kidOk = !requireKid || kidChoice === 'own'
          expect(verdict.status, JSON.stringify({ signedByA, claimIss, shared, requireKid, kidChoice, reason: verdict.reason })).toBe(issuerPublishes && kidOk ? 200 : 401)
        }),
        { numRuns: runs(1000) },
      )
    },
    budget(60_000),
  )
})


describe('fuzz: createAuthenticatedFetch and redirects', () => {
  // An in-memory gateway under https://gw.test/ai answering each request with the next scripted step: any
  // status, any Location (inside or outside baseUrl, another origin, relative, not http). Whatever happens,
  // nothing outside baseUrl ever sees a token or an x-gitlab-* header, and refusing mode sends nothing twice.
  const BASE = 'https://gw.test/ai'
  const locations = ['/ai/v2/code/completions', '/ai/v1/prompts/model_configuration%2Fcheck', '/elsewhere', '/ai', '/aix/v2/code/completions', 'https://other.test/ai/v2/code/completions', '//other.test/x', 'http://gw.test/ai/v2/code/completions', 'v2/code/completions', 'file:///etc/passwd', 'http://[bad', '']
  const step = fc.record({ status: fc.constantFrom(200, 301, 302, 303, 307, 308, 401, 404), location: fc.option(fc.constantFrom(...locations), { nil: undefined }) })
  const token = mintJwt({ alg: 'RS256', typ: 'JWT', kid: fx.key.kid }, GOOD_CLAIMS, fx.key.privateKey!)

  it(
    'no request outside baseUrl carries a token or identity header; refused redirects re-send nothing; failures are typed',
    async () => {
      await fc.assert(
        fc.asyncProperty(fc.array(step, { minLength: 1, maxLength: 25 }), fc.constantFrom<'error' | 'follow' | undefined>('error', 'follow', undefined), fc.constantFrom<'manual' | 'error' | undefined>(undefined, 'manual', 'error'), fc.constantFrom('POST', 'GET'), async (steps, redirect, requestMode, method) => {
          const seen: { url: string; authorization: string | null; gitlab: number; body: string }[] = []
          let i = 0
          const fake: typeof fetch = async (input) => {
            const r = input as Request
            seen.push({ url: r.url, authorization: r.headers.get('authorization'), gitlab: [...r.headers.keys()].filter((h) => h.startsWith('x-gitlab-')).length, body: await r.text() })
            const s = steps[Math.min(i++, steps.length - 1)] as (typeof steps)[number]
            return new Response(s.status === 200 ? '{}' : null, { status: s.status, headers: s.location === undefined ? {} : { location: s.location } })
          }
          const f = createAuthenticatedFetch({ baseUrl: BASE, tokenSource: { getToken: async () => ({ token, source: 'self-issued', reason: 'fuzz' }) }, headers: { instance: { id: fx.instanceId, realm: 'self-managed' } }, fetch: fake, now: () => fx.now, ...(redirect === undefined ? {} : { redirect }) })
          const init: RequestInit = { method, headers: { 'x-gitlab-caller': 'c', authorization: 'Bearer caller' }, ...(method === 'POST' ? { body: '{"current_file":{"file_name":"a","content_above_cursor":"","content_below_cursor":""}}' } : {}), ...(requestMode === undefined ? {} : { redirect: requestMode }) }
          const out = await typedOutcomeAsync(() => f(`${BASE}/v2/code/completions`, init), 'authenticated fetch')
          for (const r of seen) {
            const u = new URL(r.url)
            const inside = u.origin === 'https://gw.test' && (u.pathname === '/ai' || u.pathname.startsWith('/ai/'))
            if (!inside) {
              expect(r.authorization, r.url).toBeNull()
              expect(r.gitlab, r.url).toBe(0)
            } else if (u.pathname !== '/ai') expect(r.authorization).toBe(`Bearer ${token}`)
          }
          const following = requestMode === undefined && redirect === 'follow'
          if (!following) expect(seen.length).toBeLessThanOrEqual(2) // the first attempt and the retry after a 401
          expect(seen.length).toBeLessThanOrEqual(2 * 21)
          if (!out.ok) expect(['ERR_GATEWAY_REDIRECT', 'ERR_INVALID_OPTIONS']).toContain(out.error.code)
        }),
        { numRuns: runs(1000) },
      )
    },
    budget(60_000),
  )
})


describe("fuzz: the emulator's request log", () => {
  // Secrets of every shape the log must recognise, planted anywhere in a request: any header name, any body
  // member (names included), array items, the query, the path. None may be stored; the log stays bounded.
  const token = GOOD
  const pem = FIXTURE_PEM
  const SECRETS = [token, 'AKIAIOSFODNN7EXAMPLE', 'sk-proj-4fQ2n8XvL0pR7sT1uW3yZ5bD', 'glpat-Ab3Cd5Ef7Gh9Ij1Kl3Mn', 'ghp_16C7e42F292c6912E7710c838347Ae178B4a', 'xoxb-2634-5823-fake-token-value']
  // a PEM block is checked by one of its inner lines
  const planted = fc.constantFrom(...SECRETS.map((v) => ({ v, check: v })), { v: pem, check: pem.split('\n')[12] as string })
  const wrap = fc.constantFrom((v: string) => v, (v: string) => `Bearer ${v}`, (v: string) => `x ${v} y`, (v: string) => `"${v}",`, (v: string) => `${v}.`, (v: string) => `k=${v}&`)
  const secretText = fc.tuple(planted, wrap).map(([p, w]) => ({ text: w(p.v), secret: p.check }))
  const jsonWith = (leaf: fc.Arbitrary<string>) =>
    fc.letrec((tie) => ({
      node: fc.oneof({ depthSize: 'small', withCrossShrink: true }, leaf, fc.string({ maxLength: 8 }), fc.integer(), fc.array(tie('node'), { maxLength: 4 }), fc.dictionary(fc.oneof(fc.string({ maxLength: 6 }), leaf), tie('node'), { maxKeys: 4 })),
    })).node
  const log = new RequestLog(() => fx.now, { maxEntries: 50, maxBytes: 64 * 1024, maxBodyBytes: 16 * 1024 })
  const core = createGatewayCore({ jwks: toJwks([fx.key]), now: () => fx.now, log, gatewayKey: false })
  const jwks = toJwks([fx.key])

  it(
    'no planted token or key is stored, whatever its place; at most maxEntries requests within maxBytes',
    async () => {
      await fc.assert(
        fc.asyncProperty(secretText.chain((p) => fc.tuple(fc.constant(p), jsonWith(fc.constant(p.text)))), fc.string({ maxLength: 12 }).map((n) => `x-${n.replace(/[^a-z0-9-]/gi, '')}`), fc.constantFrom('header', 'body', 'query', 'path', 'name'), async ([planted, body], headerName, place) => {
          const headers: Record<string, string> = { 'content-type': 'application/json', 'x-gitlab-authentication-type': 'oidc' }
          if (place === 'header') headers[headerName] = planted.text.replace(/[\r\n"]/g, '')
          let url = '/v2/code/completions'
          if (place === 'query') url += `?p=${encodeURIComponent(planted.text)}&q=${planted.text.replace(/[^\w.-]/g, (c) => encodeURIComponent(c))}`
          if (place === 'path') url = `/v1/prompts/${encodeURIComponent(planted.text)}`
          const payload = place === 'name' ? { [planted.text]: 1 } : place === 'body' ? { nested: body, plain: planted.text } : { note: 'nothing' }
          // one request alone (a fresh log), then the same into the long-lived bounded one
          const alone = createGatewayCore({ jwks, now: () => fx.now, gatewayKey: false })
          await alone.handle({ method: 'POST', url, headers, body: JSON.stringify(payload) })
          expect(JSON.stringify(alone.requests).includes(planted.secret), `${place}: ${planted.text.slice(0, 40)}`).toBe(false)
          await core.handle({ method: 'POST', url, headers, body: JSON.stringify(payload) })
          const stored = JSON.stringify(core.requests)
          expect(core.requests.length).toBeLessThanOrEqual(50)
          expect(stored.length).toBeLessThan(64 * 1024 + 16 * 1024)
        }),
        { numRuns: runs(1000) },
      )
      expect(core.countRequests()).toBeLessThanOrEqual(50)
    },
    budget(60_000),
  )
})


// ---------------------------------------------------------------------------------------------------

describe('fuzz: signing keys', () => {
  const jwk = fx.key.privateKey!.export({ format: 'jwk' }) as JsonWebKey
  const small = generateKeyPairSync('rsa', { modulusLength: 1024 })
  const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' })
  const ed = generateKeyPairSync('ed25519')
  const keyObjects = [fx.key.privateKey!, fx.key.publicKey, small.privateKey, small.publicKey, ec.privateKey, ec.publicKey, ed.privateKey, createSecretKey(randomBytes(32))]
  const pemLines = FIXTURE_PEM.split('\n')

  const pemMutation = fc.oneof(
    fc.tuple(fc.nat({ max: FIXTURE_PEM.length }), fc.nat({ max: 200 })).map(([i, n]) => FIXTURE_PEM.slice(0, i) + FIXTURE_PEM.slice(i + n)),
    fc.tuple(fc.nat({ max: FIXTURE_PEM.length }), fc.string({ unit: 'binary', maxLength: 6 })).map(([i, s]) => FIXTURE_PEM.slice(0, i) + s + FIXTURE_PEM.slice(i)),
    fc.nat({ max: FIXTURE_PEM.length }).map((i) => FIXTURE_PEM.slice(0, i)),
    fc.constantFrom(
      FIXTURE_PEM.replace(/\n/g, '\\n'),
      FIXTURE_PEM.replace(/\n/g, '\r\n'),
      `"${FIXTURE_PEM}"`,
      `'${FIXTURE_PEM.replace(/\n/g, '\\n')}'`,
      FIXTURE_PEM.replace('RSA PRIVATE KEY', 'PRIVATE KEY'),
      FIXTURE_PEM.replace(/RSA PRIVATE KEY/g, 'EC PRIVATE KEY'),
      FIXTURE_PEM.replace(/RSA PRIVATE KEY/g, 'ENCRYPTED PRIVATE KEY'),
      FIXTURE_PEM.replace(/RSA PRIVATE KEY/g, 'PUBLIC KEY'),
      FIXTURE_PEM.replace(/RSA PRIVATE KEY/g, 'CERTIFICATE'),
      FIXTURE_PEM.replace(/RSA PRIVATE KEY/g, 'WHATEVER'),
      FIXTURE_PEM.replace('-----BEGIN RSA PRIVATE KEY-----\n', '-----BEGIN RSA PRIVATE KEY-----\nProc-Type: 4,ENCRYPTED\n'),
      FIXTURE_PEM + FIXTURE_PEM,
      [pemLines[0], ...pemLines.slice(1, -2).reverse(), ...pemLines.slice(-2)].join('\n'),
      '-----BEGIN RSA PRIVATE KEY-----',
      '-----BEGIN -----\n-----END -----',
      '   ',
      '{',
      '{}',
      '[1]',
      'null',
    ),
  )
  const jwkVariant = fc.oneof(
    fc.record(
      {
        kty: fc.oneof(fc.constantFrom('RSA', 'EC', 'oct', 'OKP', ''), anyValue),
        n: fc.oneof(fc.constant(jwk.n), fc.string({ maxLength: 20 }), anyValue),
        e: fc.oneof(fc.constant(jwk.e), fc.constantFrom('AQAB', 'AQ', ''), anyValue),
        d: fc.oneof(fc.constant(jwk.d), fc.string({ maxLength: 20 }), anyValue),
        p: fc.oneof(fc.constant(jwk.p), anyValue),
        q: fc.oneof(fc.constant(jwk.q), anyValue),
        dp: fc.constant(jwk.dp),
        dq: fc.constant(jwk.dq),
        qi: fc.oneof(fc.constant(jwk.qi), fc.string({ maxLength: 8 })),
      },
      { requiredKeys: [] },
    ),
    fc.dictionary(fc.oneof(fc.constantFrom(...DANGEROUS_KEYS, 'kty', 'd'), fc.string({ maxLength: 6 })), anyValue, { maxKeys: 6 }),
  )
  const keyInput = fc.oneof(
    pemMutation,
    pemMutation.map((t) => new TextEncoder().encode(t)),
    jwkVariant,
    jwkVariant.map((j) => {
      try {
        return JSON.stringify(j) ?? ''
      } catch {
        return '{"kty":"RSA"}' // a bigint member: JSON cannot hold it
      }
    }),
    fc.constantFrom(...keyObjects),
    fc.string({ unit: 'binary', maxLength: 100 }),
    fc.uint8Array({ maxLength: 100 }),
    anyValue,
  )

  it(
    'loadSigningKey and loadVerificationKey: a usable key or a KeyError, never anything else',
    async () => {
      await fc.assert(
        fc.asyncProperty(keyInput, async (input) => {
          const signing = await typedOutcomeAsync(() => loadSigningKey(input as never), 'loadSigningKey')
          if (signing.ok) {
            expect(signing.value.kid).toMatch(/^[A-Za-z0-9_-]{43}$/)
            expect(signing.value.privateKey?.type).toBe('private')
            expect(signing.value.modulusLength).toBeGreaterThanOrEqual(2048)
          } else {
            expect(signing.error).toBeInstanceOf(KeyError)
          }
          const verifying = typedOutcome(() => loadVerificationKey(input as never), 'loadVerificationKey')
          if (verifying.ok) expect(verifying.value.publicKey.type).toBe('public')
          else expect(verifying.error).toBeInstanceOf(KeyError)
        }),
        { numRuns: runs(2000) },
      )
      expectPrototypesClean()
    },
    budget(40_000),
  )
})

// ---------------------------------------------------------------------------------------------------

describe('fuzz: the catalog', () => {
  const NAME = fc.oneof(fc.constantFrom('complete_code', 'duo_chat', 'ai_gateway', 'duo_pro', 'Bad-Name', '', '__proto__', 'constructor'), fc.stringMatching(/^[a-z][a-z0-9_]{0,10}$/), fc.string({ maxLength: 10 }))
  const maybe = <T>(a: fc.Arbitrary<T>) => fc.oneof(a, anyValue)
  const unitPrimitive = fc.record(
    {
      name: maybe(NAME),
      description: maybe(fc.string({ maxLength: 10 })),
      group: maybe(fc.string({ maxLength: 10 })),
      feature_category: maybe(fc.string({ maxLength: 10 })),
      cut_off_date: maybe(fc.constantFrom('2024-10-17T00:00:00+00:00', '2024-02-15 00:00:00 UTC', '2024-02-30', 'soon', '9999-12-31')),
      backend_services: maybe(fc.array(fc.constantFrom('ai_gateway', 'duo_workflow', 'nope'), { maxLength: 2 })),
      add_ons: maybe(fc.array(fc.constantFrom('duo_pro', 'duo_enterprise', 'nope'), { maxLength: 2 })),
      license_types: maybe(fc.array(fc.constantFrom('premium', 'ultimate'), { maxLength: 2 })),
      documentation_url: maybe(fc.webUrl()),
      min_gitlab_version: maybe(fc.constantFrom('17.0', '16.9.1', 'x')),
    },
    { requiredKeys: [] },
  )
  const backendService = fc.record({ name: maybe(NAME), jwt_aud: maybe(fc.constantFrom('gitlab-ai-gateway', '')), project_url: maybe(fc.webUrl()), group: maybe(fc.string()) }, { requiredKeys: [] })
  const named = fc.record({ name: maybe(NAME) }, { requiredKeys: [] })
  const withPrototypeKeys = (a: fc.Arbitrary<unknown>) =>
    fc.tuple(a, fc.constantFrom(...DANGEROUS_KEYS), anyValue).map(([o, k, v]) => (o !== null && typeof o === 'object' ? Object.defineProperty({ ...(o as object) }, k, { value: v, enumerable: true }) : o))

  it(
    'createCatalog: a frozen catalog or a CatalogError, for any object',
    () => {
      const list = (item: fc.Arbitrary<unknown>) => fc.oneof(fc.array(fc.oneof(item, withPrototypeKeys(item), anyValue), { maxLength: 4 }), anyValue)
      const data = fc.oneof(
        fc.record({ unitPrimitives: list(unitPrimitive), backendServices: list(backendService), addOns: list(named), licenseTypes: list(named) }, { requiredKeys: [] }),
        anyValue,
      )
      fc.assert(
        fc.property(data, (d) => {
          const r = typedOutcome(() => createCatalog(d as never), 'createCatalog')
          if (!r.ok) expect(r.error).toBeInstanceOf(CatalogError)
          else {
            expect(Object.isFrozen(r.value)).toBe(true)
            for (const up of r.value.unitPrimitives.values()) expect(Object.isFrozen(up)).toBe(true)
          }
        }),
        { numRuns: runs(2000) },
      )
      expectPrototypesClean()
    },
    budget(30_000),
  )

  const root = mkdtempSync(join(tmpdir(), 'cc-fuzz-catalog-'))
  afterAll(() => rmSync(root, { recursive: true, force: true }))

  const YAML_NASTIES = [
    '', '---', '~', '[]', '- a\n- b', 'name: [unclosed', 'name: "unterminated', '\t name: tab', 'name: a\nname: b',
    'a: &a [1,2]\nb: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]\nc: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]\nd: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]\ne: [*d,*d,*d,*d,*d,*d,*d,*d,*d]',
    'name: x\n__proto__:\n  polluted: yes', '__proto__: {polluted: 1}', 'constructor: {prototype: {polluted: 1}}', '<<: {polluted: 1}\nname: x',
    '!!js/function "function(){ globalThis.cc_polluted = 1 }"', 'name: !!binary aGVsbG8=', 'name: !custom x', '? [a, b]\n: c',
    '---\nname: a\n---\nname: b', '\ufeffname: bom', `${'['.repeat(500)}${']'.repeat(500)}`, 'name: 2024-01-01', 'name: 0x1F', 'name: .inf',
    'name: complete_code\ndescription: d\ngroup: g\nfeature_category: f\nbackend_services: [ai_gateway]\ncut_off_date: 2024-02-30',
  ]
  const validItem = unitPrimitive.map((o) => {
    try {
      return stringify(o)
    } catch {
      return 'name: x'
    }
  })
  const yamlText = fc.oneof(
    fc.constantFrom(...YAML_NASTIES),
    validItem,
    validItem.chain((t) => fc.tuple(fc.nat({ max: t.length }), fc.string({ unit: 'binary', maxLength: 3 })).map(([i, s]) => t.slice(0, i) + s + t.slice(i + 1))),
    fc.string({ unit: 'binary', maxLength: 60 }),
  )
  const fileName = fc.oneof(fc.constantFrom('complete_code', 'duo_chat', 'ai_gateway', 'x', 'a b', 'é', '__proto__'), fc.stringMatching(/^[a-z_]{1,8}$/))
  const entry = fc.oneof(
    { weight: 8, arbitrary: fc.record({ kind: fc.constant('file' as const), name: fileName, ext: fc.constantFrom('.yml', '.yaml', '.txt'), text: yamlText }) },
    { weight: 1, arbitrary: fc.record({ kind: fc.constantFrom('dir' as const, 'dangling' as const, 'loop' as const, 'devnull' as const), name: fileName, ext: fc.constant('.yml'), text: fc.constant('') }) },
  )
  const layout = fc.record({
    backend_services: fc.option(fc.array(entry, { maxLength: 3 }), { nil: undefined }),
    unit_primitives: fc.option(fc.array(entry, { maxLength: 4 }), { nil: undefined }),
    add_ons: fc.option(fc.array(entry, { maxLength: 2 }), { nil: undefined }),
    license_types: fc.option(fc.array(entry, { maxLength: 2 }), { nil: undefined }),
    nested: fc.boolean(),
  })
  let n = 0

  it(
    'loadCatalogDir: YAML text of any shape in temp dirs: a catalog or a CatalogError',
    async () => {
      await fc.assert(
        fc.asyncProperty(layout, async (l) => {
          const dir = join(root, `run-${n++}`)
          const base = l.nested ? join(dir, 'config') : dir
          mkdirSync(base, { recursive: true })
          for (const sub of ['backend_services', 'unit_primitives', 'add_ons', 'license_types'] as const) {
            const entries = l[sub]
            if (entries === undefined) continue
            mkdirSync(join(base, sub))
            for (const e of entries) {
              const path = join(base, sub, `${e.name}${e.ext}`)
              try {
                if (e.kind === 'file') writeFileSync(path, e.text)
                else if (e.kind === 'dir') mkdirSync(path)
                else if (e.kind === 'dangling') symlinkSync(join(base, 'nowhere.yml'), path)
                else if (e.kind === 'loop') symlinkSync(path, path)
                else symlinkSync('/dev/null', path)
              } catch {
                // same name twice in one directory: keep the first
              }
            }
          }
          try {
            const r = await typedOutcomeAsync(() => loadCatalogDir(dir), 'loadCatalogDir')
            if (!r.ok) expect(r.error).toBeInstanceOf(CatalogError)
            else expect(Object.isFrozen(r.value)).toBe(true)
          } finally {
            rmSync(dir, { recursive: true, force: true })
          }
          expectPrototypesClean()
        }),
        { numRuns: runs(1000) },
      )
    },
    budget(40_000),
  )
})

// ---------------------------------------------------------------------------------------------------

describe('fuzz: gateway headers', () => {
  const text = fc.oneof(
    fc.constantFrom('gitlab.example.com', '18.5.4', fx.instanceId, 'uuid-not-set', '', ' x', 'x ', 'a\r\nx-injected: 1', 'a\nb', 'a\rb', 'é', '\u2028', '\u0000', 'a\u007f'),
    fc.string({ unit: 'binary', maxLength: 20 }),
    fc.string({ maxLength: 20 }),
  )
  const idish = fc.oneof(fc.nat(), fc.integer(), edgeNumber, fc.stringMatching(/^[0-9]{1,20}$/), text, anyValue)
  const ctx = fc.oneof(
    fc.record(
      {
        instance: fc.oneof(
          fc.record(
            {
              id: fc.oneof(text, anyValue),
              realm: fc.oneof(fc.constantFrom('self-managed', 'saas', 'dedicated'), anyValue),
              hostName: text,
              version: text,
              deploymentType: fc.oneof(fc.constantFrom('.com', 'dedicated', 'self-managed'), text),
            },
            { requiredKeys: ['id', 'realm'] },
          ),
          anyValue,
        ),
        user: fc.oneof(fc.record({ id: idish, globalUserId: text, salt: text, subjectType: text }, { requiredKeys: [] }), anyValue),
        feature: fc.oneof(
          fc.record(
            {
              enablementType: text,
              namespaceIds: fc.oneof(fc.array(idish, { maxLength: 3 }), anyValue),
              featureFlags: fc.oneof(fc.array(text, { maxLength: 3 }), anyValue),
              verboseAiLogs: fc.oneof(fc.boolean(), anyValue),
              teamMember: fc.oneof(fc.boolean(), anyValue),
              namespaceId: idish,
              rootNamespaceId: idish,
              organizationId: idish,
              projectId: idish,
            },
            { requiredKeys: [] },
          ),
          anyValue,
        ),
        requestId: text,
        extra: fc.oneof(fc.dictionary(fc.oneof(fc.constantFrom('authorization', 'x-gitlab-realm', 'X-Custom', 'bad name', 'a:b', '', ...DANGEROUS_KEYS), fc.string({ maxLength: 8 })), text, { maxKeys: 4 }), anyValue),
      },
      { requiredKeys: ['instance'] },
    ),
    anyValue,
  )

  it(
    'buildGatewayHeaders: printable one-line values with token names, or a HeaderError — never an injected line',
    () => {
      fc.assert(
        fc.property(ctx, (c) => {
          const r = typedOutcome(() => buildGatewayHeaders(c as never), 'buildGatewayHeaders')
          if (!r.ok) {
            expect(r.error).toBeInstanceOf(HeaderError)
            return
          }
          expect(Object.getPrototypeOf(r.value)).toBe(Object.prototype)
          for (const [name, value] of Object.entries(r.value)) {
            expect(name).toMatch(/^[!#$%&'*+.^_`|~0-9a-z-]+$/)
            expect(value).toMatch(/^(?:[\x21-\x7e](?:[\x20-\x7e]*[\x21-\x7e])?)?$/)
          }
          // and fetch accepts the set as it is
          expect(() => new Headers(r.value)).not.toThrow()
        }),
        { numRuns: runs(3000) },
      )
      expectPrototypesClean()
    },
    budget(30_000),
  )
})

// ---------------------------------------------------------------------------------------------------

describe('fuzz: the client', () => {
  const staticSource = { getToken: async () => ({ token: GOOD, source: 'self-issued' as const, reason: 'fuzz' }) }
  const validHeaders = { instance: { id: fx.instanceId, realm: 'self-managed' as const, hostName: 'gitlab.example.com' }, user: { id: 1, salt: 's' } }

  it(
    'createGatewayClient options: a client or an InvalidOptionsError/HeaderError',
    () => {
      const options = fc.record(
        {
          baseUrl: fc.oneof(fc.constantFrom('http://127.0.0.1:5052', 'https://cloud.gitlab.com/ai', 'ftp://x', 'http://u:p@h', 'http://h/?q=1', 'http://h/#f', '/relative', '', 'http://[::1]:80'), fc.webUrl(), fc.string({ maxLength: 20 }), fc.constant(new URL('http://127.0.0.1/')), anyValue),
          tokenSource: fc.oneof(fc.constant(staticSource), fc.constant({ getToken: 1 }), anyValue),
          headers: fc.oneof(fc.constant(validHeaders), fc.record({ instance: fc.record({ id: fc.string({ maxLength: 5 }), realm: fc.constantFrom('saas', 'x') }) }), anyValue),
          audience: fc.oneof(fc.string({ maxLength: 10 }), anyValue),
          now: fc.oneof(fc.constant(() => fx.now), anyValue),
          leewaySeconds: fc.oneof(edgeNumber, anyValue),
          fetch: fc.oneof(fc.constant(globalThis.fetch), anyValue),
          logger: fc.oneof(fc.constant({}), anyValue),
          clockSkewToleranceSeconds: fc.oneof(edgeNumber, anyValue),
          timeout: fc.oneof(fc.constant(false), edgeNumber, anyValue),
          retry: fc.oneof(fc.constant(false), edgeNumber, fc.record({ limit: edgeNumber, statusCodes: fc.array(edgeNumber, { maxLength: 3 }), endpoints: fc.constantFrom('safe', 'all', 'x'), jitter: anyValue }, { requiredKeys: [] }), anyValue),
          hooks: fc.oneof(fc.constant({ beforeRequest: [() => undefined] }), anyValue),
          [DANGEROUS_KEYS[1]]: anyValue,
          bogus: anyValue,
        },
        { requiredKeys: [] },
      )
      fc.assert(
        fc.property(fc.oneof(options, anyValue), (o) => {
          const r = typedOutcome(() => createGatewayClient(o as never), 'createGatewayClient')
          if (r.ok) expect(typeof r.value.baseUrl).toBe('string')
          else expect(['ERR_INVALID_OPTIONS', 'ERR_INVALID_HEADER']).toContain(r.error.code)
        }),
        { numRuns: runs(2000) },
      )
      expectPrototypesClean()
    },
    budget(30_000),
  )

  it(
    'the endpoint body schemas: safeParse never throws, on anything',
    () => {
      const schemas = [ModelConfigurationCheckBodySchema(), CodeCompletionsBodySchema(), CodeGenerationsBodySchema(), ChatAgentBodySchema(), ModelMetadataSchema()]
      fc.assert(
        fc.property(fc.constantFrom(...schemas), anyValue, (schema, value) => {
          const r = schema.safeParse(value)
          expect(typeof r.success).toBe('boolean')
        }),
        { numRuns: runs(3000) },
      )
    },
    budget(30_000),
  )

  /** One client whose fetch answers whatever the property chose, counting what was sent. */
  let sent = 0
  let badBodies = 0
  let nextResponse: () => Response = () => new Response('"ok"', { status: 200 })
  const client: GatewayClient = createGatewayClient({
    baseUrl: 'http://127.0.0.1:9/ai',
    tokenSource: staticSource,
    headers: validHeaders,
    now: () => fx.now,
    // per-call `retry` may still ask for retries: without delays, so that a run stays fast
    retry: { limit: 0, maxRetryAfterMs: 0, backoffLimitMs: 0 },
    timeout: 5_000,
    fetch: async (input) => {
      sent++
      // the body must be complete JSON: a validated body is serialised once, before sending
      // (the user-token endpoint posts no body at all)
      const text = input instanceof Request && input.method === 'POST' ? await input.clone().text() : ''
      if (text !== '') {
        try {
          JSON.parse(text)
        } catch {
          badBodies++
        }
      }
      return nextResponse()
    },
  })

  const cyclic = (() => {
    const o: Record<string, unknown> = { a: 1 }
    o.self = o
    return o
  })()
  // unknown members pass the (loose) schemas: anything there, even what JSON cannot hold, must still
  // end in a typed error or a sent body
  const bodyLike = (required: Record<string, fc.Arbitrary<unknown>>) =>
    fc.oneof(
      fc.record({ ...required, stream: fc.oneof(fc.boolean(), jsonishValue), extra: fc.oneof(anyValue, fc.constant(cyclic), fc.constant(10n)) }, { requiredKeys: [] }),
      anyValue,
    )
  const currentFile = fc.oneof(
    fc.record({ file_name: fc.oneof(fc.string({ maxLength: 10 }), jsonishValue), content_above_cursor: fc.oneof(fc.string({ maxLength: 10 }), jsonishValue), content_below_cursor: fc.string({ maxLength: 5 }) }, { requiredKeys: [] }),
    jsonishValue,
  )
  const call = fc.oneof(
    fc.record({ method: fc.constant('checkModelConfiguration' as const), input: fc.oneof(fc.record({ name: fc.oneof(fc.string({ maxLength: 8 }), jsonishValue), endpoint: fc.oneof(fc.constantFrom('http://model:8000/v1', 'ftp://x', 'not a url', ''), jsonishValue), apiKey: fc.oneof(fc.string({ maxLength: 8 }), jsonishValue), identifier: fc.string({ maxLength: 5 }), provider: fc.string({ maxLength: 5 }) }, { requiredKeys: [] }), jsonishValue) }),
    fc.record({ method: fc.constantFrom('codeCompletions' as const, 'codeGenerations' as const, 'streamCodeCompletions' as const, 'streamCodeGenerations' as const), input: bodyLike({ current_file: currentFile, prompt_version: fc.oneof(fc.constantFrom(1, 2, 3, 4), jsonishValue), model_api_key: fc.string({ maxLength: 6 }) }) }),
    fc.record({ method: fc.constant('chat' as const), input: bodyLike({ messages: fc.oneof(fc.array(fc.record({ role: fc.constantFrom('user', 'x'), content: fc.oneof(fc.string({ maxLength: 6 }), fc.constant(null)) }), { maxLength: 2 }), jsonishValue) }) }),
    fc.record({ method: fc.constantFrom('userAccessToken' as const, 'health' as const), input: fc.constant(undefined) }),
  )
  const callOptions = fc.oneof(
    fc.constant(undefined),
    fc.record({ requestId: fc.oneof(fc.string({ maxLength: 10 }), fc.constantFrom('rid-1', 'a b', 'x'.repeat(300)), anyValue), retry: fc.oneof(fc.boolean(), fc.nat({ max: 3 })), context: fc.oneof(fc.record({ extra: fc.dictionary(fc.string({ maxLength: 6 }), fc.string({ maxLength: 6 }), { maxKeys: 2 }), user: fc.oneof(fc.record({ id: fc.oneof(fc.nat(), fc.string({ maxLength: 4 })), salt: fc.string({ maxLength: 4 }) }), fc.constant(undefined)), feature: fc.oneof(fc.record({ teamMember: fc.oneof(fc.boolean(), jsonishValue) }), fc.constant(undefined)) }, { requiredKeys: [] }), fc.constant(undefined), anyValue), unitPrimitive: fc.constantFrom('duo_chat', 'duo_classic_chat', 'x') }, { requiredKeys: [] }),
  )
  const response = fc.record({
    status: fc.oneof(fc.constantFrom(200, 401, 403, 404, 421, 422, 429, 500, 502), fc.integer({ min: 200, max: 599 })),
    body: fc.oneof(
      fc.constantFrom('"ok"', '{"error":"Forbidden by auth provider"}', '{"detail":"Unauthorized to access \'x\'"}', '{"detail":[{"loc":["body","x"],"msg":"m","input":"secret"}]}', '{"detail":"503: Service Unavailable"}', '', 'not json', '{"token":"t","expires_at":1}', '{"id":"1","model":{"engine":"e","name":"n","lang":"l"},"created":1,"choices":[{"text":"x"}]}'),
      fc.jsonValue({ maxDepth: 3 }).map((v) => JSON.stringify(v)),
      fc.string({ maxLength: 30 }),
    ),
    retryAfter: fc.option(fc.oneof(fc.constantFrom('1', 'Wed, 21 Oct 2015 07:28:00 GMT', 'x', '-1'), fc.string({ maxLength: 8 })), { nil: undefined }),
    date: fc.option(fc.oneof(fc.date({ noInvalidDate: true }).map((d) => d.toUTCString()), fc.string({ maxLength: 10 })), { nil: undefined }),
  })

  it(
    'every endpoint method, any body, any answer: a result or a typed error; an invalid body is never sent',
    async () => {
      await fc.assert(
        fc.asyncProperty(call, callOptions, response, async (c, options, res) => {
          nextResponse = () => {
            const headers = new Headers({ 'content-type': 'application/json' })
            if (res.retryAfter !== undefined) headers.set('retry-after', res.retryAfter)
            if (res.date !== undefined) headers.set('date', res.date)
            return new Response(res.status === 204 ? null : res.body, { status: res.status, headers })
          }
          const before = sent
          const method = client[c.method] as (input: unknown, options?: unknown) => Promise<unknown>
          const outcome = await typedOutcomeAsync(async () => {
            const r = c.method === 'userAccessToken' || c.method === 'health' ? await method.call(client, options) : await method.call(client, c.input, options)
            if (r !== null && typeof r === 'object' && 'text' in r && typeof (r as { text: unknown }).text === 'function') await (r as { text(): Promise<string> }).text()
            return r
          }, c.method)
          if (!outcome.ok && outcome.error instanceof GatewayValidationError && outcome.error.sent === false) expect(sent).toBe(before)
        }),
        { numRuns: runs(2000) },
      )
      expect(badBodies).toBe(0)
      // the properties above reached the wire, not only the validators
      expect(sent).toBeGreaterThan(runs(2000) / 10)
      expectPrototypesClean()
    },
    budget(40_000),
  )
})

// ---------------------------------------------------------------------------------------------------

describe('fuzz: the other factories', () => {
  const offline = async (): Promise<Response> => {
    throw new TypeError('offline')
  }
  it(
    'createTokenIssuer, createTokenSource, createKeyRing and createGatewayVerifier: an object or a typed error',
    async () => {
      const factory = fc.constantFrom('issuer', 'source', 'ring', 'verifier')
      const options = fc.oneof(
        fc.record(
          {
            issuer: fc.oneof(fc.constantFrom(fx.issuer, 'http://x', 'ftp://x', 'https://h/?q', ''), fc.webUrl(), anyValue),
            instanceId: fc.oneof(fc.constantFrom(fx.instanceId, 'uuid-not-set', 'x'), anyValue),
            realm: fc.oneof(fc.constantFrom('self-managed', 'saas', 'x'), anyValue),
            key: fc.oneof(fc.constant(fx.key), fc.constant(loadVerificationKey(fx.key.publicJwk)), anyValue),
            addOns: fc.oneof(fc.array(fc.constantFrom('duo_pro', 'duo_enterprise', 'nope', ''), { maxLength: 3 }), anyValue),
            ttlSeconds: fc.oneof(edgeNumber, anyValue),
            cache: fc.oneof(fc.constant(false), fc.record({ refreshBeforeSeconds: edgeNumber, maxEntries: edgeNumber }, { requiredKeys: [] }), anyValue),
            extraClaims: fc.oneof(fc.dictionary(fc.oneof(fc.constantFrom(...DANGEROUS_KEYS, 'exp', 'scopes'), fc.string({ maxLength: 5 })), jsonishValue, { maxKeys: 3 }), anyValue),
            license: fc.oneof(fc.constantFrom('online-cloud', 'offline-cloud', 'legacy', 'none'), anyValue),
            policy: fc.oneof(fc.constantFrom('safe', 'rails'), anyValue),
            synced: fc.oneof(fc.record({ token: fc.oneof(fc.constant(GOOD), fc.string({ maxLength: 10 })), expiresAt: fc.date({ noInvalidDate: false }) }), anyValue),
            keys: fc.oneof(fc.constant([{ key: fx.key, createdAt: fx.now }]), fc.array(fc.record({ key: anyValue, createdAt: fc.date({ noInvalidDate: false }) }), { maxLength: 2 }), anyValue),
            strict: fc.oneof(fc.boolean(), fc.record({ leewaySeconds: edgeNumber, requireKid: anyValue, maxTokenBytes: edgeNumber }, { requiredKeys: [] }), anyValue),
            publishDelaySeconds: fc.oneof(edgeNumber, anyValue),
            jwks: fc.oneof(fc.constant(toJwks([fx.key])), fc.record({ keys: fc.array(anyValue, { maxLength: 2 }) }), anyValue),
            issuerUrls: fc.oneof(fc.array(fc.oneof(fc.webUrl(), fc.string({ maxLength: 8 })), { maxLength: 2 }), anyValue),
            cacheTtlSeconds: fc.oneof(edgeNumber, anyValue),
          },
          { requiredKeys: [] },
        ),
        anyValue,
      )
      await fc.assert(
        fc.asyncProperty(factory, options, async (which, o) => {
          const pick = (names: string[]) => (o !== null && typeof o === 'object' ? Object.fromEntries(Object.entries(o).filter(([k]) => names.includes(k))) : o)
          const r = typedOutcome((): unknown => {
            switch (which) {
              case 'issuer':
                return createTokenIssuer(pick(['issuer', 'instanceId', 'realm', 'key', 'addOns', 'ttlSeconds', 'cache', 'extraClaims']) as never)
              case 'source':
                return createTokenSource(pick(['license', 'policy', 'synced']) as never)
              case 'ring':
                return createKeyRing(pick(['keys', 'strict', 'publishDelaySeconds']) as never)
              default:
                // never the network: discovery always goes to the offline fetch
                return createGatewayVerifier((o !== null && typeof o === 'object' ? { ...(pick(['jwks', 'issuerUrls', 'strict', 'cacheTtlSeconds']) as object), fetch: offline } : o) as never)
            }
          }, which)
          if (!r.ok) return
          // a factory that accepted its options must keep to typed errors when used
          const obj = r.value as Record<string, unknown>
          if (which === 'issuer') await typedOutcomeAsync(() => (obj as { issue(): Promise<unknown> }).issue(), 'issue')
          if (which === 'source') await typedOutcomeAsync(() => (obj as { getToken(r: unknown): Promise<unknown> }).getToken({ unitPrimitive: 'complete_code' }), 'getToken')
          if (which === 'ring') typedOutcome(() => (obj as { signingKey(): unknown }).signingKey(), 'signingKey')
          if (which === 'verifier') {
            const v = await (obj as { authenticate(h: unknown): Promise<{ status: number }> }).authenticate({ authorization: `Bearer ${GOOD}`, 'x-gitlab-authentication-type': 'oidc' })
            expect([200, 401, 403, 500]).toContain(v.status)
          }
        }),
        { numRuns: runs(2000) },
      )
      expectPrototypesClean()
    },
    budget(40_000),
  )

  it('the fixture token itself is accepted (so the fuzzers above do reach the deep paths)', async () => {
    expect(inspectToken(GOOD).kind).toBe('jwt')
    expect(preflight({ token: GOOD, headers: buildGatewayHeaders({ instance: { id: fx.instanceId, realm: 'self-managed' } }), unitPrimitive: 'complete_code', now: () => fx.now }).ok).toBe(true)
    const v = await createGatewayVerifier({ jwks: toJwks([fx.key]), now: () => fx.now }).authenticate({ authorization: `Bearer ${GOOD}`, 'x-gitlab-authentication-type': 'oidc', 'x-gitlab-instance-id': fx.instanceId, 'x-gitlab-realm': 'self-managed' })
    expect(v.status).toBe(200)
    expect(builtInCatalog.unitPrimitives.has('complete_code')).toBe(true)
    expect(b64url('x')).toBe('eA')
    expect(() => expectTyped(new TypeError('x'), 'probe')).toThrow(/non-typed error/)
  })
})
