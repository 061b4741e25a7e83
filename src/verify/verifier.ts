/**
 * `createGatewayVerifier`: judges a request exactly as the AI Gateway does (domain.md §5) — same
 * order, same statuses, same messages, and python-jose's reason for every "Forbidden by auth provider".
 * For services that accept cloud-connector tokens, for tests, and for the emulator.
 *
 * Gateway quirks kept by default so verdicts agree with the real gateway: kid ignored (every key
 * tried, in order), iss not checked, no leeway, exp/nbf/iat checked only when present, a token
 * without aud accepted, header names case-insensitive, the Bearer scheme case-insensitive, the token
 * taken after the first space, the merged key set cached 24 h (an empty one too). `strict` adds what
 * the gateway lacks.
 */
import { Buffer } from 'node:buffer'
import { KeyObject } from 'node:crypto'
import type { z } from 'zod'
import { lazy, zod } from '../zod.js'
import { InvalidOptionsError, JwksError } from '../errors.js'
import { GATEWAY_AUTH_HEADERS, headersToMap, parseAuthorization } from '../inspect/headers.js'
import { stripEndWhere } from '../inspect/text.js'
import {
  epochSeconds,
  deepFreeze,
  joseCheckAlgorithm,
  joseDecodeClaims,
  joseLoad,
  joseValidateClaims,
  joseVerifySignature,
  type ClaimRules,
  type JoseFailure,
  type JwsParts,
  type RequirableClaim,
  type TrustedKey,
} from '../inspect/jose.js'
import { DEFAULT_AUDIENCE, forbiddenMessage, GATEWAY_MESSAGES, headerMismatchMessage, type GatewayHeaderName } from '../inspect/messages.js'
import { judgeAccess, singlePrimitiveAccess, type EndpointAccess } from '../inspect/access.js'
import { headerMismatches } from '../inspect/rules.js'
import type { Jwks } from '../keys/jwks.js'
import { TextMemo } from '../memo.js'
import { fingerprint } from '../redact.js'
import { toLog, type Log, type Logger } from '../log.js'
import type { Clock, HeadersInput, SigningKey } from '../types.js'
import { DEFAULT_FETCH_TIMEOUT_MS, discoverJwks, safeUrl } from './discovery.js'
import { privateMembers, trustedKeyFromJwk, trustedKeyFromSigningKey } from './keys.js'

export interface StrictOptions {
  /**
   * `iss` must be one of these (a trailing "/" is ignored). Default with `strict: true`: the issuerUrls and
   * the `issuerAliases` values.
   */
  issuers?: string[]
  /**
   * A key discovered from an issuer URL signs only tokens whose `iss` names that issuer: by default the URL
   * itself (as OpenID Connect Discovery §4.3 requires of an issuer), so a token signed with issuer B's key
   * that claims to come from issuer A is refused. When the keys are fetched from another URL than the one in
   * the tokens (an internal address), map it here: issuerUrls entry → the `iss` value(s) its tokens carry.
   * Keys given directly (`jwks`, `keys`) are tied to no issuer.
   */
  issuerAliases?: Record<string, string | string[]>
  /**
   * The header's `kid` must name a trusted key, and only that key is tried. Default true. An unknown
   * kid makes the verifier reload the issuers' keys (issuerUrls), at most once per
   * UNKNOWN_KID_COOLDOWN_SECONDS. Strict mode also refuses any `crit` header.
   */
  requireKid?: boolean
  /** `aud` must be present. Default true. */
  requireAud?: boolean
  /** `exp` must be present. Default true. */
  requireExp?: boolean
  /** Clock skew allowed on nbf/exp, in seconds. Default 0. */
  leewaySeconds?: number
  /** Refuse bearer values larger than this many bytes. Default 65536. */
  maxTokenBytes?: number
}

export interface GatewayVerifierOptions {
  /**
   * The service name, which the gateway also checks `aud` against: 'gitlab-ai-gateway' (default) for the AI
   * Gateway, 'gitlab-duo-workflow-service' (`DUO_WORKFLOW_AUDIENCE`) for the Duo Workflow Service — the same
   * code reads it from CLOUD_CONNECTOR_SERVICE_NAME (movax01h/ai-gateway ai_gateway/__init__.py,
   * duo_workflow_service/__init__.py @ eee38f6f). Tokens whose `iss` is this name are the service's own:
   * their `sub` is checked against X-Gitlab-Global-User-Id, and endpoints that refuse them do so by this name.
   */
  audience?: string
  /** Trusted key set(s), e.g. an instance's /oauth/discovery/keys. */
  jwks?: Jwks | Jwks[]
  /** Trusted keys already loaded (their public halves are used). */
  keys?: Array<SigningKey | KeyObject>
  /** Issuers whose keys are fetched by OIDC discovery, as the gateway does (AIGW_GITLAB_URL, AIGW_CUSTOMER_PORTAL_URL). */
  issuerUrls?: string[]
  /** How long the merged key set is kept. Default 86 400 s (the gateway's 24 h). */
  cacheTtlSeconds?: number
  /**
   * How long a key set with no key at all is kept. Default: cacheTtlSeconds — the gateway caches an
   * empty set too, so a gateway that started while its issuers were down answers 500 for a day.
   */
  emptyKeySetTtlSeconds?: number
  /** Per-request discovery timeout. Default 10 000 ms. */
  fetchTimeoutMs?: number
  /** Default: the global fetch. */
  fetch?: typeof fetch
  now?: Clock
  /** Checks the gateway lacks; off by default so verdicts agree with the real gateway. */
  strict?: boolean | StrictOptions
  /**
   * How many tokens this verifier remembers, by their whole text: their decoded header and claims, and
   * whether their signature verified against the current key set (a reload forgets that), so that a
   * token sent again skips the RSA verification. Claims, headers and scopes are still checked every
   * time. Default 1024. 0: every signature is verified on every call (the gateway's way); the decoding of
   * the last 256 tokens is still remembered. Nothing is shared between verifiers.
   */
  verifiedTokenCacheSize?: number
  logger?: Logger
}

export interface AuthenticateOptions {
  /** The endpoint's unit primitive: 403 when the token's scopes lack it. Shorthand for `access` with one primitive. */
  unitPrimitive?: string
  /** The endpoint's 403 detail; default `Unauthorized to access '<unitPrimitive>'`. */
  forbiddenDetail?: string
  /**
   * The endpoint's whole rule for this request, e.g. `endpointAccess('chat', body)` from the endpoint table:
   * several admitting primitives, issuers it refuses (`iss` equal to this verifier's `audience`, the service
   * name), chat's @GitLabDuo carve-out, additional context. Takes precedence over `unitPrimitive`.
   */
  access?: EndpointAccess
}

export type VerdictCheck = 'authorization' | 'scheme' | 'authentication-type' | 'keys' | 'token' | 'headers' | 'scope' | 'internal'

export interface Verdict {
  status: 200 | 401 | 403 | 500
  /** The gateway's message: `{"error": ...}` for 401, `{"detail": ...}` for 403; for 500 the exception's message or "Internal Server Error". */
  error?: string
  /** What the gateway logs: python-jose's reason, or "<ExceptionType>: <message>" for a 500. */
  reason?: string
  /** The verified claims (200, 403, and a header mismatch). */
  claims?: Record<string, unknown>
  /** Which check decided. */
  check?: VerdictCheck
  /** For a header mismatch: the header. */
  header?: GatewayHeaderName
}

export interface KeySetInfo {
  kids: (string | undefined)[]
  /** Entries python-jose could not construct (the gateway would answer 500 on reaching them). */
  unusable: number
  loadedAt: Date
  expiresAt: Date | undefined
}

export interface GatewayVerifier {
  /** The gateway's verdict on a request's headers. Never throws. */
  authenticate(headers: HeadersInput, options?: AuthenticateOptions): Promise<Verdict>
  /** Reload the key set now (concurrent callers share one load). */
  refreshKeys(): Promise<void>
  /** What is in the key set (loading it if needed). */
  keySet(): Promise<KeySetInfo>
}

/**
 * Strict mode reloads the issuers' keys when a token names a kid it does not know (a key published
 * since the last load), at most once per this many seconds, as jose's createRemoteJWKSet does.
 */
export const UNKNOWN_KID_COOLDOWN_SECONDS = 30

export function createGatewayVerifier(options: GatewayVerifierOptions = {}): GatewayVerifier {
  const o = parseVerifierOptions(options)
  const store = new KeyStore(o)
  const audience = o.audience
  // Per verifier, never shared: one verifier's trust must not decide what another reads from a token
  // (a signature that verifies under this verifier's key says nothing about any other key set).
  const memo = new TokenMemo(o.verifiedTokenCacheSize)

  async function authenticate(headers: HeadersInput, opts: AuthenticateOptions = {}): Promise<Verdict> {
    let token = ''
    try {
      const h = headersToMap(headers, GATEWAY_AUTH_HEADERS)
      const authorization = h.get('authorization')
      if (authorization === undefined) return { status: 401, error: GATEWAY_MESSAGES.noAuthorizationHeader, check: 'authorization' }
      const parsed = parseAuthorization(authorization)
      if (parsed.scheme.toLowerCase() !== 'bearer') return { status: 401, error: GATEWAY_MESSAGES.invalidAuthorizationHeader, check: 'scheme' }
      if (h.get('x-gitlab-authentication-type') !== 'oidc') return { status: 401, error: GATEWAY_MESSAGES.invalidAuthenticationType, check: 'authentication-type' }
      token = parsed.token

      // The gateway loads its key set before decoding anything.
      const keys = store.cached() ?? (await store.load(false))
      if (keys.length === 0) {
        return { status: 500, error: GATEWAY_MESSAGES.noKeys, reason: `CriticalAuthError: ${GATEWAY_MESSAGES.noKeys}`, check: 'keys' }
      }

      let decoded = decode(token, keys)
      if (!decoded.ok && decoded.unknownKid === true && store.mayReloadForUnknownKid()) {
        // Strict mode names the key: an unknown kid may be a key published since the last load.
        // Reload, at most once per cooldown, whatever the number of such tokens (no fetch storm).
        const fresh = await store.reloadForUnknownKid()
        if (fresh !== keys) decoded = decode(token, fresh)
      }
      if (!decoded.ok) return refuse(decoded, token)
      const claims = decoded.claims

      const mismatch = headerMismatches(claims, h, audience)[0]
      if (mismatch !== undefined) {
        return { status: 401, error: headerMismatchMessage(mismatch.header), claims, check: 'headers', header: mismatch.header }
      }
      const access = opts.access ?? (opts.unitPrimitive !== undefined ? accessOf(opts.unitPrimitive, opts.forbiddenDetail) : undefined)
      if (access !== undefined) {
        const judged = judgeAccess(access, claims, audience)
        if (!judged.ok && judged.status === 403) return { status: 403, error: judged.detail, claims, check: 'scope' }
        if (!judged.ok) return { status: 500, error: GATEWAY_MESSAGES.internalServerError, reason: judged.fatal, claims, check: 'scope' }
      }
      return { status: 200, claims }
    } catch (e) {
      log(o.logger, 'error', 'gateway_verifier.internal_error', { error: e instanceof Error ? e.name : typeof e })
      return { status: 500, error: GATEWAY_MESSAGES.internalServerError, reason: `${e instanceof Error ? e.name : 'Error'}: the verifier failed unexpectedly`, check: 'internal' }
    }
  }

  // A service passes the same unitPrimitive on every call: its rule is built once, not per request.
  let lastAccess: { unitPrimitive: string; detail: string | undefined; access: EndpointAccess } | undefined
  function accessOf(unitPrimitive: string, detail: string | undefined): EndpointAccess {
    if (lastAccess?.unitPrimitive === unitPrimitive && lastAccess.detail === detail) return lastAccess.access
    const access = singlePrimitiveAccess(unitPrimitive, detail ?? forbiddenMessage(unitPrimitive))
    lastAccess = { unitPrimitive, detail, access }
    return access
  }

  // python-jose's claim rules are the verifier's; only `now` changes, set before each (synchronous) check.
  const claimRules: ClaimRules = {
    audience,
    now: 0,
    leeway: o.strict?.leewaySeconds ?? 0,
    ...(o.strict ? { require: o.strict.require } : {}),
    ...(o.strict?.issuers ? { issuers: o.strict.issuers } : {}),
  }

  /** python-jose's jwt.decode (plus the strict checks), returning the claims or its failure. */
  function decode(token: string, keys: readonly TrustedKey[]): { ok: true; claims: Record<string, unknown> } | (JoseFailure & { unknownKid?: boolean }) {
    const strict = o.strict
    if (strict?.maxTokenBytes !== undefined && token.length > strict.maxTokenBytes / 3 && Buffer.byteLength(token) > strict.maxTokenBytes) {
      return { ok: false, stage: 'segments', reason: `Token too large (over ${strict.maxTokenBytes} bytes)` }
    }
    let entry = memo.get(token)
    let parts: JwsParts
    if (entry !== undefined) parts = entry.parts
    else {
      const load = joseLoad(token)
      if (!load.ok) return load
      parts = load.parts
      entry = memo.add(token, parts)
    }
    const algReason = joseCheckAlgorithm(parts.header)
    if (algReason !== undefined) return { ok: false, stage: 'algorithm', reason: algReason }
    // RFC 7515 §4.1.11: a recipient must refuse critical extensions it does not understand, and this
    // verifier understands none. The gateway (python-jose) ignores "crit"; strict mode does not.
    if (strict !== undefined && Object.hasOwn(parts.header, 'crit')) {
      return { ok: false, stage: 'algorithm', reason: 'Unsupported critical header ("crit"): no JWS extension is supported' }
    }
    let candidates = keys
    if (strict?.requireKid) {
      const kid = parts.header.kid
      candidates = typeof kid === 'string' ? keys.filter((k) => k.kid === kid && k.key !== undefined) : []
      if (candidates.length === 0) {
        if (typeof kid === 'string') return { ok: false, stage: 'signature', reason: 'No trusted key has the kid of the token', unknownKid: true }
        return { ok: false, stage: 'signature', reason: 'The token has no kid' }
      }
    }
    if (strict !== undefined && candidates.some((k) => k.issuer !== undefined)) {
      // A key discovered from an issuer signs for that issuer only: a token signed with issuer B's key that
      // names issuer A (iss) is refused. The claims are read before the signature check only to choose the
      // keys; whatever they say, the signature must then verify under a key of the issuer they name.
      const claims = claimsOf(entry, parts)
      const iss = claims.ok ? claims.claims.iss : undefined
      const named = typeof iss === 'string' ? issuerId(iss) : undefined
      candidates = candidates.filter((k) => k.issuer === undefined || (named !== undefined && strict.keyIssuers.get(k.issuer)?.has(named) === true))
      if (candidates.length === 0) {
        return {
          ok: false,
          stage: 'signature',
          reason: typeof iss === 'string' ? 'No key of the issuer the token names (iss) has the kid of the token' : 'The token names no issuer (iss) whose keys could verify it',
          unknownKid: typeof iss === 'string',
        }
      }
    }
    if (entry?.verifiedWith !== keys) {
      const sig = joseVerifySignature(parts, candidates, parts.header.kid)
      if (!sig.ok) return sig
      memo.verified(entry, keys)
    }
    const decoded = claimsOf(entry, parts)
    if (!decoded.ok) return decoded
    const claims = decoded.claims
    claimRules.now = epochSeconds(o.now())
    const checked = joseValidateClaims(claims, claimRules)
    if (!checked.ok) return checked
    return { ok: true, claims }
  }

  function refuse(f: JoseFailure, token: string): Verdict {
    if (o.logger?.debug) {
      log(o.logger, 'debug', 'gateway_verifier.refused', { stage: f.stage, reason: f.reason, fatal: f.fatal === true, tokenSha: fingerprint(token), tokenLength: token.length })
    }
    if (f.fatal) return { status: 500, error: GATEWAY_MESSAGES.internalServerError, reason: f.reason, check: 'token' }
    return { status: 401, error: GATEWAY_MESSAGES.forbiddenByAuthProvider, reason: f.reason, check: 'token' }
  }

  return {
    authenticate,
    async refreshKeys() {
      await store.load(true)
    },
    async keySet() {
      const keys = store.cached() ?? (await store.load(false))
      return {
        kids: keys.map((k) => k.kid),
        unusable: keys.filter((k) => k.error !== undefined).length,
        loadedAt: new Date(store.loadedAt),
        expiresAt: Number.isFinite(store.expiresAt) ? new Date(store.expiresAt) : undefined,
      }
    },
  }
}

// ---------------------------------------------------------------------------------------------------

/** The token's claims: decoding depends on the token text alone, so it is done once and remembered with the token. */
function claimsOf(entry: MemoEntry | undefined, parts: JwsParts): { ok: true; claims: Record<string, unknown> } | JoseFailure {
  if (entry?.claims !== undefined) return { ok: true, claims: entry.claims }
  const decoded = joseDecodeClaims(parts.payload)
  if (!decoded.ok) return decoded
  const claims = deepFreeze(decoded.claims)
  if (entry !== undefined) entry.claims = claims
  return decoded
}

/** What a verifier remembers of one token, identified by its whole text. */
interface MemoEntry {
  /** The parse (its header frozen: verdicts share it). */
  readonly parts: JwsParts
  /** The key set the signature verified against; a reloaded set is a new array, so a reload forgets it. */
  verifiedWith?: readonly TrustedKey[]
  /** The decoded claims, deep-frozen (verdicts share them). Decoding depends on the token text alone. */
  claims?: Record<string, unknown>
}

/**
 * One verifier's memory of the tokens it was sent: a service sends the same token for its whole lifetime,
 * and parsing it, decoding its claims (Python-exact UTF-8 and JSON) and verifying its signature are most of a
 * verification. An entry is used only when the whole text is identical (TextMemo), so two tokens sharing a
 * signature segment — a duplicate-signature key can make one signature verify over two different
 * header.payload texts — never share an entry. Only tokens up to 16 KiB that parse are kept.
 */
class TokenMemo {
  private readonly entries: TextMemo<MemoEntry>
  private readonly rememberVerified: boolean

  constructor(verifiedTokenCacheSize: number) {
    this.rememberVerified = verifiedTokenCacheSize > 0
    this.entries = new TextMemo(this.rememberVerified ? verifiedTokenCacheSize : 256)
  }

  get(token: string): MemoEntry | undefined {
    return this.entries.get(token)
  }

  add(token: string, parts: JwsParts): MemoEntry | undefined {
    if (token.length > MEMO_MAX_TOKEN_CHARS) return undefined
    deepFreeze(parts.header)
    const entry: MemoEntry = { parts }
    this.entries.set(token, entry)
    return entry
  }

  verified(entry: MemoEntry | undefined, keys: readonly TrustedKey[]): void {
    if (entry !== undefined && this.rememberVerified) entry.verifiedWith = keys
  }
}

const MEMO_MAX_TOKEN_CHARS = 16 * 1024

interface ResolvedStrict {
  issuers?: string[]
  /** issuerId(issuer URL) → the issuerIds its keys may sign for. */
  keyIssuers: Map<string, Set<string>>
  requireKid: boolean
  require: RequirableClaim[]
  leewaySeconds: number
  maxTokenBytes?: number
}

interface ResolvedOptions {
  audience: string
  staticKeys: TrustedKey[]
  issuerUrls: string[]
  cacheTtlMs: number
  emptyTtlMs: number
  fetchTimeoutMs: number
  fetch: typeof fetch
  now: Clock
  strict: ResolvedStrict | undefined
  verifiedTokenCacheSize: number
  logger: Log | undefined
}

/** The merged key set: static keys first, then each issuer's, cached with single-flight loading. */
class KeyStore {
  private keys: TrustedKey[] | undefined
  expiresAt = 0
  loadedAt = 0
  /** When the last fetch started (injected clock, ms): the unknown-kid cooldown counts from it. */
  private lastAttemptAt = Number.NEGATIVE_INFINITY
  private inflight: Promise<TrustedKey[]> | undefined

  constructor(private readonly o: ResolvedOptions) {
    if (o.issuerUrls.length === 0) {
      // nothing to fetch: the set never changes
      this.keys = o.staticKeys
      this.expiresAt = Number.POSITIVE_INFINITY
      this.loadedAt = o.now().getTime()
    }
  }

  /** The key set if it is still fresh (the gateway: `record.exp > now`). */
  cached(): TrustedKey[] | undefined {
    if (this.keys === undefined) return undefined
    if (this.expiresAt === Number.POSITIVE_INFINITY || this.expiresAt > this.o.now().getTime()) return this.keys
    return undefined
  }

  load(force: boolean): Promise<TrustedKey[]> {
    if (this.inflight) return this.inflight
    if (!force) {
      const fresh = this.cached()
      if (fresh) return Promise.resolve(fresh)
    }
    if (this.o.issuerUrls.length === 0) return Promise.resolve(this.o.staticKeys)
    return this.start(false)
  }

  /** Strict mode, unknown kid: is a reload allowed (issuers to ask, cooldown passed or a load in flight)? */
  mayReloadForUnknownKid(): boolean {
    if (this.o.issuerUrls.length === 0) return false
    return this.inflight !== undefined || this.o.now().getTime() - this.lastAttemptAt >= UNKNOWN_KID_COOLDOWN_SECONDS * 1000
  }

  /**
   * Reload for an unknown kid, sharing any load in flight. The current set is kept when an issuer
   * fails meanwhile: a token must not be able to swap a working key set for an empty one.
   */
  reloadForUnknownKid(): Promise<TrustedKey[]> {
    return this.inflight ?? this.start(true)
  }

  private start(keepOnFailure: boolean): Promise<TrustedKey[]> {
    this.lastAttemptAt = this.o.now().getTime()
    const p = this.fetchAll(keepOnFailure).finally(() => {
      if (this.inflight === p) this.inflight = undefined
    })
    this.inflight = p
    return p
  }

  private async fetchAll(keepOnFailure: boolean): Promise<TrustedKey[]> {
    const { o } = this
    const results = await Promise.all(
      o.issuerUrls.map((url) =>
        discoverJwks(url, { fetch: o.fetch, timeoutMs: o.fetchTimeoutMs }).then(
          (r) => r,
          (e: unknown) => {
            // the gateway logs a failing issuer and carries on with the others
            log(o.logger, 'warn', 'gateway_verifier.issuer_failed', {
              issuer: safeUrl(url),
              code: e instanceof JwksError ? e.code : 'ERR_DISCOVERY_FAILED',
              message: e instanceof Error ? e.message : String(e),
            })
            return undefined
          },
        ),
      ),
    )
    if (keepOnFailure && this.keys !== undefined && results.some((r) => r === undefined)) {
      log(o.logger, 'warn', 'gateway_verifier.reload_kept_keys', { issuersFailed: results.filter((r) => r === undefined).length, kids: this.keys.map((k) => k.kid ?? null) })
      return this.keys
    }
    const keys = [...o.staticKeys]
    for (const r of results) {
      if (r === undefined) continue
      const issuer = issuerId(r.issuerUrl)
      for (const entry of r.keys) {
        const k = trustedKeyFromJwk(entry)
        const secret = privateMembers(entry)
        if (secret.length > 0) {
          // An issuer that publishes a private key lets anyone sign its tokens: strict mode does not trust it.
          log(o.logger, 'warn', 'gateway_verifier.private_jwk', { issuer: safeUrl(r.issuerUrl), kid: k.kid ?? null, members: secret, trusted: o.strict === undefined })
          if (o.strict !== undefined) continue
        }
        keys.push({ ...k, issuer })
      }
    }
    const now = o.now().getTime()
    this.keys = keys
    this.loadedAt = now
    this.expiresAt = now + (keys.length > 0 ? o.cacheTtlMs : o.emptyTtlMs)
    if (keys.length === 0) {
      log(o.logger, 'error', 'gateway_verifier.no_keys', { issuers: o.issuerUrls.map(safeUrl), message: GATEWAY_MESSAGES.noKeys })
    } else {
      log(o.logger, 'info', 'gateway_verifier.keys_loaded', {
        kids: keys.map((k) => k.kid ?? null),
        unusable: keys.filter((k) => k.error !== undefined).length,
        issuersFailed: results.filter((r) => r === undefined).length,
      })
    }
    return keys
  }
}

const jwkSchema = lazy((z) => z.looseObject({ kty: z.string() }))
const jwksSchema = lazy((z) => z.looseObject({ keys: z.array(z.unknown()) }))
const fnSchema = (what: string) => zod().custom<(...args: never[]) => unknown>((v) => typeof v === 'function', { error: `must be a function (${what})` })

const strictSchema = lazy((z) => z.strictObject({
  issuers: z.array(z.string().min(1)).optional(),
  issuerAliases: z.record(z.string().min(1), z.union([z.string().min(1), z.array(z.string().min(1))])).optional(),
  requireKid: z.boolean().optional(),
  requireAud: z.boolean().optional(),
  requireExp: z.boolean().optional(),
  leewaySeconds: z.number().int().min(0).optional(),
  maxTokenBytes: z.number().int().positive().optional(),
}))

const optionsSchema = lazy((z) => z.strictObject({
  audience: z.string().min(1, 'must be a non-empty string, e.g. "gitlab-ai-gateway"').optional(),
  jwks: z.union([jwksSchema(), z.array(jwksSchema())], { error: 'must be a key set { keys: [...] } (an instance\'s /oauth/discovery/keys, or toJwks()) or a list of key sets' }).optional(),
  keys: z.array(z.custom<SigningKey | KeyObject>((v) => v instanceof KeyObject || (typeof v === 'object' && v !== null && (v as SigningKey).publicKey instanceof KeyObject), { error: 'must hold loaded keys (loadSigningKey / loadVerificationKey) or KeyObjects' })).optional(),
  issuerUrls: z
    .array(
      z.string().refine((u) => {
        try {
          const p = new URL(u).protocol
          return p === 'https:' || p === 'http:'
        } catch {
          return false
        }
      }, 'must be an absolute http(s) URL, e.g. "https://gitlab.example.com"'),
    )
    .optional(),
  cacheTtlSeconds: z.number().min(0).optional(),
  emptyKeySetTtlSeconds: z.number().min(0).optional(),
  fetchTimeoutMs: z.number().int().positive().optional(),
  fetch: fnSchema('a fetch implementation').optional(),
  now: fnSchema('a clock returning a Date').optional(),
  strict: z.union([z.boolean(), strictSchema()]).optional(),
  verifiedTokenCacheSize: z.number().int().min(0).optional(),
  logger: z.looseObject({}).optional(),
}))

function parseVerifierOptions(input: GatewayVerifierOptions): ResolvedOptions {
  if (input === null || typeof input !== 'object' || Array.isArray(input)) {
    throw new InvalidOptionsError('createGatewayVerifier: options must be an object.', [{ path: 'options', message: 'must be an object' }])
  }
  const parsed = optionsSchema().safeParse(input)
  if (!parsed.success) {
    const issues = parsed.error.issues.flatMap((i) => {
      const path = ['options', ...i.path.map(String)].join('.')
      if (i.code === 'unrecognized_keys') return i.keys.map((k) => ({ path: `${path}.${k}`, message: `is not an option (known: ${Object.keys(optionsSchema().shape).join(', ')})` }))
      return [{ path, message: i.message }]
    })
    throw new InvalidOptionsError(`createGatewayVerifier: ${issues.map((i) => `${i.path} ${i.message}`).join('; ')}`, issues)
  }
  const opts = input
  if (opts.jwks === undefined && opts.keys === undefined && opts.issuerUrls === undefined) {
    throw new InvalidOptionsError('createGatewayVerifier: give the keys to trust: jwks (a key set), keys (loaded keys) and/or issuerUrls (fetched by OIDC discovery, as the gateway does).', [
      { path: 'options', message: 'needs jwks, keys or issuerUrls' },
    ])
  }

  const logger = toLog(opts.logger)
  const issuerUrls = opts.issuerUrls ?? []
  const cacheTtlSeconds = opts.cacheTtlSeconds ?? 86_400
  const strictIn = opts.strict === true ? {} : opts.strict === false || opts.strict === undefined ? undefined : opts.strict
  let strict: ResolvedStrict | undefined
  if (strictIn !== undefined) {
    const require: RequirableClaim[] = []
    if (strictIn.requireAud ?? true) require.push('aud')
    if (strictIn.requireExp ?? true) require.push('exp')
    const aliases = strictIn.issuerAliases ?? {}
    const unknown = Object.keys(aliases).filter((u) => !issuerUrls.some((i) => issuerId(i) === issuerId(u)))
    if (unknown.length > 0) {
      throw new InvalidOptionsError(`createGatewayVerifier: options.strict.issuerAliases names ${unknown.map((u) => JSON.stringify(safeUrl(u))).join(', ')}, which is not in options.issuerUrls: its keys are tied to the issuer URL they are fetched from.`, [
        { path: 'options.strict.issuerAliases', message: 'keys must be issuerUrls entries' },
      ])
    }
    const keyIssuers = new Map<string, Set<string>>()
    for (const u of issuerUrls) keyIssuers.set(issuerId(u), new Set([issuerId(u)]))
    for (const [u, iss] of Object.entries(aliases)) for (const i of typeof iss === 'string' ? [iss] : iss) keyIssuers.get(issuerId(u))?.add(issuerId(i))
    const issuerList = strictIn.issuers ?? (issuerUrls.length > 0 ? [...new Set([...keyIssuers.values()].flatMap((v) => [...v]))] : undefined)
    strict = {
      keyIssuers,
      requireKid: strictIn.requireKid ?? true,
      require,
      leewaySeconds: strictIn.leewaySeconds ?? 0,
      maxTokenBytes: strictIn.maxTokenBytes ?? 65_536,
      ...(issuerList ? { issuers: issuerList.flatMap((u) => [issuerId(u), `${issuerId(u)}/`]) } : {}),
    }
  }

  const staticKeys: TrustedKey[] = []
  const sets = opts.jwks === undefined ? [] : Array.isArray(opts.jwks) ? opts.jwks : [opts.jwks]
  const bad: { path: string; message: string }[] = []
  sets.forEach((set, i) => {
    ;(set.keys as unknown[]).forEach((entry, j) => {
      const path = `options.jwks${Array.isArray(opts.jwks) ? `[${i}]` : ''}.keys[${j}]`
      const k = trustedKeyFromJwk(entry)
      const secret = privateMembers(entry)
      // A static set is configuration: fail now rather than answer 500 later, as the gateway would.
      if (k.error !== undefined || !jwkSchema().safeParse(entry).success) {
        bad.push({ path, message: `is not a usable RSA public key (${k.error ?? 'not a JWK'}); the gateway would answer 500 once it reached it` })
      } else if (secret.length > 0 && strict !== undefined) {
        bad.push({ path, message: `holds private key material (${secret.join(', ')}): a verifier needs the public half only (kty, n, e; toJwks() or \`cloud-connector jwks\` give it), and whoever can read this configuration can sign tokens` })
      } else {
        // Only n and e are used; the warning names the members, never their values.
        if (secret.length > 0) log(logger, 'warn', 'gateway_verifier.private_jwk', { path, kid: k.kid ?? null, members: secret })
        staticKeys.push(k)
      }
    })
  })
  if (bad.length > 0) throw new InvalidOptionsError(`createGatewayVerifier: ${bad.map((b) => `${b.path} ${b.message}`).join('; ')}`, bad)
  for (const k of opts.keys ?? []) staticKeys.push(trustedKeyFromSigningKey(k))

  return {
    audience: opts.audience ?? DEFAULT_AUDIENCE,
    staticKeys,
    issuerUrls,
    cacheTtlMs: cacheTtlSeconds * 1000,
    emptyTtlMs: (opts.emptyKeySetTtlSeconds ?? cacheTtlSeconds) * 1000,
    fetchTimeoutMs: opts.fetchTimeoutMs ?? DEFAULT_FETCH_TIMEOUT_MS,
    fetch: opts.fetch ?? ((input, init) => globalThis.fetch(input, init)),
    now: opts.now ?? (() => new Date()),
    strict,
    verifiedTokenCacheSize: opts.verifiedTokenCacheSize ?? 1024,
    logger,
  }
}

/** An issuer URL as keys and `iss` are compared: without trailing "/" (stripped without a backtracking pattern). */
function issuerId(url: string): string {
  return stripEndWhere(url, (c) => c === 0x2f)
}

function log(logger: Log | undefined, level: keyof Log, event: string, fields: Record<string, unknown>): void {
  try {
    logger?.[level]?.(event, fields)
  } catch {
    // a failing logger must not change a verdict
  }
}
