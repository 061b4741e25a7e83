import { generateKeyPairSync } from 'node:crypto'
import { describe, expect, it } from 'vitest'
import { asEvent } from './client-support.js'
import { createGatewayVerifier, InvalidOptionsError, toJwks, type AuthenticateOptions, type GatewayVerifierOptions, type Logger } from '../src/index.js'
import { loadCaseFixture } from './cases/fixture.js'
import { b64url, mintHs256, mintJwt, signSegments } from './cases/mint.js'
import { fingerprint } from '../src/redact.js'

const fx = loadCaseFixture()
const now = Math.floor(fx.now.getTime() / 1000)
const key = fx.key.privateKey!
const header = { alg: 'RS256', typ: 'JWT', kid: fx.key.kid }
const claims = { iss: fx.issuer, sub: fx.instanceId, aud: ['gitlab-ai-gateway'], iat: now, nbf: now - 5, exp: now + 3600, gitlab_realm: 'self-managed', scopes: ['complete_code'] }
const good = mintJwt(header, claims, key)
const token = (patch: Record<string, unknown> = {}, drop: string[] = [], h: Record<string, unknown> = header) => {
  const c: Record<string, unknown> = { ...claims, ...patch }
  for (const d of drop) delete c[d]
  return mintJwt(h, c, key)
}
const headersFor = (t: string) => ({ Authorization: `Bearer ${t}`, 'X-Gitlab-Authentication-Type': 'oidc', 'X-Gitlab-Instance-Id': fx.instanceId, 'X-Gitlab-Realm': 'self-managed' })
const verifier = (o: Partial<GatewayVerifierOptions> = {}) => createGatewayVerifier({ jwks: toJwks([fx.key]), now: () => fx.now, ...o })

describe('createGatewayVerifier: options', () => {
  it('needs keys to trust', () => {
    expect(() => createGatewayVerifier({})).toThrow(InvalidOptionsError)
    expect(() => createGatewayVerifier({})).toThrow(/give the keys to trust: jwks \(a key set\), keys \(loaded keys\) and\/or issuerUrls/)
  })

  it.each([
    [{ jwks: toJwks([fx.key]), issuerUrls: ['gitlab.example.com'] }, /options\.issuerUrls\.0 must be an absolute http\(s\) URL/],
    [{ jwks: toJwks([fx.key]), audience: '' }, /options\.audience must be a non-empty string/],
    [{ jwks: toJwks([fx.key]), cacheTtlSeconds: -1 }, /options\.cacheTtlSeconds/],
    [{ jwks: toJwks([fx.key]), fetch: 'nope' }, /options\.fetch must be a function/],
    [{ jwks: toJwks([fx.key]), strict: { leeway: 5 } }, /options\.strict/],
    [{ jwks: toJwks([fx.key]), issuerUrl: 'https://x' }, /options\.issuerUrl is not an option/],
    [{ keys: ['-----BEGIN PUBLIC KEY-----'] }, /options\.keys\.0 must hold loaded keys/],
  ])('rejects %j', (o, message) => {
    expect(() => createGatewayVerifier(o as GatewayVerifierOptions)).toThrow(message)
  })

  it('refuses an unusable key in a static key set up front (the gateway would answer 500 on reaching it)', () => {
    const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey.export({ format: 'jwk' })
    expect(() => createGatewayVerifier({ jwks: { keys: [{ ...ec, kid: 'ec' } as never] } })).toThrow(
      "createGatewayVerifier: options.jwks.keys[0] is not a usable RSA public key (JWKError: Incorrect key type. Expected: 'RSA', Received: EC); the gateway would answer 500 once it reached it",
    )
  })

  it('accepts loaded keys and KeyObjects; an empty static set is the CriticalAuthError', async () => {
    expect((await createGatewayVerifier({ keys: [fx.key], now: () => fx.now }).authenticate(headersFor(good))).status).toBe(200)
    expect((await createGatewayVerifier({ keys: [fx.key.publicKey], now: () => fx.now }).authenticate(headersFor(good))).status).toBe(200)
    expect((await createGatewayVerifier({ keys: [fx.key.privateKey!], now: () => fx.now }).authenticate(headersFor(good))).status).toBe(200)
    const empty = createGatewayVerifier({ jwks: { keys: [] } })
    expect(await empty.authenticate(headersFor(good))).toMatchObject({ status: 500, error: 'No keys founds in JWKS; are OIDC providers up?' })
    expect(await empty.keySet()).toMatchObject({ kids: [], unusable: 0, expiresAt: undefined })
  })
})

describe('authenticate: the gateway quirks kept by default', () => {
  it('kid is ignored: every key is tried, in order', async () => {
    const v = verifier({ jwks: toJwks([fx.otherKey, fx.key]) })
    expect((await v.authenticate(headersFor(token({}, [], { alg: 'RS256' })))).status).toBe(200)
    expect((await v.authenticate(headersFor(token({}, [], { ...header, kid: fx.otherKey.kid })))).status).toBe(200)
  })

  it('iss is not checked; a token without aud passes; no leeway', async () => {
    const v = verifier()
    expect((await v.authenticate(headersFor(token({ iss: 'https://anyone.example' })))).status).toBe(200)
    expect((await v.authenticate(headersFor(token({}, ['aud'])))).status).toBe(200)
    expect((await v.authenticate(headersFor(token({ exp: now - 1 })))).reason).toBe('Signature has expired.')
  })

  it('no unit primitive: no scope check; with one, 403 and the claims', async () => {
    const v = verifier()
    const t = token({}, ['scopes'])
    expect((await v.authenticate(headersFor(t))).status).toBe(200)
    expect(await v.authenticate(headersFor(t), { unitPrimitive: 'complete_code' })).toMatchObject({ status: 403, error: "Unauthorized to access 'complete_code'", check: 'scope' })
    expect(await v.authenticate(headersFor(t), { unitPrimitive: 'complete_code', forbiddenDetail: 'Unauthorized to access code completions' })).toMatchObject({
      status: 403,
      error: 'Unauthorized to access code completions',
      claims: { sub: fx.instanceId },
    })
    expect((await v.authenticate(headersFor(good), { unitPrimitive: '' })).status).toBe(403)
  })

  it('reads a Headers object and entries, names in any case, the last repeated value winning', async () => {
    const v = verifier()
    expect((await v.authenticate(new Headers(headersFor(good)))).status).toBe(200)
    expect((await v.authenticate(Object.entries(headersFor(good)) as [string, string][])).status).toBe(200)
    const repeated: [string, string][] = [...(Object.entries(headersFor(good)) as [string, string][]), ['x-gitlab-realm', 'saas']]
    expect(await v.authenticate(repeated)).toMatchObject({ status: 401, error: "Header mismatch 'X-Gitlab-Realm'", header: 'X-Gitlab-Realm', check: 'headers' })
  })

  it('the audience is configurable (the Duo Workflow Service), and so is the service name for sub', async () => {
    const v = verifier({ audience: 'gitlab-duo-workflow-service' })
    expect((await v.authenticate(headersFor(good))).reason).toBe('Invalid audience')
    expect((await v.authenticate(headersFor(token({ aud: 'gitlab-duo-workflow-service' })))).status).toBe(200)
  })

  it('verdicts carry which check decided', async () => {
    const v = verifier()
    expect(await v.authenticate({})).toEqual({ status: 401, error: 'No authorization header presented', check: 'authorization' })
    expect(await v.authenticate({ authorization: 'Basic abc' })).toEqual({ status: 401, error: 'Invalid authorization header', check: 'scheme' })
    expect(await v.authenticate({ authorization: 'Bearer x' })).toEqual({ status: 401, error: 'Invalid authentication token type - only OIDC is supported', check: 'authentication-type' })
    expect(await v.authenticate(headersFor('x.y'))).toEqual({ status: 401, error: 'Forbidden by auth provider', reason: 'Not enough segments', check: 'token' })
    expect(await v.authenticate(headersFor(good))).toEqual({ status: 200, claims })
  })

  it('a payload nested deeper than Python can parse is a 500 (RecursionError escapes python-jose)', async () => {
    const v = verifier()
    const deep = signSegments(b64url(JSON.stringify(header)), b64url('['.repeat(2000) + ']'.repeat(2000)), key)
    expect(await v.authenticate(headersFor(deep))).toMatchObject({ status: 500, error: 'Internal Server Error', reason: 'RecursionError: maximum recursion depth exceeded while decoding a JSON array from a unicode string' })
  })

  it('remembers verified signatures, never failures, and can be told not to', async () => {
    const v = verifier({ verifiedTokenCacheSize: 1 })
    const other = mintJwt(header, claims, fx.otherKey.privateKey!)
    for (let i = 0; i < 3; i++) {
      expect((await v.authenticate(headersFor(good))).status).toBe(200)
      expect((await v.authenticate(headersFor(other))).reason).toBe('Signature verification failed.')
    }
    // claims are still checked on every call
    let t = fx.now.getTime()
    const moving = verifier({ now: () => new Date(t) })
    expect((await moving.authenticate(headersFor(good))).status).toBe(200)
    t += 3601_000
    expect((await moving.authenticate(headersFor(good))).reason).toBe('Signature has expired.')
    expect((await verifier({ verifiedTokenCacheSize: 0 }).authenticate(headersFor(good))).status).toBe(200)
  })
})

describe('authenticate: strict mode adds what the gateway lacks', () => {
  it('kid must name a trusted key, and only that key is tried', async () => {
    const v = verifier({ jwks: toJwks([fx.otherKey, fx.key]), strict: true })
    expect((await v.authenticate(headersFor(good))).status).toBe(200)
    expect((await v.authenticate(headersFor(token({}, [], { ...header, kid: 'nope' })))).reason).toBe('No trusted key has the kid of the token')
    expect((await v.authenticate(headersFor(token({}, [], { alg: 'RS256' })))).reason).toBe('The token has no kid')
    expect((await v.authenticate(headersFor(token({}, [], { ...header, kid: fx.otherKey.kid })))).reason).toBe('Signature verification failed.')
  })

  it('aud and exp are required, in python-jose\'s words', async () => {
    const v = verifier({ strict: true })
    expect((await v.authenticate(headersFor(token({}, ['aud'])))).reason).toBe('missing required key "aud" among claims')
    expect((await v.authenticate(headersFor(token({}, ['exp'])))).reason).toBe('missing required key "exp" among claims')
    expect((await verifier({ strict: { requireExp: false } }).authenticate(headersFor(token({}, ['exp'])))).status).toBe(200)
  })

  it('issuer allow-list (a trailing slash does not matter) and leeway', async () => {
    const v = verifier({ strict: { issuers: ['https://gitlab.example.com/'], leewaySeconds: 30 } })
    expect((await v.authenticate(headersFor(good))).status).toBe(200)
    expect((await v.authenticate(headersFor(token({ iss: 'https://evil.example' })))).reason).toBe('Invalid issuer')
    expect((await v.authenticate(headersFor(token({ exp: now - 20 })))).status).toBe(200)
    expect((await v.authenticate(headersFor(token({ nbf: now + 20 })))).status).toBe(200)
    expect((await v.authenticate(headersFor(token({ exp: now - 31 })))).reason).toBe('Signature has expired.')
  })

  it('refuses oversized tokens', async () => {
    const v = verifier({ strict: true })
    expect((await v.authenticate(headersFor(token({ padding: 'x'.repeat(70_000) })))).reason).toBe('Token too large (over 65536 bytes)')
    expect((await verifier().authenticate(headersFor(token({ padding: 'x'.repeat(70_000) })))).status).toBe(200)
  })
})

describe('authenticate: logging', () => {
  it('logs refusals at debug level with a fingerprint, never the token; a throwing logger changes nothing', async () => {
    const events: [string, Record<string, unknown>][] = []
    const logger: Logger = { debug: asEvent((e, f) => events.push([e, f])) }
    const v = verifier({ logger })
    const bad = token({ exp: now - 1 })
    await v.authenticate(headersFor(bad))
    expect(events).toHaveLength(1)
    expect(events[0]?.[0]).toBe('gateway_verifier.refused')
    expect(events[0]?.[1]).toMatchObject({ stage: 'claims', reason: 'Signature has expired.', fatal: false, tokenLength: bad.length })
    expect(JSON.stringify(events)).not.toContain(bad.split('.')[2]!.slice(0, 20))
    const throwing: Logger = {
      debug: () => {
        throw new Error('boom')
      },
    }
    expect((await verifier({ logger: throwing }).authenticate(headersFor(bad))).status).toBe(401)
  })
})

describe('authenticate: a token parsed once is still verified every time', () => {
  const other = generateKeyPairSync('rsa', { modulusLength: 2048 }).publicKey
  const every = (o: Partial<GatewayVerifierOptions> = {}) => verifier({ verifiedTokenCacheSize: 0, ...o })

  it('the same token text, alternating between a verifier that trusts its key and one that does not', async () => {
    const trusting = every()
    const stranger = every({ jwks: undefined, keys: [other] })
    for (let i = 0; i < 3; i++) {
      expect((await trusting.authenticate(headersFor(good))).status).toBe(200)
      expect(await stranger.authenticate(headersFor(good))).toMatchObject({ status: 401, error: 'Forbidden by auth provider', reason: 'Signature verification failed.' })
    }
  })

  it('a token that ends like a verified one but differs before (same signature, edited payload) is parsed and refused', async () => {
    const v = every()
    expect((await v.authenticate(headersFor(good))).status).toBe(200)
    const [h, p, s] = good.split('.') as [string, string, string]
    const edited = JSON.parse(Buffer.from(p, 'base64url').toString('utf8')) as Record<string, unknown>
    edited['scopes'] = ['complete_code', 'duo_chat']
    const forged = `${h}.${b64url(JSON.stringify(edited))}.${s}`
    expect(forged.slice(-200)).toBe(good.slice(-200))
    for (let i = 0; i < 2; i++) {
      expect(await v.authenticate(headersFor(forged), { unitPrimitive: 'duo_chat' })).toMatchObject({ status: 401, reason: 'Signature verification failed.' })
      expect((await v.authenticate(headersFor(good))).status).toBe(200)
    }
  })

  it('the claims handed out are frozen, so one caller cannot change what the next one reads', async () => {
    const v = every()
    const first = await v.authenticate(headersFor(good))
    expect(Object.isFrozen(first.claims)).toBe(true)
    expect(() => {
      ;(first.claims as Record<string, unknown>)['sub'] = 'someone-else'
    }).toThrow(TypeError)
    expect((await v.authenticate(headersFor(good))).claims?.['sub']).toBe(fx.instanceId)
  })
})

/**
 * Equivalent mutants of src/verify/verifier.ts left alive (StrykerJS, no observable difference):
 * - `let token = ''` → another text: it is assigned before any use.
 * - `store.cached() ?? store.load(false)` → `load(true)` (authenticate, keySet), and `load`'s `if (!force)` block
 *   removed: `load` is only reached when `cached()` found nothing fresh. `cached()`'s `keys === undefined` and
 *   `expiresAt === Infinity` tests dropped: `expiresAt` is 0 then, and `Infinity > now` holds anyway.
 * - `if (fresh !== keys)` → true: decoding again with the same keys gives the same verdict.
 * - the size guard `token.length > maxTokenBytes / 3` → true / `>=`: a text of n UTF-16 units is at most 3n
 *   bytes, so it only skips `Buffer.byteLength` for tokens that cannot be too large.
 * - strict kid: `typeof kid === 'string' ?` → true: no key has a non-string kid, the candidates are empty either way.
 * - `candidates.some((k) => k.issuer !== undefined)` → `some(() => true)`: the filter keeps every key tied to no
 *   issuer, so candidates without issuer keys come out unchanged.
 * (The verification memo's mutants — `entry?.verifiedWith !== keys` → true, `rememberVerified` variants, the
 * 16 KiB guard, `verified()` emptied — change no verdict but are killed by test/verify-memo.test.ts, which counts
 * the RSA verifications that reach node:crypto.)
 * - `if (o.logger?.debug)` → true: `log` skips a logger without debug anyway.
 * - `if (this.inflight === p)` → true in `start`: a load starts only when none is in flight, so `p` is the one.
 * - `k.error ?? 'not a JWK'` and jwkSchema's `kty`: trustedKeyFromJwk already gives an error for every entry
 *   without `kty: 'RSA'`.
 * - `opts.strict === false || opts.strict === undefined` with the second test dropped: undefined is passed on.
 * - `code: ... : 'ERR_DISCOVERY_FAILED'` for an issuer failure: discoverJwks only throws JwksError.
 * - the issuerUrls refinement's `catch { return false }` emptied: it then returns undefined, which zod's refine
 *   reads as a failure too.
 * - the `keys` option's `typeof v === 'object'` → true: a string or number has no `publicKey` KeyObject, so the
 *   check after it refuses them anyway (only a function carrying a KeyObject as `publicKey` would pass, and be used
 *   as that key).
 * - the claims memo in decode (`memoEntry?.claims !== undefined` → false, the `memoEntry.claims = claims` store
 *   dropped): the claims are decoded again from the same text, equal and frozen alike.
 * - `log()`'s optional calls (`logger?.[level]?.(...)` → `logger[level](...)`): a missing logger or level then
 *   throws inside log's try, which a failing logger already needs; nothing is logged either way.
 */
describe('createGatewayVerifier: what a misconfiguration is told', () => {
  const refusal = (o: unknown) => {
    try {
      createGatewayVerifier(o as GatewayVerifierOptions)
    } catch (e) {
      return { message: (e as InvalidOptionsError).message, issues: (e as InvalidOptionsError).issues }
    }
    throw new Error('expected a refusal')
  }

  it('options that are not an object', () => {
    for (const o of [null, [], 'https://gitlab.example.com', 7]) {
      expect(refusal(o)).toEqual({ message: 'createGatewayVerifier: options must be an object.', issues: [{ path: 'options', message: 'must be an object' }] })
    }
  })

  it('no keys to trust, unknown options, several problems at once (each with its path)', () => {
    expect(refusal({}).issues).toEqual([{ path: 'options', message: 'needs jwks, keys or issuerUrls' }])
    const unknown = refusal({ jwks: toJwks([fx.key]), issuerUrl: 'https://x', fetch: 'nope', now: 1 })
    expect(unknown.issues).toEqual([
      { path: 'options.fetch', message: 'must be a function (a fetch implementation)' },
      { path: 'options.now', message: 'must be a function (a clock returning a Date)' },
      {
        path: 'options.issuerUrl',
        message:
          'is not an option (known: audience, jwks, keys, issuerUrls, cacheTtlSeconds, emptyKeySetTtlSeconds, fetchTimeoutMs, fetch, now, strict, verifiedTokenCacheSize, logger)',
      },
    ])
    expect(unknown.message).toBe(`createGatewayVerifier: ${unknown.issues.map((i) => `${i.path} ${i.message}`).join('; ')}`)
  })

  it('issuer URLs must be http(s); keys must be loaded keys', () => {
    expect(refusal({ issuerUrls: ['ftp://gitlab.example.com'] }).issues).toEqual([{ path: 'options.issuerUrls.0', message: 'must be an absolute http(s) URL, e.g. "https://gitlab.example.com"' }])
    for (const k of [null, {}, { publicKey: 'a PEM text' }, 'a PEM text']) {
      expect(refusal({ keys: [k] }).issues).toEqual([{ path: 'options.keys.0', message: 'must hold loaded keys (loadSigningKey / loadVerificationKey) or KeyObjects' }])
    }
  })

  it('issuerAliases must name issuerUrls entries; an alias list of URLs is taken', () => {
    expect(refusal({ issuerUrls: ['https://a.example'], strict: { issuerAliases: { 'https://b.example': 'https://b' } } })).toEqual({
      message:
        'createGatewayVerifier: options.strict.issuerAliases names "https://b.example/", which is not in options.issuerUrls: its keys are tied to the issuer URL they are fetched from.',
      issues: [{ path: 'options.strict.issuerAliases', message: 'keys must be issuerUrls entries' }],
    })
    expect(refusal({ issuerUrls: ['https://a.example'], strict: { issuerAliases: { 'https://b.example': 'x', 'https://c.example': 'y' } } }).message).toContain(
      'names "https://b.example/", "https://c.example/", which',
    )
    expect(() => createGatewayVerifier({ issuerUrls: ['https://a.example'], strict: { issuerAliases: { 'https://a.example': ['https://gitlab.example.com', 'https://old.example.com'] } } })).not.toThrow()
  })

  it('a key set without a keys list is refused up front, alone or in a list of sets, saying what a key set is', () => {
    const issue = { path: 'options.jwks', message: "must be a key set { keys: [...] } (an instance's /oauth/discovery/keys, or toJwks()) or a list of key sets" }
    for (const jwks of [{ kty: 'RSA', n: 'n', e: 'AQAB' }, [toJwks([fx.key]), {}], 'https://gitlab.example.com/oauth/discovery/keys']) {
      expect(refusal({ jwks })).toEqual({ message: `createGatewayVerifier: ${issue.path} ${issue.message}`, issues: [issue] })
    }
  })

  it('every unusable key of a static set is named, joined by "; "', () => {
    const r = refusal({ jwks: { keys: [{ kty: 'EC' }, { kty: 'RSA' }] } })
    expect(r.message).toBe(
      "createGatewayVerifier: options.jwks.keys[0] is not a usable RSA public key (JWKError: Incorrect key type. Expected: 'RSA', Received: EC); the gateway would answer 500 once it reached it; " +
        'options.jwks.keys[1] is not a usable RSA public key (TypeError: the RSA JWK has no usable "n" and "e"); the gateway would answer 500 once it reached it',
    )
  })

  it('a public key set is taken without a word; one with private members is logged, by member name', () => {
    const events: [string, Record<string, unknown>][] = []
    const record = asEvent((e, f) => events.push([e, f]))
    const logger: Logger = { warn: record, info: record, error: record }
    createGatewayVerifier({ jwks: toJwks([fx.key]), logger })
    expect(events).toEqual([])
    const priv = { ...toJwks([fx.key]).keys[0], d: 'private-exponent' }
    createGatewayVerifier({ jwks: { keys: [priv as never] }, logger })
    expect(events).toEqual([['gateway_verifier.private_jwk', { path: 'options.jwks.keys[0]', kid: fx.key.kid, members: ['d'] }]])
  })
})

describe('authenticate: the edges a service relies on', () => {
  it('a verifier that fails unexpectedly answers 500 and logs the error type, never a message', async () => {
    const events: [string, Record<string, unknown>][] = []
    // options whose getter throws stand for any bug past the checks: the verdict must still be a 500, not a throw
    const hostile = (thrown: unknown) =>
      Object.defineProperty({}, 'access', {
        get() {
          throw thrown
        },
      }) as AuthenticateOptions
    expect(await verifier({ logger: { error: asEvent((e, f) => events.push([e, f])) } }).authenticate(headersFor(good), hostile(new RangeError(`token ${good}`)))).toEqual({
      status: 500,
      error: 'Internal Server Error',
      reason: 'RangeError: the verifier failed unexpectedly',
      check: 'internal',
    })
    expect(events).toEqual([['gateway_verifier.internal_error', { error: 'RangeError' }]])
    expect((await verifier().authenticate(headersFor(good), hostile('not an error'))).reason).toBe('Error: the verifier failed unexpectedly')
  })

  it('a fatal refusal (500) is logged as fatal', async () => {
    const events: Record<string, unknown>[] = []
    const deep = signSegments(b64url(JSON.stringify(header)), b64url('['.repeat(2000) + ']'.repeat(2000)), key)
    await verifier({ logger: { debug: asEvent((_e, f) => events.push(f)) } }).authenticate(headersFor(deep))
    expect(events).toMatchObject([{ stage: 'payload-json', fatal: true }])
  })

  it('each refusal is logged with the stage that refused it, the token\'s fingerprint and its length', async () => {
    const events: Record<string, unknown>[] = []
    const v = verifier({ jwks: toJwks([fx.otherKey, fx.key]), strict: { maxTokenBytes: 4096 }, logger: { debug: asEvent((_e, f) => events.push(f)) } })
    const refused: [string, string, string][] = [
      [token({ padding: 'x'.repeat(5000) }), 'segments', 'Token too large (over 4096 bytes)'],
      [mintHs256({ ...header, alg: 'HS256' }, claims, 'a shared secret'), 'algorithm', 'The specified alg value is not allowed'],
      [token({}, [], { ...header, crit: ['exp'] }), 'algorithm', 'Unsupported critical header ("crit"): no JWS extension is supported'],
      [token({}, [], { ...header, kid: 'nope' }), 'signature', 'No trusted key has the kid of the token'],
      [token({}, [], { alg: 'RS256' }), 'signature', 'The token has no kid'],
      [token({}, [], { ...header, kid: fx.otherKey.kid }), 'signature', 'Signature verification failed.'],
    ]
    for (const [t, , reason] of refused) expect(await v.authenticate(headersFor(t))).toEqual({ status: 401, error: 'Forbidden by auth provider', reason, check: 'token' })
    expect(events).toEqual(refused.map(([t, stage, reason]) => ({ stage, reason, fatal: false, tokenSha: fingerprint(t), tokenLength: t.length })))
  })

  it('scopes the gateway cannot search (null, a number) are its 500 at the scope check, with the claims', async () => {
    const v = verifier()
    for (const [scopes, type] of [[null, 'NoneType'], [42, 'int']] as const) {
      expect(await v.authenticate(headersFor(token({ scopes })), { unitPrimitive: 'complete_code' })).toEqual({
        status: 500,
        error: 'Internal Server Error',
        reason: `TypeError: argument of type '${type}' is not iterable`,
        claims: { ...claims, scopes },
        check: 'scope',
      })
    }
  })

  it('strict maxTokenBytes is a byte limit, the limit itself allowed', async () => {
    expect((await verifier({ strict: { maxTokenBytes: good.length } }).authenticate(headersFor(good))).status).toBe(200)
    expect((await verifier({ strict: { maxTokenBytes: good.length - 1 } }).authenticate(headersFor(good))).reason).toBe(`Token too large (over ${good.length - 1} bytes)`)
    // well under the limit in bytes though longer than a third of it in characters
    expect((await verifier({ strict: { maxTokenBytes: good.length * 2 } }).authenticate(headersFor(good))).status).toBe(200)
  })

  it('strict with requireAud: false takes a token without aud', async () => {
    expect((await verifier({ strict: { requireAud: false } }).authenticate(headersFor(token({}, ['aud'])))).status).toBe(200)
  })

  it('each call is judged by its own unit primitive and detail, whatever the call before it asked', async () => {
    const v = verifier()
    const none = token({}, ['scopes'])
    const judge = async (t: string, o: AuthenticateOptions) => {
      const r = await v.authenticate(headersFor(t), o)
      return r.status === 403 ? r.error : r.status
    }
    expect(await judge(good, { unitPrimitive: 'complete_code' })).toBe(200)
    expect(await judge(good, { unitPrimitive: 'duo_chat' })).toBe("Unauthorized to access 'duo_chat'")
    expect(await judge(none, { unitPrimitive: 'duo_chat', forbiddenDetail: 'Unauthorized to access chat' })).toBe('Unauthorized to access chat')
    expect(await judge(none, { unitPrimitive: 'duo_chat' })).toBe("Unauthorized to access 'duo_chat'")
    expect(await judge(none, { unitPrimitive: 'complete_code', forbiddenDetail: 'Unauthorized to access chat' })).toBe('Unauthorized to access chat')
    expect(await judge(good, { unitPrimitive: 'complete_code', forbiddenDetail: 'Unauthorized to access chat' })).toBe(200)
    expect(await judge(good, { access: { anyOf: ['duo_chat'], forbiddenDetail: 'from the rule' }, unitPrimitive: 'complete_code' })).toBe('from the rule')
    expect(await judge(none, {})).toBe(200)
  })

  it('tokens of every size, one after another, each verified over its own bytes (small, over 8 KiB, over 64 KiB)', async () => {
    const v = verifier({ verifiedTokenCacheSize: 0 })
    const sizes = [0, 10_000, 70_000, 0, 10_000]
    const tokens = sizes.map((n, i) => token({ jti: `size-${i}`, padding: 'x'.repeat(n) }))
    for (const t of tokens) expect((await v.authenticate(headersFor(t))).status).toBe(200)
    // each signature belongs to its own signing input: swapped between tokens, none verifies
    const split = (t: string) => [t.slice(0, t.lastIndexOf('.')), t.slice(t.lastIndexOf('.') + 1)] as const
    for (const [i, j] of [[0, 1], [1, 0], [2, 3], [3, 2], [1, 4]] as const) {
      const r = await v.authenticate(headersFor(`${split(tokens[i] as string)[0]}.${split(tokens[j] as string)[1]}`))
      expect(r).toMatchObject({ status: 401, reason: 'Signature verification failed.' })
    }
    // a signature segment longer than any RSA signature is refused like any other bad signature
    expect(await v.authenticate(headersFor(`${split(good)[0]}.${'A'.repeat(4096)}`))).toMatchObject({ status: 401, reason: 'Signature verification failed.' })
    expect((await v.authenticate(headersFor(good))).status).toBe(200)
  })

  it('a verifier of static keys never turns into a fetched, expiring set (refreshKeys, an unknown kid in strict mode)', async () => {
    const v = verifier({ strict: true })
    await v.refreshKeys()
    expect((await v.authenticate(headersFor(token({}, [], { ...header, kid: 'unknown' })))).reason).toBe('No trusted key has the kid of the token')
    expect(await v.keySet()).toMatchObject({ kids: [fx.key.kid], expiresAt: undefined })
  })
})
