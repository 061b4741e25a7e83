import type { PublicRsaJwk, SigningKey } from '../types.js'

export interface Jwks {
  keys: PublicRsaJwk[]
}

/**
 * The key set the instance publishes at /oauth/discovery/keys: public members only
 * (`kty, kid, e, n, use, alg`), one entry per distinct kid, in the order given.
 */
export function toJwks(keys: Iterable<SigningKey | PublicRsaJwk>): Jwks {
  const seen = new Set<string>()
  const out: PublicRsaJwk[] = []
  for (const k of keys) {
    const jwk = 'publicJwk' in k ? k.publicJwk : k
    if (seen.has(jwk.kid)) continue
    seen.add(jwk.kid)
    out.push({ kty: 'RSA', kid: jwk.kid, e: jwk.e, n: jwk.n, use: 'sig', alg: 'RS256' })
  }
  return { keys: out }
}
