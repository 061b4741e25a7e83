/**
 * Keys as python-jose holds them: the gateway hands `jwt.decode` the merged JWKS dict, and
 * python-jose constructs an RSA key from each entry, in order, while it looks for one that verifies.
 * An entry it cannot construct raises a JWKError that nothing catches (500) — but only once the loop
 * reaches it, so the order of the set matters and is kept.
 */
import { createPublicKey, KeyObject } from 'node:crypto'
import type { TrustedKey } from '../inspect/jose.js'
import type { SigningKey } from '../types.js'

/** Convert one raw JWKS entry the way python-jose's `jwk.construct(entry, "RS256")` would see it. */
export function trustedKeyFromJwk(entry: unknown): TrustedKey {
  if (entry === null || typeof entry !== 'object' || Array.isArray(entry)) {
    // RSAKey() tries a non-dict as PEM text; anything in a JWKS that is not an object fails there
    return { error: `JWKError: Unable to parse an RSA_JWK from key: ${typeof entry === 'string' ? 'a string' : Array.isArray(entry) ? 'a list' : String(entry)}` }
  }
  const jwk = entry as Record<string, unknown>
  const kid = typeof jwk.kid === 'string' ? jwk.kid : undefined
  if (jwk.kty !== 'RSA') {
    return { ...(kid === undefined ? {} : { kid }), error: `JWKError: Incorrect key type. Expected: 'RSA', Received: ${pyStr(jwk.kty)}` }
  }
  if (typeof jwk.n !== 'string' || typeof jwk.e !== 'string') {
    return { ...(kid === undefined ? {} : { kid }), error: 'TypeError: the RSA JWK has no usable "n" and "e"' }
  }
  try {
    const key = createPublicKey({ key: { kty: 'RSA', n: jwk.n, e: jwk.e }, format: 'jwk' })
    return { ...(kid === undefined ? {} : { kid }), key }
  } catch {
    return { ...(kid === undefined ? {} : { kid }), error: 'ValueError: the RSA JWK\'s "n" and "e" do not form a public key' }
  }
}

/** A loaded SigningKey (or a bare KeyObject) as a trusted key. */
export function trustedKeyFromSigningKey(key: SigningKey | KeyObject): TrustedKey {
  if (key instanceof KeyObject) return { key: key.type === 'private' ? createPublicKey(key) : key }
  return { kid: key.kid, key: key.publicKey }
}

function pyStr(v: unknown): string {
  if (v === undefined || v === null) return 'None'
  if (typeof v === 'string') return v
  return JSON.stringify(v) ?? String(v)
}

/** JWK members that hold private key material (RFC 7518 §6.3.2 for RSA, §6.4.1 for symmetric keys). */
const PRIVATE_MEMBERS = ['d', 'p', 'q', 'dp', 'dq', 'qi', 'oth', 'k'] as const

/** The private members a JWKS entry carries (their names only), e.g. `['d', 'p', 'q']`; empty for a public key. */
export function privateMembers(entry: unknown): string[] {
  if (entry === null || typeof entry !== 'object' || Array.isArray(entry)) return []
  return PRIVATE_MEMBERS.filter((m) => Object.hasOwn(entry, m))
}
