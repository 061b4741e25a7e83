/**
 * Assertions for users' tests: "is this the token GitLab would have minted, for these scopes, this
 * audience, this realm, this lifetime, and does it agree with the headers it travels with?"
 *
 * Failure messages show the decoded header and claims (public by nature) so that a failing test
 * explains itself; they never show the token, its signature, or an Authorization value.
 */
import { CloudConnectorError } from '../errors.js'
import { normaliseHeaders } from '../emulator/http.js'
import { inspectToken } from '../inspect/index.js'
import { redact } from '../redact.js'
import type { HeadersInput, Realm } from '../types.js'

export interface TokenShapeExpectations {
  /**
   * `self-issued` (default): also check the shape of domain.md §3 — header `{alg: RS256, typ: JWT, kid}`,
   * `aud` an array, integer `iat`/`nbf`/`exp` with `nbf = iat − 5`, a UUID v4 `jti`, a known realm, `scopes`
   * an array. `jwt`: only what is asked below.
   */
  profile?: 'self-issued' | 'jwt'
  /** An array: exactly these scopes, in any order. An object: at least `includes`, none of `excludes`. */
  scopes?: readonly string[] | { includes?: readonly string[]; excludes?: readonly string[] }
  /** A string: `aud` contains it. An array: `aud` is exactly this set. */
  audience?: string | readonly string[]
  realm?: Realm
  /** Expected `sub`: the instance UUID. */
  instanceId?: string
  /** Expected `iss`: the instance URL. */
  issuer?: string
  kid?: string
  /** Expected `exp − iat`. */
  lifetimeSeconds?: number
  /** The token must be valid at this instant (`nbf ≤ at < exp`, no leeway, as the gateway). */
  validAt?: Date
  /** Each listed claim must deep-equal the given value. */
  claims?: Record<string, unknown>
  /**
   * The headers the token is sent with: `x-gitlab-instance-id` must equal `sub` (and
   * `gitlab_instance_id` when present), `x-gitlab-realm` must equal `gitlab_realm`,
   * `x-gitlab-authentication-type` must be `oidc`, and an `authorization` header must carry this token.
   */
  headers?: HeadersInput
}

export interface TokenShapeResult {
  ok: boolean
  /** One line per unmet expectation. */
  failures: string[]
  header?: Record<string, unknown>
  claims?: Record<string, unknown>
}

/** Thrown by `expectTokenShape`; `failures`, `header` and `claims` carry the facts, never the token. */
export class TokenShapeError extends CloudConnectorError {
  static override readonly codes = ['ERR_TOKEN_SHAPE'] as const
  declare readonly code: (typeof TokenShapeError.codes)[number]
  readonly failures: readonly string[]
  readonly header: Record<string, unknown> | undefined
  readonly claims: Record<string, unknown> | undefined
  constructor(result: TokenShapeResult) {
    super('ERR_TOKEN_SHAPE', formatFailure(result))
    this.failures = result.failures
    this.header = result.header
    this.claims = result.claims
  }
}

/** Check a token against expectations without throwing. */
export function checkTokenShape(token: unknown, expected: TokenShapeExpectations = {}): TokenShapeResult {
  const report = inspectToken(token)
  if (report.kind !== 'jwt' || report.header === undefined || report.claims === undefined) {
    const why = report.problems.map((p) => p.message).join(' ')
    return { ok: false, failures: [`not a decodable JWT (${report.kind}${why ? `: ${why}` : ''})`] }
  }
  // Copies: the report's objects may be shared with other reports, and callers may mutate ours.
  const header = structuredClone(report.header)
  const claims = structuredClone(report.claims)
  const failures: string[] = []
  const fail = (what: string) => failures.push(what)

  if ((expected.profile ?? 'self-issued') === 'self-issued') checkSelfIssuedShape(header, claims, fail)

  if (expected.scopes !== undefined) {
    const scopes = Array.isArray(claims['scopes']) ? (claims['scopes'] as unknown[]) : undefined
    if (scopes === undefined) fail(`scopes: expected an array, got ${show(claims['scopes'])}`)
    else if (isStringArray(expected.scopes)) {
      if (!sameSet(scopes, expected.scopes)) {
        fail(`scopes: expected exactly ${show(sorted(expected.scopes))}, got ${show(scopes)}${setDiff(scopes, expected.scopes)}`)
      }
    } else {
      const e = expected.scopes as { includes?: readonly string[]; excludes?: readonly string[] }
      const missing = (e.includes ?? []).filter((s) => !scopes.includes(s))
      const present = (e.excludes ?? []).filter((s) => scopes.includes(s))
      if (missing.length > 0) fail(`scopes: missing ${show(missing)} (has ${show(scopes)})`)
      if (present.length > 0) fail(`scopes: must not contain ${show(present)}`)
    }
  }

  if (expected.audience !== undefined) {
    const aud = claims['aud']
    const auds = typeof aud === 'string' ? [aud] : Array.isArray(aud) ? aud : undefined
    if (auds === undefined) fail(`aud: expected ${show(expected.audience)}, got ${show(aud)}`)
    else if (typeof expected.audience === 'string') {
      if (!auds.includes(expected.audience)) fail(`aud: expected to contain ${show(expected.audience)}, got ${show(aud)}`)
    } else if (!sameSet(auds, expected.audience)) {
      fail(`aud: expected exactly ${show(sorted(expected.audience))}, got ${show(aud)}`)
    }
  }

  if (expected.realm !== undefined && claims['gitlab_realm'] !== expected.realm) {
    fail(`gitlab_realm: expected ${show(expected.realm)}, got ${show(claims['gitlab_realm'])}`)
  }
  if (expected.instanceId !== undefined && claims['sub'] !== expected.instanceId) {
    fail(`sub: expected the instance id ${show(expected.instanceId)}, got ${show(claims['sub'])}`)
  }
  if (expected.issuer !== undefined && claims['iss'] !== expected.issuer) {
    fail(`iss: expected ${show(expected.issuer)}, got ${show(claims['iss'])}`)
  }
  if (expected.kid !== undefined && header['kid'] !== expected.kid) {
    fail(`header kid: expected ${show(expected.kid)}, got ${show(header['kid'])}`)
  }
  if (expected.lifetimeSeconds !== undefined) {
    const { iat, exp } = claims
    if (typeof iat !== 'number' || typeof exp !== 'number') fail(`lifetime: needs numeric iat and exp, got iat ${show(iat)}, exp ${show(exp)}`)
    else if (exp - iat !== expected.lifetimeSeconds) fail(`lifetime (exp − iat): expected ${expected.lifetimeSeconds} s, got ${exp - iat} s`)
  }
  if (expected.validAt !== undefined) {
    const t = Math.floor(expected.validAt.getTime() / 1000)
    const { nbf, exp } = claims
    if (typeof exp === 'number' && t >= exp) fail(`exp: expired at ${iso(exp)}, checked at ${iso(t)}`)
    if (typeof nbf === 'number' && t < nbf) fail(`nbf: not valid before ${iso(nbf)}, checked at ${iso(t)}`)
  }
  if (expected.claims !== undefined) {
    for (const [name, value] of Object.entries(expected.claims)) {
      if (!deepEqual(claims[name], value)) fail(`${name}: expected ${show(value)}, got ${show(claims[name])}`)
    }
  }
  if (expected.headers !== undefined) checkHeaders(token as string, claims, normaliseHeaders(expected.headers), fail)

  return { ok: failures.length === 0, failures, header, claims }
}

/** Assert a token's shape; returns its decoded header and claims, or throws `TokenShapeError`. */
export function expectTokenShape(
  token: unknown,
  expected: TokenShapeExpectations = {},
): { header: Record<string, unknown>; claims: Record<string, unknown> } {
  const result = checkTokenShape(token, expected)
  if (!result.ok || result.header === undefined || result.claims === undefined) throw new TokenShapeError(result)
  return { header: result.header, claims: result.claims }
}

const UUID_V4 = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/i

function checkSelfIssuedShape(
  header: Record<string, unknown>,
  claims: Record<string, unknown>,
  fail: (what: string) => void,
): void {
  if (header['alg'] !== 'RS256') fail(`header alg: expected "RS256", got ${show(header['alg'])}`)
  if (header['typ'] !== 'JWT') fail(`header typ: expected "JWT", got ${show(header['typ'])}`)
  if (typeof header['kid'] !== 'string' || header['kid'] === '') fail(`header kid: expected the key's thumbprint, got ${show(header['kid'])}`)
  for (const name of ['iss', 'sub'] as const) {
    if (typeof claims[name] !== 'string' || claims[name] === '') fail(`${name}: expected a non-empty string, got ${show(claims[name])}`)
  }
  const aud = claims['aud']
  if (!Array.isArray(aud) || aud.length === 0 || !aud.every((a) => typeof a === 'string')) {
    fail(`aud: GitLab sends a non-empty array of strings, got ${show(aud)}`)
  }
  for (const name of ['iat', 'nbf', 'exp'] as const) {
    if (!Number.isInteger(claims[name])) fail(`${name}: expected an integer (seconds), got ${show(claims[name])}`)
  }
  const { iat, nbf, exp } = claims as { iat?: unknown; nbf?: unknown; exp?: unknown }
  if (Number.isInteger(iat) && Number.isInteger(nbf) && (nbf as number) !== (iat as number) - 5) {
    fail(`nbf: GitLab sets iat − 5 (${(iat as number) - 5}), got ${show(nbf)}`)
  }
  if (Number.isInteger(iat) && Number.isInteger(exp) && (exp as number) <= (iat as number)) fail(`exp: must be after iat, got exp ${show(exp)} ≤ iat ${show(iat)}`)
  if (typeof claims['jti'] !== 'string' || !UUID_V4.test(claims['jti'])) fail(`jti: expected a UUID v4, got ${show(claims['jti'])}`)
  if (claims['gitlab_realm'] !== 'saas' && claims['gitlab_realm'] !== 'self-managed') {
    fail(`gitlab_realm: expected "saas" or "self-managed", got ${show(claims['gitlab_realm'])}`)
  }
  const scopes = claims['scopes']
  if (!Array.isArray(scopes) || !scopes.every((s) => typeof s === 'string')) fail(`scopes: expected an array of unit-primitive names, got ${show(scopes)}`)
}

function checkHeaders(
  token: string,
  claims: Record<string, unknown>,
  headers: Record<string, string>,
  fail: (what: string) => void,
): void {
  const authType = headers['x-gitlab-authentication-type']
  if (authType !== 'oidc') fail(`header X-Gitlab-Authentication-Type: the gateway needs "oidc", got ${show(authType)}`)
  const instanceId = headers['x-gitlab-instance-id']
  if (instanceId !== claims['sub']) fail(`header X-Gitlab-Instance-Id ${show(instanceId)} ≠ sub ${show(claims['sub'])}`)
  if (typeof claims['gitlab_instance_id'] === 'string' && claims['gitlab_instance_id'] !== '' && instanceId !== claims['gitlab_instance_id']) {
    fail(`header X-Gitlab-Instance-Id ${show(instanceId)} ≠ gitlab_instance_id ${show(claims['gitlab_instance_id'])}`)
  }
  const realm = headers['x-gitlab-realm']
  if (realm !== claims['gitlab_realm']) fail(`header X-Gitlab-Realm ${show(realm)} ≠ gitlab_realm ${show(claims['gitlab_realm'])}`)
  const authorization = headers['authorization']
  if (authorization !== undefined) {
    const space = authorization.indexOf(' ')
    const scheme = space === -1 ? authorization : authorization.slice(0, space)
    const sent = space === -1 ? '' : authorization.slice(space + 1)
    if (scheme.toLowerCase() !== 'bearer') fail(`header Authorization: scheme ${show(scheme)}, the gateway needs "Bearer"`)
    else if (sent !== token) fail(`header Authorization carries another token (${redact(sent)}) than the one checked (${redact(token)})`)
  }
}

function formatFailure(result: TokenShapeResult): string {
  const lines = [`The token does not have the expected shape (${result.failures.length} problem${result.failures.length === 1 ? '' : 's'}):`]
  for (const f of result.failures) lines.push(`  - ${f}`)
  if (result.header !== undefined) lines.push(`Decoded header: ${JSON.stringify(result.header)}`)
  if (result.claims !== undefined) lines.push(`Decoded claims: ${JSON.stringify(result.claims, null, 2)}`)
  lines.push('(The token and its signature are not shown.)')
  return lines.join('\n')
}

function show(value: unknown): string {
  if (value === undefined) return 'nothing'
  const text = JSON.stringify(value)
  return text.length > 300 ? `${text.slice(0, 300)}…` : text
}

function iso(seconds: number): string {
  return `${new Date(seconds * 1000).toISOString()} (${seconds})`
}

function isStringArray(v: unknown): v is readonly string[] {
  return Array.isArray(v)
}

function sorted(values: readonly unknown[]): unknown[] {
  return [...values].sort()
}

function sameSet(actual: readonly unknown[], expected: readonly unknown[]): boolean {
  const a = new Set(actual)
  const e = new Set(expected)
  return a.size === e.size && actual.length === a.size && [...e].every((v) => a.has(v))
}

function setDiff(actual: readonly unknown[], expected: readonly unknown[]): string {
  const missing = expected.filter((v) => !actual.includes(v))
  const extra = actual.filter((v) => !expected.includes(v))
  const parts: string[] = []
  if (missing.length > 0) parts.push(`missing ${show(missing)}`)
  if (extra.length > 0) parts.push(`unexpected ${show(extra)}`)
  if (actual.length !== new Set(actual).size) parts.push('has duplicates')
  return parts.length > 0 ? ` (${parts.join(', ')})` : ''
}

function deepEqual(a: unknown, b: unknown): boolean {
  if (Object.is(a, b)) return true
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false
  if (Array.isArray(a) !== Array.isArray(b)) return false
  const ka = Object.keys(a)
  const kb = Object.keys(b)
  if (ka.length !== kb.length) return false
  return ka.every((k) => deepEqual((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k]))
}
