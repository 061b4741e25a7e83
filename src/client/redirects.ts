/**
 * Following the gateway's redirects by hand (`redirect: 'follow'`), one rule for the client and the fetch
 * adapter: a hop is followed as fetch would follow it (fetch spec, HTTP-redirect fetch), but the token and the
 * `X-Gitlab-*` identity headers go only to URLs under the configured base URL. fetch's own following keeps
 * every header on a same-origin hop (a path outside the base URL got the token) and the identity headers on a
 * cross-origin one, so neither factory lets fetch follow.
 */
import { GatewayRedirectError, type GatewayErrorContext } from './errors.js'

/** fetch's limit (fetch spec, HTTP-redirect fetch, step 5). */
export const MAX_REDIRECTS = 20

/** Dropped with the body when a redirect turns a request into a GET (fetch spec: request-body-header names). */
const REQUEST_BODY_HEADERS = ['content-encoding', 'content-language', 'content-location', 'content-type', 'content-length']

export function isRedirect(response: Response): boolean {
  const s = response.status
  return s === 301 || s === 302 || s === 303 || s === 307 || s === 308
}

/** The base URL's origin and path (without a trailing slash). */
export interface BaseLocation {
  baseUrl: URL
  basePath: string
}

/** The path below the base URL, or `undefined` for a URL that is not under it. */
export function relativePath(base: BaseLocation, url: URL): string | undefined {
  if (url.origin !== base.baseUrl.origin) return undefined
  const p = url.pathname
  if (base.basePath === '') return p
  if (p === base.basePath) return '/'
  return p.startsWith(`${base.basePath}/`) ? p.slice(base.basePath.length) : undefined
}

/** Whether a header may only go to the gateway: the token and the instance's identity. */
export function isGatewayOnlyHeader(name: string): boolean {
  return name === 'authorization' || name.startsWith('x-gitlab-')
}

/** A request on its way, as far as a redirect changes it. */
export interface Hop {
  url: URL
  method: string
  headers: Headers
  /** `undefined`: no body. */
  body: ArrayBuffer | Uint8Array | undefined
}

/**
 * The request a followed redirect leads to, or a `GatewayRedirectError` (thrown) for one that cannot be
 * followed: a location that is not an http(s) URL, or more than `MAX_REDIRECTS` hops. `who` starts the message
 * (`fetch`, or the client's endpoint name). The response's body is released. Headers are copied as they are:
 * what may go where is the caller's to decide with `relativePath` and `isGatewayOnlyHeader`.
 */
export async function nextHop(who: string, hop: Hop, response: Response, hops: number, ctx: GatewayErrorContext): Promise<Hop> {
  await response.body?.cancel().catch(() => undefined)
  const where = `${ctx.method ?? hop.method} ${ctx.path ?? hop.url.pathname}`
  let next: URL | undefined
  try {
    next = new URL(response.headers.get('location') ?? '', hop.url)
  } catch {
    next = undefined
  }
  if (next === undefined || (next.protocol !== 'http:' && next.protocol !== 'https:')) {
    throw new GatewayRedirectError(`${who}: the AI Gateway answered ${where} with a redirect (${response.status}) to a location that is not an http(s) URL; it was not followed.`, ctx)
  }
  if (hops >= MAX_REDIRECTS) {
    throw new GatewayRedirectError(`${who}: ${where} was redirected more than ${MAX_REDIRECTS} times (a redirect loop?); the last one was not followed.`, ctx)
  }
  // fetch's rules (fetch spec, HTTP-redirect fetch, step 12): 303, and 301/302 after a POST, become a GET
  // without a body; 307 and 308 repeat the method and the body.
  const s = response.status
  const toGet = (s === 303 && hop.method !== 'GET' && hop.method !== 'HEAD') || ((s === 301 || s === 302) && hop.method === 'POST')
  const headers = new Headers(hop.headers)
  if (toGet) for (const name of REQUEST_BODY_HEADERS) headers.delete(name)
  return { url: next, method: toGet ? 'GET' : hop.method, headers, body: toGet ? undefined : hop.body }
}
