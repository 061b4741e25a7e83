/**
 * OIDC key discovery exactly as the gateway does it (providers.py GitLabOidcProvider): GET
 * `urljoin(issuer, "/.well-known/openid-configuration")` — the issuer's origin, any sub-path dropped —
 * then GET its `jwks_uri` as given, each with a timeout. HTTP status codes are not checked (the
 * gateway reads the body of any response as JSON); header URLs such as `jku` or `x5u` are never
 * followed.
 */
import { BodyReader, BodyReadStop } from '../body.js'
import { JwksError } from '../errors.js'

export interface DiscoveryOptions {
  /** Default: the global fetch. */
  fetch?: typeof fetch
  /** Per request; default 10 000 ms (the gateway's REQUEST_TIMEOUT_SECONDS). */
  timeoutMs?: number
}

export interface DiscoveredJwks {
  issuerUrl: string
  jwksUri: string
  /** The raw entries of the key set's "keys" array, in order (not validated: the gateway does not either). */
  keys: unknown[]
}

export const DEFAULT_FETCH_TIMEOUT_MS = 10_000

/**
 * The largest discovery document or key set read, in bytes; a longer one is refused while it streams
 * (GitLab's key set holds three RSA keys, about 2 KiB). Assumed: the gateway's `requests` sets no limit.
 */
export const MAX_DISCOVERY_BYTES = 1024 * 1024

/**
 * The discovery document URL the gateway requests for an issuer URL. Like Python's
 * `urljoin(base, "/.well-known/openid-configuration")`, an absolute path replaces the base's whole
 * path: `https://host/gitlab` → `https://host/.well-known/openid-configuration`.
 */
export function openIdConfigurationUrl(issuerUrl: string): string {
  let url: URL | undefined
  try {
    url = new URL('/.well-known/openid-configuration', issuerUrl)
  } catch {
    url = undefined
  }
  if (url === undefined || !HTTP_SCHEMES.has(url.protocol)) {
    throw new JwksError('ERR_DISCOVERY_FAILED', `The issuer URL ${JSON.stringify(safeUrl(issuerUrl))} is not an absolute http(s) URL: give the instance URL with its scheme, e.g. https://gitlab.example.com.`, {
      url: safeUrl(issuerUrl),
      issuer: safeUrl(issuerUrl),
    })
  }
  return url.toString()
}

/** Fetch an issuer's key set by OIDC discovery. Throws a JwksError saying which step failed. */
export async function discoverJwks(issuerUrl: string, options: DiscoveryOptions = {}): Promise<DiscoveredJwks> {
  const doFetch = options.fetch ?? globalThis.fetch
  const timeoutMs = options.timeoutMs ?? DEFAULT_FETCH_TIMEOUT_MS
  const wellKnownUrl = openIdConfigurationUrl(issuerUrl)

  const issuer = safeUrl(issuerUrl)
  const config = await getJson(doFetch, wellKnownUrl, timeoutMs, 'ERR_DISCOVERY_FAILED', `OIDC discovery for ${issuer}`, issuer)
  if (config === null || typeof config !== 'object' || Array.isArray(config)) {
    throw new JwksError('ERR_DISCOVERY_FAILED', `OIDC discovery for ${issuer}: ${safeUrl(wellKnownUrl)} did not return a JSON object. Point the issuer URL at the GitLab instance (or CustomersDot) itself.`, {
      url: safeUrl(wellKnownUrl),
      issuer,
    })
  }
  const jwksUri = (config as Record<string, unknown>).jwks_uri
  if (typeof jwksUri !== 'string' || jwksUri.length === 0) {
    throw new JwksError('ERR_DISCOVERY_FAILED', `OIDC discovery for ${issuer}: ${safeUrl(wellKnownUrl)} has no "jwks_uri". Is this URL a GitLab instance? GitLab serves it at /.well-known/openid-configuration.`, {
      url: safeUrl(wellKnownUrl),
      issuer,
    })
  }
  let jwksUrl: URL
  try {
    jwksUrl = new URL(jwksUri)
  } catch {
    throw new JwksError('ERR_JWKS_UNAVAILABLE', `OIDC discovery for ${issuer}: "jwks_uri" is not an absolute URL, so the gateway cannot fetch it either. Check the instance's external URL setting.`, {
      url: safeUrl(wellKnownUrl),
      issuer,
    })
  }
  if (!HTTP_SCHEMES.has(jwksUrl.protocol)) {
    // The gateway fetches jwks_uri with Python `requests`, whose only adapters are http:// and https://: any
    // other scheme raises InvalidSchema("No connection adapters were found for '<url>'") (psf/requests,
    // src/requests/sessions.py, Session.get_adapter, commit 004d3192). GitLabOidcProvider._fetch_jwks catches
    // it as a RequestException, logs it and keeps no key from this issuer (khulnasoft-lab/ai-assist,
    // ai_gateway/cloud_connector/providers.py, commit c880472e); with no key from any issuer the gateway
    // answers 500 "No keys founds in JWKS; are OIDC providers up?". The URL itself is not quoted: a data:
    // URL carries its whole content.
    throw new JwksError(
      'ERR_JWKS_UNAVAILABLE',
      `OIDC discovery for ${issuer}: "jwks_uri" uses the ${jwksUrl.protocol} scheme; only http(s) key sets are fetched (the gateway's Python requests refuses any other scheme: "No connection adapters were found"). Check the instance's external URL setting.`,
      { url: safeUrl(wellKnownUrl), issuer },
    )
  }
  const jwks = await getJson(doFetch, jwksUrl.toString(), timeoutMs, 'ERR_JWKS_UNAVAILABLE', `Fetching the key set of ${issuer}`, issuer)
  const keys = jwks !== null && typeof jwks === 'object' && !Array.isArray(jwks) ? (jwks as Record<string, unknown>).keys : undefined
  if (!Array.isArray(keys)) {
    throw new JwksError('ERR_JWKS_INVALID', `The key set at ${safeUrl(jwksUrl.toString())} (from ${issuer}) is not a JWKS: it needs a "keys" array.`, { url: safeUrl(jwksUrl.toString()), issuer })
  }
  return { issuerUrl, jwksUri: jwksUrl.toString(), keys }
}

/** A URL without credentials, for messages and logs. */
export function safeUrl(url: string): string {
  try {
    const u = new URL(url)
    if (u.username || u.password) {
      u.username = ''
      u.password = ''
    }
    return u.toString()
  } catch {
    return url.replace(/\/\/[^/@]*@/, '//').slice(0, 200)
  }
}

async function getJson(
  doFetch: typeof fetch,
  url: string,
  timeoutMs: number,
  code: 'ERR_DISCOVERY_FAILED' | 'ERR_JWKS_UNAVAILABLE',
  what: string,
  issuer: string,
): Promise<unknown> {
  let text: string
  let complete: boolean
  try {
    // fetch refuses credentials in a URL; the gateway's `requests` turns them into basic auth
    const target = new URL(url)
    const headers: Record<string, string> = { accept: 'application/json' }
    if (target.username || target.password) {
      headers.authorization = `Basic ${Buffer.from(`${decodeURIComponent(target.username)}:${decodeURIComponent(target.password)}`).toString('base64')}`
      target.username = ''
      target.password = ''
    }
    const signal = AbortSignal.timeout(timeoutMs)
    const res = await doFetch(target.toString(), { method: 'GET', headers, signal })
    // the reader listens to the timeout's signal itself, so a server that stalls mid-body fails as a timeout
    // (a body longer than the cap, declared or streamed, is not read past it)
    try {
      text = await new BodyReader(res, { maxBytes: MAX_DISCOVERY_BYTES, overflow: 'fail', signal }).text()
      complete = true
    } catch (e) {
      if (!(e instanceof BodyReadStop) || e.kind !== 'too-large') throw e
      text = ''
      complete = false
    }
  } catch (e) {
    const timedOut = (e instanceof Error && (e.name === 'TimeoutError' || e.name === 'AbortError')) || (e instanceof BodyReadStop && e.kind !== 'too-large')
    const detail = timedOut ? `no answer within ${timeoutMs} ms` : describeFetchError(e)
    throw new JwksError(code, `${what} failed: GET ${safeUrl(url)}: ${detail}. The gateway skips an issuer it cannot reach: check the URL (AIGW_GITLAB_URL / AIGW_CUSTOMER_PORTAL_URL) and that the gateway host can reach it.`, {
      url: safeUrl(url),
      issuer,
    })
  }
  if (!complete) {
    throw new JwksError(code, `${what} failed: GET ${safeUrl(url)} answered with more than ${MAX_DISCOVERY_BYTES / 1024 / 1024} MiB; a GitLab discovery document or key set is a few KiB, so this is not one (the wrong URL, or a hostile server). Nothing past the limit was read.`, {
      url: safeUrl(url),
      issuer,
    })
  }
  try {
    return JSON.parse(text)
  } catch {
    throw new JwksError(code, `${what} failed: GET ${safeUrl(url)} did not return JSON (a login page, a proxy error or the wrong host?).`, { url: safeUrl(url), issuer })
  }
}

const HTTP_SCHEMES: ReadonlySet<string> = new Set(['http:', 'https:'])

function describeFetchError(e: unknown): string {
  if (!(e instanceof Error)) return 'request failed'
  const cause = (e as { cause?: unknown }).cause
  const code = cause && typeof cause === 'object' && 'code' in cause ? String((cause as { code: unknown }).code) : undefined
  // messages of fetch implementations may quote the URL, credentials included
  const message = e.message.replace(/\/\/[^/@\s]*@/g, '//')
  if (code) return `${message} (${code})`
  // undici says only "fetch failed"; the reason (e.g. "redirect count exceeded") is in the cause
  const reason = cause instanceof Error ? cause.message.replace(/\/\/[^/@\s]*@/g, '//').slice(0, 200) : ''
  return reason ? `${message} (${reason})` : message
}
