/**
 * Errors of the gateway client. Each carries the facts a caller acts on (status, the gateway's own message,
 * the request id to find the gateway's log line, which endpoint) and never a token, an Authorization header,
 * an api key or a whole response body that could echo one (bodies are scrubbed before they get here).
 */
import { CloudConnectorError, type CloudConnectorErrorCode } from '../errors.js'
import type { Problem, TokenSourceKind } from '../types.js'

export type GatewayErrorCode = Extract<
  CloudConnectorErrorCode,
  | 'ERR_GATEWAY_UNAUTHORIZED'
  | 'ERR_GATEWAY_FORBIDDEN'
  | 'ERR_MODEL_UNREACHABLE'
  | 'ERR_GATEWAY_VALIDATION'
  | 'ERR_GATEWAY_HTTP'
  | 'ERR_GATEWAY_RESPONSE_INVALID'
  | 'ERR_GATEWAY_TIMEOUT'
  | 'ERR_NETWORK'
  | 'ERR_GATEWAY_REDIRECT'
  | 'ERR_ABORTED'
  | 'ERR_CLOCK_SKEW'
  | 'ERR_USAGE_QUOTA_EXCEEDED'
  | 'ERR_USAGE_QUOTA_NOT_ENTITLED'
  | 'ERR_GATEWAY_RESPONSE_TOO_LARGE'
>

/** Where a gateway error happened. */
export interface GatewayErrorContext {
  /** Endpoint name from `ENDPOINTS` (e.g. `checkModelConfiguration`), or `fetch` for the fetch adapter. */
  endpoint?: string
  method?: string
  /** Path relative to the gateway base URL, e.g. `/v2/code/completions`. */
  path?: string
  /** The `X-Request-ID` sent; the gateway logs it as `correlation_id`. */
  requestId?: string
  /** HTTP status, when a response arrived. */
  status?: number
  /** How many requests were sent for this call (retries included). */
  attempts?: number
}

/** Base class of every error about a gateway exchange (never thrown itself: each code has its subclass). */
export class GatewayError extends CloudConnectorError {
  declare readonly code: GatewayErrorCode
  readonly endpoint: string | undefined
  readonly method: string | undefined
  readonly path: string | undefined
  readonly requestId: string | undefined
  readonly status: number | undefined
  readonly attempts: number | undefined

  constructor(code: GatewayErrorCode, message: string, ctx: GatewayErrorContext = {}, options?: { cause?: unknown }) {
    super(code, message, options)
    this.endpoint = ctx.endpoint
    this.method = ctx.method
    this.path = ctx.path
    this.requestId = ctx.requestId
    this.status = ctx.status
    this.attempts = ctx.attempts
  }
}

/** What the SDK knows about the token it sent: decoded claims worth showing (never the token or signature). */
export interface TokenDiagnosis {
  source: TokenSourceKind | undefined
  /** Why the source was chosen (from the token source). */
  sourceReason: string | undefined
  /** `inspectToken(token).kind`. */
  kind: 'empty' | 'opaque' | 'malformed' | 'jwt' | undefined
  /** `redact(token)`: length and fingerprint, to match logs. */
  token: string
  kid?: string
  alg?: string
  jti?: string
  iss?: string
  sub?: string
  aud?: unknown
  gitlab_realm?: unknown
  scopes?: unknown
  iat?: number
  nbf?: number
  exp?: number
  /** Problems and warnings the SDK's own preflight found in the token and headers it sent. */
  findings: Problem[]
}

/** Clock comparison made from the gateway's `Date` response header. */
export interface ClockSkewInfo {
  /** Gateway clock minus local clock, in whole seconds (positive: the gateway is ahead). */
  skewSeconds: number
  gatewayDate: string
  localDate: string
  /** What the skew does to the token: the gateway would find it not yet valid / expired, or neither. */
  effect: 'not-yet-valid' | 'expired' | 'none'
}

/**
 * Why a 401 most likely happened, judged from the gateway's message and the SDK's reading of the token it
 * sent (so that a caller, such as the CLI, can word the fix in its own terms):
 * - `key-not-trusted`: a well-formed token the gateway could not verify — it does not trust the signing key;
 * - `synced-token-refused`: the same for a synced (CustomersDot) token;
 * - `authorization-removed` / `authorization-rewritten` / `auth-type-changed` / `header-changed`: the SDK sent
 *   what the gateway wants, so something in between removed or changed it;
 * - `clock-skew`: the gateway's clock makes the token not yet valid or expired.
 */
export type AuthFailureCause =
  | 'key-not-trusted'
  | 'synced-token-refused'
  | 'authorization-removed'
  | 'authorization-rewritten'
  | 'auth-type-changed'
  | 'header-changed'
  | 'clock-skew'

/**
 * 401 from the gateway, also after a forced token refresh and one retry. `gatewayError` is the gateway's
 * `{"error": ...}` message; `diagnosis` is what the SDK's inspection of the token it sent says, and
 * `likelyCause` what the two together point at.
 */
export class GatewayAuthError extends GatewayError {
  // typed wide enough for the subclass to list its own code (a static side must extend its base's)
  static override readonly codes: readonly ('ERR_GATEWAY_UNAUTHORIZED' | 'ERR_CLOCK_SKEW')[] = ['ERR_GATEWAY_UNAUTHORIZED']
  /** `ERR_CLOCK_SKEW` for its subclass {@link ClockSkewError}. */
  declare readonly code: 'ERR_GATEWAY_UNAUTHORIZED' | 'ERR_CLOCK_SKEW'
  readonly gatewayError: string | undefined
  readonly diagnosis: TokenDiagnosis | undefined
  readonly clockSkew: ClockSkewInfo | undefined
  readonly likelyCause: AuthFailureCause | undefined

  constructor(
    message: string,
    ctx: GatewayErrorContext & { gatewayError?: string; diagnosis?: TokenDiagnosis; clockSkew?: ClockSkewInfo; likelyCause?: AuthFailureCause },
    code: Extract<GatewayErrorCode, 'ERR_GATEWAY_UNAUTHORIZED' | 'ERR_CLOCK_SKEW'> = 'ERR_GATEWAY_UNAUTHORIZED',
  ) {
    super(code, message, ctx)
    this.gatewayError = ctx.gatewayError
    this.diagnosis = ctx.diagnosis
    this.clockSkew = ctx.clockSkew
    this.likelyCause = ctx.likelyCause
  }
}

/**
 * A 401 explained by the clocks: the gateway's clock (its `Date` header) and the instance clock differ by
 * more than the tolerance, enough for the gateway to find the token not yet valid (`nbf`) or expired.
 * Still a {@link GatewayAuthError}, with code `ERR_CLOCK_SKEW`.
 */
export class ClockSkewError extends GatewayAuthError {
  static override readonly codes = ['ERR_CLOCK_SKEW'] as const
  declare readonly code: (typeof ClockSkewError.codes)[number]
  constructor(
    message: string,
    ctx: GatewayErrorContext & { gatewayError?: string; diagnosis?: TokenDiagnosis; clockSkew: ClockSkewInfo },
  ) {
    super(message, { ...ctx, likelyCause: 'clock-skew' }, 'ERR_CLOCK_SKEW')
  }
}

/** 403: the token lacks the unit primitive the endpoint needs (or the gateway refused for another stated reason). */
export class GatewayForbiddenError extends GatewayError {
  static override readonly codes = ['ERR_GATEWAY_FORBIDDEN'] as const
  declare readonly code: (typeof GatewayForbiddenError.codes)[number]
  /** The unit primitive the gateway wanted: the one its message names (e.g. `include_file_context`), else the endpoint's. */
  readonly unitPrimitive: string | undefined
  /** The gateway's `{"detail": ...}`. */
  readonly detail: string | undefined
  /** The `scopes` claim of the token sent, when it was a decodable JWT. */
  readonly tokenScopes: string[] | undefined
  /** True when the token's scopes do not include `unitPrimitive` (false: the gateway refused for another reason). */
  readonly missingScope: boolean

  constructor(
    message: string,
    ctx: GatewayErrorContext & { unitPrimitive?: string; detail?: string; tokenScopes?: string[]; missingScope: boolean },
  ) {
    super('ERR_GATEWAY_FORBIDDEN', message, ctx)
    this.unitPrimitive = ctx.unitPrimitive
    this.detail = ctx.detail
    this.tokenScopes = ctx.tokenScopes
    this.missingScope = ctx.missingScope
  }
}

/** 421: the gateway reached the model server and it answered with an error (`detail` = `"<status>: <reason>"`). */
export class ModelUnreachableError extends GatewayError {
  static override readonly codes = ['ERR_MODEL_UNREACHABLE'] as const
  declare readonly code: (typeof ModelUnreachableError.codes)[number]
  /** The model server's HTTP status, when the gateway gave one. */
  readonly modelStatus: number | undefined
  /** The model server's reason phrase. */
  readonly modelReason: string | undefined
  readonly detail: string | undefined

  constructor(message: string, ctx: GatewayErrorContext & { modelStatus?: number; modelReason?: string; detail?: string }) {
    super('ERR_MODEL_UNREACHABLE', message, ctx)
    this.modelStatus = ctx.modelStatus
    this.modelReason = ctx.modelReason
    this.detail = ctx.detail
  }
}

export interface ValidationIssue {
  /** Dotted path into the request body, e.g. `model_metadata.provider`. */
  path: string
  message: string
}

/**
 * The request body is invalid: either the SDK's schema caught it before sending (`sent: false`) or the
 * gateway answered 422 (`sent: true`, `status: 422`, `detail` = the gateway's detail, with any echoed input removed).
 */
export class GatewayValidationError extends GatewayError {
  static override readonly codes = ['ERR_GATEWAY_VALIDATION'] as const
  declare readonly code: (typeof GatewayValidationError.codes)[number]
  readonly sent: boolean
  readonly issues: readonly ValidationIssue[]
  readonly detail: unknown

  constructor(message: string, ctx: GatewayErrorContext & { sent: boolean; issues: readonly ValidationIssue[]; detail?: unknown }) {
    super('ERR_GATEWAY_VALIDATION', message, ctx)
    this.sent = ctx.sent
    this.issues = ctx.issues
    this.detail = ctx.detail
  }
}

/** Any other non-2xx answer (5xx and 429 after the retries the policy allowed, or an unexpected 4xx). */
export class GatewayHttpError extends GatewayError {
  static override readonly codes = ['ERR_GATEWAY_HTTP'] as const
  declare readonly code: (typeof GatewayHttpError.codes)[number]
  /** The gateway's `detail`/`error` message or a scrubbed excerpt of the body. */
  readonly detail: string | undefined
  /** The `Retry-After` header of the last response, in seconds, when present. */
  readonly retryAfterSeconds: number | undefined

  constructor(message: string, ctx: GatewayErrorContext & { detail?: string; retryAfterSeconds?: number }) {
    super('ERR_GATEWAY_HTTP', message, ctx)
    this.detail = ctx.detail
    this.retryAfterSeconds = ctx.retryAfterSeconds
  }
}

/** A 2xx answer whose body does not have the documented shape. */
export class GatewayResponseError extends GatewayError {
  static override readonly codes = ['ERR_GATEWAY_RESPONSE_INVALID'] as const
  declare readonly code: (typeof GatewayResponseError.codes)[number]
  readonly issues: readonly ValidationIssue[]
  constructor(message: string, ctx: GatewayErrorContext & { issues?: readonly ValidationIssue[] }) {
    super('ERR_GATEWAY_RESPONSE_INVALID', message, ctx)
    this.issues = ctx.issues ?? []
  }
}

/** No complete answer within the timeout: the headers, the whole body, or (for a stream) the next chunk. */
export class GatewayTimeoutError extends GatewayError {
  static override readonly codes = ['ERR_GATEWAY_TIMEOUT'] as const
  declare readonly code: (typeof GatewayTimeoutError.codes)[number]
  readonly timeoutMs: number
  constructor(message: string, ctx: GatewayErrorContext & { timeoutMs: number }) {
    super('ERR_GATEWAY_TIMEOUT', message, ctx)
    this.timeoutMs = ctx.timeoutMs
  }
}

/**
 * The answer is larger than the client reads (`maxResponseBytes`, streams included): the client stopped reading
 * at the limit and closed the connection.
 */
export class GatewayResponseTooLargeError extends GatewayError {
  static override readonly codes = ['ERR_GATEWAY_RESPONSE_TOO_LARGE'] as const
  declare readonly code: (typeof GatewayResponseTooLargeError.codes)[number]
  readonly limitBytes: number
  constructor(message: string, ctx: GatewayErrorContext & { limitBytes: number }) {
    super('ERR_GATEWAY_RESPONSE_TOO_LARGE', message, ctx)
    this.limitBytes = ctx.limitBytes
  }
}

/** The connection failed (refused, reset, DNS, TLS). `cause` is the system error (never holds the request). */
export class NetworkError extends GatewayError {
  static override readonly codes = ['ERR_NETWORK'] as const
  declare readonly code: (typeof NetworkError.codes)[number]
  /** The system error code, e.g. `ECONNREFUSED`. */
  readonly errno: string | undefined
  constructor(message: string, ctx: GatewayErrorContext & { errno?: string }, options?: { cause?: unknown }) {
    super('ERR_NETWORK', message, ctx, options)
    this.errno = ctx.errno
  }
}

/**
 * The gateway answered with a redirect (3xx) and the client is set not to follow redirects (the default):
 * nothing was re-sent anywhere. Point `baseUrl` at the gateway's final URL, or pass `redirect: 'follow'`.
 */
export class GatewayRedirectError extends GatewayError {
  static override readonly codes = ['ERR_GATEWAY_REDIRECT'] as const
  declare readonly code: (typeof GatewayRedirectError.codes)[number]
  constructor(message: string, ctx: GatewayErrorContext = {}) {
    super('ERR_GATEWAY_REDIRECT', message, ctx)
  }
}

/** The caller's `AbortSignal` fired. */
export class AbortedError extends GatewayError {
  static override readonly codes = ['ERR_ABORTED'] as const
  declare readonly code: (typeof AbortedError.codes)[number]
  constructor(message: string, ctx: GatewayErrorContext = {}) {
    super('ERR_ABORTED', message, ctx)
  }
}

/**
 * The gateway's usage-quota layer refused the request before looking at it (completions, generations,
 * user_access_token; ai_gateway/api/middleware/route/usage_quota.py @ eee38f6f): 402 `insufficient_credits`
 * (`ERR_USAGE_QUOTA_EXCEEDED`: the consumer has no credits left) or 403 `USAGE_QUOTA_NOT_ENTITLED`
 * (`ERR_USAGE_QUOTA_NOT_ENTITLED`: no entitlement to the feature, or the quota service was unavailable). Not a
 * scope problem: the token was accepted.
 */
export class UsageQuotaError extends GatewayError {
  static override readonly codes = ['ERR_USAGE_QUOTA_EXCEEDED', 'ERR_USAGE_QUOTA_NOT_ENTITLED'] as const
  declare readonly code: (typeof UsageQuotaError.codes)[number]
  /** The gateway's `error`: `insufficient_credits` or `not_entitled`. */
  readonly gatewayError: string | undefined
  /** The gateway's `error_code`: `USAGE_QUOTA_EXCEEDED` or `USAGE_QUOTA_NOT_ENTITLED`. */
  readonly errorCode: string | undefined
  /** The gateway's `message`. */
  readonly detail: string | undefined

  constructor(
    code: Extract<GatewayErrorCode, 'ERR_USAGE_QUOTA_EXCEEDED' | 'ERR_USAGE_QUOTA_NOT_ENTITLED'>,
    message: string,
    ctx: GatewayErrorContext & { gatewayError?: string; errorCode?: string; detail?: string },
  ) {
    super(code, message, ctx)
    this.gatewayError = ctx.gatewayError
    this.errorCode = ctx.errorCode
    this.detail = ctx.detail
  }
}

export function isGatewayError(value: unknown): value is GatewayError {
  return value instanceof GatewayError
}
