/**
 * `createAuthenticatedFetch`: a standard `fetch` for users of other HTTP clients (the OpenAI SDK, undici,
 * openapi-fetch...). For URLs under the gateway base URL it obtains the token for the path's unit primitive,
 * preflights it, attaches `Authorization` and the `X-Gitlab-*` headers, and on a 401 refreshes the token and
 * retries once with the body replayed. Everything else keeps fetch semantics: any HTTP status resolves as a
 * `Response`, network failures and aborts reject as fetch's own errors. The additions: a request the gateway
 * would refuse is never sent and rejects with `PreflightError`; a redirect from the gateway follows the
 * client's policy (refused with `GatewayRedirectError` by default), and the token and the identity headers
 * never go to a URL outside the base URL, on a followed redirect neither.
 */
import { randomUUID } from 'node:crypto'
import { InvalidOptionsError } from '../errors.js'
import { Authorizer, secretsInBody, type Authorization } from './auth.js'
import { accessFor, tokenUnitPrimitiveOf } from '../inspect/access.js'
import { endpointForPath, UNAUTHENTICATED_PATHS } from './endpoints.js'
import { GatewayRedirectError } from './errors.js'
import { isGatewayOnlyHeader, isRedirect, nextHop, relativePath } from './redirects.js'
import { resolveFetchOptions, type AuthenticatedFetchOptions, type ResolvedFetchOptions } from './options.js'
import { authError, readBody } from './responses.js'

export type FetchLike = (input: string | URL | Request, init?: RequestInit) => Promise<Response>

export function createAuthenticatedFetch(options: AuthenticatedFetchOptions): typeof fetch {
  const o = resolveFetchOptions(options)
  const authorizer = new Authorizer({
    tokenSource: o.tokenSource,
    audience: o.audience,
    now: o.now,
    leewaySeconds: o.leewaySeconds,
    logger: o.logger,
  })

  /** One request to the gateway (a URL under the base URL that needs a token). `hops`: redirects followed so far. */
  async function toGateway(send: FetchLike, req: Outgoing, rel: string, hops: number): Promise<Response> {
    const { url } = req
    const known = endpointForPath(rel)
    const chosen = unitPrimitiveFor(o, url, req.request, undefined)
    if (chosen === undefined && known?.definition.unitPrimitive === undefined) {
      throw new InvalidOptionsError(
        `createAuthenticatedFetch: no unit primitive is known for ${req.method} ${rel}; pass options.unitPrimitive ` +
          `(a name, or a function of the URL) so the right token is requested. Nothing was sent.`,
      )
    }
    if (req.signal.aborted) throw req.signal.reason
    const endpoint = known?.name ?? 'fetch'

    // A known endpoint whose primitive no option chose: the table's rule for this body (chat's depends on it).
    const rule = chosen === undefined ? known?.definition.access : undefined
    const access = rule === undefined ? undefined : accessFor(rule, typeof rule === 'function' ? jsonOf(req.body) : undefined)
    const unitPrimitive = chosen ?? (access !== undefined ? tokenUnitPrimitiveOf(access) : (known?.definition.unitPrimitive as string))
    const requestId = req.headers.get('x-request-id') ?? randomUUID()
    const base: Record<string, string> = {}
    req.headers.forEach((value, name) => {
      if (name !== 'authorization') base[name] = value
    })
    if (base['content-type'] !== undefined && !req.explicitContentType) {
      // fetch labels a string body text/plain by itself; the gateway's endpoints take JSON and answer 422 to
      // anything else (FastAPI reads a non-JSON content type as a raw string), so ours applies
      delete base['content-type']
    }
    for (const [name, value] of Object.entries(o.staticHeaders)) {
      // the caller's content type stands; every identity header must be ours, to agree with the token
      if (name === 'content-type' && base[name] !== undefined) continue
      base[name] = value
    }
    base['x-request-id'] = requestId
    const rebuild = (auth: Authorization) =>
      new Request(url, {
        method: req.method,
        headers: auth.headers,
        ...(req.body === undefined ? {} : { body: req.body }),
        signal: req.signal,
        // redirects are decided here, never by fetch: it would re-send the token and the identity headers
        redirect: 'manual',
      })
    const authInput = {
      unitPrimitive,
      base,
      signal: req.signal,
      requestTimeoutMs: o.requestTimeoutMs,
      endpoint,
      forbiddenDetail: unitPrimitive === known?.definition.unitPrimitive ? known.definition.forbiddenDetail : undefined,
      access,
    }
    const authorize = (refreshAfter?: string) => authorizer.authorize(refreshAfter === undefined ? authInput : { ...authInput, refreshAfter })
    const context = (status: number, attempts: number) => ({ endpoint, method: req.method, path: rel, requestId, status, attempts })

    // a token at hand (the source's peekToken) is used without waiting; otherwise the source is asked
    let auth = authorizer.authorizeNow(authInput) ?? (await authorize())
    o.logger?.debug?.('gateway.request', { endpoint, requestId, tokenSource: auth.tokenResult.source, ...auth.entry.fields })
    let response = await send(rebuild(auth))
    let attempts = 1
    if (response.status === 401) {
      const bodySecrets = secretsInBody(req.body)
      const first = await readBody(response, [auth.token, ...bodySecrets])
      o.logger?.warn?.('gateway.unauthorized', {
        endpoint,
        requestId,
        status: 401,
        gatewayError: first.message,
        action: 'refresh-token-and-retry',
        ...auth.entry.fields,
      })
      auth = await authorize(auth.token)
      response = await send(rebuild(auth))
      attempts = 2
      if (response.status === 401) {
        // Explain the refusal from a copy, so the caller still gets an unread 401 response.
        const error = await authError(response.clone(), {
          ...context(401, 2),
          secrets: [auth.token, ...bodySecrets],
          auth,
          authorizer,
          toleranceSeconds: o.clockSkewToleranceSeconds,
        })
        o.logger?.error?.('gateway.unauthorized', {
          endpoint,
          requestId,
          status: 401,
          attempts: 2,
          code: error.code,
          gatewayError: error.gatewayError,
          message: error.message,
          ...auth.entry.fields,
        })
        if (o.throwOnAuthFailure) {
          await response.body?.cancel().catch(() => undefined)
          throw error
        }
        return response
      }
    }
    logged(o, endpoint, requestId, response, auth, attempts)
    if (!isRedirect(response)) return response
    return redirected(send, req, response, hops, context(response.status, attempts))
  }

  /**
   * A redirect answered to a request this adapter sent: refused (the default, or a request that says
   * `redirect: 'error'`), handed back (`redirect: 'manual'`), or followed by hand — under the base URL with a
   * token for the new path, anywhere else with neither the token nor the identity headers.
   */
  async function redirected(send: FetchLike, req: Outgoing, response: Response, hops: number, ctx: RedirectContext): Promise<Response> {
    if (req.mode === 'manual') return response
    const location = response.headers.get('location')
    if (req.mode === 'follow' && location === null) return response
    if (req.mode === 'error') {
      await response.body?.cancel().catch(() => undefined)
      const where = `${ctx.method} ${ctx.path}`
      throw new GatewayRedirectError(
        `fetch: the AI Gateway answered ${where} (x-request-id ${ctx.requestId}) with a redirect (${ctx.status}). createAuthenticatedFetch does not ` +
          `follow redirects, so neither the token nor the body went anywhere else. Set baseUrl to the gateway's final URL (e.g. https:// ` +
          `instead of http://, or without a path prefix), or pass redirect: 'follow' to createAuthenticatedFetch.`,
        ctx,
      )
    }
    const next = await nextHop('fetch', req, response, hops, ctx)
    return dispatch(send, { ...req, ...next, body: next.body as ArrayBuffer | undefined }, hops + 1)
  }

  /** Route one outgoing request (the caller's own, or a redirect hop) by where it goes. */
  async function dispatch(send: FetchLike, req: Outgoing, hops: number): Promise<Response> {
    const rel = relativePath(o, req.url)
    if (rel !== undefined && !UNAUTHENTICATED_PATHS.includes(rel)) return toGateway(send, req, rel, hops)
    // Not the gateway (or a public gateway path): never a token, never the identity headers. A redirect hop
    // here is sent by hand too, so that where it leads next is decided by the same rules.
    const headers = new Headers(req.headers)
    for (const name of [...headers.keys()]) if (isGatewayOnlyHeader(name)) headers.delete(name)
    const response = await send(
      new Request(req.url, { method: req.method, headers, ...(req.body === undefined ? {} : { body: req.body }), signal: req.signal, redirect: 'manual' }),
    )
    if (!isRedirect(response)) return response
    return redirected(send, req, response, hops, { endpoint: 'fetch', method: req.method, path: req.url.pathname, status: response.status, attempts: 1 })
  }

  const authenticatedFetch: FetchLike = async (input, init) => {
    // Resolved per call, so a fetch patched after creation (msw, undici's setGlobalDispatcher) is used.
    const send: FetchLike = o.fetch ?? globalThis.fetch
    const request = new Request(input, init)
    const url = new URL(request.url)
    const rel = relativePath(o, url)
    if (rel === undefined || UNAUTHENTICATED_PATHS.includes(rel)) {
      // Not the gateway (or a public gateway path): sent as given, with fetch's own redirect handling —
      // this adapter attached nothing that a redirect could carry away.
      return send(request)
    }
    // Buffered once so that the 401 retry and a followed 307/308 can replay it (gateway bodies are small JSON documents).
    const body = request.body === null ? undefined : await request.arrayBuffer()
    const mode = request.redirect === 'manual' ? 'manual' : request.redirect === 'error' ? 'error' : o.redirect
    return dispatch(
      send,
      { request, url, method: request.method, headers: request.headers, body, signal: request.signal, mode, explicitContentType: contentTypeGiven(input, init) },
      0,
    )
  }
  return authenticatedFetch as typeof fetch
}

/** A request on its way: the caller's, or a redirect hop derived from it. */
interface Outgoing {
  /** The caller's request (for `options.unitPrimitive` functions). */
  request: Request
  url: URL
  method: string
  /** The caller's headers (never ours). */
  headers: Headers
  body: ArrayBuffer | undefined
  signal: AbortSignal
  /** `follow`/`error`: the adapter's policy (or the request's `redirect: 'error'`); `manual`: the caller's. */
  mode: 'follow' | 'error' | 'manual'
  /** The caller set a content type (fetch's own `text/plain` label for a string body does not count). */
  explicitContentType: boolean
}

interface RedirectContext {
  endpoint: string
  method: string
  path: string
  requestId?: string
  status: number
  attempts: number
}

/** What fetch labels a string body with when the caller gives no content type. */
const FETCH_STRING_CONTENT_TYPE = 'text/plain;charset=UTF-8'


/** Whether the caller chose the content type, rather than fetch labelling a string body `text/plain`. */
function contentTypeGiven(input: string | URL | Request, init: RequestInit | undefined): boolean {
  if (init?.headers !== undefined && new Headers(init.headers).has('content-type')) return true
  if (!(input instanceof Request)) return false
  const type = input.headers.get('content-type')
  return type !== null && type !== FETCH_STRING_CONTENT_TYPE
}

// ---------------------------------------------------------------------------------------------

function unitPrimitiveFor(o: ResolvedFetchOptions, url: URL, request: Request, fromTable: string | undefined): string | undefined {
  const option = o.unitPrimitive
  if (typeof option === 'string') return option
  if (typeof option === 'function') {
    const chosen = option(url, request)
    if (chosen !== undefined) return chosen
  }
  return fromTable
}

/** The body as JSON, for a body-dependent rule; anything that is not JSON counts as no body. */
function jsonOf(body: ArrayBuffer | undefined): unknown {
  if (body === undefined || body.byteLength === 0) return undefined
  try {
    return JSON.parse(new TextDecoder().decode(body)) as unknown
  } catch {
    return undefined
  }
}

function logged(o: ResolvedFetchOptions, endpoint: string, requestId: string, response: Response, auth: Authorization, attempts: number): void {
  if (o.logger !== undefined) {
    const fields = { endpoint, requestId, status: response.status, attempts, ...auth.entry.fields }
    if (response.status >= 400) o.logger.warn?.('gateway.response', fields)
    else o.logger.info?.('gateway.response', fields)
  }
}
