/**
 * `createAuthenticatedFetch`: a standard `fetch` for users of other HTTP clients (the OpenAI SDK, undici,
 * openapi-fetch...). For URLs under the gateway base URL it obtains the token for the path's unit primitive,
 * preflights it, attaches `Authorization` and the `X-Gitlab-*` headers, and on a 401 refreshes the token and
 * retries once with the body replayed. Everything else keeps fetch semantics: any HTTP status resolves as a
 * `Response`, network failures and aborts reject as fetch's own errors. The one addition: a request the
 * gateway would refuse is never sent and rejects with `PreflightError`.
 */
import { randomUUID } from 'node:crypto'
import { InvalidOptionsError } from '../errors.js'
import { Authorizer, secretsInBody, type Authorization } from './auth.js'
import { accessFor, tokenUnitPrimitiveOf } from '../inspect/access.js'
import { endpointForPath, UNAUTHENTICATED_PATHS } from './endpoints.js'
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
  const authenticatedFetch: FetchLike = async (input, init) => {
    // Resolved per call, so a fetch patched after creation (msw, undici's setGlobalDispatcher) is used.
    const send: FetchLike = o.fetch ?? globalThis.fetch
    const request = new Request(input, init)
    const url = new URL(request.url)
    const rel = relativePath(o, url)
    if (rel === undefined || UNAUTHENTICATED_PATHS.includes(rel)) {
      // Not the gateway (or a public gateway path): never attach a token.
      return send(request)
    }
    const known = endpointForPath(rel)
    const chosen = unitPrimitiveFor(o, url, request, undefined)
    if (chosen === undefined && known?.definition.unitPrimitive === undefined) {
      throw new InvalidOptionsError(
        `createAuthenticatedFetch: no unit primitive is known for ${request.method} ${rel}; pass options.unitPrimitive ` +
          `(a name, or a function of the URL) so the right token is requested. Nothing was sent.`,
      )
    }
    if (request.signal.aborted) throw request.signal.reason
    const endpoint = known?.name ?? 'fetch'

    // Buffered once so that the 401 retry can replay it (gateway bodies are small JSON documents).
    const body = request.body === null ? undefined : await request.arrayBuffer()
    // A known endpoint whose primitive no option chose: the table's rule for this body (chat's depends on it).
    const rule = chosen === undefined ? known?.definition.access : undefined
    const access = rule === undefined ? undefined : accessFor(rule, typeof rule === 'function' ? jsonOf(body) : undefined)
    const unitPrimitive = chosen ?? (access !== undefined ? tokenUnitPrimitiveOf(access) : (known?.definition.unitPrimitive as string))
    const requestId = request.headers.get('x-request-id') ?? randomUUID()
    const base: Record<string, string> = {}
    request.headers.forEach((value, name) => {
      if (name !== 'authorization') base[name] = value
    })
    for (const [name, value] of Object.entries(o.staticHeaders)) {
      // the caller's content type stands; every identity header must be ours, to agree with the token
      if (name === 'content-type' && base[name] !== undefined) continue
      base[name] = value
    }
    base['x-request-id'] = requestId
    const rebuild = (auth: Authorization) =>
      new Request(request.url, {
        method: request.method,
        headers: auth.headers,
        ...(body === undefined ? {} : { body }),
        signal: request.signal,
        redirect: request.redirect,
      })
    const authInput = {
      unitPrimitive,
      base,
      signal: request.signal,
      requestTimeoutMs: o.requestTimeoutMs,
      endpoint,
      forbiddenDetail: unitPrimitive === known?.definition.unitPrimitive ? known.definition.forbiddenDetail : undefined,
      access,
    }
    const authorize = (refreshAfter?: string) => authorizer.authorize(refreshAfter === undefined ? authInput : { ...authInput, refreshAfter })

    // a token at hand (the source's peekToken) is used without waiting; otherwise the source is asked
    let auth = authorizer.authorizeNow(authInput) ?? (await authorize())
    o.logger?.debug?.('gateway.request', { endpoint, requestId, tokenSource: auth.tokenResult.source, ...auth.entry.fields })
    let response = await send(rebuild(auth))
    if (response.status !== 401) return logged(o, endpoint, requestId, response, auth, 1)

    const bodySecrets = secretsInBody(body)
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
    if (response.status !== 401) return logged(o, endpoint, requestId, response, auth, 2)

    // Explain the refusal from a copy, so the caller still gets an unread 401 response.
    const error = await authError(response.clone(), {
      endpoint,
      method: request.method,
      path: rel,
      requestId,
      status: 401,
      attempts: 2,
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
  return authenticatedFetch as typeof fetch
}

// ---------------------------------------------------------------------------------------------

/** The path below the base URL, or `undefined` for a URL that is not under it. */
function relativePath(o: ResolvedFetchOptions, url: URL): string | undefined {
  if (url.origin !== o.baseUrl.origin) return undefined
  const p = url.pathname
  if (o.basePath === '') return p
  if (p === o.basePath) return '/'
  return p.startsWith(`${o.basePath}/`) ? p.slice(o.basePath.length) : undefined
}

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

function logged(o: ResolvedFetchOptions, endpoint: string, requestId: string, response: Response, auth: Authorization, attempts: number): Response {
  if (o.logger !== undefined) {
    const fields = { endpoint, requestId, status: response.status, attempts, ...auth.entry.fields }
    if (response.status >= 400) o.logger.warn?.('gateway.response', fields)
    else o.logger.info?.('gateway.response', fields)
  }
  return response
}
