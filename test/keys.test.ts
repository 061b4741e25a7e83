import { createHash, createPrivateKey, createPublicKey, generateKeyPairSync } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { inspect } from 'node:util'
import { describe, expect, it } from 'vitest'
import { calculateJwkThumbprint } from 'jose'
import { KeyError, loadSigningKey, loadVerificationKey, toJwks, generateSigningKeyPem } from '../src/index.js'

const PKCS1 = readFileSync(new URL('./fixtures/instance-key.pem', import.meta.url), 'utf8')
const keyObject = createPrivateKey(PKCS1)
const PKCS8 = keyObject.export({ type: 'pkcs8', format: 'pem' }).toString()
const JWK = keyObject.export({ format: 'jwk' })
const bodyOf = (pem: string) => pem.split('\n').filter((l) => l && !l.startsWith('-----')).join('')

/** Strings of key material that must never show up in an error. */
function secretsOf(pem: string): string[] {
  // the tail of a PKCS#1 body is private (p, q, dp, dq, qi); its head is the public modulus
  const body = bodyOf(pem)
  return [body.slice(-80, -40), body.slice(-400, -360), String(JWK.d).slice(0, 40), String(JWK.p).slice(0, 30), String(JWK.q).slice(8, 40)]
}

async function expectKeyError(input: Parameters<typeof loadSigningKey>[0], code: string, hint: RegExp) {
  const err = await loadSigningKey(input).then(
    () => undefined,
    (e: unknown) => e,
  )
  expect(err).toBeInstanceOf(KeyError)
  const e = err as KeyError
  expect(e.code).toBe(code)
  expect(e.message).toMatch(hint)
  const shown = `${e.message}\n${inspect(e)}\n${JSON.stringify(e)}`
  for (const s of secretsOf(PKCS1)) expect(shown).not.toContain(s)
  return e
}

describe('loadSigningKey', () => {
  it('loads a PKCS#1 PEM as GitLab stores it, with an RFC 7638 kid', async () => {
    const key = await loadSigningKey(PKCS1)
    // independent computation of the thumbprint: hash of the canonical JSON by hand
    const canonical = JSON.stringify({ e: JWK.e, kty: 'RSA', n: JWK.n })
    expect(key.kid).toBe(createHash('sha256').update(canonical).digest('base64url'))
    // and jose's own implementation agrees
    expect(key.kid).toBe(await calculateJwkThumbprint({ kty: 'RSA', e: JWK.e!, n: JWK.n! }, 'sha256'))
    expect(key.alg).toBe('RS256')
    expect(key.modulusLength).toBe(2048)
    expect(key.publicJwk).toEqual({ kty: 'RSA', kid: key.kid, e: JWK.e, n: JWK.n, use: 'sig', alg: 'RS256' })
  })

  it('gives the same key from PKCS#8, a private JWK, a KeyObject, bytes and a .env-escaped PEM', async () => {
    const ref = (await loadSigningKey(PKCS1)).kid
    expect((await loadSigningKey(PKCS8)).kid).toBe(ref)
    expect((await loadSigningKey(JWK)).kid).toBe(ref)
    expect((await loadSigningKey(JSON.stringify(JWK))).kid).toBe(ref)
    expect((await loadSigningKey(keyObject)).kid).toBe(ref)
    expect((await loadSigningKey(Buffer.from(PKCS1))).kid).toBe(ref)
    expect((await loadSigningKey(PKCS1.trim().replace(/\n/g, '\\n'))).kid).toBe(ref)
    expect((await loadSigningKey(`"${PKCS1.trim().replace(/\n/g, '\\n')}"`)).kid).toBe(ref)
    expect((await loadSigningKey(PKCS1.replace(/\n/g, '\r\n'))).kid).toBe(ref)
  })

  it('never shows key material when inspected or serialised', async () => {
    const key = await loadSigningKey(PKCS1)
    const shown = `${inspect(key, { depth: 10 })}\n${JSON.stringify(key)}`
    for (const s of secretsOf(PKCS1)) expect(shown).not.toContain(s)
  })

  it('generates PKCS#1 PEM keys of 2048 bits', async () => {
    const pem = generateSigningKeyPem()
    expect(pem.startsWith('-----BEGIN RSA PRIVATE KEY-----')).toBe(true)
    expect((await loadSigningKey(pem)).modulusLength).toBe(2048)
  })

  describe('bad input', () => {
    it('public key PEM', () =>
      expectKeyError(createPublicKey(keyObject).export({ type: 'spki', format: 'pem' }).toString(), 'ERR_KEY_PUBLIC_ONLY', /public key cannot sign/))
    it('public JWK', () => expectKeyError({ kty: 'RSA', n: JWK.n, e: JWK.e }, 'ERR_KEY_PUBLIC_ONLY', /private member "d"/))
    it('public KeyObject', () => expectKeyError(createPublicKey(keyObject), 'ERR_KEY_PUBLIC_ONLY', /a public KeyObject/))
    it('EC key', () => {
      const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey
      return expectKeyError(ec.export({ type: 'sec1', format: 'pem' }).toString(), 'ERR_KEY_NOT_RSA', /not an RSA key/)
    })
    it('EC KeyObject', () => expectKeyError(generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey, 'ERR_KEY_NOT_RSA', /RS256/))
    it('oct JWK', () => expectKeyError({ kty: 'oct', k: 'c2VjcmV0' }, 'ERR_KEY_NOT_RSA', /kty "oct"/))
    it('RSA 1024', () => {
      const small = generateKeyPairSync('rsa', { modulusLength: 1024 }).privateKey.export({ type: 'pkcs1', format: 'pem' }).toString()
      return expectKeyError(small, 'ERR_KEY_TOO_SMALL', /1024-bit.*2048/)
    })
    it('encrypted PKCS#8', () =>
      expectKeyError(
        keyObject.export({ type: 'pkcs8', format: 'pem', cipher: 'aes-256-cbc', passphrase: 'pw' }).toString(),
        'ERR_KEY_ENCRYPTED',
        /passphrase/,
      ))
    it('encrypted PKCS#1 (Proc-Type)', () =>
      expectKeyError(
        keyObject.export({ type: 'pkcs1', format: 'pem', cipher: 'aes-256-cbc', passphrase: 'pw' }).toString(),
        'ERR_KEY_ENCRYPTED',
        /decrypt it first/,
      ))
    it('truncated PEM without END line', () => expectKeyError(PKCS1.slice(0, 600), 'ERR_KEY_TRUNCATED', /no matching END line/))
    it('PEM with a body cut short', () => {
      const lines = PKCS1.trim().split('\n')
      const cut = [lines[0], ...lines.slice(1, 8), lines[lines.length - 1]].join('\n')
      return expectKeyError(cut, 'ERR_KEY_TRUNCATED', /truncated or corrupted/)
    })
    it('garbage', () => expectKeyError('hello world', 'ERR_KEY_INVALID', /neither a PEM nor a JWK/))
    it('empty', () => expectKeyError('   ', 'ERR_KEY_INVALID', /empty/))
    it('JSON that is not an object', () => expectKeyError('{not json', 'ERR_KEY_INVALID', /not a JSON object/))
  })
})

describe('toJwks', () => {
  it('publishes public members only, one per kid', async () => {
    const a = await loadSigningKey(PKCS1)
    const b = await loadSigningKey(readFileSync(new URL('./fixtures/second-key.pem', import.meta.url), 'utf8'))
    const jwks = toJwks([a, b, a])
    expect(jwks.keys.map((k) => k.kid)).toEqual([a.kid, b.kid])
    for (const k of jwks.keys) expect(Object.keys(k).sort()).toEqual(['alg', 'e', 'kid', 'kty', 'n', 'use'])
    expect(JSON.stringify(jwks)).not.toContain(String(JWK.d).slice(0, 20))
  })

  it('round-trips through loadVerificationKey', async () => {
    const a = await loadSigningKey(PKCS1)
    const v = loadVerificationKey(toJwks([a]).keys[0]!)
    expect(v.kid).toBe(a.kid)
    expect(v.privateKey).toBeUndefined()
  })
})

