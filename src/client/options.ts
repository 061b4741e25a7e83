/**
 * Options of `createGatewayClient` and `createAuthenticatedFetch`, validated with zod at construction so a
 * misconfiguration fails at start-up with a message naming the option, not on the first request.
 */
import type { z } from 'zod'
import { lazy, zod } from '../zod.js'
import { InvalidOptionsError } from '../errors.js'
import { buildGatewayHeaders, type GatewayHeadersContext } from '../headers.js'
import { DEFAULT_AUDIENCE } from '../inspect/index.js'
import { toLog, type Log, type Logger } from '../log.js'
import type { Clock, TokenSource } from '../types.js'

/** When 5xx/429/network failures are retried. */
export interface RetryPolicy {
  /** Retries after the first attempt. Default 2. */
  limit?: number
  /** Statuses retried (with backoff, honouring `Retry-After`). Default `[429, 500, 502, 503, 504]`. */
  statusCodes?: number[]
  /** Which endpoints may be retried: those marked `retrySafe` in `ENDPOINTS` (default), all, or none. */
  endpoints?: 'safe' | 'all' | 'none'
  /** Upper bound for a `Retry-After` wait, in ms. Default 30 000. */
  maxRetryAfterMs?: number
  /** Upper bound for the exponential backoff delay, in ms. Default 10 000. */
  backoffLimitMs?: number
  /** Randomise backoff delays (full jitter). Default false. */
  jitter?: boolean
}

export interface CommonOptions {
  /** The AI Gateway base URL, e.g. `http://127.0.0.1:5052` or `https://cloud.gitlab.com/ai`. */
  baseUrl: string | URL
  /** Where tokens come from: a `createTokenSource(...)`, a `createTokenIssuer(...)`, or your own. */
  tokenSource: TokenSource
  /** The instance (and optional user / feature) context the `X-Gitlab-*` headers are built from. */
  headers: GatewayHeadersContext
  /** The audience the gateway verifies (`aud`). Default `gitlab-ai-gateway`. */
  audience?: string
  /** Injected clock, for preflight and the clock-skew diagnosis. Default `() => new Date()`. */
  now?: Clock
  /** Leeway preflight grants for `exp`/`nbf`. The gateway grants none, so keep it small. */
  leewaySeconds?: number
  /** Custom fetch (undici with a dispatcher, a mock...). Default: the global fetch. */
  fetch?: typeof fetch
  /** Opt-in structured logger. Receives request id, endpoint, status, jti, kid, exp; never a token. */
  logger?: Logger
  /** Beyond this gateway-vs-local clock difference, a 401 is diagnosed as clock skew. Default 5 s. */
  clockSkewToleranceSeconds?: number
  /**
   * What to do when the gateway answers with a redirect (3xx). Default `'error'`: a `GatewayRedirectError`
   * (`ERR_GATEWAY_REDIRECT`), nothing re-sent — the token and the body (api keys included) never go to a URL
   * the caller did not configure. `'follow'` follows it (`createAuthenticatedFetch` attaches the token and the
   * `X-Gitlab-*` headers again only where the redirect stays under `baseUrl`).
   */
  redirect?: 'error' | 'follow'
}

export interface GatewayClientOptions extends CommonOptions {
  /**
   * Per-attempt timeout in ms, or `false`. It bounds the whole exchange: from sending until the whole answer is
   * read (headers and body); for a stream, until the headers and then each gap between chunks. Default 60 000
   * (Rails's `ai_gateway_timeout_seconds` default). Preflight also warns when the token would expire within it.
   */
  timeout?: number | false
  /**
   * The most bytes of an answer the client reads (a stream in total); beyond it the call fails with
   * `GatewayResponseTooLargeError` and the connection is closed. Default `DEFAULT_MAX_RESPONSE_BYTES` (16 MiB).
   * Error bodies are read up to 64 KiB whatever this says.
   */
  maxResponseBytes?: number
  /** Retry policy for 5xx/429/network failures, or a number (= `limit`), or `false` (no retries). */
  retry?: RetryPolicy | number | false
}

export interface AuthenticatedFetchOptions extends CommonOptions {
  /**
   * The unit primitive to request tokens for: a fixed name, or a function of the URL (return `undefined` to
   * fall back to the `ENDPOINTS` table). Default: looked up in `ENDPOINTS` by path.
   */
  unitPrimitive?: string | ((url: URL, request: Request) => string | undefined)
  /** Timeout passed to preflight's "token expires during the request" warning, in ms. */
  requestTimeoutMs?: number
  /** After a 401 that survived the refresh-and-retry, throw `GatewayAuthError` instead of returning the response. */
  throwOnAuthFailure?: boolean
}

/** Normalised options shared by both factories. */
export interface ResolvedCommon {
  baseUrl: URL
  /** `baseUrl` as a string ending in `/`, the ky `prefixUrl`. */
  prefix: string
  /** The base URL's path without the trailing slash (`''` at the root). */
  basePath: string
  tokenSource: TokenSource
  headersContext: GatewayHeadersContext
  staticHeaders: Record<string, string>
  audience: string
  now: Clock
  leewaySeconds: number | undefined
  fetch: typeof fetch | undefined
  logger: Log | undefined
  clockSkewToleranceSeconds: number
  redirect: 'error' | 'follow'
}

export interface ResolvedRetry {
  limit: number
  statusCodes: number[]
  endpoints: 'safe' | 'all' | 'none'
  maxRetryAfterMs: number
  backoffLimitMs: number
  jitter: boolean
}

export interface ResolvedClientOptions extends ResolvedCommon {
  timeout: number | false
  maxResponseBytes: number
  retry: ResolvedRetry
}

export interface ResolvedFetchOptions extends ResolvedCommon {
  unitPrimitive: AuthenticatedFetchOptions['unitPrimitive']
  requestTimeoutMs: number | undefined
  throwOnAuthFailure: boolean
}

export const DEFAULT_TIMEOUT_MS = 60_000
/** The default `maxResponseBytes`: far above any gateway answer (a completion, a chat stream), far below a memory problem. */
export const DEFAULT_MAX_RESPONSE_BYTES = 16 * 1024 * 1024
export const DEFAULT_RETRY: ResolvedRetry = {
  limit: 2,
  statusCodes: [429, 500, 502, 503, 504],
  endpoints: 'safe',
  maxRetryAfterMs: 30_000,
  backoffLimitMs: 10_000,
  jitter: false,
}

export function resolveClientOptions(options: GatewayClientOptions): ResolvedClientOptions {
  const parsed = parse('createGatewayClient', ClientSchema(), options)
  const common = resolveCommon(parsed)
  const retry: ResolvedRetry =
    parsed.retry === false
      ? { ...DEFAULT_RETRY, limit: 0 }
      : typeof parsed.retry === 'number'
        ? { ...DEFAULT_RETRY, limit: parsed.retry }
        : { ...DEFAULT_RETRY, ...stripUndefined(parsed.retry ?? {}) }
  return { ...common, timeout: parsed.timeout ?? DEFAULT_TIMEOUT_MS, maxResponseBytes: parsed.maxResponseBytes ?? DEFAULT_MAX_RESPONSE_BYTES, retry }
}

export function resolveFetchOptions(options: AuthenticatedFetchOptions): ResolvedFetchOptions {
  const parsed = parse('createAuthenticatedFetch', FetchSchema(), options)
  return {
    ...resolveCommon(parsed),
    unitPrimitive: parsed.unitPrimitive as AuthenticatedFetchOptions['unitPrimitive'],
    requestTimeoutMs: parsed.requestTimeoutMs,
    throwOnAuthFailure: parsed.throwOnAuthFailure ?? false,
  }
}

// ---------------------------------------------------------------------------------------------

const fn = <T>(what: string) => zod().custom<T>((v) => typeof v === 'function', { message: `expected ${what} (a function)` })

export const baseUrlSchema = lazy((z) => z.union([z.string(), z.instanceof(URL)]).transform((value, ctx) => {
  let url: URL
  try {
    url = new URL(String(value))
  } catch {
    ctx.addIssue({ code: 'custom', message: 'not an absolute URL; pass e.g. "http://127.0.0.1:5052" or "https://cloud.gitlab.com/ai"' })
    return z.NEVER
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    ctx.addIssue({ code: 'custom', message: `must be http: or https:, got ${url.protocol}` })
    return z.NEVER
  }
  if (url.username !== '' || url.password !== '') {
    // fetch refuses URLs with credentials, and they would end up in logs
    ctx.addIssue({ code: 'custom', message: 'must not contain credentials (user:password@); the gateway authenticates by token' })
    return z.NEVER
  }
  if (url.search !== '' || url.hash !== '') {
    ctx.addIssue({ code: 'custom', message: 'must not contain a query string or fragment' })
    return z.NEVER
  }
  return url
}))

const CommonShape = lazy((z) => ({
  baseUrl: baseUrlSchema(),
  tokenSource: z.custom<TokenSource>(
    (v) => typeof v === 'object' && v !== null && typeof (v as { getToken?: unknown }).getToken === 'function',
    { message: 'expected a token source (an object with getToken({ unitPrimitive })), e.g. createTokenSource(...) or createTokenIssuer(...)' },
  ),
  headers: z.custom<GatewayHeadersContext>(
    (v) => typeof v === 'object' && v !== null && typeof (v as { instance?: unknown }).instance === 'object' && (v as { instance?: unknown }).instance !== null,
    { message: 'expected the header context { instance: { id, realm, hostName?, version? }, user?, feature? }' },
  ),
  audience: z.string().min(1).optional(),
  now: fn<Clock>('a clock () => Date').optional(),
  leewaySeconds: z.number().min(0).max(300).optional(),
  fetch: fn<typeof fetch>('a fetch implementation').optional(),
  logger: z
    .custom<Logger>((v) => typeof v === 'object' && v !== null, { message: 'expected a logger object with debug/info/warn/error methods' })
    .optional(),
  clockSkewToleranceSeconds: z.number().min(0).max(3600).optional(),
  redirect: z.enum(['error', 'follow']).optional(),
}))

const RetrySchema = lazy((z) => z.union([
  z.literal(false),
  z.number().int().min(0).max(10),
  z.strictObject({
    limit: z.number().int().min(0).max(10).optional(),
    statusCodes: z.array(z.number().int().min(400).max(599)).optional(),
    endpoints: z.enum(['safe', 'all', 'none']).optional(),
    maxRetryAfterMs: z.number().int().min(0).optional(),
    backoffLimitMs: z.number().int().min(0).optional(),
    jitter: z.boolean().optional(),
  }),
]))

const ClientSchema = lazy((z) => z.strictObject({
  ...CommonShape(),
  timeout: z.union([z.literal(false), z.number().int().positive().max(2_147_483_647)]).optional(),
  maxResponseBytes: z.number().int().positive().max(Number.MAX_SAFE_INTEGER).optional(),
  retry: RetrySchema().optional(),
}))

const FetchSchema = lazy((z) => z.strictObject({
  ...CommonShape(),
  unitPrimitive: z.union([z.string().min(1), fn<(url: URL, request: Request) => string | undefined>('a unit primitive mapper')]).optional(),
  requestTimeoutMs: z.number().int().positive().optional(),
  throwOnAuthFailure: z.boolean().optional(),
}))

function parse<S extends z.ZodType>(factory: string, schema: S, options: unknown): z.output<S> {
  if (options === null || typeof options !== 'object') {
    throw new InvalidOptionsError(`${factory}: pass an options object { baseUrl, tokenSource, headers }.`)
  }
  const result = schema.safeParse(options)
  if (!result.success) {
    const issues = result.error.issues.map((i) => ({
      path: i.path.map(String).join('.') || '(options)',
      message: i.code === 'unrecognized_keys' ? `unknown option(s): ${i.keys.join(', ')}` : i.message,
    }))
    throw new InvalidOptionsError(`${factory}: invalid options: ${issues.map((i) => `${i.path}: ${i.message}`).join('; ')}`, issues)
  }
  return result.data
}

function resolveCommon(parsed: z.output<ReturnType<typeof ClientSchema>> | z.output<ReturnType<typeof FetchSchema>>): ResolvedCommon {
  const baseUrl = parsed.baseUrl
  const prefix = baseUrl.href.endsWith('/') ? baseUrl.href : `${baseUrl.href}/`
  const basePath = baseUrl.pathname.endsWith('/') ? baseUrl.pathname.slice(0, -1) : baseUrl.pathname
  // Built (and validated: HeaderError naming the header) once; requests copy it.
  const staticHeaders = Object.freeze(buildGatewayHeaders(parsed.headers)) as Record<string, string>
  return {
    baseUrl,
    prefix,
    basePath,
    tokenSource: parsed.tokenSource,
    headersContext: parsed.headers,
    staticHeaders,
    audience: parsed.audience ?? DEFAULT_AUDIENCE,
    now: parsed.now ?? (() => new Date()),
    leewaySeconds: parsed.leewaySeconds,
    fetch: parsed.fetch,
    logger: toLog(parsed.logger),
    clockSkewToleranceSeconds: parsed.clockSkewToleranceSeconds ?? 5,
    redirect: parsed.redirect ?? 'error',
  }
}

function stripUndefined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>
}
