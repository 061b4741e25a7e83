/**
 * The JWT building blocks of src/token/jwt.ts, pinned where a user relies on them: the extra claims a
 * token may carry (and the fix for those it may not), a token read back from an external store (only
 * one this issuer would mint itself is served), and the cache key (two different tokens never share one).
 */
import { sign } from 'node:crypto'
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { InvalidOptionsError, TokenError } from '../src/errors.js'
import { createTokenIssuer, type ExternalTokenStore, type TokenIssuerOptions } from '../src/token/index.js'
import { generateSigningKeyPem, loadSigningKeySync, loadVerificationKey } from '../src/keys/index.js'
import { buildClaims, canonicalJson, checkExtraClaims, readOwnToken, sha256, signJwt, type JwtSigner } from '../src/token/jwt.js'
import { loadCaseFixture } from './cases/fixture.js'
import { thrownBy } from './reliability/config.js'
import { b64urlJson, mintJwt } from './cases/mint.js'

const fx = loadCaseFixture()
const NOW_S = Math.floor(fx.now.getTime() / 1000)
const HEADER = { typ: 'JWT', kid: fx.key.kid, alg: 'RS256' }
const CLAIMS = {
  jti: '3d5b0c5e-8f1a-4c2b-9e7d-1a2b3c4d5e6f',
  aud: ['gitlab-ai-gateway'],
  sub: fx.instanceId,
  iss: fx.issuer,
  iat: NOW_S,
  nbf: NOW_S - 5,
  exp: NOW_S + 3600,
  gitlab_realm: 'self-managed',
  scopes: ['complete_code'],
}
const own = (header: unknown = HEADER, claims: unknown = CLAIMS) => mintJwt(header, claims, fx.key.privateKey!)


/** { a: { a: ... { a: 'leaf' } } } with `levels` objects: the leaf is `levels` levels below the top. */
function nested(levels: number): Record<string, unknown> {
  let v: unknown = 'leaf'
  for (let i = 0; i < levels; i++) v = { a: v }
  return v as Record<string, unknown>
}

describe('buildClaims: GitLab’s claims, then the extra claims', () => {
  it('nbf is 5 s before iat, exp is iat + ttl, extra claims come last and keep null and arrays', () => {
    const audience = ['gitlab-ai-gateway']
    const claims = buildClaims({
      issuer: fx.issuer,
      audience,
      subject: fx.instanceId,
      realm: 'self-managed',
      scopes: ['complete_code'],
      jti: CLAIMS.jti,
      issuedAt: NOW_S,
      ttlSeconds: 3600,
      extraClaims: { skip_usage_cutoff: false, namespace_ids: [1, 2], parent: null },
    })
    expect(JSON.stringify(claims)).toBe(JSON.stringify({ ...CLAIMS, skip_usage_cutoff: false, namespace_ids: [1, 2], parent: null }))
    audience.push('changed later')
    expect(claims.aud).toEqual(['gitlab-ai-gateway'])
  })
})

describe('checkExtraClaims: what an extra claim may be', () => {
  it('keeps every JSON value as given — null, arrays, nested objects, an object without prototype — as a copy', () => {
    const input = { a: null, list: [1, 'two', null, [true, { x: 0 }]], obj: { deeper: { n: -1.5 } }, bare: Object.assign(Object.create(null) as object, { k: 'v' }) }
    const out = checkExtraClaims(input, 'issue()')
    expect(out).toEqual({ a: null, list: [1, 'two', null, [true, { x: 0 }]], obj: { deeper: { n: -1.5 } }, bare: { k: 'v' } })
    ;(input.list[3] as unknown[]).push('later')
    input.obj.deeper.n = 7
    expect(out.list).toEqual([1, 'two', null, [true, { x: 0 }]])
    expect(out.obj).toEqual({ deeper: { n: -1.5 } })
    expect(checkExtraClaims(undefined, 'issue()')).toEqual({})
    expect(checkExtraClaims(Object.create(null), 'issue()')).toEqual({})
  })

  it.each([
    ['null', null],
    ['an array', [{ a: 1 }]],
    ['a string', '{"a":1}'],
    ['a Date', new Date(0)],
    ['a Map', new Map([['a', 1]])],
  ])('refuses %s instead of a plain object', (_, value) => {
    const err = thrownBy(() => checkExtraClaims(value, 'createTokenIssuer'))
    expect(err).toBeInstanceOf(InvalidOptionsError)
    expect((err as InvalidOptionsError).message).toBe('createTokenIssuer: extraClaims must be a plain object of JSON values.')
    expect((err as InvalidOptionsError).issues).toEqual([{ path: 'extraClaims', message: 'must be a plain object' }])
  })

  it.each(['__proto__', 'constructor', 'prototype'])('refuses the prototype key %s as a claim name', (name) => {
    const extra = JSON.parse(`{"ok":1,"${name}":{"polluted":true}}`) as Record<string, unknown>
    const err = thrownBy(() => checkExtraClaims(extra, 'issue()'))
    expect(err).toBeInstanceOf(TokenError)
    expect(err).toMatchObject({ code: 'ERR_RESERVED_CLAIM', claim: name })
    expect((err as TokenError).message).toBe(`issue(): extra claim name "${name}" is not allowed (it is an object prototype key); rename the claim.`)
  })

  it.each([
    ['NaN deep in a list', { a: [0, { b: Number.NaN }] }, 'extraClaims.a[1].b', 'must be a finite number'],
    ['Infinity', { n: Number.POSITIVE_INFINITY }, 'extraClaims.n', 'must be a finite number'],
    ['undefined in a list', { a: [1, undefined] }, 'extraClaims.a[1]', 'must be a JSON value (string, number, boolean, null, array or plain object), not a undefined'],
    ['a function', { f: () => 1 }, 'extraClaims.f', 'must be a JSON value (string, number, boolean, null, array or plain object), not a function'],
    ['a bigint', { big: 1n }, 'extraClaims.big', 'must be a JSON value (string, number, boolean, null, array or plain object), not a bigint'],
    ['a class instance', { u: new URL('https://x.test') }, 'extraClaims.u', 'must be a JSON value (string, number, boolean, null, array or plain object), not an object of type URL'],
    ['a nested "__proto__" key', { o: JSON.parse('{"__proto__":{"polluted":true}}') as unknown }, 'extraClaims.o.__proto__', 'is not an allowed key'],
  ])('refuses %s, naming the path', (_, extra, path, message) => {
    const err = thrownBy(() => checkExtraClaims(extra, 'issue()'))
    expect(err).toBeInstanceOf(InvalidOptionsError)
    expect((err as InvalidOptionsError).message).toBe(`issue(): ${path} ${message}`)
    expect((err as InvalidOptionsError).issues).toEqual([{ path, message }])
    expect(({} as Record<string, unknown>).polluted).toBeUndefined()
  })

  it('accepts a value 32 levels below a claim and refuses one 33 levels below (or a cycle), with its path', () => {
    expect(checkExtraClaims({ deep: nested(32) }, 'issue()')).toEqual({ deep: nested(32) })
    const path = `extraClaims.deep${'.a'.repeat(33)}`
    const message = 'is nested deeper than 32 levels (or is circular)'
    expect(thrownBy(() => checkExtraClaims({ deep: nested(33) }, 'issue()'))).toMatchObject({ message: `issue(): ${path} ${message}`, issues: [{ path, message }] })
    const list: unknown[] = []
    list.push(list)
    const cyclic = thrownBy(() => checkExtraClaims({ list }, 'issue()')) as InvalidOptionsError
    expect(cyclic).toBeInstanceOf(InvalidOptionsError)
    expect(cyclic.message).toBe(`issue(): extraClaims.list${'[0]'.repeat(33)} ${message}`)
  })
})

/*
 * Mutation testing (npm run mutation -- --mutate src/token/jwt.ts): the surviving mutants left are equivalent.
 * - readOwnToken's `catch { return undefined }` emptied to `catch {}`: the function then falls off its end
 *   and returns undefined all the same.
 * - headerSegment's memo of encoded headers: `encoded === undefined` made true (the header is encoded afresh,
 *   to the same text), and its bound `size >= 64` made false, `> 64` or `< 64` (the memo is cleared sooner,
 *   later or never: only memory and time differ, every header segment is the same text).
 */
describe('readOwnToken: a token read back (e.g. from an external store) is served only if this key minted it as GitLab does', () => {
  it('returns the header and claims of a token signed by the key', () => {
    expect(readOwnToken(own(), fx.key)).toEqual({ header: HEADER, claims: CLAIMS })
  })

  it.each([
    ['another kid, signed by the same key', () => own({ ...HEADER, kid: 'another-kid' })],
    ['alg RS512 (the gateway allows RS256 only), signed by the same key', () => mintJwt({ ...HEADER, alg: 'RS512' }, CLAIMS, fx.key.privateKey!, 'RS512')],
    ['alg RS384 over an RS256 signature', () => own({ ...HEADER, alg: 'RS384' })],
    ['no alg', () => own({ typ: 'JWT', kid: fx.key.kid })],
    ['a signature by another key', () => mintJwt(HEADER, CLAIMS, fx.otherKey.privateKey!)],
    ['a payload altered after signing', () => `${own().split('.')[0]}.${b64urlJson({ ...CLAIMS, scopes: ['complete_code', 'duo_chat'] })}.${own().split('.')[2]}`],
    ['a non-integer exp', () => own(HEADER, { ...CLAIMS, exp: NOW_S + 0.5 })],
    ['exp as text', () => own(HEADER, { ...CLAIMS, exp: String(NOW_S + 3600) })],
    ['no exp', () => own(HEADER, { ...CLAIMS, exp: undefined })],
    ['scopes as a string', () => own(HEADER, { ...CLAIMS, scopes: 'complete_code' })],
    ['aud as a string', () => own(HEADER, { ...CLAIMS, aud: 'gitlab-ai-gateway' })],
    ['a payload that is not JSON', () => mintJwt(HEADER, '{"exp":', fx.key.privateKey!)],
    ['two segments', () => own().split('.').slice(0, 2).join('.')],
    ['four segments', () => `${own()}.x`],
    ['not a string', () => 42 as unknown as string],
  ])('refuses %s', (_, token) => {
    expect(readOwnToken(token(), fx.key)).toBeUndefined()
  })
})

describe('the issuer’s external store: a stored token another issuer would not mint is never served', () => {
  const INSTANCE_ID = fx.instanceId
  const options = (over: Partial<TokenIssuerOptions> = {}): TokenIssuerOptions => ({
    issuer: fx.issuer,
    instanceId: INSTANCE_ID,
    realm: 'self-managed',
    key: fx.key,
    addOns: ['duo_enterprise'],
    now: () => fx.now,
    ...over,
  })
  const payload = (token: string | undefined) => JSON.parse(Buffer.from((token ?? '').split('.')[1] ?? '', 'base64url').toString('utf8')) as Record<string, unknown>

  it('a stored token with another alg or kid (same key, same claims) is ignored: the issuer mints its own', async () => {
    let stored: string | undefined
    const store: ExternalTokenStore = { get: () => stored, set: (_k, v) => void (stored = v) }
    const first = await createTokenIssuer(options({ cache: { store } })).getToken({ unitPrimitive: 'complete_code' })
    const [h, p] = (first.token ?? '').split('.') as [string, string]
    const header = JSON.parse(Buffer.from(h, 'base64url').toString('utf8')) as Record<string, unknown>
    for (const forged of [
      mintJwt({ ...header, kid: 'another-kid' }, Buffer.from(p, 'base64url').toString('utf8'), fx.key.privateKey!),
      mintJwt({ ...header, alg: 'RS512' }, Buffer.from(p, 'base64url').toString('utf8'), fx.key.privateKey!, 'RS512'),
    ]) {
      stored = forged
      const issuer = createTokenIssuer(options({ cache: { store } }))
      const answer = await issuer.getToken({ unitPrimitive: 'complete_code' })
      expect(answer.token).not.toBe(forged)
      expect(JSON.parse(Buffer.from((answer.token ?? '').split('.')[0] ?? '', 'base64url').toString('utf8'))).toEqual({ typ: 'JWT', kid: fx.key.kid, alg: 'RS256' })
      expect(issuer.stats).toEqual({ mints: 1, cacheHits: 0 })
    }
  })

  it('two issuers sharing a store, whose extra claims differ only by a separator ([1,2] and [12]), each send their own claims', async () => {
    const map = new Map<string, string>()
    const store: ExternalTokenStore = { get: (k) => map.get(k), set: (k, v) => void map.set(k, v) }
    const pair = createTokenIssuer(options({ cache: { store }, extraClaims: { ids: [1, 2] } }))
    const twelve = createTokenIssuer(options({ cache: { store }, extraClaims: { ids: [12] } }))
    expect(payload((await pair.getToken({ unitPrimitive: 'complete_code' })).token).ids).toEqual([1, 2])
    expect(payload((await twelve.getToken({ unitPrimitive: 'complete_code' })).token).ids).toEqual([12])
    expect(map.size).toBe(2)
  })

  it('the same extra claims in another key order share the cached token', async () => {
    const map = new Map<string, string>()
    const store: ExternalTokenStore = { get: (k) => map.get(k), set: (k, v) => void map.set(k, v) }
    const one = createTokenIssuer(options({ cache: { store }, extraClaims: { a: 1, b: { c: 2, d: 3 } } }))
    const two = createTokenIssuer(options({ cache: { store }, extraClaims: { b: { d: 3, c: 2 }, a: 1 } }))
    const t1 = await one.getToken({ unitPrimitive: 'complete_code' })
    const t2 = await two.getToken({ unitPrimitive: 'complete_code' })
    expect(t2.token).toBe(t1.token)
    expect(two.stats).toEqual({ mints: 0, cacheHits: 1 })
  })
})

describe('canonicalJson: the cache key text', () => {
  const json = fc.jsonValue({ maxDepth: 4 })
  /** The value as a token carries it (JSON has no -0). */
  const sent = (v: unknown): unknown => JSON.parse(JSON.stringify(v))

  it('is JSON that reads back as the same value', () => {
    fc.assert(
      fc.property(json, (v) => {
        expect(JSON.parse(canonicalJson(v))).toEqual(sent(v))
      }),
      { numRuns: 300 },
    )
  })

  it('does not depend on key order, and differs for different values', () => {
    const reversed = (v: unknown): unknown =>
      Array.isArray(v) ? v.map(reversed) : v !== null && typeof v === 'object' ? Object.fromEntries(Object.entries(v).reverse().map(([k, x]) => [k, reversed(x)])) : v
    fc.assert(
      fc.property(json, json, (a, b) => {
        expect(canonicalJson(reversed(a))).toBe(canonicalJson(a))
        if (canonicalJson(a) === canonicalJson(b)) expect(sent(b)).toEqual(sent(a))
      }),
      { numRuns: 300 },
    )
    expect(canonicalJson([1, 2])).not.toBe(canonicalJson([12]))
    expect(canonicalJson({ a: 1, b: 2 })).not.toBe(canonicalJson({ a: '1,"b":2' }))
  })

  it('sha256 is the base64url SHA-256 of the text', () => {
    expect(sha256('')).toBe('47DEQpj8HBSa-_TImW-5JCeuQeRkm5NMpJWZG3hSuFU')
  })
})

describe('signJwt: the compact token', () => {
  it('is header.payload.signature, the signature RS256 over the first two segments', async () => {
    const token = await signJwt(HEADER as never, CLAIMS as never, fx.key)
    expect(token).toBe(own())
  })

  it('a key without its private half and no signer: ERR_SIGNER_FAILED saying what to load', async () => {
    const verifyOnly = loadVerificationKey(fx.key.publicJwk)
    const err = await signJwt(HEADER as never, CLAIMS as never, verifyOnly).catch((e: unknown) => e)
    expect(err).toBeInstanceOf(TokenError)
    expect(err).toMatchObject({
      code: 'ERR_SIGNER_FAILED',
      message: `The key with kid ${fx.key.kid} can only verify (it has no private key): load the private key, or pass a signer callback (KMS/HSM).`,
    })
  })

  it('a signer for a key that is not a whole number of bytes (2052 bits): its 257-byte signature is taken', async () => {
    const key = loadSigningKeySync(generateSigningKeyPem(2052))
    const header = { ...HEADER, kid: key.kid }
    const signer: JwtSigner = async (input) => new Uint8Array(sign('sha256', input, key.privateKey!))
    const token = await signJwt(header as never, CLAIMS as never, loadVerificationKey(key.publicKey), signer)
    expect(token).toBe(await signJwt(header as never, CLAIMS as never, key))
    expect(Buffer.from(token.split('.')[2] ?? '', 'base64url')).toHaveLength(257)
  })

  it.each([
    ['null', null],
    ['an array', [1, 2]],
    ['an object without a constructor', Object.create(Object.create(null) as object) as object],
  ])('a signer resolving to %s instead of bytes is named in the error', async (what, value) => {
    const err = await signJwt(HEADER as never, CLAIMS as never, fx.key, async () => value as never).catch((e: unknown) => e)
    expect(err).toMatchObject({
      code: 'ERR_SIGNER_FAILED',
      message: `The external signer must resolve to a Uint8Array (the raw signature); it returned ${what === 'an object without a constructor' ? 'an object of type Object' : what}.`,
    })
  })
})
