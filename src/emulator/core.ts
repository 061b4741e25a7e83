/**
 * The gateway double's request handling, free of any transport: `handle({ method, url, headers,
 * body })` → `{ status, headers, body }`. The node:http emulator and the msw handlers of
 * `cloud-connector-sdk/testing` both call it, so they answer every request identically.
 *
 * The order is the real gateway's: the auth middleware first (every path but the public ones,
 * unknown paths included), then routing (404/405), then FastAPI's body validation (422), then the
 * endpoint (its unit-primitive check → 403, then the answer).
 */
import type { z } from 'zod'
import { lazy } from '../zod.js'
import { InvalidOptionsError } from '../errors.js'
import type { Jwks } from '../keys/jwks.js'
import { redact } from '../redact.js'
import { toLog, type Logger } from '../log.js'
import type { Clock, SigningKey } from '../types.js'
import { createGatewayVerifier, type GatewayVerifier } from '../verify/index.js'
import {
  internalServerError,
  jsonResponse,
  normaliseHeaders,
  parseJsonBody,
  pyUnquote,
  splitTarget,
  type EmulatorRequest,
  type EmulatorResponse,
} from './http.js'
import { redactBody, redactHeaders, RequestLog, type RecordedRequest, type RecordedVerdict, type RequestFilter } from './record.js'
import {
  DEFAULT_MODEL_REPLY,
  DEFAULT_PROMPTS,
  GATEWAY_ROUTES,
  GatewayServerError,
  type FailingModel,
  type GatewayRoute,
  type GatewayUser,
  type RouteKnobs,
  type RouteResult,
  type UsageQuotaState,
  usageQuotaRefusal,
} from './routes.js'
import { generateSigningKeyAsync } from './keygen.js'
import { validate } from './schema.js'

/** The knobs that may change while the double runs (`configure`), all restored by `reset()`. */
export interface GatewayKnobs {
  /** The service name the gateway checks `aud` against: `gitlab-ai-gateway` (default) or `gitlab-duo-workflow-service`. */
  audience?: string
  /** How long discovered keys are cached (the gateway: 24 h). */
  jwksCacheTtlSeconds?: number
  /** The gateway's clock: token times and the key cache are judged against it. */
  now?: Clock
  /** `AIGW_AUTH__BYPASS_EXTERNAL=true`: no authentication, every unit primitive allowed. */
  bypassAuth?: boolean
  /** Model servers that fail, keyed by the model's `name`, `endpoint` or `identifier` → 421 from the model check. */
  failingModels?: Record<string, FailingModel>
  /** The canned text every model "answers". */
  modelReply?: string
  /** Extra prompts for `/v1/prompts/{id}`: prompt id → unit primitive (the model check is built in). */
  prompts?: Record<string, string>
  /**
   * What the gateway's usage-quota layer answers on the routes behind it (completions, generations,
   * user_access_token): `ok` (default), `insufficient_credits` (402) or `not_entitled` (403
   * `USAGE_QUOTA_NOT_ENTITLED`). A token whose `skip_usage_cutoff` claim is true is never stopped.
   */
  usageQuota?: UsageQuotaState
}

export interface GatewayCoreOptions extends GatewayKnobs {
  /**
   * Where the gateway discovers keys by OIDC: `AIGW_GITLAB_URL` first, then `AIGW_CUSTOMER_PORTAL_URL`.
   * An issuer that cannot be reached is skipped, as the gateway does.
   */
  issuerUrls?: string[]
  /** Keys trusted without discovery, in addition. */
  jwks?: Jwks
  /** Per-issuer discovery timeout (the gateway: 10 s). */
  discoveryTimeoutMs?: number
  /**
   * The gateway's own signing key (`AIGW_SELF_SIGNED_JWT__SIGNING_KEY`), used for
   * `/v1/code/user_access_token` and trusted like the gateway trusts it. Default: one generated on
   * first need; `false`: none (that endpoint then answers 500 as the gateway does).
   */
  gatewayKey?: SigningKey | false
  /** A path prefix the double is mounted under (`https://cloud.gitlab.com/ai` → `/ai`). */
  basePath?: string
  /** The fetch the verifier discovers keys with (default: the global one, at call time). */
  fetch?: typeof fetch
  /** Share one log between the gateway and the instance side. */
  log?: RequestLog
  logger?: Logger
}

export interface GatewayCore {
  handle(request: EmulatorRequest): Promise<EmulatorResponse>
  /** A snapshot of the requests received so far, oldest first. */
  readonly requests: RecordedRequest[]
  countRequests(filter?: RequestFilter): number
  /** Change knobs while running. Changing `audience` or `jwksCacheTtlSeconds` drops the cached keys. */
  configure(patch: GatewayKnobs): void
  /** Forget recorded requests and cached keys; restore the knobs given at creation. */
  reset(): void
  /** Make the verifier fetch the issuers' keys again now (as a gateway restart would). */
  refreshKeys(): Promise<void>
  readonly log: RequestLog
}

export function createGatewayCore(options: GatewayCoreOptions = {}): GatewayCore {
  const parsed = parseOptions(options)
  const initial = knobsFrom(parsed)
  let knobs = { ...initial }
  // The verifier gets a clock that reads the current knob, so `configure({ now })` takes effect at once.
  const now: Clock = () => knobs.now()
  const log = options.log ?? new RequestLog(now)
  const logger = toLog(options.logger)
  const basePath = (parsed.basePath ?? '').replace(/\/+$/, '')
  const gatewayKey = lazyGatewayKey(options.gatewayKey)
  let verifier: Promise<GatewayVerifier> | undefined

  function getVerifier(): Promise<GatewayVerifier> {
    verifier ??= gatewayKey().then((key) =>
      createGatewayVerifier({
        audience: knobs.audience,
        ...(parsed.issuerUrls === undefined ? {} : { issuerUrls: parsed.issuerUrls }),
        ...(options.jwks === undefined ? {} : { jwks: options.jwks }),
        ...(key === undefined ? {} : { keys: [key] }),
        cacheTtlSeconds: knobs.jwksCacheTtlSeconds,
        ...(parsed.discoveryTimeoutMs === undefined ? {} : { fetchTimeoutMs: parsed.discoveryTimeoutMs }),
        fetch: options.fetch ?? ((input, init) => globalThis.fetch(input, init)),
        now,
        ...(options.logger === undefined ? {} : { logger: options.logger }),
      }),
    )
    // A failed start (key generation) must not stick: the next request tries again.
    verifier.catch(() => {
      verifier = undefined
    })
    return verifier
  }

  async function handle(request: EmulatorRequest): Promise<EmulatorResponse> {
    const method = request.method.toUpperCase()
    const { rawPath, query } = splitTarget(request.url)
    const headers = normaliseHeaders(request.headers)
    let decodedPath = pyUnquote(rawPath)
    if (basePath !== '' && (decodedPath === basePath || decodedPath.startsWith(`${basePath}/`))) {
      decodedPath = decodedPath.slice(basePath.length) || '/'
    }
    const entry: Omit<RecordedRequest, 'seq' | 'at' | 'status'> = {
      side: 'gateway',
      method,
      path: rawPath,
      decodedPath,
      query,
      headers: redactHeaders(headers),
      ...bodyForLog(request.body, headers['content-type']),
    }
    let result: { response: EmulatorResponse; route?: string; verdict?: RecordedVerdict; unitPrimitive?: string }
    try {
      result = await dispatch(method, decodedPath, headers, request.body)
    } catch (err) {
      // A bug in the double must still answer like a server would, and be visible to the test.
      logger?.error?.('emulator.handler_failed', { path: rawPath, error: err instanceof Error ? err.message : String(err) })
      result = { response: internalServerError() }
    }
    log.add({
      ...entry,
      ...(result.route === undefined ? {} : { route: result.route }),
      status: result.response.status,
      ...(result.verdict === undefined ? {} : { verdict: result.verdict }),
      ...(result.unitPrimitive === undefined ? {} : { unitPrimitive: result.unitPrimitive }),
    })
    return method === 'HEAD' ? { ...result.response, body: '' } : result.response
  }

  async function dispatch(
    method: string,
    path: string,
    headers: Record<string, string>,
    body: EmulatorRequest['body'],
  ): Promise<{ response: EmulatorResponse; route?: string; verdict?: RecordedVerdict; unitPrimitive?: string }> {
    const candidates = GATEWAY_ROUTES.map((r) => ({ route: r, match: r.path.exec(path) })).filter((c) => c.match !== null)
    const isPublic = candidates.some((c) => c.route.public === true)

    let user: GatewayUser = { debug: true }
    let verdict: RecordedVerdict | undefined
    if (!isPublic && !knobs.bypassAuth) {
      const v = await (await getVerifier()).authenticate(headers)
      verdict = {
        status: v.status,
        ...(v.error === undefined ? {} : { error: v.error }),
        ...(v.reason === undefined ? {} : { reason: v.reason }),
        ...(v.claims === undefined ? {} : { claims: v.claims }),
      }
      if (v.status === 500) return { response: internalServerError(), verdict }
      if (v.status !== 200) return { response: jsonResponse(401, { error: v.error ?? 'Forbidden by auth provider' }), verdict }
      user = { debug: false, ...(v.claims === undefined ? {} : { claims: v.claims }) }
    }

    if (candidates.length === 0) return { response: jsonResponse(404, { detail: 'Not Found' }), ...(verdict ? { verdict } : {}) }
    const hit = candidates.find((c) => c.route.method === method || (method === 'HEAD' && c.route.method === 'GET'))
    if (hit === undefined) {
      const allow = [...new Set(candidates.map((c) => c.route.method))].join(', ')
      return { response: jsonResponse(405, { detail: 'Method Not Allowed' }, { allow }), ...(verdict ? { verdict } : {}) }
    }
    const route: GatewayRoute = hit.route
    let value: unknown
    if (route.body !== undefined) {
      const parsedBody = parseJsonBody(body, headers['content-type'])
      const issues = parsedBody.ok ? validate(route.body, parsedBody.value, ['body']) : [parsedBody.issue]
      if (issues.length > 0) {
        return { response: jsonResponse(422, { detail: issues }), route: route.name, ...(verdict ? { verdict } : {}) }
      }
      value = parsedBody.ok ? parsedBody.value : undefined
    }
    if (route.usageQuota === true) {
      const refusal = usageQuotaRefusal(knobs.usageQuota, user)
      if (refusal !== undefined) return { response: refusal, route: route.name, ...(verdict ? { verdict } : {}) }
    }
    let out: RouteResult
    try {
      out = await route.handle({
        params: { ...(hit.match?.groups ?? {}) },
        body: value,
        headers,
        user,
        knobs,
        now: now(),
        gatewayKey,
      })
    } catch (err) {
      if (!(err instanceof GatewayServerError)) throw err
      // What the gateway itself crashes on (e.g. `in` on a null `scopes`): Starlette's plain 500.
      return { response: internalServerError(), route: route.name, ...(verdict ? { verdict } : {}) }
    }
    const { unitPrimitive, ...response } = out
    return {
      response,
      route: route.name,
      ...(verdict ? { verdict } : {}),
      ...(unitPrimitive === undefined ? {} : { unitPrimitive }),
    }
  }

  return {
    handle,
    get requests() {
      return log.list()
    },
    countRequests: (filter) => log.count(filter),
    configure(patch) {
      const next = knobsFrom(parseOptions(patch), knobs)
      const keysChange = next.audience !== knobs.audience || next.jwksCacheTtlSeconds !== knobs.jwksCacheTtlSeconds
      knobs = next
      if (keysChange) verifier = undefined
    },
    reset() {
      knobs = { ...initial }
      verifier = undefined
      log.clear()
    },
    async refreshKeys() {
      await (await getVerifier()).refreshKeys()
    },
    log,
  }
}

interface Knobs extends RouteKnobs {
  now: Clock
  jwksCacheTtlSeconds: number
}

const clockSchema = lazy((z) => z.custom<Clock>((v) => typeof v === 'function', 'must be a function returning a Date'))

const optionsSchema = lazy((z) => z.object({
  audience: z.string().min(1).optional(),
  jwksCacheTtlSeconds: z.number().nonnegative().optional(),
  now: clockSchema().optional(),
  bypassAuth: z.boolean().optional(),
  failingModels: z
    .record(z.string(), z.object({ status: z.number().int().min(100).max(599), reason: z.string().optional() }))
    .optional(),
  modelReply: z.string().optional(),
  prompts: z.record(z.string().min(1), z.string().min(1)).optional(),
  usageQuota: z.enum(['ok', 'insufficient_credits', 'not_entitled']).optional(),
  issuerUrls: z.array(z.url({ protocol: /^https?$/ })).optional(),
  discoveryTimeoutMs: z.number().int().positive().optional(),
  basePath: z.string().regex(/^(?:\/[^?#]*)?$/, 'must be empty or start with "/"').optional(),
}))

type ParsedOptions = z.infer<ReturnType<typeof optionsSchema>>

function parseOptions(options: GatewayCoreOptions): ParsedOptions {
  // Only the plain-data options are schema-checked; keys, logs and functions are checked where used.
  const source = options as Record<string, unknown>
  const picked: Record<string, unknown> = {}
  for (const key of Object.keys(optionsSchema().shape)) if (source[key] !== undefined) picked[key] = source[key]
  const r = optionsSchema().safeParse(picked)
  if (r.success) return r.data
  const issues = r.error.issues.map((i) => ({ path: i.path.join('.'), message: i.message }))
  throw new InvalidOptionsError(
    `Invalid gateway emulator options: ${issues.map((i) => `${i.path || '(root)'}: ${i.message}`).join('; ')}.`,
    issues,
  )
}

function knobsFrom(o: ParsedOptions, base?: Knobs): Knobs {
  return {
    audience: o.audience ?? base?.audience ?? 'gitlab-ai-gateway',
    jwksCacheTtlSeconds: o.jwksCacheTtlSeconds ?? base?.jwksCacheTtlSeconds ?? 86_400,
    now: o.now ?? base?.now ?? (() => new Date()),
    bypassAuth: o.bypassAuth ?? base?.bypassAuth ?? false,
    // Maps: a name from a request ("constructor", "__proto__", "toString") must not find Object.prototype.
    failingModels: o.failingModels !== undefined ? new Map(Object.entries(o.failingModels)) : new Map(base?.failingModels ?? []),
    modelReply: o.modelReply ?? base?.modelReply ?? DEFAULT_MODEL_REPLY,
    prompts: new Map([...(base?.prompts ?? DEFAULT_PROMPTS), ...Object.entries(o.prompts ?? {})]),
    usageQuota: o.usageQuota ?? base?.usageQuota ?? 'ok',
  }
}

/** The gateway key, generated off the main thread on first need unless given (or refused with `false`). */
function lazyGatewayKey(given: SigningKey | false | undefined): () => Promise<SigningKey | undefined> {
  if (given === false) return () => Promise.resolve(undefined)
  if (given !== undefined) return () => Promise.resolve(given)
  let pending: Promise<SigningKey> | undefined
  return () => {
    pending ??= generateSigningKeyAsync()
    return pending
  }
}

function bodyForLog(body: EmulatorRequest['body'], contentType: string | undefined): { body?: unknown } {
  if (body === undefined || body === null) return {}
  const text = typeof body === 'string' ? body : Buffer.from(body).toString('utf8')
  if (text.length === 0) return {}
  if (/json/i.test(contentType ?? 'json')) {
    try {
      return { body: redactBody(JSON.parse(text) as unknown) }
    } catch {
      /* not JSON: fall through */
    }
  }
  // Raw text may hold anything (a form with a password, a pasted token): keep only its fingerprint.
  return { body: redact(text) }
}
