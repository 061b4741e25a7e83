/**
 * Shared contracts between the modules. Each module owns its implementation; these shapes are the
 * seams the client, the verifier, the emulator and the CLI meet at.
 */
import type { KeyObject } from 'node:crypto'

/** The injected clock. Every time-dependent function takes one; default `() => new Date()`. */
export type Clock = () => Date

export type Realm = 'saas' | 'self-managed'

/** The public half of an RSA signing key, as the instance publishes it. */
export interface PublicRsaJwk {
  kty: 'RSA'
  kid: string
  e: string
  n: string
  use: 'sig'
  alg: 'RS256'
}

/** A loaded signing key. `privateKey` is a node KeyObject: it never prints or serialises its material. */
export interface SigningKey {
  /** RFC 7638 SHA-256 thumbprint of the public key, base64url (what ruby-jwt's JWT::JWK::Thumbprint gives). */
  readonly kid: string
  readonly alg: 'RS256'
  readonly publicJwk: PublicRsaJwk
  readonly publicKey: KeyObject
  /** Absent for a key that only verifies (e.g. loaded from a JWKS). */
  readonly privateKey?: KeyObject
  readonly modulusLength: number
}

/** The claims of a cloud-connector JWT (domain.md §3). Extra claims may follow. */
export interface CloudConnectorClaims {
  iss: string
  sub: string
  aud: string[]
  iat: number
  nbf: number
  exp: number
  jti: string
  gitlab_realm: Realm
  scopes: string[]
  [extra: string]: unknown
}

export interface JwtHeader {
  alg: 'RS256'
  typ: 'JWT'
  kid: string
}

export type TokenSourceKind = 'self-issued' | 'synced' | 'none'

export interface TokenRequest {
  unitPrimitive: string
  /**
   * The AI feature setting the call is made for, when the caller knows it (Rails passes it explicitly to
   * `CloudConnector::Tokens.get(feature_setting:)`, e.g. `duo_agent_platform` for Duo Workflow). A policy
   * source judges "is it self-hosted?" by this name instead of the one the unit primitive maps to.
   */
  featureSetting?: string
  /**
   * The `skip_usage_cutoff` claim for this call (Rails: the user is a GitLab team member). A self-issuing
   * source puts it in the token; default: the issuer's `skipUsageCutoff` (false).
   */
  skipUsageCutoff?: boolean
  /** Skip any cache and obtain a fresh token (used after a 401). */
  forceRefresh?: boolean
  signal?: AbortSignal
}

export interface TokenResult {
  /** Absent when `source` is 'none'. */
  token?: string
  source: TokenSourceKind
  /** Why this source was chosen, in words a user can act on. */
  reason: string
  /** Machine-readable name of the policy branch taken. */
  branch?: string
  expiresAt?: Date
}

/** Anything that answers "which token do I send for this unit primitive?". */
export interface TokenSource {
  getToken(request: TokenRequest): Promise<TokenResult>
  /**
   * Optional: what `getToken(request)` would resolve with right now, when that answer is at hand without
   * waiting (a cached token); `undefined` whenever `getToken` would have work to do (mint, load, refresh).
   * It never mints, loads or throws. The gateway client and `createAuthenticatedFetch` use it to skip a
   * promise per request, and call `getToken` whenever it answers `undefined`.
   */
  peekToken?(request: TokenRequest): TokenResult | undefined
  /** Drop cached tokens (all of them). */
  invalidate?(): void
}

/** One thing wrong (or worth a warning) with a bearer value or a request, as the gateway would see it. */
export interface Problem {
  /** Stable machine code, e.g. 'TOKEN_EMPTY', 'AUD_MISMATCH'. */
  code: string
  severity: 'error' | 'warning'
  /** What the gateway would answer: 401/403, or undefined for a warning it would not fail on. */
  status?: 401 | 403
  /** The gateway's response message (`{"error": ...}` / `{"detail": ...}`). */
  gatewayError?: string
  /** The reason python-jose (or the gateway) would log. */
  reason?: string
  /** What is wrong, for a person. Never contains the token. */
  message: string
  /** What to do about it. */
  fix: string
  segment?: 'header' | 'payload' | 'signature'
  claim?: string
  header?: string
}

/** A bag of HTTP headers as users hold them. Names are matched case-insensitively everywhere. */
export type HeadersInput = Headers | Record<string, string | string[] | undefined> | [string, string][]

/** The logger option of every factory: pino, console, or anything with pino's signature (see `log.ts`). */
export type { Logger } from './log.js'
