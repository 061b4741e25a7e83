import { createHash, sign as rsaSign, verify as rsaVerify } from 'node:crypto'
import { InvalidOptionsError, TokenError } from '../errors.js'
import { errorLabel } from '../redact.js'
import type { CloudConnectorClaims, JwtHeader, Realm, SigningKey } from '../types.js'

/**
 * The self-issued cloud-connector JWT, byte for byte as GitLab mints it.
 *
 * Claims (`Gitlab::CloudConnector::JSONWebToken#payload`): the Ruby hash
 * `{ jti:, aud:, sub:, iss:, iat:, nbf:, exp: }.merge({ gitlab_realm:, scopes: }.merge(extra_claims))`,
 * serialised by `JSON.generate` in insertion order — so that is the key order here too.
 *
 * Header (`JWT.encode(payload, key, 'RS256', { typ: 'JWT', kid: })` in ruby-jwt 2.x/3.x): the given
 * header fields first, then `alg` appended by the library: `{"typ":"JWT","kid":"…","alg":"RS256"}`.
 */

/** Claims the SDK sets itself; extra claims may not override them. */
export const REGISTERED_CLAIMS = ['jti', 'aud', 'sub', 'iss', 'iat', 'nbf', 'exp', 'gitlab_realm', 'scopes'] as const

/** `Gitlab::CloudConnector::JSONWebToken::NOT_BEFORE_TIME`. */
export const NOT_BEFORE_SECONDS = 5

/** `ttl: 1.hour` in `CloudConnector::Tokens#issue_token`. */
export const DEFAULT_TTL_SECONDS = 3600

/** External signer (KMS/HSM): gets the JWS signing input, returns the raw RSASSA-PKCS1-v1_5 SHA-256 signature. */
export type JwtSigner = (signingInput: Uint8Array, meta: { kid: string; alg: 'RS256' }) => Promise<Uint8Array>

export interface ClaimsInput {
  issuer: string
  audience: readonly string[]
  subject: string
  realm: Realm
  scopes: readonly string[]
  jti: string
  /** Seconds since the epoch (already floored). */
  issuedAt: number
  ttlSeconds: number
  extraClaims?: Readonly<Record<string, unknown>>
}

/** The claims in GitLab's order. `extraClaims` must have passed `checkExtraClaims`. */
export function buildClaims(input: ClaimsInput): CloudConnectorClaims {
  const claims: CloudConnectorClaims = {
    jti: input.jti,
    aud: [...input.audience],
    sub: input.subject,
    iss: input.issuer,
    iat: input.issuedAt,
    nbf: input.issuedAt - NOT_BEFORE_SECONDS,
    exp: input.issuedAt + input.ttlSeconds,
    gitlab_realm: input.realm,
    scopes: [...input.scopes],
  }
  for (const [name, value] of Object.entries(input.extraClaims ?? {})) claims[name] = value
  return claims
}

/** The header in ruby-jwt's order (given fields, then `alg`). */
export function buildHeader(kid: string): JwtHeader {
  return { typ: 'JWT', kid, alg: 'RS256' }
}

/**
 * Refuse extra claims that would override a registered claim or poison an object prototype, and any
 * value that is not plain JSON (GitLab serialises with JSON.generate: no undefined, functions,
 * bigints, NaN, Dates...). Returns a deep copy, so later changes by the caller cannot alter a cached
 * token's identity.
 */
export function checkExtraClaims(extra: unknown, where: string): Record<string, unknown> {
  if (extra === undefined) return {}
  if (!isPlainObject(extra)) {
    throw new InvalidOptionsError(`${where}: extraClaims must be a plain object of JSON values.`, [
      { path: 'extraClaims', message: 'must be a plain object' },
    ])
  }
  for (const name of Object.keys(extra)) {
    if ((REGISTERED_CLAIMS as readonly string[]).includes(name)) {
      throw new TokenError(
        'ERR_RESERVED_CLAIM',
        `${where}: extra claim "${name}" would override a registered claim; the SDK sets ${REGISTERED_CLAIMS.join(', ')} itself. Use the dedicated option instead (issuer, audience, instanceId, realm, scopes, ttlSeconds, jti).`,
        { claim: name },
      )
    }
    if (FORBIDDEN_NAMES.has(name)) {
      throw new TokenError('ERR_RESERVED_CLAIM', `${where}: extra claim name "${name}" is not allowed (it is an object prototype key); rename the claim.`, {
        claim: name,
      })
    }
    const bad = findNonJson(extra[name], 0)
    if (bad) {
      const path = `extraClaims.${name}${bad.path}`
      throw new InvalidOptionsError(`${where}: ${path} ${bad.message}`, [{ path, message: bad.message }])
    }
  }
  return JSON.parse(JSON.stringify(extra)) as Record<string, unknown>
}

/** `header.payload` as JWS signing input. */
export function signingInputOf(header: JwtHeader, claims: CloudConnectorClaims): string {
  return `${headerSegment(header)}.${segment(claims)}`
}

/**
 * The header's segment: the same text for every token of a key (three fixed fields and the kid), so it
 * is encoded once per header text instead of for every mint.
 */
function headerSegment(header: JwtHeader): string {
  const json = JSON.stringify(header)
  let encoded = HEADER_SEGMENTS.get(json)
  if (encoded === undefined) {
    encoded = Buffer.from(json, 'utf8').toString('base64url')
    if (HEADER_SEGMENTS.size >= 64) HEADER_SEGMENTS.clear()
    HEADER_SEGMENTS.set(json, encoded)
  }
  return encoded
}

const HEADER_SEGMENTS = new Map<string, string>()

/**
 * Sign with the local private key (node:crypto, RSASSA-PKCS1-v1_5 SHA-256: deterministic) or with the
 * external signer. A signer's result is checked against the public key, so a KMS key that is not the
 * published one fails here and not at the gateway. Nothing from the signer's error is echoed: it may
 * carry request details or secrets.
 */
export async function signJwt(header: JwtHeader, claims: CloudConnectorClaims, key: SigningKey, signer?: JwtSigner): Promise<string> {
  const input = signingInputOf(header, claims)
  // base64url text is ASCII: its bytes are its characters
  const bytes = Buffer.from(input, 'latin1')
  let signature: Uint8Array
  if (signer) {
    let result: unknown
    try {
      result = await signer(new Uint8Array(bytes), { kid: key.kid, alg: 'RS256' })
    } catch (err) {
      throw new TokenError(
        'ERR_SIGNER_FAILED',
        `The external signer failed for kid ${key.kid} (${errorLabel(err)}): check the signer's credentials and that it signs with RSASSA-PKCS1-v1_5 SHA-256.`,
      )
    }
    if (!(result instanceof Uint8Array)) {
      throw new TokenError('ERR_SIGNER_FAILED', `The external signer must resolve to a Uint8Array (the raw signature); it returned ${describeType(result)}.`)
    }
    const expected = Math.ceil(key.modulusLength / 8)
    if (result.length !== expected) {
      throw new TokenError(
        'ERR_SIGNER_FAILED',
        `The external signer returned ${result.length} bytes; an RS256 signature for a ${key.modulusLength}-bit key is ${expected} bytes. Return the raw signature, not base64 or DER-wrapped.`,
      )
    }
    if (!rsaVerify('sha256', bytes, key.publicKey, result)) {
      throw new TokenError(
        'ERR_SIGNER_FAILED',
        `The external signer's signature does not verify with the public key of kid ${key.kid}: the signer uses a different key or algorithm (RS256 = RSASSA-PKCS1-v1_5 with SHA-256).`,
      )
    }
    signature = result
  } else {
    if (!key.privateKey) {
      throw new TokenError(
        'ERR_SIGNER_FAILED',
        `The key with kid ${key.kid} can only verify (it has no private key): load the private key, or pass a signer callback (KMS/HSM).`,
      )
    }
    signature = rsaSign('sha256', bytes, key.privateKey)
  }
  return `${input}.${Buffer.from(signature.buffer, signature.byteOffset, signature.byteLength).toString('base64url')}`
}

/**
 * Read back a compact JWT that this SDK minted (e.g. from an external cache), checking its signature
 * with `key`. Not a general decoder — inspection of arbitrary tokens lives in src/inspect.
 */
export function readOwnToken(token: string, key: SigningKey): { header: JwtHeader; claims: CloudConnectorClaims } | undefined {
  if (typeof token !== 'string') return undefined
  const parts = token.split('.')
  if (parts.length !== 3) return undefined
  const [h, p, s] = parts as [string, string, string]
  try {
    const header = JSON.parse(Buffer.from(h, 'base64url').toString('utf8')) as JwtHeader
    const claims = JSON.parse(Buffer.from(p, 'base64url').toString('utf8')) as CloudConnectorClaims
    if (header.alg !== 'RS256' || header.kid !== key.kid) return undefined
    if (!Number.isInteger(claims.exp) || !Array.isArray(claims.scopes) || !Array.isArray(claims.aud)) return undefined
    if (!rsaVerify('sha256', Buffer.from(`${h}.${p}`, 'utf8'), key.publicKey, Buffer.from(s, 'base64url'))) return undefined
    return { header, claims }
  } catch {
    return undefined
  }
}

/** A stable string for "everything that changes the token", for cache keys. */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`
  if (value && typeof value === 'object') {
    const entries = Object.keys(value)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${canonicalJson((value as Record<string, unknown>)[k])}`)
    return `{${entries.join(',')}}`
  }
  return JSON.stringify(value)
}

export function sha256(text: string): string {
  return createHash('sha256').update(text).digest('base64url')
}

const FORBIDDEN_NAMES = new Set(['__proto__', 'constructor', 'prototype'])
const MAX_DEPTH = 32

function segment(value: unknown): string {
  return Buffer.from(JSON.stringify(value), 'utf8').toString('base64url')
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  if (v === null || typeof v !== 'object' || Array.isArray(v)) return false
  const proto = Object.getPrototypeOf(v) as unknown
  return proto === Object.prototype || proto === null
}

function findNonJson(v: unknown, depth: number): { path: string; message: string } | undefined {
  if (depth > MAX_DEPTH) return { path: '', message: `is nested deeper than ${MAX_DEPTH} levels (or is circular)` }
  if (v === null || typeof v === 'string' || typeof v === 'boolean') return undefined
  if (typeof v === 'number') return Number.isFinite(v) ? undefined : { path: '', message: 'must be a finite number' }
  if (Array.isArray(v)) {
    for (let i = 0; i < v.length; i++) {
      const bad = findNonJson(v[i], depth + 1)
      if (bad) return { path: `[${i}]${bad.path}`, message: bad.message }
    }
    return undefined
  }
  if (isPlainObject(v)) {
    for (const k of Object.keys(v)) {
      if (k === '__proto__') return { path: `.${k}`, message: 'is not an allowed key' }
      const bad = findNonJson(v[k], depth + 1)
      if (bad) return { path: `.${k}${bad.path}`, message: bad.message }
    }
    return undefined
  }
  return { path: '', message: `must be a JSON value (string, number, boolean, null, array or plain object), not ${describeType(v)}` }
}

function describeType(v: unknown): string {
  if (v === null) return 'null'
  if (Array.isArray(v)) return 'an array'
  if (typeof v === 'object') return `an object of type ${(v as object).constructor?.name ?? 'Object'}`
  return `a ${typeof v}`
}
