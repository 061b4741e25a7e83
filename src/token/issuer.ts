import { randomUUID } from 'node:crypto'
import type { z } from 'zod'
import { lazy, zod } from '../zod.js'
import { builtInCatalog } from '../catalog/builtin.js'
import type { Catalog } from '../catalog/catalog.js'
import { audiencesFor, hasFreeAccess, normalizeAddOnName, resolveEntitlements } from '../catalog/entitlements.js'
import { parseCutOffDate } from '../catalog/schema.js'
import { CatalogError, InvalidOptionsError, TokenError } from '../errors.js'
import { toLog, type Logger } from '../log.js'
import type { Clock, CloudConnectorClaims, JwtHeader, Realm, SigningKey, TokenRequest, TokenResult, TokenSource } from '../types.js'
import { createTokenCache, type ExternalTokenStore, type TokenCache } from './cache.js'
import {
  DEFAULT_TTL_SECONDS,
  buildClaims,
  buildHeader,
  canonicalJson,
  checkExtraClaims,
  readOwnToken,
  sha256,
  signJwt,
  type JwtSigner,
} from './jwt.js'
import { UUID_PATTERN, fn, parseOptions } from './options.js'

/**
 * Mint the self-issued cloud-connector JWT exactly as a GitLab instance does
 * (`CloudConnector::Tokens#issue_token` → `TokenIssuer#token` → `JSONWebToken#encode`).
 *
 * `issue()` mints a fresh token every call (Rails mints per request). `getToken()` makes the issuer a
 * TokenSource: it returns a cached token carrying every scope the instance is entitled to (what
 * Rails puts in each token), refreshed eagerly before it expires.
 */
export function createTokenIssuer(options: TokenIssuerOptions): TokenIssuer {
  const opts = parseOptions('createTokenIssuer', issuerOptionsSchema(), options, ISSUER_OPTION_NAMES)
  const newJti: () => string = opts.jti ?? randomUUID
  const ttlSeconds = opts.ttlSeconds ?? DEFAULT_TTL_SECONDS
  const catalog: Catalog = opts.catalog ?? builtInCatalog
  // Rails hands the issuer the normalised names of the purchased add-ons (`uniq_normalized_add_on_names`).
  const addOns = [...new Set((opts.addOns ?? []).map(normalizeAddOnName))]
  const strict = opts.strict === true
  const logger = toLog(opts.logger)
  const signer = opts.signer
  const keyInput = opts.key
  const baseExtraClaims = checkExtraClaims(opts.extraClaims, 'createTokenIssuer')

  if (!isKeyRing(keyInput) && !keyInput.privateKey && !signer) {
    throw new InvalidOptionsError(
      `createTokenIssuer: options.key (kid ${keyInput.kid}) is verification-only (no private key): load the instance's private key with loadSigningKey(), or pass options.signer to sign with a KMS/HSM.`,
      [{ path: 'options.key', message: 'has no private key and no signer was given' }],
    )
  }

  const unknownAddOns = addOns.filter((a) => !catalog.addOns.has(a))
  if (strict && unknownAddOns.length > 0) {
    const known = [...catalog.addOns.keys()].join(', ') || 'none'
    const index = (opts.addOns ?? []).findIndex((a) => normalizeAddOnName(a) === unknownAddOns[0])
    throw new InvalidOptionsError(
      `createTokenIssuer: options.addOns[${index}] ${JSON.stringify(String(unknownAddOns[0]).slice(0, 64))} is not an add-on of the catalog (known: ${known}); fix the name or pass the catalog that defines it (strict mode refuses unknown add-ons).`,
      [{ path: `options.addOns.${index}`, message: 'is not an add-on of the catalog' }],
    )
  }

  const warnings: string[] = []
  if (unknownAddOns.length > 0) {
    // A newer GitLab may sell an add-on this catalog predates: it grants nothing here, which the user must know.
    const known = [...catalog.addOns.keys()].join(', ') || 'none'
    const warning = `addOns: ${unknownAddOns.map((a) => JSON.stringify(a.slice(0, 64))).join(', ')} ${unknownAddOns.length === 1 ? 'is not an add-on' : 'are not add-ons'} of the catalog (known: ${known}) and grant${unknownAddOns.length === 1 ? 's' : ''} no unit primitive; fix the name, or pass the catalog that defines ${unknownAddOns.length === 1 ? 'it' : 'them'} (strict: true refuses unknown add-ons).`
    warnings.push(warning)
    logger?.warn?.('cloud_connector.unknown_add_on', { addOns: unknownAddOns.map((a) => a.slice(0, 64)), message: warning })
  }
  if (opts.instanceId === UUID_NOT_SET) {
    const warning =
      'instanceId is "uuid-not-set": GitLab sends this when the instance UUID is missing; the gateway can only match it literally (sub ↔ X-Gitlab-Instance-Id) and cannot attribute usage to an instance. Set the instance UUID (Gitlab::CurrentSettings.uuid).'
    warnings.push(warning)
    logger?.warn?.('cloud_connector.instance_id_not_set', { issuer: opts.issuer, message: warning })
  }

  const refreshBeforeSeconds = opts.cache === false ? 0 : (opts.cache?.refreshBeforeSeconds ?? 300)
  if (opts.cache !== false && refreshBeforeSeconds >= ttlSeconds) {
    throw new InvalidOptionsError(
      `createTokenIssuer: options.cache.refreshBeforeSeconds (${refreshBeforeSeconds}) must be less than options.ttlSeconds (${ttlSeconds}), or every call would mint a new token.`,
      [{ path: 'options.cache.refreshBeforeSeconds', message: 'must be less than ttlSeconds' }],
    )
  }

  let signed = 0
  const cache: TokenCache<IssuedToken> | undefined =
    opts.cache === false
      ? undefined
      : createTokenCache<IssuedToken>({
          refreshBeforeSeconds,
          maxEntries: opts.cache?.maxEntries,
          now: opts.now,
          logger,
          store: opts.cache?.store,
          codec: opts.cache?.store ? { encode: (t) => t.token, decode: (raw) => decodeStored(raw) } : undefined,
        })

  /** The key the next token will be signed with, without side effects (a ring warns on signingKey()). */
  const ring = isKeyRing(keyInput) ? keyInput : undefined
  function peekKey(): SigningKey {
    if (ring === undefined) return keyInput as SigningKey
    return typeof ring.current === 'function' ? ring.current() : ring.signingKey()
  }

  function signingKey(): SigningKey {
    const key = isKeyRing(keyInput) ? keyInput.signingKey() : keyInput
    if (!key.privateKey && !signer) {
      throw new TokenError(
        'ERR_SIGNER_FAILED',
        `The key ring's signing key (kid ${key.kid}) has no private key and no signer was given: add the private key to the ring, or pass options.signer.`,
      )
    }
    return key
  }

  function decodeStored(raw: string): IssuedToken | undefined {
    const read = readOwnToken(raw, peekKey())
    if (!read || read.claims.iss !== opts.issuer || read.claims.sub !== opts.instanceId) return undefined
    return { token: raw, header: read.header, claims: read.claims, expiresAt: new Date(read.claims.exp * 1000), warnings: [...warnings] }
  }

  function currentTime(): Date {
    if (opts.now === undefined) return new Date()
    const t = opts.now()
    if (!(t instanceof Date) || !Number.isFinite(t.getTime())) {
      throw new InvalidOptionsError('createTokenIssuer: options.now() must return a valid Date.', [
        { path: 'options.now', message: 'returned an invalid Date' },
      ])
    }
    return t
  }

  // The hot paths read the time as a number: without an injected clock, no Date is made for it.
  const nowMs: () => number = opts.now === undefined ? Date.now : () => currentTime().getTime()

  // Entitlements only change when the clock crosses a catalog cut-off date: resolved once per interval
  // between two cut-offs instead of walking the catalog (and parsing its dates) for every token.
  const cutOffs = cutOffInstants(catalog)
  type Entitled = { scopes: readonly string[]; audiences: readonly string[]; scopeSet: ReadonlySet<string>; from: number; until: number }
  let entitledMemo: Entitled | undefined
  function entitledAt(t: number): Entitled {
    if (entitledMemo !== undefined && t >= entitledMemo.from && t < entitledMemo.until) return entitledMemo
    const { scopes, audiences } = resolveEntitlements(catalog, { addOns, now: new Date(t) })
    entitledMemo = { scopes, audiences, scopeSet: new Set(scopes), ...windowAround(cutOffs, t) }
    return entitledMemo
  }

  /** Everything that determines the token, resolved now (entitlements depend on the clock). */
  function resolve(
    req: { scopes?: readonly string[] | 'all'; audience?: readonly string[]; extraClaims?: unknown; skipUsageCutoff?: boolean | undefined },
    where: string,
    t: number = nowMs(),
  ): Resolved {
    const entitled = entitledAt(t)
    let scopes: string[]
    if (req.scopes === undefined || req.scopes === 'all') {
      scopes = [...entitled.scopes]
      if (scopes.length === 0) {
        logger?.warn?.('cloud_connector.no_entitled_scopes', { addOns })
      }
    } else {
      const wanted = new Set(req.scopes)
      for (const name of wanted) {
        if (!entitled.scopeSet.has(name)) throw notEntitled(name, catalog, addOns, new Date(t))
      }
      // The catalog's entitlement order: the token does not depend on how the caller ordered the list.
      scopes = entitled.scopes.filter((s) => wanted.has(s))
    }
    const audience = req.audience
      ? [...new Set(req.audience)]
      : scopes.length === entitled.scopes.length
        ? [...entitled.audiences]
        : audiencesFor(catalog, scopes)
    const extraClaims = withSkipUsageCutoff({ ...baseExtraClaims, ...checkExtraClaims(req.extraClaims, where) }, req.skipUsageCutoff ?? opts.skipUsageCutoff)
    return { scopes, audience, extraClaims }
  }

  /** The cache key of a resolved token: everything that changes it, with the kid it will be signed with. */
  function cacheKeyOf(resolved: Resolved, kid: string): string {
    const { scopes, audience: aud, extraClaims } = resolved
    return `cc-token:${sha256(canonicalJson({ iss: opts.issuer, sub: opts.instanceId, realm: opts.realm, aud, kid, scopes, ttl: ttlSeconds, extraClaims }))}`
  }

  async function mint(resolved: Resolved): Promise<IssuedToken> {
    const key = signingKey()
    const jti = newJti()
    if (typeof jti !== 'string' || jti.length === 0) {
      throw new InvalidOptionsError('createTokenIssuer: options.jti() must return a non-empty string (a UUID v4).', [
        { path: 'options.jti', message: 'returned an empty or non-string value' },
      ])
    }
    const issuedAt = Math.floor(nowMs() / 1000)
    const claims = buildClaims({
      issuer: opts.issuer,
      audience: resolved.audience,
      subject: opts.instanceId,
      realm: opts.realm,
      scopes: resolved.scopes,
      jti,
      issuedAt,
      ttlSeconds,
      extraClaims: resolved.extraClaims,
    })
    const header = buildHeader(key.kid)
    const token = await signJwt(header, claims, key, signer)
    signed++
    logger?.debug?.('cloud_connector.token_minted', { kid: key.kid, jti, exp: claims.exp, scopes: claims.scopes.length })
    const ringWarning = isKeyRing(keyInput) && typeof keyInput.signingStatus === 'function' ? keyInput.signingStatus().warning?.message : undefined
    return { token, header, claims, expiresAt: new Date(claims.exp * 1000), warnings: ringWarning ? [...warnings, ringWarning] : [...warnings] }
  }

  // getToken() is the hot path: its resolution (all entitled scopes, audience, cache key) only changes
  // when the clock crosses a catalog cut-off date or the signing key changes, so it is memoised
  // between those instants instead of recomputed (and re-hashed) on every request.
  type Memo = { resolved: Resolved; cacheKey: string; scopeSet: ReadonlySet<string>; kid: string; from: number; until: number }
  // one per value of the skip_usage_cutoff claim the request asks for: the issuer's (undefined), false, true
  const memos: (Memo | undefined)[] = [undefined, undefined, undefined]
  function resolveAll(skipUsageCutoff: boolean | undefined, t: number): Memo {
    const kid = peekKey().kid
    const slot = skipUsageCutoff === undefined ? 0 : skipUsageCutoff ? 2 : 1
    const memo = memos[slot]
    if (memo !== undefined && memo.kid === kid && t >= memo.from && t < memo.until) return memo
    const resolved = resolve({ scopes: 'all', skipUsageCutoff }, 'getToken()', t)
    const { scopeSet, from, until } = entitledAt(t)
    const next = { resolved, cacheKey: cacheKeyOf(resolved, kid), scopeSet, kid, from, until }
    memos[slot] = next
    return next
  }

  /**
   * The `reason` of a token result, per minted token and unit primitive (built once: it is the same text
   * every time), the last one asked kept at hand: a service asks for the same one request after request.
   */
  const reasons = new WeakMap<IssuedToken, Map<string, string>>()
  let lastReason: { minted: IssuedToken; unitPrimitive: string; reason: string; expiresAt: number } | undefined
  function selfIssued(minted: IssuedToken, unitPrimitive: string): TokenResult {
    let last = lastReason
    if (last === undefined || last.minted !== minted || last.unitPrimitive !== unitPrimitive) {
      let perToken = reasons.get(minted)
      if (perToken === undefined) {
        perToken = new Map()
        reasons.set(minted, perToken)
      }
      let reason = perToken.get(unitPrimitive)
      if (reason === undefined) {
        reason = `Self-issued JWT signed with this instance's key (kid ${minted.header.kid}), carrying ${minted.claims.scopes.length} entitled scopes including ${unitPrimitive}; expires ${minted.expiresAt.toISOString()}.`
        perToken.set(unitPrimitive, reason)
      }
      last = lastReason = { minted, unitPrimitive, reason, expiresAt: minted.expiresAt.getTime() }
    }
    // a Date of its own: the caller may change it without changing the cached token
    return { token: minted.token, source: 'self-issued', reason: last.reason, branch: 'self-issued', expiresAt: new Date(last.expiresAt) }
  }

  /**
   * A token with no scopes or no audience is one the gateway always refuses ("Invalid audience" for `aud: []`,
   * 403 everywhere without scopes): refuse to mint it, naming what would grant something, unless the caller
   * asked for such a token on purpose (`allowEmpty`, for tests of token shapes).
   */
  function assertUsable(resolved: Resolved, allowEmpty: boolean | undefined): void {
    if (allowEmpty === true) return
    if (resolved.scopes.length === 0) throw nothingEntitled(catalog, addOns, currentTime())
    if (resolved.audience.length === 0) {
      throw new CatalogError(
        'ERR_CATALOG_INVALID',
        `The unit primitives ${resolved.scopes.join(', ')} belong to no backend service of the catalog (backend_services), so the token would carry "aud": [] and the gateway would refuse it ("Invalid audience"). Fix the catalog, or pass issue({ audience }).`,
        { path: 'backend_services' },
      )
    }
  }

  const issuer: TokenIssuer = {
    async issue(request = {}) {
      const req = parseOptions('issue()', issueRequestSchema(), request, ISSUE_REQUEST_NAMES)
      // The default request resolves exactly as getToken() does: reuse its memo instead of walking the catalog.
      const isDefault = (req.scopes === undefined || req.scopes === 'all') && req.audience === undefined && req.extraClaims === undefined
      const resolved = isDefault ? resolveAll(req.skipUsageCutoff, nowMs()).resolved : resolve(req, 'issue()')
      assertUsable(resolved, req.allowEmpty)
      return mint(resolved)
    },

    // Not `async`: a cached token (the hot path) is answered without an async frame or a mint closure.
    getToken(request) {
      try {
        const unitPrimitive = checkUnitPrimitive(request)
        // the clock is read once per request: the cache judges the entry at the same instant
        const t = nowMs()
        const { resolved, cacheKey, scopeSet } = resolveAll(skipOf(request), t)
        if (!scopeSet.has(unitPrimitive)) throw notEntitled(unitPrimitive, catalog, addOns, currentTime())
        assertUsable(resolved, false)
        if (cache === undefined) return mint(resolved).then((minted) => selfIssued(minted, unitPrimitive))
        if (request.forceRefresh !== true) {
          const hit = cache.lookup(cacheKey, t)
          if (hit !== undefined) return Promise.resolve(selfIssued(hit, unitPrimitive))
        }
        return cache
          .get(cacheKey, () => mint(resolved), { forceRefresh: request.forceRefresh === true })
          .then((minted) => selfIssued(minted, unitPrimitive))
      } catch (e) {
        return Promise.reject(e)
      }
    },

    peekToken(request) {
      if (cache === undefined || request?.forceRefresh === true) return undefined
      const unitPrimitive = request?.unitPrimitive as unknown
      if (typeof unitPrimitive !== 'string' || unitPrimitive.length === 0) return undefined
      try {
        const t = nowMs()
        const { cacheKey, scopeSet } = resolveAll(skipOf(request), t)
        if (!scopeSet.has(unitPrimitive)) return undefined
        const hit = cache.lookup(cacheKey, t)
        return hit === undefined ? undefined : selfIssued(hit, unitPrimitive)
      } catch {
        // getToken() will say what is wrong (an invalid clock)
        return undefined
      }
    },

    entitlements() {
      const entitled = entitledAt(currentTime().getTime())
      return { scopes: [...entitled.scopes], audiences: [...entitled.audiences] }
    },

    invalidate() {
      cache?.invalidate()
    },

    get kid() {
      return peekKey().kid
    },
    get stats() {
      return { mints: signed, cacheHits: cache?.stats.cacheHits ?? 0 }
    },
    get warnings() {
      return [...warnings]
    },
    issuer: opts.issuer,
    instanceId: opts.instanceId,
    realm: opts.realm,
  }
  return Object.freeze(issuer)
}

/** GitLab's literal placeholder when `Gitlab::CurrentSettings.uuid` is unset. */
export const UUID_NOT_SET = 'uuid-not-set'

/** A key ring as in src/keys/ring.ts: the issuer calls `signingKey()` at each mint. */
export interface SigningKeyProvider {
  signingKey(): SigningKey
  /** The key `signingKey()` would return, without its publish-age checks (used for cache keys). */
  current?(): SigningKey
  /** The ring's publish-age verdict; a warning is copied into the minted token's `warnings`. */
  signingStatus?(): { warning?: { message: string } }
}

export interface TokenIssuerOptions {
  /** The instance URL (`Gitlab.config.gitlab.url`), e.g. `https://gitlab.example.com`: the `iss` claim. */
  issuer: string
  /** The instance UUID (`Gitlab::CurrentSettings.uuid`): the `sub` claim and `X-Gitlab-Instance-Id`. */
  instanceId: string
  realm: Realm
  /** A loaded signing key, or a key ring (its `signingKey()` is asked at each mint). */
  key: SigningKey | SigningKeyProvider
  /** Default: the built-in catalog. */
  catalog?: Catalog
  /** Active add-ons, e.g. `['duo_enterprise']`. */
  addOns?: readonly string[]
  /** Default 3600, as Rails. */
  ttlSeconds?: number
  now?: Clock
  /** Default `crypto.randomUUID`. Tests pin it. */
  jti?: () => string
  /** Sign with a KMS/HSM instead of `key.privateKey`; `key` may then be verification-only. */
  signer?: JwtSigner
  /** `false` disables the getToken() cache. */
  cache?: { refreshBeforeSeconds?: number; maxEntries?: number; store?: ExternalTokenStore } | false
  /**
   * The `skip_usage_cutoff` claim, which Rails adds to every AI Gateway token (`Gitlab::AiGateway
   * .cloud_connector_token`): true only for a GitLab team member, whose requests skip the gateway's
   * usage quota. Default false. A request may set it too (`issue({ skipUsageCutoff })`, `getToken`).
   */
  skipUsageCutoff?: boolean
  /** Claims appended after GitLab's (e.g. `{ gitlab_namespace_id: '42' }`); may not override them. */
  extraClaims?: Record<string, unknown>
  /** Refuse an add-on the catalog does not know (default: warn through `logger` and in `warnings`; it grants nothing). */
  strict?: boolean
  logger?: Logger
}

export interface IssueRequest {
  /** `'all'` (default): every scope the instance is entitled to, as Rails does; or a subset. */
  scopes?: readonly string[] | 'all'
  /** Default: the `jwt_aud` of the scopes' backend services, in Rails' order. */
  audience?: readonly string[]
  extraClaims?: Record<string, unknown>
  /** Overrides the issuer's `skipUsageCutoff` for this token. */
  skipUsageCutoff?: boolean
  /**
   * Mint even a token with no scopes or no audience, which the gateway always refuses (for tests of token
   * shapes). Without it such a request throws `ERR_SCOPE_NOT_ENTITLED` naming the add-ons that would grant scopes.
   */
  allowEmpty?: boolean
}

export interface IssuedToken {
  token: string
  header: JwtHeader
  claims: CloudConnectorClaims
  expiresAt: Date
  /** Things the gateway will accept but that are probably wrong (e.g. `uuid-not-set`). */
  warnings: string[]
}

export interface TokenIssuer extends TokenSource {
  /** Mint a fresh token (uncached). */
  issue(request?: IssueRequest): Promise<IssuedToken>
  /** A cached token with all entitled scopes; throws ERR_SCOPE_NOT_ENTITLED when `unitPrimitive` is not among them. */
  getToken(request: TokenRequest): Promise<TokenResult>
  /** The cached token `getToken()` would answer with now, or `undefined` when it would mint (see `TokenSource`). */
  peekToken(request: TokenRequest): TokenResult | undefined
  /** The scopes and audiences the instance is entitled to now. */
  entitlements(): { scopes: string[]; audiences: string[] }
  invalidate(): void
  /** The kid the next token will carry. */
  readonly kid: string
  readonly stats: { mints: number; cacheHits: number }
  readonly warnings: readonly string[]
  readonly issuer: string
  readonly instanceId: string
  readonly realm: Realm
}

/** Every cut-off instant of the catalog, ascending: the only moments entitlements can change. */
function cutOffInstants(catalog: Catalog): number[] {
  const out = new Set<number>()
  for (const up of catalog.unitPrimitives.values()) {
    if (up.cut_off_date === undefined) continue
    const at = parseCutOffDate(up.cut_off_date)
    if (at !== undefined) out.add(at.getTime())
  }
  return [...out].sort((a, b) => a - b)
}

/** The interval [from, until) around `t` that contains no cut-off instant other than `from` itself. */
function windowAround(cutOffs: readonly number[], t: number): { from: number; until: number } {
  let from = Number.NEGATIVE_INFINITY
  for (const c of cutOffs) {
    if (c > t) return { from, until: c }
    from = c
  }
  return { from, until: Number.POSITIVE_INFINITY }
}

interface Resolved {
  scopes: string[]
  audience: string[]
  extraClaims: Record<string, unknown>
}

const ISSUER_OPTION_NAMES = [
  'issuer',
  'instanceId',
  'realm',
  'key',
  'catalog',
  'addOns',
  'ttlSeconds',
  'now',
  'jti',
  'signer',
  'cache',
  'extraClaims',
  'skipUsageCutoff',
  'strict',
  'logger',
] as const

const ISSUE_REQUEST_NAMES = ['scopes', 'audience', 'extraClaims', 'skipUsageCutoff', 'allowEmpty'] as const

const nonEmpty = (what: string) => zod().string({ error: `must be a ${what}` }).min(1, { error: `must be a non-empty ${what}` })

export const issuerOptionsSchema = lazy((z) => z.strictObject({
  issuer: z
    .string({ error: 'is required: the instance URL (Gitlab.config.gitlab.url), e.g. "https://gitlab.example.com"' })
    .refine(isHttpUrl, { error: 'must be an absolute http(s) URL without query or fragment, e.g. "https://gitlab.example.com"' }),
  instanceId: z
    .string({ error: 'is required: the instance UUID (Gitlab::CurrentSettings.uuid)' })
    .refine((v) => v === UUID_NOT_SET || UUID_PATTERN.test(v), {
      error: 'must be the instance UUID (8-4-4-4-12 hex digits, Gitlab::CurrentSettings.uuid) or GitLab\'s literal "uuid-not-set"',
    }),
  realm: z.enum(['saas', 'self-managed'], { error: 'must be "self-managed" (self-managed and Dedicated) or "saas" (GitLab.com)' }),
  key: z.custom<SigningKey | SigningKeyProvider>((v) => isSigningKey(v) || isKeyRing(v), {
    error: 'must be a signing key from loadSigningKey() (or loadVerificationKey() with a signer), or a key ring from createKeyRing()',
  }),
  catalog: z
    .custom<Catalog>((v) => isCatalog(v), { error: 'must be a catalog from createCatalog() or loadCatalogDir()' })
    .optional(),
  addOns: z.array(nonEmpty('add-on name'), { error: 'must be an array of add-on names, e.g. ["duo_enterprise"]' }).optional(),
  ttlSeconds: z
    .number({ error: 'must be a number of seconds' })
    .int({ error: 'must be a whole number of seconds' })
    .min(1, { error: 'must be at least 1 second' })
    .max(86_400, { error: 'must be at most 86400 seconds (24 h); GitLab uses 3600' })
    .optional(),
  now: fn<Clock>('must be a function returning the current Date').optional(),
  jti: fn<() => string>('must be a function returning a new UUID v4').optional(),
  signer: fn<JwtSigner>('must be a function (signingInput, { kid, alg }) => Promise<Uint8Array>').optional(),
  cache: z
    .union(
      [
        z.literal(false),
        z.strictObject({
          refreshBeforeSeconds: z
            .number({ error: 'must be a number of seconds' })
            .int({ error: 'must be a whole number of seconds' })
            .min(0, { error: 'must be >= 0' })
            .optional(),
          maxEntries: z
            .number({ error: 'must be a number' })
            .int({ error: 'must be a whole number' })
            .min(1, { error: 'must be at least 1' })
            .optional(),
          store: z
            .custom<ExternalTokenStore>(
              (v) => !!v && typeof v === 'object' && typeof (v as ExternalTokenStore).get === 'function' && typeof (v as ExternalTokenStore).set === 'function',
              { error: 'must be an object with get(key) and set(key, value, ttlSeconds) methods' },
            )
            .optional(),
        }),
      ],
      { error: 'must be false or { refreshBeforeSeconds?, maxEntries?, store? }' },
    )
    .optional(),
  // Checked by checkExtraClaims: a zod record would copy the object and could swallow a "__proto__" key.
  extraClaims: z.unknown().optional(),
  skipUsageCutoff: z.boolean({ error: 'must be a boolean (true for a GitLab team member, as Rails sets it)' }).optional(),
  strict: z.boolean({ error: 'must be a boolean' }).optional(),
  logger: z
    .custom<Logger>((v) => !!v && typeof v === 'object', { error: 'must be an object with optional debug/info/warn/error methods' })
    .optional(),
}))

const issueRequestSchema = lazy((z) => z.strictObject({
  scopes: z
    .union([z.literal('all'), z.array(nonEmpty('unit primitive name')).min(1, { error: 'must name at least one unit primitive (or be "all")' })], {
      error: 'must be "all" or an array of unit primitive names',
    })
    .optional(),
  audience: z.array(nonEmpty('audience'), { error: 'must be an array of audiences' }).min(1, { error: 'must not be empty' }).optional(),
  extraClaims: z.unknown().optional(),
  skipUsageCutoff: z.boolean({ error: 'must be a boolean' }).optional(),
  allowEmpty: z.boolean({ error: 'must be true or false' }).optional(),
}))

/**
 * The `skip_usage_cutoff` claim after the extra claims: Rails always sends it (`Gitlab::AiGateway
 * .cloud_connector_token` passes `extra_claims: { skip_usage_cutoff: gitlab_team_member?(user) }`,
 * flyisland/gitlab-ee `ee/lib/gitlab/ai_gateway.rb` @ 52d0d30b), first among the extra claims. The option
 * (request, then issuer) decides its value; without one, an extra claim of that name does; else false.
 */
function withSkipUsageCutoff(extra: Record<string, unknown>, option: boolean | undefined): Record<string, unknown> {
  const { skip_usage_cutoff: fromExtra, ...rest } = extra
  return { skip_usage_cutoff: option ?? (Object.hasOwn(extra, 'skip_usage_cutoff') ? fromExtra : false), ...rest }
}

/** A request's own `skipUsageCutoff`, when it is a boolean (anything else: the issuer's). */
function skipOf(request: TokenRequest | undefined): boolean | undefined {
  const v = (request as { skipUsageCutoff?: unknown } | undefined)?.skipUsageCutoff
  return typeof v === 'boolean' ? v : undefined
}

function checkUnitPrimitive(request: TokenRequest | undefined): string {
  const up = request?.unitPrimitive as unknown
  if (typeof up !== 'string' || up.length === 0) {
    throw new InvalidOptionsError('getToken(): request.unitPrimitive must be the unit primitive the call needs, e.g. "complete_code".', [
      { path: 'request.unitPrimitive', message: 'is required' },
    ])
  }
  return up
}

function notEntitled(name: string, catalog: Catalog, addOns: readonly string[], at: Date): TokenError {
  const up = catalog.unitPrimitives.get(name)
  if (!up) {
    return new TokenError(
      'ERR_SCOPE_NOT_ENTITLED',
      `Unit primitive "${name}" is not in the catalog, so no token can carry it: check the spelling, or pass a catalog that defines it (loadCatalogDir).`,
      { unitPrimitive: name },
    )
  }
  const grantedBy = [...(up.add_ons ?? [])]
  const active = addOns.length > 0 ? addOns.join(', ') : 'none'
  const cutOff = up.cut_off_date !== undefined && !hasFreeAccess(up, at) ? ` Its free access ended on ${up.cut_off_date} (cut_off_date).` : ''
  const how =
    grantedBy.length > 0
      ? ` It is granted by the add-on${grantedBy.length > 1 ? 's' : ''} ${grantedBy.join(', ')}; active add-ons: ${active}. Pass addOns: ['${grantedBy[0]}'] if the instance has it.`
      : ` No add-on grants it; active add-ons: ${active}.`
  return new TokenError('ERR_SCOPE_NOT_ENTITLED', `The instance is not entitled to unit primitive "${name}".${cutOff}${how}`, {
    unitPrimitive: name,
    grantedBy,
  })
}

/** The refusal of a token that would carry no scope at all: the add-ons that grant any, most granting first. */
function nothingEntitled(catalog: Catalog, addOns: readonly string[], at: Date): TokenError {
  const grants = new Map<string, number>()
  for (const up of catalog.unitPrimitives.values()) {
    if (hasFreeAccess(up, at)) continue
    for (const a of up.add_ons ?? []) grants.set(a, (grants.get(a) ?? 0) + 1)
  }
  const grantedBy = [...grants.entries()].sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1)).map(([a]) => a)
  const active = addOns.length > 0 ? addOns.join(', ') : 'none'
  const how =
    grantedBy.length > 0
      ? ` Add-ons that grant unit primitives: ${grantedBy.map((a) => `${a} (${grants.get(a)})`).join(', ')}. Pass addOns: ['${grantedBy[0]}'] if the instance has it.`
      : ' No add-on of the catalog grants any.'
  return new TokenError(
    'ERR_SCOPE_NOT_ENTITLED',
    `The instance is entitled to no unit primitive (active add-ons: ${active}): the token would carry "scopes": [] and "aud": [], which the gateway always refuses ("Invalid audience").${how} (issue({ allowEmpty: true }) mints it anyway, for token shape tests.)`,
    { grantedBy },
  )
}

export function isHttpUrl(value: string): boolean {
  try {
    const u = new URL(value)
    return (u.protocol === 'https:' || u.protocol === 'http:') && u.search === '' && u.hash === '' && !/\s/.test(value)
  } catch {
    return false
  }
}

export function isSigningKey(v: unknown): v is SigningKey {
  if (!v || typeof v !== 'object') return false
  const k = v as Partial<SigningKey>
  return typeof k.kid === 'string' && k.alg === 'RS256' && !!k.publicJwk && !!k.publicKey && typeof k.modulusLength === 'number'
}

export function isKeyRing(v: unknown): v is SigningKeyProvider {
  return !!v && typeof v === 'object' && typeof (v as SigningKeyProvider).signingKey === 'function'
}

function isCatalog(v: unknown): v is Catalog {
  return !!v && typeof v === 'object' && (v as Catalog).unitPrimitives instanceof Map && (v as Catalog).backendServices instanceof Map
}
