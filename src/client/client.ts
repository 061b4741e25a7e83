/**
 * The gateway client: one ky instance that, per request, obtains a token for the endpoint's unit primitive,
 * preflights it against the exact headers (never sending what the gateway would refuse), sends, refreshes
 * the token and retries once on 401, and turns every refusal into a typed error that says why.
 */
import { randomUUID } from 'node:crypto'
import { setTimeout as sleep } from 'node:timers/promises'
import type { KyInstance, Options as KyOptions } from 'ky'
import type { z } from 'zod'
import { CloudConnectorError, HeaderError, InvalidOptionsError } from '../errors.js'
import { buildGatewayHeaders, type GatewayFeatureContext, type GatewayHeadersContext, type GatewayUserContext } from '../headers.js'
import type { Log } from '../log.js'
import { accessFor, tokenUnitPrimitiveOf } from '../inspect/access.js'
import { Authorizer, preflightKey, scrub, type Authorization, type AuthorizeInput } from './auth.js'
import {
  ENDPOINTS,
  type EndpointDefinition,
  type EndpointName,
  type SuggestionsResponseSchema,
  type UserAccessTokenResponseSchema,
  type CodeCompletionsBodySchema,
  type CodeGenerationsBodySchema,
  type ChatAgentBodySchema,
} from './endpoints.js'
import {
  AbortedError,
  GatewayError,
  GatewayResponseError,
  GatewayRedirectError,
  GatewayResponseTooLargeError,
  GatewayTimeoutError,
  GatewayValidationError,
  NetworkError,
  type GatewayErrorContext,
  type ValidationIssue,
} from './errors.js'
import { BodyReader, BodyReadStop, type BodyReadOptions } from '../body.js'
import { authError, errorForResponse, readBody } from './responses.js'
import { isGatewayOnlyHeader, isRedirect, nextHop, relativePath, type BaseLocation, type Hop } from './redirects.js'
import { resolveClientOptions, type GatewayClientOptions, type ResolvedClientOptions } from './options.js'
import { isKyTimeout, loadKy } from './ky.js'

/** Per-call options of every endpoint method. */
export interface CallOptions {
  signal?: AbortSignal
  /** `X-Request-ID` to send (printable ASCII). Default: a fresh UUID per call. */
  requestId?: string
  /** Per-attempt timeout for this call (ms) or `false`. Default: the client's `timeout`. */
  timeout?: number | false
  /** Retries for 5xx/429/network failures: `true` = the client policy's limit even for endpoints not marked safe, `false` = none, or a number. */
  retry?: boolean | number
  /** Per-call header context, merged over the client's (`user` and `feature` replace the client's; `extra` is merged). */
  context?: { user?: GatewayUserContext; feature?: GatewayFeatureContext; extra?: Record<string, string> }
  /** The AI feature setting this call is made for, handed to the token source (Rails' `Tokens.get(feature_setting:)`). */
  featureSetting?: string
}

/** A parsed JSON answer. */
export interface GatewayResult<T> {
  data: T
  status: number
  /** The `X-Request-ID` sent (the gateway logs it as `correlation_id`). */
  requestId: string
  headers: Headers
  /** Requests sent for this call: 1, plus a 401 refresh-and-retry, plus 5xx/429 retries. */
  attempts: number
}

/** A streamed answer: iterate for text chunks as they arrive (once). */
export interface GatewayStream extends AsyncIterable<string> {
  readonly status: number
  readonly requestId: string
  readonly headers: Headers
  readonly attempts: number
  /** Read the whole stream as one string. */
  text(): Promise<string>
  /** Stop reading and release the connection. */
  cancel(): Promise<void>
}

export interface ModelConfigurationCheckInput {
  /** The model name as the model server knows it (`self_hosted_model.model`), e.g. `mistral`. */
  name: string
  /** The model server's base URL as the gateway reaches it, e.g. `http://model:8000/v1`. */
  endpoint: string
  /** API key for the model server. Sent to the gateway only; never logged or shown in errors. */
  apiKey?: string
  /** LiteLLM identifier, e.g. `custom_openai/mistral`. */
  identifier?: string
  /** Default `openai`, as Rails sends. */
  provider?: string
}

export type CodeSuggestionsBody = z.input<ReturnType<typeof CodeCompletionsBodySchema>>
export type CodeGenerationsBody = z.input<ReturnType<typeof CodeGenerationsBodySchema>>
export type ChatAgentBody = z.input<ReturnType<typeof ChatAgentBodySchema>>
export type SuggestionsResponse = z.output<ReturnType<typeof SuggestionsResponseSchema>>
export type UserAccessTokenResponse = z.output<ReturnType<typeof UserAccessTokenResponseSchema>>

export interface GatewayClient {
  /** The self-hosted model "test connection": `POST /v1/prompts/model_configuration%2Fcheck` (needs `complete_code`). Resolves with the model's reply. */
  checkModelConfiguration(input: ModelConfigurationCheckInput, options?: CallOptions): Promise<GatewayResult<string>>
  /** `POST /v2/code/completions` (`complete_code`), non-streamed. */
  codeCompletions(body: CodeSuggestionsBody, options?: CallOptions): Promise<GatewayResult<SuggestionsResponse>>
  /** `POST /v2/code/completions` with `stream: true`. */
  streamCodeCompletions(body: CodeSuggestionsBody, options?: CallOptions): Promise<GatewayStream>
  /** `POST /v2/code/generations` (`generate_code`), non-streamed. */
  codeGenerations(body: CodeGenerationsBody, options?: CallOptions): Promise<GatewayResult<SuggestionsResponse>>
  /** `POST /v2/code/generations` with `stream: true`. */
  streamCodeGenerations(body: CodeGenerationsBody, options?: CallOptions): Promise<GatewayStream>
  /**
   * `POST /v2/chat/agent`: a stream of NDJSON events. The token is asked for `duo_classic_chat`, or for
   * `duo_chat` when the last user message mentions @GitLabDuo (GitLab's code-review flow), unless
   * `options.unitPrimitive` says otherwise; preflight applies the gateway's whole rule (`ENDPOINTS.chat.access`).
   */
  chat(body: ChatAgentBody, options?: CallOptions & { unitPrimitive?: 'duo_chat' | 'duo_classic_chat' }): Promise<GatewayStream>
  /** `POST /v1/code/user_access_token` (`complete_code`; needs a user context). The returned token is a secret. */
  userAccessToken(options?: CallOptions): Promise<GatewayResult<UserAccessTokenResponse>>
  /** `GET /monitoring/healthz` (no authentication). */
  health(options?: CallOptions): Promise<GatewayResult<unknown>>
  /** The normalised gateway base URL. */
  readonly baseUrl: string
}

export function createGatewayClient(options: GatewayClientOptions): GatewayClient {
  return new Client(resolveClientOptions(options))
}

// ---------------------------------------------------------------------------------------------

const MODEL_CHECK_REQUIRED = ['name', 'endpoint'] as const
const MODEL_CHECK_OPTIONAL = ['apiKey', 'identifier', 'provider'] as const
const MODEL_CHECK_KEYS: ReadonlySet<string> = new Set([...MODEL_CHECK_REQUIRED, ...MODEL_CHECK_OPTIONAL])

/** Bodies up to this size are remembered once validated (see `#bodyText`). */
const VALIDATED_BODY_MAX_CHARS = 16 * 1024
const VALIDATED_BODIES_MAX = 256

/** One call's state. */
interface Call {
  name: EndpointName
  def: EndpointDefinition
  requestId: string
  signal: AbortSignal | undefined
  timeout: number | false
  /** Requests sent so far (the 401 retry and 5xx/429/network retries included). */
  attempts: number
  /** `performance.now()` when the current attempt was sent: its timeout bounds the whole answer from there. */
  attemptStarted: number
  /** 5xx/429/network retries this call may still make. */
  retriesLeft: number
  kyOptions: KyOptions
  /** The body as a one-shot stream's bytes, re-streamed for every attempt (see `oneShotBody`); undefined: `kyOptions.body` as is. */
  bodyBytes: Uint8Array | undefined
  /** The gateway headers of this call (x-request-id included); `authorization` is set on them per attempt. */
  base: Record<string, string>
  /** `performance.now()` at the start, when there is a logger. */
  started: number
  /** What the token step needs; `undefined` for endpoints without authentication. */
  auth: AuthorizeInput | undefined
}


interface Exchange {
  response: Response
  requestId: string
  attempts: number
  /** When the answer's body must have arrived (`performance.now()`), from the attempt's timeout. */
  deadline: number | undefined
}

const REQUEST_ID_RE = /^[\x21-\x7e]{1,255}$/

/** Endpoint paths without the leading slash, as ky's `prefixUrl` wants them. */
const RELATIVE_PATHS = Object.fromEntries(
  (Object.entries(ENDPOINTS) as [EndpointName, EndpointDefinition][]).map(([name, def]) => [name, def.path.slice(1)]),
) as Record<EndpointName, string>

class Client implements GatewayClient {
  readonly baseUrl: string
  readonly #o: ResolvedClientOptions
  /**
   * ky carries each attempt (prefix URL, timeout, custom fetch); retries are ours (`#send`), so that the
   * instance keeps ky's defaults and a call passes only what varies.
   */
  #ky: KyInstance | undefined
  /** What `#ky` is created with, once ky is loaded (src/client/ky.ts). */
  readonly #kyDefaults: KyOptions
  readonly #auth: Authorizer
  readonly #log: Log | undefined
  /** Per endpoint: how many retries the policy allows. */
  readonly #retries = new Map<EndpointName, number>()
  readonly #staticHeaders: Record<string, string>
  /** Request bodies already validated, per endpoint: JSON text in → JSON text sent (bounded, insertion-ordered). */
  readonly #validatedBodies = new Map<EndpointName, Map<string, string>>()
  /** Preflight memo keys of the endpoints with the static headers and the default timeout. */
  readonly #memoKeys = new Map<EndpointName, string>()

  constructor(o: ResolvedClientOptions) {
    this.#o = o
    this.baseUrl = o.baseUrl.href
    this.#log = o.logger
    this.#auth = new Authorizer({ tokenSource: o.tokenSource, audience: o.audience, now: o.now, leewaySeconds: o.leewaySeconds, logger: o.logger })
    const { 'x-request-id': _ignored, ...rest } = o.staticHeaders
    this.#staticHeaders = rest
    const policy = o.retry
    this.#kyDefaults = {
      prefixUrl: o.prefix,
      timeout: o.timeout,
      ...(o.redirect === 'error' ? { redirect: 'error' as const, fetch: noRedirectFetch(o.fetch) } : { redirect: 'manual' as const, fetch: followingFetch(o.fetch, o) }),
      retry: 0,
      throwHttpErrors: false,
    }
    // started now so that the first request rarely waits for it; a failure is the first request's to report
    loadKy().catch(() => undefined)
    for (const name of Object.keys(ENDPOINTS) as EndpointName[]) {
      const def: EndpointDefinition = ENDPOINTS[name]
      this.#retries.set(name, policy.endpoints === 'all' || (policy.endpoints === 'safe' && def.retrySafe) ? policy.limit : 0)
      this.#validatedBodies.set(name, new Map())
      if (def.unitPrimitive !== undefined) {
        const timeout = o.timeout === false ? undefined : o.timeout
        this.#memoKeys.set(name, preflightKey(this.#staticHeaders, def.unitPrimitive, timeout, def.forbiddenDetail))
      }
    }
  }

  checkModelConfiguration(input: ModelConfigurationCheckInput, options: CallOptions = {}): Promise<GatewayResult<string>> {
    let i: ModelConfigurationCheckInput
    try {
      i = modelCheckInput(input)
    } catch (e) {
      return Promise.reject(e)
    }
    const body = {
      inputs: {},
      stream: false as const,
      model_metadata: {
        name: i.name,
        provider: i.provider ?? 'openai',
        endpoint: i.endpoint,
        // Rails sends nil for a model without api token / identifier (ModelConfigCheck#model_metadata_params)
        api_key: i.apiKey ?? null,
        identifier: i.identifier ?? null,
      },
    }
    return this.#json('checkModelConfiguration', body, options, [i.apiKey])
  }

  // not `async`: on the hot path an extra async frame per call is measurable; a bad body still rejects
  codeCompletions(body: CodeSuggestionsBody, options: CallOptions = {}): Promise<GatewayResult<SuggestionsResponse>> {
    try {
      return this.#json('codeCompletions', noStream('codeCompletions', body), options, [body?.model_api_key])
    } catch (e) {
      return Promise.reject(e)
    }
  }

  async streamCodeCompletions(body: CodeSuggestionsBody, options: CallOptions = {}): Promise<GatewayStream> {
    return this.#stream('codeCompletions', { ...body, stream: true }, options, [body?.model_api_key])
  }

  codeGenerations(body: CodeGenerationsBody, options: CallOptions = {}): Promise<GatewayResult<SuggestionsResponse>> {
    try {
      return this.#json('codeGenerations', noStream('codeGenerations', body), options, [body?.model_api_key])
    } catch (e) {
      return Promise.reject(e)
    }
  }

  async streamCodeGenerations(body: CodeGenerationsBody, options: CallOptions = {}): Promise<GatewayStream> {
    return this.#stream('codeGenerations', { ...body, stream: true }, options, [body?.model_api_key])
  }

  async chat(body: ChatAgentBody, options: CallOptions & { unitPrimitive?: 'duo_chat' | 'duo_classic_chat' } = {}): Promise<GatewayStream> {
    const up = options.unitPrimitive
    if (up !== undefined && up !== 'duo_chat' && up !== 'duo_classic_chat') {
      throw new GatewayValidationError(`chat: unitPrimitive must be "duo_chat" or "duo_classic_chat"; nothing was sent.`, {
        endpoint: 'chat',
        sent: false,
        issues: [{ path: 'unitPrimitive', message: 'expected "duo_chat" or "duo_classic_chat"' }],
      })
    }
    const apiKey = (body as { model_metadata?: { api_key?: unknown } | null } | undefined)?.model_metadata?.api_key
    return this.#stream('chat', body, options, [typeof apiKey === 'string' ? apiKey : undefined], up)
  }

  async userAccessToken(options: CallOptions = {}): Promise<GatewayResult<UserAccessTokenResponse>> {
    return this.#json('userAccessToken', undefined, options, [], undefined, (headers) => {
      if (headers['x-gitlab-global-user-id'] === undefined) {
        throw new HeaderError(
          'x-gitlab-global-user-id',
          'userAccessToken: the gateway mints user tokens only for a user and answers 400 "Missing X-Gitlab-Global-User-Id header" ' +
            'without one. Pass headers.user to createGatewayClient or options.context.user to this call; nothing was sent.',
        )
      }
    })
  }

  async health(options: CallOptions = {}): Promise<GatewayResult<unknown>> {
    return this.#json('health', undefined, options, [])
  }

  // --- the pipeline ----------------------------------------------------------------------------

  async #json<T>(
    name: EndpointName,
    body: unknown,
    options: CallOptions,
    secrets: (string | undefined | null)[],
    unitPrimitive?: string,
    check?: (headers: Record<string, string>) => void,
  ): Promise<GatewayResult<T>> {
    const def: EndpointDefinition = ENDPOINTS[name]
    const ex = await this.#exchange(name, def, body, options, secrets, unitPrimitive, check)
    const response = ex.response
    const timeout = options.timeout ?? this.#o.timeout
    let text: string
    try {
      text = await new BodyReader(response, { maxBytes: this.#o.maxResponseBytes, overflow: 'fail', deadline: ex.deadline, signal: options.signal }).text()
    } catch (e) {
      throw bodyError(e, options.signal, resultContext(name, def, ex), timeout, this.#o.maxResponseBytes, 'body')
    }
    let json: unknown
    try {
      json = text === '' ? undefined : JSON.parse(text)
    } catch {
      if (name === 'health') return { data: text as T, status: response.status, requestId: ex.requestId, headers: response.headers, attempts: ex.attempts }
      throw new GatewayResponseError(
        `${name}: the gateway answered ${response.status} with a body that is not JSON (request id ${ex.requestId}); is ${this.baseUrl} an AI Gateway?`,
        resultContext(name, def, ex),
      )
    }
    const schema = def.response
    let data: unknown = json
    // a well-formed answer passes `accepts` unchanged; zod decides (and explains) everything else
    if (schema !== undefined && !(def.accepts?.(json) ?? false)) {
      const result = schema.safeParse(json)
      if (!result.success) {
        const issues = toIssues(result.error)
        throw new GatewayResponseError(
          `${name}: the gateway's ${response.status} answer does not have the expected shape (${formatIssues(issues)}; request id ${ex.requestId}). ` +
            `The gateway may be a different version than this SDK expects.`,
          { ...resultContext(name, def, ex), issues },
        )
      }
      data = result.data
    }
    return { data: data as T, status: response.status, requestId: ex.requestId, headers: response.headers, attempts: ex.attempts }
  }

  async #stream(
    name: EndpointName,
    body: unknown,
    options: CallOptions,
    secrets: (string | undefined | null)[],
    unitPrimitive?: string,
  ): Promise<GatewayStream> {
    const def: EndpointDefinition = ENDPOINTS[name]
    const ex = await this.#exchange(name, def, body, options, secrets, unitPrimitive)
    const ctx = resultContext(name, def, ex)
    const timeout = options.timeout ?? this.#o.timeout
    const maxBytes = this.#o.maxResponseBytes
    // a stream may run long: the timeout bounds each wait for the next chunk, not the whole stream
    const reader = new BodyReader(ex.response, { maxBytes, overflow: 'fail', idleMs: timeout === false ? undefined : timeout, signal: options.signal })
    return new ResponseStream(ex, reader, (e) => bodyError(e, options.signal, ctx, timeout, maxBytes, 'stream'))
  }

  /**
   * Validate, authorise, send (refreshing once on 401) and map any non-2xx answer to its error. Kept small:
   * an async function carries its whole frame across each await, so the rare paths (no token needed, a 401,
   * an error answer) live in functions of their own.
   */
  async #exchange(
    name: EndpointName,
    def: EndpointDefinition,
    rawBody: unknown,
    options: CallOptions,
    secrets: (string | undefined | null)[],
    unitPrimitiveOverride: string | undefined,
    check?: (headers: Record<string, string>) => void,
  ): Promise<Exchange> {
    const call = this.#prepare(name, def, rawBody, options, unitPrimitiveOverride, check)
    const input = call.auth
    if (input === undefined) return this.#unauthenticated(call, secrets)
    let auth: Authorization
    try {
      // a token at hand (the source's peekToken) is used without waiting; otherwise the source is asked
      auth = this.#auth.authorizeNow(input) ?? (await this.#auth.authorize(input))
    } catch (e) {
      throw abortedOr(e, call)
    }
    if (this.#log !== undefined) this.#logRequest(call, auth)
    const response = await this.#send(call, auth.headers)
    if (response.status === 401) return this.#afterUnauthorized(call, input, auth, response, secrets)
    return this.#settle(call, response, auth, secrets)
  }

  /** Everything before the token: the request id, the body as sent, the headers and the call's state. Throws without sending. */
  #prepare(
    name: EndpointName,
    def: EndpointDefinition,
    rawBody: unknown,
    options: CallOptions,
    unitPrimitiveOverride: string | undefined,
    check: ((headers: Record<string, string>) => void) | undefined,
  ): Call {
    const signal = options.signal
    if (signal?.aborted) throw new AbortedError(`${name}: aborted before sending.`, { endpoint: name, method: def.method, path: def.path })
    let requestId: string
    if (options.requestId === undefined) {
      requestId = randomUUID()
    } else if (typeof options.requestId === 'string' && REQUEST_ID_RE.test(options.requestId)) {
      requestId = options.requestId
    } else {
      throw new HeaderError('x-request-id', `x-request-id: must be 1-255 printable ASCII characters without spaces; nothing was sent.`)
    }
    const bodyText = def.body === undefined ? undefined : this.#bodyText(name, def.body, def.path, rawBody, requestId)
    const base = this.#headersFor(options, requestId, def)
    if (check !== undefined) check(base)

    // the gateway's rule for this body (one table: ENDPOINTS[name].access), and the primitive GitLab asks its token for
    const access = def.access === undefined ? undefined : accessFor(def.access, rawBody)
    const unitPrimitive = unitPrimitiveOverride ?? (access === undefined ? def.unitPrimitive : tokenUnitPrimitiveOf(access))
    const timeout = options.timeout ?? this.#o.timeout
    const kyOptions: KyOptions = { method: def.method, headers: base }
    if (options.timeout !== undefined) kyOptions.timeout = options.timeout
    let bodyBytes: Uint8Array | undefined
    if (bodyText !== undefined) {
      bodyBytes = Buffer.from(bodyText)
      // a stream body has no length of its own: send the exact one, as Rails does
      base['content-length'] = String(bodyBytes.byteLength)
    }
    if (signal !== undefined) kyOptions.signal = signal
    // with the static headers, the default timeout and the endpoint's own primitive, preflight's inputs are fixed
    const memoKey =
      options.context === undefined && options.timeout === undefined && unitPrimitiveOverride === undefined ? this.#memoKeys.get(name) : undefined
    return {
      name,
      def,
      requestId,
      signal,
      timeout,
      attempts: 0,
      attemptStarted: 0,
      retriesLeft: this.#retryLimit(name, options.retry),
      kyOptions,
      bodyBytes,
      base,
      started: this.#log === undefined ? 0 : performance.now(),
      auth:
        unitPrimitive === undefined
          ? undefined
          : {
              unitPrimitive,
              base,
              signal,
              requestTimeoutMs: timeout === false ? undefined : timeout,
              endpoint: name,
              forbiddenDetail: def.forbiddenDetail,
              memoKey,
              access,
              featureSetting: options.featureSetting,
            },
    }
  }

  /** Endpoints without authentication (health): the correlation id only, no token. */
  async #unauthenticated(call: Call, secrets: (string | undefined | null)[]): Promise<Exchange> {
    const response = await this.#send(call, call.base)
    this.#logResponse(call, response.status, call.started, undefined)
    if (!response.ok) throw await this.#failure(call, response, secrets, undefined)
    return { response, requestId: call.requestId, attempts: call.attempts, deadline: deadlineOf(call) }
  }

  /** A 401: read why, force-refresh the token once and retry once with the same body; a second 401 is the auth error. */
  async #afterUnauthorized(call: Call, input: AuthorizeInput, refused: Authorization, response: Response, secrets: (string | undefined | null)[]): Promise<Exchange> {
    const first = await readBody(response, [...secrets, refused.token], readLimits(call))
    this.#log?.warn?.('gateway.unauthorized', {
      endpoint: call.name,
      requestId: call.requestId,
      status: 401,
      gatewayError: first.message,
      action: 'refresh-token-and-retry',
      ...refused.entry.fields,
    })
    let auth: Authorization
    try {
      auth = await this.#auth.authorize({ ...input, refreshAfter: refused.token })
    } catch (e) {
      throw abortedOr(e, call)
    }
    this.#logRequest(call, auth)
    const again = await this.#send(call, auth.headers)
    if (again.status === 401) {
      this.#logResponse(call, 401, call.started, auth)
      const error = await authError(again, {
        ...errorContext(call, 401),
        secrets: [...secrets, auth.token],
        auth,
        authorizer: this.#auth,
        toleranceSeconds: this.#o.clockSkewToleranceSeconds,
        read: readLimits(call),
      })
      throw abortedDuring(error, call)
    }
    return this.#settle(call, again, auth, secrets)
  }

  /** The answer to an authorised request: logged, and an error for anything but 2xx. */
  #settle(call: Call, response: Response, auth: Authorization, secrets: (string | undefined | null)[]): Exchange | Promise<Exchange> {
    this.#logResponse(call, response.status, call.started, auth)
    if (!response.ok) {
      return this.#failure(call, response, [...secrets, auth.token], auth).then((e) => {
        throw e
      })
    }
    return { response, requestId: call.requestId, attempts: call.attempts, deadline: deadlineOf(call) }
  }

  /** The typed error of a non-2xx answer, its body read within the attempt's limits. */
  async #failure(call: Call, response: Response, secrets: (string | undefined | null)[], auth: Authorization | undefined): Promise<unknown> {
    const error = await errorForResponse(response, {
      ...errorContext(call, response.status),
      secrets,
      unitPrimitive: auth === undefined ? undefined : call.auth?.unitPrimitive,
      auth,
      read: readLimits(call),
    })
    return abortedDuring(error, call)
  }

  /**
   * Send through ky; retry 5xx/429 answers and network failures as the policy allows, with exponential
   * backoff or the answer's `Retry-After` (capped). Every attempt sends the whole body again.
   */
  #send(call: Call, headers: Record<string, string>): Promise<Response> {
    call.kyOptions.headers = headers
    // The first attempt without an async frame (the hot path); the retry loop only once an answer calls for it.
    return this.#attempt(call).then(
      (response) => (call.retriesLeft > 0 && this.#o.retry.statusCodes.includes(response.status) ? this.#retry(call, response, undefined) : response),
      (failure: unknown) => {
        if (call.retriesLeft > 0 && isNetworkFailure(failure, call)) return this.#retry(call, undefined, failure)
        throw transportError(failure, call.signal, errorContext(call), call.timeout)
      },
    )
  }

  /** One request of the call. */
  #attempt(call: Call): Promise<Response> {
    call.attempts++
    call.attemptStarted = performance.now()
    if (call.bodyBytes !== undefined) call.kyOptions.body = oneShotBody(call.bodyBytes)
    const k = this.#ky
    if (k !== undefined) return k(RELATIVE_PATHS[call.name], call.kyOptions)
    return loadKy().then((m) => (this.#ky ??= m.default.create(this.#kyDefaults))(RELATIVE_PATHS[call.name], call.kyOptions))
  }

  /** Retry after a retryable outcome (a 5xx/429 answer or a network failure) as long as the policy allows. */
  async #retry(call: Call, response: Response | undefined, failure: unknown): Promise<Response> {
    for (let retry = 1; ; retry++) {
      const retryable = response !== undefined ? this.#o.retry.statusCodes.includes(response.status) : isNetworkFailure(failure, call)
      if (call.retriesLeft > 0 && retryable) {
        call.retriesLeft--
        const delay = this.#retryDelay(retry, response)
        this.#log?.warn?.('gateway.retry', {
          endpoint: call.name,
          requestId: call.requestId,
          retry,
          delayMs: delay,
          ...(response === undefined ? { error: (failure as Error).name } : { status: response.status }),
        })
        // release the connection; not awaited, since a body someone tee'd never settles its cancel
        if (response !== undefined) void response.body?.cancel().catch(() => undefined)
        try {
          await sleep(delay, undefined, call.signal === undefined ? undefined : { signal: call.signal })
        } catch (e) {
          throw transportError(e, call.signal, errorContext(call), call.timeout)
        }
        response = undefined
        failure = undefined
        try {
          response = await this.#attempt(call)
        } catch (e) {
          failure = e
        }
        continue
      }
      if (response !== undefined) return response
      throw transportError(failure, call.signal, errorContext(call), call.timeout)
    }
  }

  /**
   * `Retry-After` (delta-seconds, or an HTTP date taken relative to the answer's own `Date`), capped at
   * `maxRetryAfterMs`, when given; else capped exponential backoff (300 ms, 600 ms, 1.2 s...).
   */
  #retryDelay(retry: number, response: Response | undefined): number {
    const policy = this.#o.retry
    const after = response?.headers.get('retry-after')
    if (after !== undefined && after !== null && after.trim() !== '') {
      const seconds = Number(after)
      let ms = Number.NaN
      if (Number.isFinite(seconds)) {
        ms = seconds * 1000
      } else {
        const sentAt = Date.parse(response?.headers.get('date') ?? '')
        ms = Date.parse(after) - (Number.isNaN(sentAt) ? this.#o.now().getTime() : sentAt)
      }
      if (Number.isFinite(ms)) return Math.min(Math.max(0, ms), policy.maxRetryAfterMs)
    }
    const backoff = Math.min(policy.backoffLimitMs, 300 * 2 ** (retry - 1))
    return policy.jitter ? Math.random() * backoff : backoff
  }

  /**
   * The body as sent: validated with the endpoint's zod schema, serialised. A body whose JSON text was
   * validated before is not validated again: the outcome is a function of that text, and on a busy hot
   * path zod costs more than the rest of the client (a model check or a repeated prompt is the common case).
   */
  #bodyText(name: EndpointName, schema: z.ZodType, path: string, raw: unknown, requestId: string): string {
    let rawText: string | undefined
    try {
      rawText = JSON.stringify(raw)
    } catch {
      // not JSON-serialisable (a cycle, a BigInt): let the schema say what is wrong
    }
    if (rawText === undefined || rawText.length > VALIDATED_BODY_MAX_CHARS) {
      return serialise(name, validate(name, schema, raw, { path, requestId }), { path, requestId })
    }
    const seen = this.#validatedBodies.get(name)!
    const known = seen.get(rawText)
    if (known !== undefined) return known
    const text = serialise(name, validate(name, schema, raw, { path, requestId }), { path, requestId })
    if (seen.size >= VALIDATED_BODIES_MAX) seen.delete(seen.keys().next().value as string)
    seen.set(rawText, text)
    return text
  }

  #headersFor(options: CallOptions, requestId: string, def: EndpointDefinition): Record<string, string> {
    if (def.unitPrimitive === undefined) {
      // unauthenticated endpoints (health): Rails sends no gateway headers there; keep only the correlation id
      return { 'x-request-id': requestId }
    }
    const context = options.context
    // `authorization` is filled in by the token step; declared here so that setting it does not reshape the object
    if (context === undefined || context === null) return { ...this.#staticHeaders, 'x-request-id': requestId, authorization: '' }
    if (typeof context !== 'object') {
      throw new InvalidOptionsError(`${def.path}: options.context must be an object ({ user?, feature?, extra? }); nothing was sent.`, [
        { path: 'options.context', message: 'expected an object' },
      ])
    }
    const ctx: GatewayHeadersContext = {
      ...this.#o.headersContext,
      ...(context.user === undefined || context.user === null ? {} : { user: context.user }),
      ...(context.feature === undefined || context.feature === null ? {} : { feature: context.feature }),
      extra: { ...this.#o.headersContext.extra, ...(context.extra ?? undefined) },
      requestId,
    }
    return buildGatewayHeaders(ctx)
  }

  /** Retries allowed for this call: the policy's for the endpoint, or the per-call override. */
  #retryLimit(name: EndpointName, override: boolean | number | undefined): number {
    if (override === undefined) return this.#retries.get(name) ?? 0
    if (override === false) return 0
    if (override === true) return this.#o.retry.limit
    return Number.isFinite(override) ? Math.max(0, Math.min(10, Math.floor(override))) : 0
  }

  #logRequest(call: Call, auth: Authorization): void {
    this.#log?.debug?.('gateway.request', {
      endpoint: call.name,
      requestId: call.requestId,
      tokenSource: auth.tokenResult.source,
      ...auth.entry.fields,
    })
  }

  #logResponse(call: Call, status: number, started: number, auth: Authorization | undefined): void {
    if (this.#log === undefined) return
    const fields = {
      endpoint: call.name,
      requestId: call.requestId,
      status,
      attempts: call.attempts,
      durationMs: Math.round(performance.now() - started),
      ...(auth === undefined ? {} : auth.entry.fields),
    }
    if (status >= 400) this.#log.warn?.('gateway.response', fields)
    else this.#log.info?.('gateway.response', fields)
  }
}

/** The chunks of a streamed answer, decoded as UTF-8 text. */
class ResponseStream implements GatewayStream {
  readonly status: number
  readonly requestId: string
  readonly headers: Headers
  readonly attempts: number
  readonly #reader: BodyReader
  readonly #mapError: (e: unknown) => unknown
  #used = false

  constructor(ex: Exchange, reader: BodyReader, mapError: (e: unknown) => unknown) {
    this.status = ex.response.status
    this.requestId = ex.requestId
    this.headers = ex.response.headers
    this.attempts = ex.attempts
    this.#reader = reader
    this.#mapError = mapError
  }

  async *[Symbol.asyncIterator](): AsyncIterator<string> {
    if (this.#used) throw new GatewayResponseError('This gateway stream was already read; a stream can be read once.', { requestId: this.requestId })
    this.#used = true
    const decoder = new TextDecoder()
    let done = false
    try {
      for (;;) {
        let chunk: Uint8Array | undefined
        try {
          chunk = await this.#reader.next()
        } catch (e) {
          done = true
          throw this.#mapError(e)
        }
        if (chunk === undefined) {
          done = true
          const tail = decoder.decode()
          if (tail !== '') yield tail
          return
        }
        const text = decoder.decode(chunk, { stream: true })
        if (text !== '') yield text
      }
    } finally {
      // the consumer stopped early (break/throw): release the connection
      if (!done) await this.#reader.cancel()
    }
  }

  async text(): Promise<string> {
    let out = ''
    for await (const chunk of this) out += chunk
    return out
  }

  async cancel(): Promise<void> {
    this.#used = true
    await this.#reader.cancel()
  }
}

/** Shape check of the model-check input (the body built from it is then validated by the endpoint schema). */
function modelCheckInput(input: unknown): ModelConfigurationCheckInput {
  const issues: ValidationIssue[] = []
  if (input === null || typeof input !== 'object') {
    issues.push({ path: '', message: 'expected { name, endpoint, apiKey?, identifier?, provider? }' })
  } else {
    const o = input as Record<string, unknown>
    for (const k of Object.keys(o)) if (!MODEL_CHECK_KEYS.has(k)) issues.push({ path: k, message: 'unknown field (expected name, endpoint, apiKey, identifier, provider)' })
    for (const k of MODEL_CHECK_REQUIRED) if (typeof o[k] !== 'string') issues.push({ path: k, message: 'expected a string' })
    for (const k of MODEL_CHECK_OPTIONAL) {
      if (o[k] !== undefined && (typeof o[k] !== 'string' || o[k] === '')) issues.push({ path: k, message: 'expected a non-empty string' })
    }
  }
  if (issues.length > 0) {
    throw new GatewayValidationError(`checkModelConfiguration: the request is invalid (${formatIssues(issues)}); nothing was sent.`, {
      endpoint: 'checkModelConfiguration',
      path: ENDPOINTS.checkModelConfiguration.path,
      sent: false,
      issues,
    })
  }
  return input as ModelConfigurationCheckInput
}

/** A failure while obtaining a token: the caller's abort when it was one, else the failure itself. */
function abortedOr(e: unknown, call: Call): unknown {
  if (e instanceof CloudConnectorError || call.signal?.aborted !== true) return e
  return new AbortedError(`${call.name}: aborted by the caller's AbortSignal while obtaining a token (request id ${call.requestId}).`, errorContext(call))
}

/** When the current attempt's answer must be complete (`performance.now()`), or undefined without a timeout. */
function deadlineOf(call: Call): number | undefined {
  return call.timeout === false ? undefined : call.attemptStarted + call.timeout
}

/** The limits of reading an error body of this call: the attempt's deadline and the caller's signal. */
function readLimits(call: Call): BodyReadOptions {
  return { deadline: deadlineOf(call), signal: call.signal }
}

/** An error answer whose body the caller aborted is the caller's abort. */
function abortedDuring(error: unknown, call: Call): unknown {
  if (call.signal?.aborted !== true) return error
  return new AbortedError(`${call.name}: aborted by the caller's AbortSignal while reading the answer (request id ${call.requestId}).`, errorContext(call))
}

/**
 * Map a failure while reading an answer's body: the deadline or idle gap passed (timeout), the caller aborted, the
 * body passed `maxResponseBytes`; anything else is a transport failure (a connection reset mid-body).
 */
function bodyError(e: unknown, signal: AbortSignal | undefined, ctx: GatewayErrorContext, timeout: number | false, maxBytes: number, what: 'body' | 'stream'): unknown {
  if (!(e instanceof BodyReadStop)) return transportError(e, signal, ctx, timeout)
  const where = `${ctx.method ?? ''} ${ctx.path ?? ''}`.trim()
  const rid = ctx.requestId === undefined ? '' : ` (request id ${ctx.requestId})`
  const name = ctx.endpoint ?? 'request'
  if (e.kind === 'aborted') return new AbortedError(`${name}: aborted by the caller's AbortSignal while reading the answer${rid}.`, ctx)
  if (e.kind === 'too-large') {
    return new GatewayResponseTooLargeError(
      `${name}: the AI Gateway's answer to ${where}${rid} is larger than ${maxBytes} bytes (maxResponseBytes); the client stopped reading it and closed the connection. ` +
        `Check that the base URL is an AI Gateway, or raise maxResponseBytes.`,
      { ...ctx, limitBytes: maxBytes },
    )
  }
  const ms = typeof timeout === 'number' ? timeout : 0
  return new GatewayTimeoutError(
    what === 'stream'
      ? `${name}: the AI Gateway's stream for ${where}${rid} sent nothing for ${ms} ms (the timeout bounds each wait for the next chunk). Raise the timeout or check the gateway's load.`
      : `${name}: the AI Gateway's answer to ${where}${rid} was not complete within ${ms} ms (the timeout bounds headers and body). Raise the timeout or check the gateway's load.`,
    { ...ctx, timeoutMs: ms },
  )
}

/** The error context of a call whose answer has arrived. */
function resultContext(name: EndpointName, def: EndpointDefinition, ex: Exchange): GatewayErrorContext {
  return { endpoint: name, method: def.method, path: def.path, requestId: ex.requestId, status: ex.response.status, attempts: ex.attempts }
}

/**
 * The fetch the client's ky instance calls when redirects are refused (the default). The request already
 * says `redirect: 'error'`; `window: null` marks it as having no browsing context. With both, fetch sends the
 * Request it is given instead of first cloning it (and teeing its body stream) to keep a copy for a redirect
 * (fetch spec, HTTP-network-or-cache fetch, step 2) — a copy that is never used when redirects are refused.
 * The global fetch is looked up per call, so fetch mocks installed later (msw) still see the request.
 */
function noRedirectFetch(custom: typeof fetch | undefined): typeof fetch {
  return (input, init) => (custom ?? globalThis.fetch)(input, init === undefined ? NO_WINDOW : { ...init, window: null })
}
const NO_WINDOW: RequestInit = Object.freeze({ window: null }) as RequestInit

/**
 * The body as a stream fetch cannot replay, so that a 421 reaches the caller. Node's fetch (undici 6.24.1,
 * `lib/web/fetch/index.js`, HTTP-network-or-cache fetch step 16, commit c0cf656e) answers a 421 by sending the
 * request again on a new connection whenever its body can be recreated ("request's body is null or its source
 * is non-null" — a string or bytes can). With `noRedirectFetch` the request is not cloned (step 8.1), so that
 * second send read the already consumed body stream and failed as "Request body length does not match
 * content-length header" (a NetworkError instead of the model's 421). Even when it can replay the body, a second
 * send asks the model server a second time: the AI Gateway answers 421 when the model failed
 * (movax01h/ai-gateway `ai_gateway/api/v1/prompts/invoke.py`: "to signal to the client the model has produced an error"),
 * not for a misdirected connection, and GitLab's HTTP client does not repeat it.
 * A stream has no source, so fetch passes the 421 through; the client sends the exact Content-Length itself
 * and makes a new stream for each of its own attempts, and for each redirect it follows (`followingFetch`).
 */
function oneShotBody(bytes: Uint8Array): ReadableStream<Uint8Array> {
  return new ReadableStream({
    start(controller) {
      controller.enqueue(bytes)
      controller.close()
    },
  })
}

/**
 * The fetch the client's ky instance calls with `redirect: 'follow'`: every hop is sent with `redirect: 'manual'`
 * and followed here (`redirects.ts`), as the fetch adapter does, so that the token and the `X-Gitlab-*` headers
 * go only to URLs under the base URL (fetch's own following keeps them on a same-origin path outside it, and
 * the identity headers on another origin). The body is re-streamed for every hop (see `oneShotBody`).
 */
function followingFetch(custom: typeof fetch | undefined, base: BaseLocation): typeof fetch {
  return async (input, init) => {
    const send = custom ?? globalThis.fetch
    const first = new Request(input, init)
    const bytes = first.body === null ? undefined : new Uint8Array(await first.arrayBuffer())
    let hop: Hop = { url: new URL(first.url), method: first.method, headers: new Headers(first.headers), body: bytes }
    const ctx = { method: first.method, path: relativePath(base, hop.url), requestId: first.headers.get('x-request-id') ?? undefined }
    for (let hops = 0; ; hops++) {
      const headers = new Headers(hop.headers)
      if (relativePath(base, hop.url) === undefined) for (const name of [...headers.keys()]) if (isGatewayOnlyHeader(name)) headers.delete(name)
      const body = hop.body === undefined ? undefined : oneShotBody(hop.body as Uint8Array)
      const response = await send(new Request(hop.url, { method: hop.method, headers, body, duplex: 'half', signal: first.signal, redirect: 'manual' } as RequestInit))
      if (!isRedirect(response) || !response.headers.has('location')) return response
      hop = await nextHop('createGatewayClient', hop, response, hops, { ...ctx, status: response.status })
    }
  }
}

/** fetch's rejection of a redirect when `redirect: 'error'` (undici: TypeError "fetch failed", cause "unexpected redirect"). */
function isRedirectRefusal(e: unknown): boolean {
  const cause = (e as { cause?: unknown } | undefined)?.cause
  return e instanceof TypeError && cause instanceof Error && cause.message === 'unexpected redirect'
}

/** A failure to reach the gateway (fetch's TypeError), not a refused redirect, a timeout or the caller's abort. */
function isNetworkFailure(failure: unknown, call: Call): boolean {
  return failure instanceof TypeError && !(call.signal?.aborted ?? false) && !isRedirectRefusal(failure)
}

function errorContext(call: Call, status?: number): GatewayErrorContext {
  const ctx: GatewayErrorContext = { endpoint: call.name, method: call.def.method, path: call.def.path, requestId: call.requestId, attempts: call.attempts }
  if (status !== undefined) ctx.status = status
  return ctx
}

function noStream<T extends { stream?: boolean | undefined }>(name: string, body: T): T {
  if (body !== null && typeof body === 'object' && body.stream === true) {
    throw new GatewayValidationError(
      `${name}: stream: true returns a text stream; call ${name === 'codeCompletions' ? 'streamCodeCompletions' : 'streamCodeGenerations'} instead. Nothing was sent.`,
      { endpoint: name, sent: false, issues: [{ path: 'stream', message: 'use the stream method' }] },
    )
  }
  return body
}

function validate<S extends z.ZodType>(name: string, schema: S, value: unknown, ctx: { path: string; requestId?: string }): z.output<S> {
  const result = schema.safeParse(value)
  if (result.success) return result.data
  const issues = toIssues(result.error)
  throw new GatewayValidationError(`${name}: the request is invalid (${formatIssues(issues)}); nothing was sent.`, {
    endpoint: name,
    path: ctx.path,
    ...(ctx.requestId === undefined ? {} : { requestId: ctx.requestId }),
    sent: false,
    issues,
  })
}

/**
 * JSON text of a validated body. Schemas keep unknown members, so a value JSON cannot represent (a BigInt,
 * a cycle, a throwing toJSON) can still reach here: refuse it as a validation error, nothing sent.
 */
function serialise(name: string, value: unknown, ctx: { path: string; requestId?: string }): string {
  let text: string | undefined
  let why = 'it has no JSON form'
  try {
    text = JSON.stringify(value)
  } catch (e) {
    // the engine's message names the kind of value ("BigInt", "circular structure"), never its content
    why = e instanceof TypeError && /BigInt|circular/i.test(e.message) ? (/BigInt/i.test(e.message) ? 'it holds a BigInt' : 'it holds a cycle') : 'a member cannot be serialised'
  }
  if (typeof text === 'string') return text
  throw new GatewayValidationError(`${name}: the request body is not JSON (${why}); nothing was sent.`, {
    endpoint: name,
    path: ctx.path,
    ...(ctx.requestId === undefined ? {} : { requestId: ctx.requestId }),
    sent: false,
    issues: [{ path: '', message: `not JSON-serialisable: ${why}` }],
  })
}

function toIssues(error: z.ZodError): ValidationIssue[] {
  // zod messages carry no input values, so nothing secret is copied here
  return error.issues.map((i) => ({ path: i.path.map(String).join('.'), message: i.message }))
}

function formatIssues(issues: readonly ValidationIssue[]): string {
  const shown = issues.slice(0, 5).map((i) => (i.path === '' ? i.message : `${i.path}: ${i.message}`))
  return issues.length > 5 ? `${shown.join('; ')}; and ${issues.length - 5} more` : shown.join('; ')
}

/**
 * Map a transport failure to its typed error. ky's errors hold the Request (Authorization header included),
 * so they are never attached as `cause`; only the system error behind a network failure is.
 */
function transportError(e: unknown, signal: AbortSignal | undefined, ctx: GatewayErrorContext, timeout: number | false): unknown {
  // a redirect `followingFetch` would not follow: named after the call, with its context
  if (e instanceof GatewayRedirectError && e.endpoint === undefined) {
    return new GatewayRedirectError(e.message.replace(/^createGatewayClient: /, `${ctx.endpoint ?? 'request'}: `), { ...ctx, ...(e.status === undefined ? {} : { status: e.status }) })
  }
  if (e instanceof CloudConnectorError) return e
  const where = `${ctx.method ?? ''} ${ctx.path ?? ''}`.trim()
  const rid = ctx.requestId === undefined ? '' : ` (request id ${ctx.requestId})`
  if (isKyTimeout(e)) {
    const ms = typeof timeout === 'number' ? timeout : 0
    return new GatewayTimeoutError(
      `${ctx.endpoint ?? 'request'}: no answer from the AI Gateway within ${ms} ms to ${where}${rid}. Raise the timeout or check the gateway's load and its reachability.`,
      { ...ctx, timeoutMs: ms },
    )
  }
  if (signal?.aborted || (e instanceof Error && e.name === 'AbortError')) {
    return new AbortedError(`${ctx.endpoint ?? 'request'}: aborted by the caller's AbortSignal${rid}.`, ctx)
  }
  if (isRedirectRefusal(e)) {
    return new GatewayRedirectError(
      `${ctx.endpoint ?? 'request'}: the AI Gateway answered ${where}${rid} with a redirect (3xx). The client does not follow redirects, ` +
        `so neither the token nor the body went anywhere else. Set baseUrl to the gateway's final URL (e.g. https:// instead of http://, ` +
        `or without a path prefix), or pass redirect: 'follow' to createGatewayClient.`,
      ctx,
    )
  }
  if (e instanceof TypeError) {
    const cause = (e as { cause?: unknown }).cause
    const errno = typeof (cause as { code?: unknown } | undefined)?.code === 'string' ? (cause as { code: string }).code : undefined
    // one line: a TLS error's message spans several
    const detail = scrub((cause instanceof Error ? cause.message : e.message).replace(/\s+/g, ' ').trim(), [], 200)
    return new NetworkError(
      `${ctx.endpoint ?? 'request'}: could not reach the AI Gateway for ${where}${rid}: ${detail}. Check the base URL, that the gateway is running and that this host can reach it.`,
      { ...ctx, ...(errno === undefined ? {} : { errno }) },
      cause instanceof Error ? { cause } : undefined,
    )
  }
  return e
}
