/**
 * Preflight: everything the gateway would check about a request, judged before it leaves, with the
 * status and message the gateway would answer. The client runs it on every request and refuses to
 * send what it rejects (PreflightError).
 */
import { createPublicKey, type KeyObject } from 'node:crypto'
import { CloudConnectorError } from '../errors.js'
import { TextMemo } from '../memo.js'
import type { Jwks } from '../keys/jwks.js'
import type { Clock, HeadersInput, Problem, PublicRsaJwk, SigningKey, TokenResult } from '../types.js'
import { GATEWAY_AUTH_HEADERS, headersToMap, parseAuthorization } from './headers.js'
import {
  crashProblem,
  gatewayProblem,
  inspectToken,
  NO_TOKEN_FIX,
  tokenProblem,
  warning,
  type ProblemCode,
  type TokenReport,
} from './inspect.js'
import { judgeAccess, singlePrimitiveAccess, type EndpointAccess } from './access.js'
import { audienceProblem, epochSeconds, joseCheckAlgorithm, joseLoad, joseVerifySignature, type TrustedKey } from './jose.js'
import { DEFAULT_AUDIENCE, forbiddenMessage, GATEWAY_MESSAGES, headerMismatchMessage, JOSE_REASONS } from './messages.js'
import { headerMismatches, type HeaderMismatch } from './rules.js'
import { timeProblems } from './time.js'

export interface PreflightInput {
  /** The token about to be sent as `Authorization: Bearer <token>`; undefined to check the Authorization header in `headers` instead. */
  token: string | undefined
  /** The other headers about to be sent (names case-insensitive). */
  headers: HeadersInput
  /** The endpoint's unit primitive (403 when the token's scopes lack it). Shorthand for `access` with one primitive. */
  unitPrimitive?: string
  /**
   * The endpoint's whole rule, its body already applied: `endpointAccess('chat', body)` from the endpoint
   * table (several admitting primitives, refused issuers, chat's @GitLabDuo carve-out, additional context).
   * Takes precedence over `unitPrimitive` / `forbiddenDetail`.
   */
  access?: EndpointAccess
  /** The gateway's service name / audience. Default 'gitlab-ai-gateway'. */
  audience?: string
  now?: Clock
  /** Assumed clock difference with the gateway: tokens within it of nbf/exp draw a warning. Default 0. */
  leewaySeconds?: number
  /** The request's timeout: a token that expires before it ends draws a warning. */
  requestTimeoutMs?: number
  /** What the token source answered; with source 'none' its reason explains the missing token. */
  tokenResult?: TokenResult
  /** Public keys the gateway trusts. When given, the signature is checked too (every key, as python-jose does). */
  verificationKeys?: Jwks | readonly (SigningKey | PublicRsaJwk)[]
  /** The endpoint's 403 detail, e.g. GATEWAY_MESSAGES.forbiddenModelConfigurationCheck. */
  forbiddenDetail?: string
}

export interface PreflightResult {
  /** True when the gateway would accept the request (warnings allowed). */
  ok: boolean
  /** What the gateway would answer for the first error in its order; undefined when ok, or for a 500. */
  status?: 401 | 403
  gatewayError?: string
  /** errors (in the gateway's order, the first is what it reports) then warnings */
  problems: Problem[]
  errors: Problem[]
  warnings: Problem[]
  report: TokenReport
}

/** Judge a request as the gateway would. Never throws. */
export function preflight(input: PreflightInput): PreflightResult {
  try {
    return run(input)
  } catch (e) {
    /* c8 ignore next 4 */
    const report: TokenReport = { kind: 'malformed', problems: [], length: 0 }
    const p: Problem = { code: 'TOKEN_NOT_STRING', severity: 'error', message: `Preflight could not judge the request (${e instanceof Error ? e.name : 'error'}).`, fix: 'Pass a token string and a headers object.' }
    return { ok: false, problems: [p], errors: [p], warnings: [], report }
  }
}

/** preflight(), throwing a PreflightError when the gateway would refuse the request. */
export function preflightOrThrow(input: PreflightInput): PreflightResult {
  const result = preflight(input)
  if (!result.ok) throw new PreflightError(result, { unitPrimitive: input.unitPrimitive })
  return result
}

/** The request was not sent: the gateway would have refused it. Carries every finding. */
export class PreflightError extends CloudConnectorError {
  static override readonly codes = ['ERR_PREFLIGHT_REJECTED'] as const
  declare readonly code: (typeof PreflightError.codes)[number]
  /** Errors (the gateway's order) then warnings. */
  readonly findings: Problem[]
  readonly status: 401 | 403 | undefined
  readonly gatewayError: string | undefined
  readonly unitPrimitive: string | undefined

  constructor(result: Pick<PreflightResult, 'errors' | 'warnings' | 'status' | 'gatewayError'>, details: { unitPrimitive?: string } = {}) {
    super('ERR_PREFLIGHT_REJECTED', preflightMessage(result))
    this.findings = [...result.errors, ...result.warnings]
    this.status = result.status
    this.gatewayError = result.gatewayError
    this.unitPrimitive = details.unitPrimitive
  }
}

// ---------------------------------------------------------------------------------------------------

/** Gateway order of the checks: the first error found in this order is what the gateway reports. */
const RANK: Partial<Record<ProblemCode, number>> = {
  AUTHORIZATION_MISSING: 10,
  AUTHORIZATION_SCHEME: 20,
  AUTH_TYPE: 30,
  TOKEN_SOURCE_NONE: 40,
  TOKEN_MISSING: 40,
  TOKEN_NOT_STRING: 40,
  TOKEN_TOO_LARGE: 40,
  TOKEN_EMPTY: 40,
  TOKEN_BEARER_PREFIX: 41,
  TOKEN_WHITESPACE: 41,
  TOKEN_NON_ASCII: 41,
  TOKEN_OPAQUE: 42,
  TOKEN_SEGMENTS: 42,
  TOKEN_JWE: 42,
  HEADER_NOT_BASE64URL: 43,
  HEADER_NOT_JSON: 44,
  HEADER_NOT_OBJECT: 45,
  PAYLOAD_NOT_BASE64URL: 46,
  SIGNATURE_NOT_BASE64URL: 47,
  ALG_MISSING: 48,
  ALG_NOT_ALLOWED: 48,
  SIGNATURE_INVALID: 49,
  PAYLOAD_NOT_JSON: 50,
  PAYLOAD_NOT_OBJECT: 50,
  IAT_NOT_INTEGER: 51,
  NBF_NOT_INTEGER: 52,
  NOT_YET_VALID: 52,
  EXP_NOT_INTEGER: 53,
  EXPIRED: 53,
  AUD_FORMAT: 54,
  AUD_MISMATCH: 54,
  SUB_NOT_STRING: 56,
  JTI_NOT_STRING: 57,
  AT_HASH_PRESENT: 58,
  REALM_MISMATCH: 71,
  GITLAB_INSTANCE_ID_MISMATCH: 72,
  INSTANCE_ID_MISMATCH: 73,
  GLOBAL_USER_ID_MISMATCH: 73,
  SCOPE_MISSING: 80,
  GATEWAY_ISSUED_TOKEN: 80,
}

/** A crash is ranked where it happens: by its claim. */
const CRASH_RANK: Record<string, number> = { iat: 51, nbf: 52, exp: 53, scopes: 80 }

function rankOf(p: Problem): number {
  if (p.code === 'GATEWAY_CRASH') return p.claim !== undefined ? (CRASH_RANK[p.claim] ?? 50) : 44
  return RANK[p.code as ProblemCode] ?? 99
}

function run(input: PreflightInput): PreflightResult {
  const headers = headersToMap(input.headers, GATEWAY_AUTH_HEADERS)
  const audience = input.audience ?? DEFAULT_AUDIENCE
  const found: Problem[] = []

  // 1–2. The Authorization header (only when no token is given: the client sets it from the token).
  let token = input.token
  if (token === undefined && input.tokenResult?.token !== undefined) token = input.tokenResult.token
  const noTokenReason = input.tokenResult?.source === 'none' ? input.tokenResult.reason : undefined
  let fromHeader = false
  if (token === undefined && noTokenReason === undefined) {
    const authorization = headers.get('authorization')
    if (authorization === undefined) {
      found.push(
        gatewayProblem('AUTHORIZATION_MISSING', 401, GATEWAY_MESSAGES.noAuthorizationHeader, {
          message: 'There is no token and no Authorization header.',
          fix: 'Give the client a token source (createTokenSource or createTokenIssuer): every gateway call needs "Authorization: Bearer <JWT>".',
          header: 'Authorization',
        }),
      )
    } else {
      fromHeader = true
      const { scheme, token: t } = parseAuthorization(authorization)
      if (scheme.toLowerCase() !== 'bearer') {
        const shown = /^[A-Za-z][A-Za-z0-9-]{0,19}$/.test(scheme) && !/^eyJ/.test(scheme) ? `"${scheme}"` : 'not "Bearer"'
        found.push(
          gatewayProblem('AUTHORIZATION_SCHEME', 401, GATEWAY_MESSAGES.invalidAuthorizationHeader, {
            message: `The Authorization scheme is ${shown}: the gateway takes the text before the first space and requires "bearer" (any case).`,
            fix: 'Send "Authorization: Bearer <JWT>".',
            header: 'Authorization',
          }),
        )
      }
      token = t
    }
  }

  // 3. The authentication type.
  const authType = headers.get('x-gitlab-authentication-type')
  if (authType !== 'oidc') {
    found.push(
      gatewayProblem('AUTH_TYPE', 401, GATEWAY_MESSAGES.invalidAuthenticationType, {
        message:
          authType === undefined
            ? 'The X-Gitlab-Authentication-Type header is missing.'
            : `X-Gitlab-Authentication-Type is ${JSON.stringify(authType.slice(0, 40))}; the gateway requires exactly "oidc" (lower case).`,
        fix: 'Send "X-Gitlab-Authentication-Type: oidc" with every request (buildGatewayHeaders does).',
        header: 'X-Gitlab-Authentication-Type',
      }),
    )
  }

  // 4. The token, as python-jose would judge it.
  let report: TokenReport
  if (token === undefined) {
    report = { kind: 'empty', problems: [], length: 0 }
    if (noTokenReason !== undefined) report.problems.push(noTokenProblem(noTokenReason))
  } else {
    report = inspectToken(token)
    if (noTokenReason !== undefined && report.kind === 'empty') {
      report = { ...report, problems: [noTokenProblem(noTokenReason), ...report.problems.filter((p) => p.code !== 'TOKEN_EMPTY' && p.code !== 'TOKEN_MISSING')] }
    }
  }
  for (const p of report.problems) found.push(p)
  if (fromHeader && report.kind === 'empty') {
    // the header was "Bearer" or "Bearer " — the reported failure, whatever the token source said
    for (const p of found) if (p.code === 'TOKEN_EMPTY') p.header = 'Authorization'
  }

  const claims = report.claims
  if (report.kind === 'jwt' && claims !== undefined && report.header !== undefined) {
    const nowMs = (input.now ?? defaultClock)().getTime()
    const now = epochSeconds(new Date(nowMs))
    const leeway = Math.max(0, input.leewaySeconds ?? 0)

    // Signature, when the trusted keys are known and the token decodes the gateway's way (a wrong
    // scheme or authentication type does not stop the finding: the user fixes both at once).
    if (input.verificationKeys !== undefined && token !== undefined && !found.some((p) => p.severity === 'error' && rankOf(p) >= 40 && rankOf(p) < 49)) {
      // as the gateway receives it: HTTP strips the trailing whitespace a token may carry (a warning, not an error)
      const sig = signatureProblem(token.trim(), input.verificationKeys)
      if (sig) found.push(sig)
    }

    timeProblems(claims, now, nowMs, leeway, input.requestTimeoutMs, found)

    if (Object.hasOwn(claims, 'aud')) {
      const reason = audienceProblem(claims.aud, audience)
      if (reason === JOSE_REASONS.invalidAudience) {
        found.push(
          tokenProblem('AUD_MISMATCH', {
            message: `The token's audience ${describeAud(claims.aud)} does not include "${audience}".`,
            fix: `Issue the token for the service you call: "${audience}" must be in "aud" (the AI Gateway is "gitlab-ai-gateway", the Duo Workflow Service "gitlab-duo-workflow-service"; self-issued tokens take them from the jwt_aud of the granted primitives' backend services).`,
            reason,
            claim: 'aud',
          }),
        )
      }
    } else {
      found.push(
        warning('AUD_MISSING', {
          message: 'The token has no "aud" claim. The gateway lets it through (python-jose only checks "aud" when present), but GitLab always sets it and stricter verifiers refuse it.',
          fix: `Issue the token with "aud": ["${audience}"].`,
          claim: 'aud',
        }),
      )
    }

    // 5. Claims against headers.
    for (const m of headerMismatches(claims, headers, audience)) found.push(mismatchProblem(m))

    // 6. The endpoint's unit primitive.
    const scopes = Object.hasOwn(claims, 'scopes') ? claims.scopes : undefined
    if (typeof scopes === 'string' || (scopes !== null && typeof scopes === 'object' && !Array.isArray(scopes))) {
      found.push(
        warning('SCOPES_NOT_A_LIST', {
          message: `"scopes" is ${typeof scopes === 'string' ? 'a string' : 'an object'}, not a list: the gateway's \`unit_primitive in scopes\` then matches ${typeof scopes === 'string' ? 'any substring' : 'object keys'}, so it grants more (or less) than intended.`,
          fix: 'Set "scopes" to a list of unit-primitive names, as GitLab does.',
          claim: 'scopes',
        }),
      )
    }
    const access = input.access ?? (input.unitPrimitive !== undefined ? singlePrimitiveAccess(input.unitPrimitive, input.forbiddenDetail ?? forbiddenMessage(input.unitPrimitive)) : undefined)
    if (access !== undefined) {
      const verdict = judgeAccess(access, claims, audience)
      if (!verdict.ok && verdict.status === 403) found.push(accessProblem(verdict, access, audience))
      else if (!verdict.ok) {
        found.push(crashProblem('The "scopes" claim is not a list: the gateway\'s `unit_primitive in scopes` raises a TypeError and it answers 500.', verdict.fatal, 'scopes', 'Set "scopes" to a list of unit-primitive names.'))
      }
    } else if (!Object.hasOwn(claims, 'scopes')) {
      found.push(
        warning('SCOPES_MISSING', {
          message: 'The token has no "scopes" claim: every endpoint that needs a unit primitive will answer 403.',
          fix: 'Issue the token with the unit primitives it is for in "scopes".',
          claim: 'scopes',
        }),
      )
    }
  }

  const errors = found.filter((p) => p.severity === 'error')
  errors.sort((a, b) => rankOf(a) - rankOf(b))
  const warnings = found.filter((p) => p.severity === 'warning')
  const first = errors[0]
  const result: PreflightResult = { ok: errors.length === 0, problems: [...errors, ...warnings], errors, warnings, report }
  if (first !== undefined) {
    if (first.status !== undefined) result.status = first.status
    if (first.gatewayError !== undefined) result.gatewayError = first.gatewayError
  }
  return result
}

const defaultClock: Clock = () => new Date()

function noTokenProblem(reason: string): Problem {
  return tokenProblem('TOKEN_SOURCE_NONE', {
    message: `No token at all: ${reason.replace(/\.?$/, '.')} Sent the way GitLab sends it ("Authorization: Bearer " with nothing after it), the gateway fails on the empty string.`,
    fix: NO_TOKEN_FIX,
    reason: JOSE_REASONS.notEnoughSegments,
  })
}

/** Why the gateway's endpoint check would refuse the token, with the gateway's own 403 detail. */
function accessProblem(verdict: Extract<ReturnType<typeof judgeAccess>, { status: 403 }>, access: EndpointAccess, audience: string): Problem {
  const up = verdict.unitPrimitive
  const names = [...access.anyOf, ...(access.fallback ? [access.fallback.unitPrimitive] : [])]
  const wanted = names.length > 1 && up === access.anyOf[0] ? names.map((n) => `"${n}"`).join(' or ') : `"${up}"`
  if (verdict.why === 'gateway-issued') {
    return gatewayProblem('GATEWAY_ISSUED_TOKEN', 403, verdict.detail, {
      message: `The token was issued by the gateway itself ("iss" is "${audience}", a /v1/code/user_access_token token), and this endpoint refuses such tokens whatever their scopes.`,
      fix: "Send the instance's own token here (self-issued or synced); gateway-issued user tokens are for direct code completion only.",
      claim: 'iss',
    })
  }
  if (verdict.why === 'fallback') {
    const fb = access.fallback
    return gatewayProblem('SCOPE_MISSING', 403, verdict.detail, {
      message: `The token carries "${fb?.unitPrimitive ?? ''}" but not "${up}": the gateway admits it only for the @GitLabDuo code-review flow (the last user message must mention @GitLabDuo), and this request does not.`,
      fix: `Issue the token with "${up}" in scopes (an add-on that grants it, e.g. duo_pro or duo_enterprise; Duo Core no longer does), or use Agentic Chat (the Duo Agent Platform) instead of classic chat.`,
      claim: 'scopes',
    })
  }
  return gatewayProblem('SCOPE_MISSING', 403, verdict.detail, {
    message: verdict.scopesPresent
      ? `The token's scopes do not include ${wanted}, which this endpoint needs.`
      : `The token has no "scopes" claim, so it grants no unit primitive; this endpoint needs ${wanted}.`,
    fix: `Issue the token with ${wanted} in scopes: a self-issued token lists every primitive that is free or belongs to an active add-on (e.g. duo_enterprise); check the instance's add-ons and the primitive's cut_off_date.`,
    claim: 'scopes',
  })
}

function mismatchProblem(m: HeaderMismatch): Problem {
  const actual = m.actual === undefined ? 'missing' : JSON.stringify(m.actual.slice(0, 80))
  const expected = JSON.stringify(m.expected)
  const code: ProblemCode =
    m.claim === 'gitlab_realm' ? 'REALM_MISMATCH' : m.claim === 'gitlab_instance_id' ? 'GITLAB_INSTANCE_ID_MISMATCH' : m.header === 'X-Gitlab-Global-User-Id' ? 'GLOBAL_USER_ID_MISMATCH' : 'INSTANCE_ID_MISMATCH'
  const fixes: Record<string, string> = {
    REALM_MISMATCH: 'Send X-Gitlab-Realm equal to the token\'s gitlab_realm ("saas" for GitLab.com, "self-managed" otherwise, Dedicated included): build the headers and the token from the same instance settings (buildGatewayHeaders).',
    GITLAB_INSTANCE_ID_MISMATCH: 'Send X-Gitlab-Instance-Id equal to the token\'s gitlab_instance_id: the token was issued to another instance, or the header carries the wrong UUID.',
    INSTANCE_ID_MISMATCH: 'Send X-Gitlab-Instance-Id equal to the token\'s "sub", the instance UUID ("uuid-not-set" when GitLab has none): the token was issued for another instance, or the header carries the wrong UUID.',
    GLOBAL_USER_ID_MISMATCH: 'This token was issued by the gateway itself, so its "sub" is a global user id: send X-Gitlab-Global-User-Id with the same value.',
  }
  return gatewayProblem(code, 401, headerMismatchMessage(m.header), {
    message: `${m.header} is ${actual} but the token's "${m.claim}" is ${expected}.`,
    fix: fixes[code] ?? '',
    claim: m.claim,
    header: m.header,
  })
}

// Signature checks cost an RSA verification: remember recent outcomes per key set (the client sends
// the same cached token many times), by the whole token text. The key set is the object given *and* what it
// holds when asked: a set changed in place (a revoked key removed) is another trust set, whose verdicts
// start afresh.
const SIGNATURE_CACHE = new WeakMap<object, { snapshot: readonly unknown[]; keys: TrustedKey[]; verdicts: TextMemo<boolean> }>()
const SIGNATURE_CACHE_MAX = 256

function signatureProblem(token: string, keysInput: Jwks | readonly (SigningKey | PublicRsaJwk)[]): Problem | undefined {
  const snapshot = keySetSnapshot(keysInput)
  let entry = SIGNATURE_CACHE.get(keysInput)
  if (entry === undefined || !sameSnapshot(entry.snapshot, snapshot)) {
    entry = { snapshot, keys: toTrustedKeys(keysInput), verdicts: new TextMemo(SIGNATURE_CACHE_MAX) }
    SIGNATURE_CACHE.set(keysInput, entry)
  }
  let good = entry.verdicts.get(token)
  if (good === undefined) {
    const load = joseLoad(token)
    if (!load.ok || joseCheckAlgorithm(load.parts.header) !== undefined) return undefined
    good = joseVerifySignature(load.parts, entry.keys, load.parts.header.kid).ok
    entry.verdicts.set(token, good)
  }
  if (good) return undefined
  return tokenProblem('SIGNATURE_INVALID', {
    message: 'The signature does not verify with any of the trusted keys: the token was signed by another key, or its header, payload or signature was altered.',
    fix: 'Sign with the instance key whose public half the gateway fetched (its JWKS at /oauth/discovery/keys). After a key rotation the gateway keeps its key set for 24 h: publish a new key at least a day before signing with it.',
    reason: JOSE_REASONS.signatureFailed,
    segment: 'signature',
  })
}

/** What a key set holds, cheaply comparable: a loaded key's (immutable) public KeyObject, a JWK's kty, n and e. */
function keySetSnapshot(input: Jwks | readonly (SigningKey | PublicRsaJwk)[]): unknown[] {
  const list: readonly unknown[] = Array.isArray(input) ? input : ((input as Jwks).keys ?? [])
  return Array.isArray(list)
    ? list.map((k) => {
        if (k === null || typeof k !== 'object') return k
        if ('publicKey' in k && (k as SigningKey).publicKey) return (k as SigningKey).publicKey
        const jwk = k as Partial<PublicRsaJwk>
        return `${String(jwk.kty)}|${String(jwk.kid)}|${String(jwk.n)}|${String(jwk.e)}`
      })
    : []
}

function sameSnapshot(a: readonly unknown[], b: readonly unknown[]): boolean {
  return a.length === b.length && a.every((v, i) => v === b[i])
}

function toTrustedKeys(input: Jwks | readonly (SigningKey | PublicRsaJwk)[]): TrustedKey[] {
  const list: readonly unknown[] = Array.isArray(input) ? input : ((input as Jwks).keys ?? [])
  const out: TrustedKey[] = []
  for (const k of list) {
    if (k === null || typeof k !== 'object') continue
    if ('publicKey' in k && (k as SigningKey).publicKey) {
      out.push({ kid: (k as SigningKey).kid, key: (k as SigningKey).publicKey })
      continue
    }
    const jwk = k as Partial<PublicRsaJwk>
    if (jwk.kty !== 'RSA' || typeof jwk.n !== 'string' || typeof jwk.e !== 'string') continue
    let key: KeyObject
    try {
      key = createPublicKey({ key: { kty: 'RSA', n: jwk.n, e: jwk.e }, format: 'jwk' })
    } catch {
      continue
    }
    out.push({ ...(typeof jwk.kid === 'string' ? { kid: jwk.kid } : {}), key })
  }
  return out
}


function describeAud(aud: unknown): string {
  return JSON.stringify(aud).slice(0, 120)
}

function preflightMessage(result: Pick<PreflightResult, 'errors' | 'status' | 'gatewayError'>): string {
  const first = result.errors[0]
  if (first === undefined) return 'Preflight refused the request.'
  const answer =
    first.status !== undefined
      ? `The gateway would answer ${first.status} "${first.gatewayError ?? ''}"${first.reason ? ` (its log: "${first.reason}")` : ''}.`
      : first.gatewayError === GATEWAY_MESSAGES.internalServerError
        ? `The gateway would fail with a 500${first.reason ? ` (${first.reason})` : ''}.`
        : ''
  const more = result.errors.length > 1 ? ` ${result.errors.length - 1} more problem(s) in .findings.` : ''
  return `Request not sent: ${first.message} ${answer} Fix: ${first.fix}${more}`.replace(/\s+/g, ' ').trim()
}
