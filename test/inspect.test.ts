import { inspect as utilInspect } from 'node:util'
import { describe, expect, it } from 'vitest'
import { inspectToken, type TokenReport } from '../src/index.js'
import { MAX_TOKEN_BYTES } from '../src/inspect/inspect.js'
import { loadCaseFixture } from './cases/fixture.js'
import { b64url, b64urlJson, mintHs256, mintJwt, mintUnsigned, signSegments } from './cases/mint.js'

const fx = loadCaseFixture()
const key = fx.key.privateKey!
const now = Math.floor(fx.now.getTime() / 1000)
const header = { alg: 'RS256', typ: 'JWT', kid: fx.key.kid }
const claims = {
  iss: fx.issuer,
  sub: fx.instanceId,
  aud: ['gitlab-ai-gateway'],
  iat: now,
  nbf: now - 5,
  exp: now + 3600,
  jti: '0b8c4f3e-7d2a-4c55-9e0f-5a8d1c2b3e4f',
  gitlab_realm: 'self-managed',
  scopes: ['complete_code', 'duo_chat'],
}
const good = mintJwt(header, claims, key)
const [h, p, s] = good.split('.') as [string, string, string]
const withClaims = (patch: Record<string, unknown>) => mintJwt(header, { ...claims, ...patch }, key)

const codes = (r: TokenReport) => r.problems.map((x) => x.code)
const first = (r: TokenReport) => {
  const x = r.problems[0]
  if (!x) throw new Error('expected a problem')
  return x
}

describe('inspectToken: a good token', () => {
  it('decodes header and claims and finds nothing wrong', () => {
    const r = inspectToken(good)
    expect(r).toEqual({ kind: 'jwt', problems: [], header, claims, length: good.length, segments: 3 })
  })

  it('hands out copies: mutating one report does not change the next', () => {
    const a = inspectToken(good)
    a.problems.push({ code: 'X', severity: 'error', message: 'm', fix: 'f' })
    a.kind = 'opaque'
    expect(inspectToken(good).problems).toEqual([])
    expect(inspectToken(good).kind).toBe('jwt')
    // header and claims are shared and read-only
    expect(Object.isFrozen(a.claims)).toBe(true)
    expect(Object.isFrozen(a.header)).toBe(true)
  })
})

describe('inspectToken: no token at all (the reported 401)', () => {
  it.each([
    ['an empty string', ''],
    ['whitespace', '  \t '],
    ['"Bearer " (a header value passed as the token)', 'Bearer '],
    ['"Bearer"', 'Bearer'],
    ['"bearer\\t"', 'bearer\t'],
  ])('%s reads as no token, with the likely cause and the fix', (_, value) => {
    const r = inspectToken(value)
    expect(r.kind).toBe('empty')
    expect(r.problems).toHaveLength(1)
    const x = first(r)
    expect(x.code).toBe('TOKEN_EMPTY')
    expect(x).toMatchObject({ severity: 'error', status: 401, gatewayError: 'Forbidden by auth provider', reason: 'Not enough segments' })
    expect(x.message).toMatch(/^No token at all: the request would go out as "Authorization: Bearer " with nothing after it/)
    expect(x.fix).toContain('offline license')
    expect(x.fix).toContain('Self-issue a JWT with the instance key')
    expect(x.fix).toContain('CLOUD_CONNECTOR_SELF_SIGN_TOKENS=true')
    expect(x.message).not.toMatch(/malformed|parse/i)
  })

  it.each([
    ['undefined', undefined],
    ['null', null],
  ])('%s reads as a missing token', (_, value) => {
    const r = inspectToken(value)
    expect(r).toMatchObject({ kind: 'empty', length: 0 })
    expect(first(r)).toMatchObject({ code: 'TOKEN_MISSING', status: 401, reason: 'Not enough segments' })
  })

  it.each([
    ['a number', 42, 'number'],
    ['an object', { token: good }, 'object'],
    ['an array', [good], 'array'],
  ])('%s is not a string', (_, value, what) => {
    const r = inspectToken(value)
    expect(r).toMatchObject({ kind: 'malformed', length: 0 })
    expect(first(r)).toMatchObject({ code: 'TOKEN_NOT_STRING', severity: 'error', message: `The bearer value is a ${what}, not a string.` })
    expect(JSON.stringify(r)).not.toContain(s)
  })
})

describe('inspectToken: opaque values', () => {
  it.each([
    ['glpat-xKq3Hh8sJd92LmNopQrs', 'gitlab-personal-access-token'],
    ['gloas-0123456789abcdef0123456789abcdef', 'gitlab-oauth-application-secret'],
    ['gldt-AbCdEfGhIjKlMnOpQrSt', 'gitlab-deploy-token'],
    ['glrt-AbCdEfGhIjKlMnOpQrSt', 'gitlab-runner-token'],
    ['glcbt-64_AbCdEfGhIjKlMnOpQrSt', 'gitlab-job-token'],
    ['glptt-0123456789abcdef0123', 'gitlab-trigger-token'],
    ['glft-AbCdEfGhIjKlMnOpQrSt', 'gitlab-feed-token'],
    ['glsoat-AbCdEfGhIjKlMnOpQrSt', 'gitlab-token'],
    ['f798e820-207f-4849-869d-1f753edb3312', 'uuid'],
    ['9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08', 'hex'],
    ['q83vEjRWeJq8/+7/AQIDBAUGBwgJCgsMDQ4PEA==', 'base64'],
    [b64url(JSON.stringify({ data: 'ZW5jcnlwdGVk', key: 'a2V5', iv: 'aXY=' })), 'gitlab-license'],
    ['--------BEGIN GITLAB LICENSE--------\neyJkYXRh\n---------END GITLAB LICENSE---------', 'gitlab-license'],
  ])('%s looks like %s', (value, resembles) => {
    const r = inspectToken(value)
    expect(r.kind).toBe('opaque')
    expect(r.resembles).toBe(resembles)
    const x = r.problems.find((p) => p.code === 'TOKEN_OPAQUE')
    expect(x).toMatchObject({ status: 401, gatewayError: 'Forbidden by auth provider', reason: 'Not enough segments' })
    expect(x?.message).toContain('not a JWT (no dots)')
    expect(JSON.stringify(r)).not.toContain(value.split('\n')[0])
  })

  it('a word that looks like nothing in particular', () => {
    const r = inspectToken('hello')
    expect(r).toEqual({
      kind: 'opaque',
      problems: [
        {
          code: 'TOKEN_OPAQUE',
          severity: 'error',
          status: 401,
          gatewayError: 'Forbidden by auth provider',
          reason: 'Not enough segments',
          message: 'The value is not a JWT (no dots). The gateway only accepts a JWT signed by a key it trusts.',
          fix: 'Send a Cloud Connector JWT (header.payload.signature, RS256): self-issue one with the instance key (createTokenIssuer) or use the synced token of an online license.',
        },
      ],
      length: 5,
      segments: 1,
    })
  })

  it('a license blob says that an offline license carries no token', () => {
    const r = inspectToken(b64url(JSON.stringify({ data: 'x', key: 'y', iv: 'z' })))
    expect(first(r).fix).toContain('With an offline license there is no synced token at all')
  })
})

describe('inspectToken: structure, with python-jose reasons', () => {
  it('2 segments', () => {
    const r = inspectToken(`${h}.${p}`)
    expect(r).toMatchObject({ kind: 'malformed', segments: 2, header })
    expect(first(r)).toMatchObject({ code: 'TOKEN_SEGMENTS', reason: 'Not enough segments' })
    expect(first(r).fix).toContain('signature segment is missing')
  })

  it('4 segments: python-jose splits at the last dot, so the payload absorbs a segment', () => {
    const r = inspectToken(`${good}.${b64url('extra')}`)
    expect(r.segments).toBe(4)
    expect(first(r)).toMatchObject({ code: 'TOKEN_SEGMENTS', reason: 'Invalid payload padding' })
  })

  it('a 5-segment JWE is named as such', () => {
    const jwe = [b64urlJson({ alg: 'RSA-OAEP-256', enc: 'A256GCM' }), b64url('ek'), b64url('iv12bytes!!!'), b64url('ciphertext'), b64url('tag')].join('.')
    const r = inspectToken(jwe)
    expect(r).toMatchObject({ kind: 'malformed', segments: 5, resembles: 'jwe' })
    expect(codes(r)).toEqual(['TOKEN_JWE'])
    expect(first(r).message).toContain('encrypted JWT (JWE')
  })

  it('header segment not base64: python-jose says "Not enough segments" (binascii.Error is a ValueError)', () => {
    const r = inspectToken(`${h}AAA.${p}.${s}`)
    expect(first(r)).toMatchObject({ code: 'HEADER_NOT_BASE64URL', segment: 'header', reason: 'Not enough segments' })
    expect(first(r).message).toContain('length (109)')
  })

  it('header not JSON, with Python\'s json message', () => {
    const r = inspectToken(`${b64url('not json')}.${p}.${s}`)
    expect(first(r)).toMatchObject({ code: 'HEADER_NOT_JSON', reason: 'Invalid header string: Expecting value: line 1 column 1 (char 0)' })
  })

  it('header not UTF-8, with Python\'s codec message', () => {
    const r = inspectToken(`${b64url(Uint8Array.of(0x7b, 0xff))}.${p}.${s}`)
    expect(first(r).reason).toBe("Invalid header string: 'utf-8' codec can't decode byte 0xff in position 1: invalid start byte")
  })

  it('header a JSON array', () => {
    const r = inspectToken(`${b64url('["RS256"]')}.${p}.${s}`)
    expect(first(r)).toMatchObject({ code: 'HEADER_NOT_OBJECT', reason: 'Invalid header string: must be a json object' })
    expect(r.header).toBeUndefined()
    expect(r.claims).toEqual(claims)
  })

  it('payload and signature padding', () => {
    expect(first(inspectToken(`${h}.${p}${'A'.repeat((5 - (p.length % 4)) % 4 || 4)}.${s}`))).toMatchObject({ code: 'PAYLOAD_NOT_BASE64URL', reason: 'Invalid payload padding' })
    expect(first(inspectToken(`${h}.${p}.${s}AAA`))).toMatchObject({ code: 'SIGNATURE_NOT_BASE64URL', reason: 'Invalid crypto padding', segment: 'signature' })
  })

  it('payload not JSON', () => {
    const r = inspectToken(signSegments(h, b64url('hello'), key))
    expect(r.kind).toBe('malformed')
    expect(first(r)).toMatchObject({ code: 'PAYLOAD_NOT_JSON', reason: 'Invalid payload string: Expecting value: line 1 column 1 (char 0)' })
  })

  it('padded or standard-alphabet segments only draw a warning (python-jose decodes them)', () => {
    const r = inspectToken(`${h}.${p}${'='.repeat((4 - (p.length % 4)) % 4)}.${s}`)
    expect(r.problems.filter((x) => x.severity === 'error')).toEqual([])
    expect(codes(r)).toEqual(p.length % 4 === 0 ? [] : ['SEGMENT_NOT_CANONICAL'])
  })
})

describe('inspectToken: algorithm and claims', () => {
  it.each([
    ['none', mintUnsigned({ alg: 'none', typ: 'JWT' }, claims), /unsigned token/],
    ['HS256 with the public key as secret', mintHs256({ alg: 'HS256', typ: 'JWT' }, claims, fx.key.publicKey.export({ type: 'spki', format: 'pem' })), /key-confusion/],
    ['RS512', mintJwt({ ...header, alg: 'RS512' }, claims, key, 'RS512'), /signed with "RS512"/],
  ])('alg %s', (_, token, text) => {
    const r = inspectToken(token)
    expect(r.kind).toBe('jwt')
    expect(first(r)).toMatchObject({ code: 'ALG_NOT_ALLOWED', reason: 'The specified alg value is not allowed' })
    expect(first(r).message).toMatch(text)
  })

  it('alg missing', () => {
    expect(first(inspectToken(mintJwt({ typ: 'JWT' }, claims, key)))).toMatchObject({ code: 'ALG_MISSING', reason: 'No algorithm was specified in the JWS header.' })
  })

  it('time claims: python-jose int() rules', () => {
    expect(first(inspectToken(withClaims({ iat: 'soon' })))).toMatchObject({ code: 'IAT_NOT_INTEGER', reason: 'Issued At claim (iat) must be an integer.', claim: 'iat' })
    expect(first(inspectToken(withClaims({ nbf: 'x' })))).toMatchObject({ code: 'NBF_NOT_INTEGER', reason: 'Not Before claim (nbf) must be an integer.' })
    expect(first(inspectToken(withClaims({ exp: '' })))).toMatchObject({ code: 'EXP_NOT_INTEGER', reason: 'Expiration Time claim (exp) must be an integer.' })
    // a numeric string or a float passes int(): accepted by the gateway, a warning here
    expect(inspectToken(withClaims({ iat: String(now) })).problems.map((x) => [x.code, x.severity])).toEqual([['TIME_CLAIM_NOT_INTEGER', 'warning']])
    expect(inspectToken(withClaims({ exp: now + 0.5 })).problems.map((x) => [x.code, x.severity])).toEqual([['TIME_CLAIM_NOT_INTEGER', 'warning']])
  })

  it('a null time claim crashes the gateway (TypeError escapes python-jose: 500)', () => {
    const x = first(inspectToken(withClaims({ iat: null })))
    expect(x).toMatchObject({
      code: 'GATEWAY_CRASH',
      severity: 'error',
      gatewayError: 'Internal Server Error',
      reason: "TypeError: int() argument must be a string, a bytes-like object or a real number, not 'NoneType'",
      claim: 'iat',
    })
    expect(x.status).toBeUndefined()
  })

  it('aud, sub, jti, at_hash formats', () => {
    expect(first(inspectToken(withClaims({ aud: 42 })))).toMatchObject({ code: 'AUD_FORMAT', reason: 'Invalid claim format in token' })
    expect(first(inspectToken(withClaims({ aud: ['gitlab-ai-gateway', 1] })))).toMatchObject({ code: 'AUD_FORMAT' })
    expect(first(inspectToken(withClaims({ sub: 42 })))).toMatchObject({ code: 'SUB_NOT_STRING', reason: 'Subject must be a string.' })
    expect(first(inspectToken(withClaims({ jti: 1 })))).toMatchObject({ code: 'JTI_NOT_STRING', reason: 'JWT ID must be a string.' })
    expect(first(inspectToken(withClaims({ at_hash: 'x' })))).toMatchObject({ code: 'AT_HASH_PRESENT', reason: 'No access_token provided to compare against at_hash claim.' })
  })

  it('errors come first, in python-jose order, then warnings', () => {
    const token = mintJwt({ alg: 'HS256', crit: ['b64'] }, { ...claims, iat: 'soon', sub: 1 }, key)
    expect(codes(inspectToken(token))).toEqual(['ALG_NOT_ALLOWED', 'IAT_NOT_INTEGER', 'SUB_NOT_STRING', 'CRIT_HEADER'])
  })
})

describe('inspectToken: what the value carries besides the token', () => {
  it('a "Bearer " prefix left on', () => {
    const r = inspectToken(`Bearer ${good}`)
    expect(r.kind).toBe('jwt')
    expect(r.claims).toEqual(claims)
    // what python-jose makes of "Bearer eyJ…" (checked against python-jose 3.3.0): the space is
    // skipped, "Bearer" is decoded as base64 in front of the header, and the bytes are not UTF-8
    expect(first(r)).toMatchObject({
      code: 'TOKEN_BEARER_PREFIX',
      reason: "Invalid header string: 'utf-8' codec can't decode bytes in position 1-2: invalid continuation byte",
    })
    expect(first(r).fix).toBe('Pass the token alone; the client adds "Bearer ".')
  })

  it('leading whitespace is sent (the gateway takes everything after the first space)', () => {
    const r = inspectToken(` ${good}`)
    expect(first(r)).toMatchObject({ code: 'TOKEN_WHITESPACE', severity: 'error', reason: 'Not enough segments' })
  })

  it('a trailing newline is only a warning (servers strip it; Node refuses it in a header)', () => {
    const r = inspectToken(`${good}\n`)
    expect(r.kind).toBe('jwt')
    expect(r.problems.map((x) => [x.code, x.severity])).toEqual([['TOKEN_WHITESPACE', 'warning']])
  })

  it('whitespace inside', () => {
    expect(first(inspectToken(`${h}.${p.slice(0, 10)} ${p.slice(10)}.${s}`))).toMatchObject({ code: 'TOKEN_WHITESPACE', severity: 'error' })
  })

  it('non-ASCII characters', () => {
    const r = inspectToken(`${h}.${p.slice(0, 60)}…${p.slice(61)}.${s}`)
    expect(first(r)).toMatchObject({ code: 'TOKEN_NON_ASCII', reason: 'Signature verification failed.' })
    expect(first(r).fix).toContain('ellipses')
  })
})

describe('inspectToken: size', () => {
  it(`refuses values over ${MAX_TOKEN_BYTES / 1024} KiB before decoding`, () => {
    const big = withClaims({ padding: 'x'.repeat(70 * 1024) })
    const r = inspectToken(big)
    expect(r).toMatchObject({ kind: 'malformed', length: big.length })
    expect(r.header).toBeUndefined()
    expect(r.claims).toBeUndefined()
    expect(codes(r)).toEqual(['TOKEN_TOO_LARGE'])
    expect(first(r).message).toBe(`The bearer value is ${big.length} characters long, over the 64 KiB limit: it was not decoded. A GitLab token is under 2 KiB.`)
  })

  it('counts UTF-8 bytes, not characters', () => {
    expect(codes(inspectToken('é'.repeat(40 * 1024)))).toEqual(['TOKEN_TOO_LARGE'])
    expect(codes(inspectToken('é'.repeat(30 * 1024)))).not.toContain('TOKEN_TOO_LARGE')
  })
})

describe('inspectToken: secrecy', () => {
  it('no report quotes the token or its signature', () => {
    const values = [good, `Bearer ${good}`, `${good}.${b64url('x')}`, `${h}.${p}.${s}AAA`, ` ${good}`, `${h}.${p}`, 'glpat-xKq3Hh8sJd92LmNopQrs']
    for (const v of values) {
      const r = inspectToken(v)
      const shown = `${JSON.stringify(r)}\n${utilInspect(r, { depth: 10 })}`
      expect(shown).not.toContain(s.slice(0, 40))
      expect(shown).not.toContain(v.trim())
      expect(shown).not.toContain(p.slice(0, 40))
    }
  })
})
