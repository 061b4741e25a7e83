/**
 * Turning the gateway's refusals into errors that say why. The gateway answers auth failures with
 * `{"error": "..."}` (domain.md §5) and everything else FastAPI-style with `{"detail": ...}`; a 422 detail
 * echoes the offending input (which may hold the api key), so only `loc`/`msg`/`type` are kept and every
 * text is scrubbed of the secrets of the request before it reaches an error.
 */
import type { Authorization, Authorizer } from './auth.js'
import { scrub } from './auth.js'
import { BodyReader, decodeUtf8, type BodyReadOptions } from '../body.js'
import {
  ClockSkewError,
  GatewayAuthError,
  GatewayError,
  GatewayForbiddenError,
  GatewayHttpError,
  GatewayValidationError,
  ModelUnreachableError,
  UsageQuotaError,
  type AuthFailureCause,
  type ClockSkewInfo,
  type GatewayErrorContext,
  type TokenDiagnosis,
  type ValidationIssue,
} from './errors.js'

/** A gateway error body, read and scrubbed. */
export interface GatewayBody {
  /** `error` or a string `detail`, or a summary of a validation `detail` list. */
  message: string | undefined
  /** The parsed `detail` with echoed inputs removed. */
  detail: unknown
  issues: ValidationIssue[]
  /** With an `error`: the body's `error_code` and `message` (the usage-quota layer sends all three). */
  errorCode?: string
  errorMessage?: string
}

/** Error bodies are read up to this many bytes; the rest is never read (the connection is closed). */
export const MAX_ERROR_BODY_BYTES = 64 * 1024

/**
 * Read (at most 64 KiB of) an error body, within the exchange's deadline and the caller's signal: a body that
 * stalls, is cut short or is aborted gives what arrived. Never throws.
 */
export async function readBody(response: Response, secrets: readonly (string | undefined | null)[], read: BodyReadOptions = {}): Promise<GatewayBody> {
  const chunks: Uint8Array[] = []
  let text: string
  try {
    text = await new BodyReader(response, { ...read, maxBytes: MAX_ERROR_BODY_BYTES, overflow: 'truncate' }).text(chunks)
  } catch {
    text = decodeUtf8(chunks)
  }
  let json: unknown
  try {
    json = JSON.parse(text)
  } catch {
    const t = text.trim()
    return { message: t === '' ? undefined : scrub(t, secrets, 300), detail: undefined, issues: [] }
  }
  if (json === null || typeof json !== 'object') {
    return { message: typeof json === 'string' ? scrub(json, secrets, 300) : undefined, detail: undefined, issues: [] }
  }
  const obj = json as Record<string, unknown>
  if (typeof obj['error'] === 'string') {
    const out: GatewayBody = { message: scrub(obj['error'], secrets, 300), detail: undefined, issues: [] }
    if (typeof obj['error_code'] === 'string') out.errorCode = scrub(obj['error_code'], secrets, 80)
    if (typeof obj['message'] === 'string') out.errorMessage = scrub(obj['message'], secrets, 300)
    return out
  }
  const detail = obj['detail']
  if (typeof detail === 'string') return { message: scrub(detail, secrets, 300), detail: scrub(detail, secrets, 300), issues: [] }
  if (Array.isArray(detail)) {
    const issues: ValidationIssue[] = []
    const cleaned = detail.slice(0, 50).map((d) => {
      const item = (d ?? {}) as Record<string, unknown>
      const loc = Array.isArray(item['loc']) ? (item['loc'] as unknown[]).map((x) => scrub(String(x), secrets, 80)) : []
      const msg = typeof item['msg'] === 'string' ? scrub(item['msg'], secrets, 300) : 'invalid'
      const type = typeof item['type'] === 'string' ? scrub(item['type'], secrets, 80) : undefined
      // FastAPI puts the request part first ("body", "query", "header"): drop it from the path
      const path = (loc[0] === 'body' || loc[0] === 'query' || loc[0] === 'header' ? loc.slice(1) : loc).join('.')
      issues.push({ path, message: msg })
      return { loc, msg, ...(type === undefined ? {} : { type }) }
    })
    const summary = issues
      .slice(0, 5)
      .map((i) => (i.path === '' ? i.message : `${i.path}: ${i.message}`))
      .join('; ')
    return { message: summary === '' ? undefined : summary, detail: cleaned, issues }
  }
  if (typeof obj['message'] === 'string') return { message: scrub(obj['message'], secrets, 300), detail: undefined, issues: [] }
  return { message: undefined, detail: undefined, issues: [] }
}

export interface MapContext extends GatewayErrorContext {
  secrets: readonly (string | undefined | null)[]
  /** Time limits and signal for reading the error body. */
  read?: BodyReadOptions
  unitPrimitive: string | undefined
  auth: Authorization | undefined
}

/** The typed error for a non-2xx, non-401 answer (a 401 from an unauthenticated endpoint included). */
export async function errorForResponse(response: Response, ctx: MapContext): Promise<GatewayError> {
  const body = await readBody(response, ctx.secrets, ctx.read)
  const { secrets: _s, read: _r, unitPrimitive, auth, ...base } = ctx
  const status = response.status
  const where = `${ctx.method ?? ''} ${ctx.path ?? ''}`.trim()
  const rid = `request id ${ctx.requestId ?? 'unknown'}`
  const quoted = body.message === undefined ? '' : ` ${JSON.stringify(body.message)}`

  // The usage-quota layer: 402 insufficient_credits / 403 USAGE_QUOTA_NOT_ENTITLED
  // (ai_gateway/api/middleware/route/usage_quota.py @ eee38f6f). A 403 of that layer is not a missing scope.
  if (status === 402 || (status === 403 && body.errorCode === 'USAGE_QUOTA_NOT_ENTITLED')) {
    const exceeded = status === 402
    const said = body.errorMessage === undefined ? quoted : ` ${JSON.stringify(body.errorMessage)}`
    return new UsageQuotaError(
      exceeded ? 'ERR_USAGE_QUOTA_EXCEEDED' : 'ERR_USAGE_QUOTA_NOT_ENTITLED',
      exceeded
        ? `The AI Gateway refused ${where} with 402${said} (${rid}): the consumer has no usage credits left for this request. ` +
            'The token was accepted; buy or wait for credits (GitLab Credits), or ask the instance administrator.'
        : `The AI Gateway refused ${where} with 403${said} (${rid}): its usage-quota check says the consumer is not entitled to this ` +
            'feature (or the quota service was unavailable). The token was accepted and its scopes are not the problem; check the ' +
            'subscription and usage entitlements, and retry later if the quota service was down.',
      {
        ...base,
        status,
        ...(body.message === undefined ? {} : { gatewayError: body.message }),
        ...(body.errorCode === undefined ? {} : { errorCode: body.errorCode }),
        ...(body.errorMessage === undefined ? {} : { detail: body.errorMessage }),
      },
    )
  }

  if (status === 403) {
    // The gateway names the primitive it wanted when it is not the endpoint's own, e.g.
    // "Unauthorized to access include_file_context" (additional context of a chat message).
    const named = /^Unauthorized to access '?([a-z][a-z0-9_]*)'?$/.exec(body.message ?? '')?.[1]
    const needed = named ?? unitPrimitive
    const scopes = auth?.entry.scopes
    const missing = needed !== undefined && scopes !== undefined && !scopes.includes(needed)
    const message = missing
      ? `The AI Gateway refused ${where} with 403${quoted} (${rid}): the token's scopes do not include the unit primitive ` +
        `'${needed}' this request needs (scopes: ${scopes.length === 0 ? 'none' : scopes.join(', ')}). Give the instance ` +
        `the add-on that grants '${needed}' (e.g. duo_pro or duo_enterprise) or check its cut_off_date in the catalog.`
      : needed !== undefined && scopes !== undefined
        ? `The AI Gateway refused ${where} with 403${quoted} (${rid}) although the token's scopes include '${needed}'. ` +
          `The gateway needs something more for this request (e.g. an include_*_context unit primitive for additional context, ` +
          `or a feature enablement it no longer accepts); see its message.`
        : `The AI Gateway refused ${where} with 403${quoted} (${rid}): the token lacks a unit primitive this request needs` +
          `${needed === undefined ? '' : ` ('${needed}')`}.`
    return new GatewayForbiddenError(message, {
      ...base,
      status,
      ...(needed === undefined ? {} : { unitPrimitive: needed }),
      ...(body.message === undefined ? {} : { detail: body.message }),
      ...(scopes === undefined ? {} : { tokenScopes: [...scopes] }),
      missingScope: missing,
    })
  }

  if (status === 421) {
    // The gateway's detail is "<status>: <reason>" of the model server's error (api/v1/prompts/invoke.py)
    const m = /^(\d{3}):\s*(.*)$/s.exec(body.message ?? '')
    const modelStatus = m ? Number(m[1]) : undefined
    const modelReason = m ? m[2] : body.message
    return new ModelUnreachableError(
      `The AI Gateway reached the model server but the model answered with an error` +
        `${modelStatus === undefined ? '' : ` ${modelStatus}`}${modelReason ? ` (${modelReason})` : ''} for ${where} (${rid}). ` +
        `Check the model endpoint URL as the gateway reaches it, the model name/identifier and the api key.`,
      {
        ...base,
        status,
        ...(modelStatus === undefined ? {} : { modelStatus }),
        ...(modelReason === undefined ? {} : { modelReason }),
        ...(body.message === undefined ? {} : { detail: body.message }),
      },
    )
  }

  if (status === 422) {
    return new GatewayValidationError(
      `The AI Gateway rejected the request body of ${where} with 422${quoted} (${rid}). Fix the fields it names.`,
      { ...base, status, sent: true, issues: body.issues.length > 0 ? body.issues : [{ path: '', message: body.message ?? 'invalid request' }], detail: body.detail },
    )
  }

  if (status === 401) {
    return new GatewayAuthError(`The AI Gateway answered 401${quoted} to ${where} (${rid}).`, {
      ...base,
      status,
      ...(body.message === undefined ? {} : { gatewayError: body.message }),
    })
  }

  const retryAfter = parseRetryAfter(response.headers.get('retry-after'), response.headers.get('date'))
  const hint =
    status === 429
      ? ' The gateway is rate limiting: slow down or retry later.'
      : status >= 500
        ? ' The gateway failed; retry later and check its logs for the request id.'
        : status === 404
          ? ' The gateway does not serve this path: check the base URL (including any path prefix such as /ai) and the gateway version.'
          : ''
  return new GatewayHttpError(`The AI Gateway answered ${status}${quoted} to ${where} (${rid}${ctx.attempts && ctx.attempts > 1 ? `, after ${ctx.attempts} attempts` : ''}).${hint}`, {
    ...base,
    status,
    ...(body.message === undefined ? {} : { detail: body.message }),
    ...(retryAfter === undefined ? {} : { retryAfterSeconds: retryAfter }),
  })
}

/** The error for a 401 that survived one forced refresh and retry, with the SDK's diagnosis of the token sent. */
export async function authError(
  response: Response,
  ctx: GatewayErrorContext & {
    secrets: readonly (string | undefined | null)[]
    auth: Authorization
    authorizer: Authorizer
    toleranceSeconds: number
    read?: BodyReadOptions
  },
): Promise<GatewayAuthError> {
  const body = await readBody(response, ctx.secrets, ctx.read)
  const { secrets: _s, read: _r, auth, authorizer, toleranceSeconds, ...base } = ctx
  const diagnosis = authorizer.diagnose(auth)
  const skew = authorizer.clockSkew(response, auth.entry, toleranceSeconds)
  const gatewayError = body.message
  const where = `${ctx.method ?? ''} ${ctx.path ?? ''}`.trim()
  const head =
    `The AI Gateway answered 401${gatewayError === undefined ? '' : ` ${JSON.stringify(gatewayError)}`} to ${where} ` +
    `(request id ${ctx.requestId ?? 'unknown'}), also after a fresh token was obtained and the request retried once.`
  const fields = { ...base, status: 401, ...(gatewayError === undefined ? {} : { gatewayError }), diagnosis }
  if (skew !== undefined && skew.effect !== 'none') {
    return new ClockSkewError(`${head} ${skewText(skew, diagnosis)}`, { ...fields, clockSkew: skew })
  }
  const { cause, text } = explain(gatewayError, diagnosis)
  const skewNote = skew === undefined ? '' : ` Note: ${skewText(skew, diagnosis)}`
  return new GatewayAuthError(`${head} ${text}${skewNote}`, { ...fields, likelyCause: cause, ...(skew === undefined ? {} : { clockSkew: skew }) })
}

// ---------------------------------------------------------------------------------------------

function explain(gatewayError: string | undefined, d: TokenDiagnosis): { cause: AuthFailureCause; text: string } {
  const token = `kid ${d.kid ?? '?'}, iss ${d.iss ?? '?'}, sub ${d.sub ?? '?'}, aud ${JSON.stringify(d.aud ?? null)}, exp ${d.exp ?? '?'}, source ${d.source ?? '?'}`
  if (gatewayError === 'No authorization header presented') {
    return { cause: 'authorization-removed', text: 'The SDK sent an Authorization header, so something between this service and the gateway (a proxy or load balancer) removed it.' }
  }
  if (gatewayError === 'Invalid authorization header') {
    return { cause: 'authorization-rewritten', text: 'The SDK sent "Authorization: Bearer <token>", so an intermediary rewrote the header.' }
  }
  if (gatewayError?.startsWith('Invalid authentication token type')) {
    return { cause: 'auth-type-changed', text: 'The SDK sent "X-Gitlab-Authentication-Type: oidc", so an intermediary dropped or changed it.' }
  }
  if (gatewayError?.startsWith('Header mismatch')) {
    return {
      cause: 'header-changed',
      text: `The headers agreed with the token's claims when sent (preflight passed), so an intermediary changed ${gatewayError.slice('Header mismatch '.length)}.`,
    }
  }
  const warnings = d.findings.length === 0 ? '' : ` Preflight warnings: ${d.findings.map((f) => f.code).join(', ')}.`
  if (d.source === 'synced') {
    return {
      cause: 'synced-token-refused',
      text:
        `The synced token passed the SDK's checks (${token}), so the gateway could not verify it with CustomersDot's keys: ` +
        `the token may have been revoked or replaced; sync the license again, or let the instance self-issue tokens.${warnings}`,
    }
  }
  return {
    cause: 'key-not-trusted',
    text:
      `The token passed the SDK's own checks (${token}), so the gateway most likely could not verify its signature: it only ` +
      `trusts keys fetched by OIDC discovery from AIGW_GITLAB_URL (and the CustomersDot URL) and caches them for 24 h. ` +
      `Check that AIGW_GITLAB_URL points at ${d.iss ?? 'the instance URL'}, that its /oauth/discovery/keys lists kid ` +
      `${d.kid ?? '?'}, and that the key was published at least 24 h ago (or restart the gateway to reload keys).${warnings}`,
  }
}

function skewText(skew: ClockSkewInfo, d: TokenDiagnosis): string {
  const dir = skew.skewSeconds > 0 ? 'ahead of' : 'behind'
  const effect =
    skew.effect === 'not-yet-valid'
      ? `so it finds the token not yet valid (nbf ${d.nbf ?? '?'})`
      : skew.effect === 'expired'
        ? `so it finds the token expired (exp ${d.exp ?? '?'})`
        : 'which did not by itself invalidate this token'
  return (
    `The gateway's clock is ${Math.abs(skew.skewSeconds)} s ${dir} this host's (its Date header says ${skew.gatewayDate}, ` +
    `local time ${skew.localDate}) and it allows no leeway, ${effect}. Synchronise both clocks (NTP).`
  )
}

/** `Retry-After` in seconds: delta-seconds, or an HTTP-date relative to the response's own `Date`. */
function parseRetryAfter(value: string | null, date: string | null): number | undefined {
  if (value === null) return undefined
  const n = Number(value)
  if (value.trim() !== '' && Number.isFinite(n) && n >= 0) return n
  const at = Date.parse(value)
  const sent = date === null ? Number.NaN : Date.parse(date)
  return Number.isNaN(at) || Number.isNaN(sent) ? undefined : Math.max(0, Math.round((at - sent) / 1000))
}
