/**
 * Test-only token minting with node:crypto: RS256 over base64url(header).base64url(payload), plus
 * helpers to build deliberately broken tokens. Independent of the SDK's issuer on purpose.
 */
import { createHmac, sign, type KeyObject } from 'node:crypto'

export const b64url = (input: string | Uint8Array): string => Buffer.from(input).toString('base64url')
export const b64urlJson = (value: unknown): string => b64url(JSON.stringify(value))

/** Sign `signingInput` (text as sent) with RS256 / RS384 / RS512. */
export function rsSign(signingInput: string, key: KeyObject, alg: 'RS256' | 'RS384' | 'RS512' = 'RS256'): string {
  const hash = { RS256: 'sha256', RS384: 'sha384', RS512: 'sha512' }[alg]
  return sign(hash, Buffer.from(signingInput, 'latin1'), key).toString('base64url')
}

/** A compact JWS from a header and claims (objects, or raw JSON text to encode as is). */
export function mintJwt(header: unknown, claims: unknown, key: KeyObject, alg: 'RS256' | 'RS384' | 'RS512' = 'RS256'): string {
  const h = typeof header === 'string' ? b64url(header) : b64urlJson(header)
  const p = typeof claims === 'string' ? b64url(claims) : b64urlJson(claims)
  const input = `${h}.${p}`
  return `${input}.${rsSign(input, key, alg)}`
}

/** Sign already-encoded segments. */
export function signSegments(headerSegment: string, payloadSegment: string, key: KeyObject): string {
  const input = `${headerSegment}.${payloadSegment}`
  return `${input}.${rsSign(input, key)}`
}

/** An HS256 token whose secret is the given bytes (the classic key-confusion attack uses the public key PEM). */
export function mintHs256(header: unknown, claims: unknown, secret: string | Uint8Array): string {
  const input = `${b64urlJson(header)}.${b64urlJson(claims)}`
  return `${input}.${createHmac('sha256', secret).update(input).digest('base64url')}`
}

/** An unsigned token ("alg": "none", empty signature). */
export function mintUnsigned(header: unknown, claims: unknown): string {
  return `${b64urlJson(header)}.${b64urlJson(claims)}.`
}
