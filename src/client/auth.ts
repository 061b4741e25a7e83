/**
 * What the client and the fetch adapter share: obtain a token for a unit primitive, run preflight on the
 * exact token + headers that would be sent (throwing instead of sending when the gateway would refuse),
 * and explain a 401/403 afterwards from the SDK's own reading of that token.
 *
 * Hot path: with a cached token a request costs one `getToken` (a cache hit in the source) and two map
 * lookups: a token is decoded once per token string, and preflight runs once per clock second for the same
 * token, headers and endpoint (see `#preflight`).
 */
import type { EndpointAccess } from '../inspect/access.js'
import { inspectToken, preflight, PreflightError, type PreflightInput, type PreflightResult, type TokenReport } from '../inspect/index.js'
import { pyInt } from '../inspect/python.js'
import { fingerprint, redact, redactShapes } from '../redact.js'
import type { Log } from '../log.js'
import type { Clock, Problem, TokenRequest, TokenResult, TokenSource } from '../types.js'
import type { ClockSkewInfo, TokenDiagnosis } from './errors.js'

export interface AuthorizerOptions {
  tokenSource: TokenSource
  audience: string
  now: Clock
  leewaySeconds: number | undefined
  logger: Log | undefined
}

/** What the token step of a request needs. */
export interface AuthorizeInput {
  unitPrimitive: string
  /** This request's gateway headers (x-request-id included); their `authorization` is set to the token obtained. */
  base: Record<string, string>
  signal: AbortSignal | undefined
  requestTimeoutMs: number | undefined
  endpoint: string
  /** The endpoint's 403 detail, for preflight's message. */
  forbiddenDetail?: string | undefined
  /** The endpoint's whole rule for this request's body (`endpointAccess`); preflight judges it instead of `unitPrimitive`. */
  access?: EndpointAccess | undefined
  /** The feature setting the call is made for, handed to the token source (`TokenRequest.featureSetting`). */
  featureSetting?: string | undefined
  /**
   * A precomputed key standing for (headers preflight reads, unit primitive, timeout, 403 detail), when the
   * caller knows them to be fixed (the client's static headers); computed from them otherwise.
   */
  memoKey?: string | undefined
}

/** One authorised attempt: the headers to send (Authorization included) and what is known about the token. */
export interface Authorization {
  headers: Record<string, string>
  token: string
  tokenResult: TokenResult
  entry: TokenEntry
  preflight: PreflightResult
}

/** Per token string: its report and the log fields derived from it, computed once. */
export interface TokenEntry {
  report: TokenReport
  /** Log-safe fields: jti, kid, exp, tokenSha. */
  fields: { jti?: string; kid?: string; exp?: number; tokenSha: string }
  scopes: string[] | undefined
  /** Preflight results of this token per header identity and unit primitive, valid for one clock second. */
  preflights: Map<string, { second: number; result: PreflightResult }>
}

export class Authorizer {
  readonly #source: TokenSource
  readonly #audience: string
  readonly #now: Clock
  readonly #leeway: number | undefined
  readonly #logger: Log | undefined
  readonly #entries = new Map<string, TokenEntry>()
  readonly #warned = new Set<string>()
  /** Forced refreshes in flight, per unit primitive and rejected token, so N concurrent 401s cause one refresh. */
  readonly #refreshing = new Map<string, Promise<TokenResult>>()
  /** The Authorization value of the last token seen (see `authorize`). */
  #bearerFor: string | undefined = undefined
  #bearer = 'Bearer '

  constructor(options: AuthorizerOptions) {
    this.#source = options.tokenSource
    this.#audience = options.audience
    this.#now = options.now
    this.#leeway = options.leewaySeconds
    this.#logger = options.logger
  }

  /**
   * Token + preflight + headers. `base` holds this request's gateway headers (x-request-id included); its
   * `authorization` is set to the token obtained, and it is returned as `headers`.
   * Throws the preflight's `PreflightError` (nothing is sent) or whatever the token source throws.
   */
  authorize(input: AuthorizeInput & {
    /** The token the gateway just refused: get a fresh one instead (once per refused token). */
    refreshAfter?: string
  }): Promise<Authorization> {
    // Not `async` (one async frame less per request); a source that throws instead of rejecting still rejects.
    let pending: Promise<TokenResult>
    try {
      pending = Promise.resolve(
        input.refreshAfter === undefined
          ? this.#source.getToken(tokenRequest(input, input.signal))
          : this.#forceRefresh(input, input.refreshAfter, input.signal),
      )
    } catch (e) {
      return Promise.reject(e)
    }
    return pending.then((tokenResult) => this.#authorizeWith(tokenResult, input))
  }

  /**
   * `authorize` without waiting, when the token source can answer at once (`peekToken`): the Authorization,
   * or `undefined` when the caller must `await authorize(...)`. Throws the preflight's `PreflightError`.
   */
  authorizeNow(input: AuthorizeInput): Authorization | undefined {
    const peek = this.#source.peekToken
    if (peek === undefined) return undefined
    let tokenResult: TokenResult | undefined
    try {
      tokenResult = peek.call(this.#source, tokenRequest(input, input.signal))
    } catch {
      // a source whose peek fails is asked properly
      return undefined
    }
    if (tokenResult === undefined || tokenResult === null || typeof tokenResult !== 'object') return undefined
    return this.#authorizeWith(tokenResult, input)
  }

  #authorizeWith(tokenResult: TokenResult, input: AuthorizeInput): Authorization {
    const token = tokenResult.token
    // `base` is the caller's per-request copy: set the header in place (a retry overwrites it). The value
    // is built once per token: a fresh concatenation of a ~2 KB token would be flattened and re-scanned by
    // fetch's header validation on every request.
    const headers = input.base
    if (token !== this.#bearerFor) {
      this.#bearerFor = token
      this.#bearer = `Bearer ${token ?? ''}`
    }
    headers['authorization'] = this.#bearer
    const result = this.#preflight(token, headers, input, tokenResult)
    if (!result.ok || token === undefined || token.length === 0) {
      this.#logger?.error?.('gateway.preflight_rejected', {
        endpoint: input.endpoint,
        requestId: input.base['x-request-id'],
        unitPrimitive: input.unitPrimitive,
        tokenSource: tokenResult.source,
        status: result.status,
        gatewayError: result.gatewayError,
        findings: result.errors.map((p) => p.code),
      })
      throw toPreflightError(result, input.unitPrimitive)
    }
    const entry = this.entryFor(token, result.report)
    if (result.warnings.length > 0) this.#warn(result.warnings, entry, input)
    return { headers, token, tokenResult, entry, preflight: result }
  }

  /** The memoised report of a token (decoded once per distinct token string). */
  entryFor(token: string, report?: TokenReport): TokenEntry {
    let entry = this.#entries.get(token)
    if (entry === undefined) {
      const r = report ?? inspectToken(token)
      const claims = r.claims ?? {}
      const header = r.header ?? {}
      const scopes = Array.isArray(claims['scopes']) ? (claims['scopes'] as unknown[]).filter((s): s is string => typeof s === 'string') : undefined
      entry = {
        report: r,
        fields: {
          ...(typeof claims['jti'] === 'string' ? { jti: claims['jti'] } : {}),
          ...(typeof header['kid'] === 'string' ? { kid: header['kid'] } : {}),
          ...(typeof claims['exp'] === 'number' ? { exp: claims['exp'] } : {}),
          tokenSha: fingerprint(token),
        },
        scopes,
        preflights: new Map(),
      }
      // A handful of live tokens at most (one per audience/scope set, plus the one being replaced).
      if (this.#entries.size >= 64) this.#entries.delete(this.#entries.keys().next().value as string)
      this.#entries.set(token, entry)
    }
    return entry
  }

  /** The SDK's reading of a token it sent: decoded claims and its preflight findings. Never the token. */
  diagnose(auth: Authorization): TokenDiagnosis {
    const { report } = auth.entry
    const claims = report.claims ?? {}
    const header = report.header ?? {}
    const num = (v: unknown) => (typeof v === 'number' ? v : undefined)
    const str = (v: unknown) => (typeof v === 'string' ? v : undefined)
    const out: TokenDiagnosis = {
      source: auth.tokenResult.source,
      sourceReason: auth.tokenResult.reason,
      kind: report.kind,
      token: redact(auth.token),
      findings: [...auth.preflight.errors, ...auth.preflight.warnings],
    }
    const set = <K extends keyof TokenDiagnosis>(k: K, v: TokenDiagnosis[K] | undefined) => {
      if (v !== undefined) out[k] = v
    }
    set('kid', str(header['kid']))
    set('alg', str(header['alg']))
    set('jti', str(claims['jti']))
    set('iss', str(claims['iss']))
    set('sub', str(claims['sub']))
    set('aud', claims['aud'])
    set('gitlab_realm', claims['gitlab_realm'])
    set('scopes', claims['scopes'])
    set('iat', num(claims['iat']))
    set('nbf', num(claims['nbf']))
    set('exp', num(claims['exp']))
    return out
  }

  /**
   * Compare the gateway's `Date` header with the injected clock. Returns the skew when it exceeds the
   * tolerance, with what it does to the token's `nbf`/`exp` on the gateway's side (which uses no leeway).
   */
  clockSkew(response: Response, entry: TokenEntry | undefined, toleranceSeconds: number): ClockSkewInfo | undefined {
    const date = response.headers.get('date')
    if (date === null) return undefined
    const gatewayMs = Date.parse(date)
    if (Number.isNaN(gatewayMs)) return undefined
    const local = this.#now()
    const skewSeconds = Math.round((gatewayMs - local.getTime()) / 1000)
    if (Math.abs(skewSeconds) <= toleranceSeconds) return undefined
    const claims = entry?.report.claims ?? {}
    const gatewaySeconds = Math.floor(gatewayMs / 1000)
    // As the gateway judges them: python-jose reads nbf/exp with int() (a numeric string counts, a float is
    // truncated) and refuses `nbf > now` and `exp < now` — at the second of exp a token is still accepted
    // (mpdavis/python-jose jose/jwt.py @ 00c51d7c, _validate_nbf / _validate_exp; src/inspect/time.ts agrees).
    const nbf = intClaim(claims['nbf'])
    const exp = intClaim(claims['exp'])
    const effect: ClockSkewInfo['effect'] =
      nbf !== undefined && nbf > gatewaySeconds ? 'not-yet-valid' : exp !== undefined && exp < gatewaySeconds ? 'expired' : 'none'
    return { skewSeconds, gatewayDate: new Date(gatewayMs).toISOString(), localDate: local.toISOString(), effect }
  }

  /**
   * Preflight, memoised per token, unit primitive, timeout and the headers preflight reads, for the current
   * clock second. Its verdicts depend on the clock only through whole seconds (the gateway compares integer
   * `exp`/`nbf`), so a cached token is decoded and judged once per second instead of once per request; only the
   * "expires during the request" warning may show up to a second late.
   */
  #preflight(token: string | undefined, headers: Record<string, string>, call: AuthorizeInput, tokenResult: TokenResult): PreflightResult {
    const { unitPrimitive, requestTimeoutMs, forbiddenDetail, access } = call
    const at = this.#now()
    const memoisable = token !== undefined && token.length > 0 && tokenResult.source !== 'none'
    const second = Math.floor(at.getTime() / 1000)
    const key = !memoisable
      ? ''
      : `${call.memoKey ?? `~${preflightKey(headers, unitPrimitive, requestTimeoutMs, forbiddenDetail)}`}${access === undefined ? '' : `|${accessKey(access)}`}`
    const existing = memoisable ? this.#entries.get(token) : undefined
    const hit = existing?.preflights.get(key)
    if (hit !== undefined && hit.second === second) return hit.result

    const input: PreflightInput = { token, headers, unitPrimitive, audience: this.#audience, now: () => at, tokenResult }
    if (this.#leeway !== undefined) input.leewaySeconds = this.#leeway
    if (requestTimeoutMs !== undefined) input.requestTimeoutMs = requestTimeoutMs
    if (forbiddenDetail !== undefined) input.forbiddenDetail = forbiddenDetail
    if (access !== undefined) input.access = access
    const result = preflight(input)
    if (memoisable) {
      const entry = existing ?? this.entryFor(token, result.report)
      if (entry.preflights.size >= 32) entry.preflights.clear()
      entry.preflights.set(key, { second, result })
    }
    return result
  }

  async #forceRefresh(call: AuthorizeInput, rejected: string, signal: AbortSignal | undefined): Promise<TokenResult> {
    const request = tokenRequest(call, undefined)
    // an empty feature setting is another request than none (a policy source refuses it): never the same refresh
    const feature = request.featureSetting === undefined ? '-' : `=${request.featureSetting}`
    const key = `${request.unitPrimitive}\u0000${feature}\u0000${request.skipUsageCutoff === true ? 1 : 0}\u0000${rejected}`
    let pending = this.#refreshing.get(key)
    if (pending === undefined) {
      // shared by every caller refused with this token: one caller's abort must not fail the others' refresh
      pending = this.#source.getToken({ ...request, forceRefresh: true })
      this.#refreshing.set(key, pending)
      // keep the settled promise briefly so that 401s arriving just after still share it
      void pending.then(
        () => setTimeout(() => this.#refreshing.delete(key), 1_000).unref(),
        () => this.#refreshing.delete(key),
      )
    }
    if (signal === undefined) return pending
    signal.throwIfAborted()
    const shared = pending
    return new Promise<TokenResult>((resolve, reject) => {
      const onAbort = () => reject(signal.reason)
      signal.addEventListener('abort', onAbort, { once: true })
      shared.then(
        (value) => {
          signal.removeEventListener('abort', onAbort)
          resolve(value)
        },
        (error: unknown) => {
          signal.removeEventListener('abort', onAbort)
          reject(error)
        },
      )
    })
  }

  #warn(warnings: Problem[], entry: TokenEntry, input: { endpoint: string; base: Record<string, string>; unitPrimitive: string }): void {
    if (this.#logger?.warn === undefined) return
    for (const w of warnings) {
      const key = `${entry.fields.tokenSha}:${input.unitPrimitive}:${w.code}`
      if (this.#warned.has(key)) continue
      if (this.#warned.size >= 1024) this.#warned.clear()
      this.#warned.add(key)
      this.#logger.warn('gateway.preflight_warning', {
        endpoint: input.endpoint,
        requestId: input.base['x-request-id'],
        unitPrimitive: input.unitPrimitive,
        code: w.code,
        message: w.message,
        fix: w.fix,
        ...entry.fields,
      })
    }
  }
}

/**
 * What the token source is asked for a call. `skipUsageCutoff` follows the `x-gitlab-is-team-member` header
 * the call sends, as Rails derives both from `gitlab_team_member?(user)` (flyisland/gitlab-ee
 * ee/lib/gitlab/ai_gateway.rb @ 52d0d30b), so the token's claim and the header agree.
 */
function tokenRequest(call: AuthorizeInput, signal: AbortSignal | undefined): TokenRequest {
  const request: TokenRequest = { unitPrimitive: call.unitPrimitive }
  if (call.featureSetting !== undefined) request.featureSetting = call.featureSetting
  if (call.base['x-gitlab-is-team-member'] === 'true') request.skipUsageCutoff = true
  if (signal !== undefined) request.signal = signal
  return request
}

/** A time claim as python-jose's int() reads it; undefined when absent or when int() fails. */
function intClaim(value: unknown): number | undefined {
  const r = pyInt(value)
  return r.ok ? r.value : undefined
}

/** An access rule as a memo key (rules are small: a few names and messages). */
const ACCESS_KEYS = new WeakMap<EndpointAccess, string>()
function accessKey(access: EndpointAccess): string {
  let key = ACCESS_KEYS.get(access)
  if (key === undefined) {
    key = JSON.stringify([access.anyOf, access.forbiddenDetail, access.refusesGatewayTokens === true, access.fallback ?? null, access.also ?? null])
    ACCESS_KEYS.set(access, key)
  }
  return key
}

/** Everything preflight reads besides the token and the clock, as a memo key. */
export function preflightKey(
  headers: Record<string, string>,
  unitPrimitive: string,
  requestTimeoutMs: number | undefined,
  forbiddenDetail: string | undefined,
): string {
  return (
    `${unitPrimitive}|${forbiddenDetail ?? ''}|${requestTimeoutMs ?? ''}|${headers['x-gitlab-authentication-type'] ?? ''}|` +
    `${headers['x-gitlab-realm'] ?? ''}|${headers['x-gitlab-instance-id'] ?? ''}|${headers['x-gitlab-global-user-id'] ?? ''}`
  )
}

/** The never-send error for a failed preflight. */
export function toPreflightError(result: PreflightResult, unitPrimitive: string): PreflightError {
  return new PreflightError(result, { unitPrimitive })
}

/**
 * Remove secrets from text that came back from the gateway (a validation error may echo the request body,
 * api key included) before it goes into an error or a log: every known secret — as sent, and as an echo
 * would spell it (HTML-, JSON- or URL-escaped) —, the signature segment of a known token on its own, and
 * anything shaped like a token or a key (`redactShapes`). Truncated to `max` characters.
 */
export function scrub(text: string, secrets: readonly (string | undefined | null)[], max = 500): string {
  let out = text
  for (const s of secrets) {
    if (typeof s !== 'string' || s.length < 4) continue
    for (const form of echoedForms(s)) {
      if (out.includes(form)) out = out.split(form).join(redact(s))
    }
  }
  out = redactShapes(out)
  return out.length > max ? `${out.slice(0, max)}…` : out
}

/** How an echo may spell a secret: as is, HTML-escaped (three common styles), JSON-escaped, URL-encoded. */
function echoedForms(secret: string): string[] {
  const forms = new Set([secret])
  if (/[&<>"']/.test(secret)) {
    const html = (quot: string, apos: string) =>
      secret.replace(/[&<>"']/g, (c) => (c === '&' ? '&amp;' : c === '<' ? '&lt;' : c === '>' ? '&gt;' : c === '"' ? quot : apos))
    forms.add(html('&quot;', '&#x27;')) // Python html.escape
    forms.add(html('&#34;', '&#39;')) // Jinja / MarkupSafe
    forms.add(html('&quot;', '&#39;')) // ERB, lodash, Go html/template
  }
  forms.add(JSON.stringify(secret).slice(1, -1))
  try {
    forms.add(encodeURIComponent(secret))
  } catch {
    // a lone surrogate: nothing an encoder would echo
  }
  // a token's signature may be echoed on its own (a gateway that logs or quotes the segment it failed on)
  const dot = secret.lastIndexOf('.')
  if (dot > 0 && secret.length - dot > 16 && secret.indexOf('.') !== dot) forms.add(secret.slice(dot + 1))
  return [...forms].filter((f) => f.length >= 4)
}

const SECRET_MEMBER = /(?:api_?key|token|secret|password|authorization)$/i

/**
 * String members of a JSON request body whose names say they are secrets (`api_key`, `model_api_key`,
 * `token`, ...), so that a gateway or proxy that echoes the body cannot put them in an error or a log line.
 * Bounded: bodies over 256 KiB or nested deeper than 8 levels are only partly searched.
 */
export function secretsInBody(body: ArrayBuffer | string | undefined): string[] {
  if (body === undefined) return []
  const size = typeof body === 'string' ? body.length : body.byteLength
  if (size === 0 || size > 256 * 1024) return []
  let parsed: unknown
  try {
    parsed = JSON.parse(typeof body === 'string' ? body : new TextDecoder().decode(body))
  } catch {
    return []
  }
  const out: string[] = []
  const walk = (v: unknown, depth: number): void => {
    if (depth > 8 || v === null || typeof v !== 'object') return
    for (const [k, child] of Object.entries(v)) {
      if (typeof child === 'string' && SECRET_MEMBER.test(k)) out.push(child)
      else walk(child, depth + 1)
    }
  }
  walk(parsed, 0)
  return out
}
