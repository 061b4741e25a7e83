import { http, HttpResponse } from 'msw'
import { describe, expect, it } from 'vitest'
import { createAuthenticatedFetch, GatewayAuthError, type AuthenticatedFetchOptions } from '../src/client/index.js'
import { InvalidOptionsError } from '../src/errors.js'
import { loadSigningKeySync } from '../src/keys/index.js'
import { createTokenIssuer } from '../src/token/index.js'
import {
  captureLogger,
  claims,
  decodeJwt,
  fixedSource,
  GATEWAY,
  INSTANCE,
  INSTANCE_ID,
  ISSUER,
  KEY_PEM,
  now,
  NOW_S,
  useRecordingServer,
  scriptedSource,
  signJwt,
} from './client-support.js'

const { server, received, settled } = useRecordingServer()

const KEY = loadSigningKeySync(KEY_PEM)
const COMPLETIONS = `${GATEWAY}/v2/code/completions`

function issuer() {
  let i = 0
  return createTokenIssuer({
    issuer: ISSUER,
    instanceId: INSTANCE_ID,
    realm: 'self-managed',
    key: KEY,
    addOns: ['duo_pro'],
    now,
    jti: () => `aaaaaaaa-aaaa-4aaa-8aaa-00000000000${i++}`,
  })
}

function authFetch(overrides: Partial<AuthenticatedFetchOptions> = {}) {
  return createAuthenticatedFetch({ baseUrl: GATEWAY, tokenSource: overrides.tokenSource ?? issuer(), headers: { instance: INSTANCE }, now, ...overrides })
}

describe('createAuthenticatedFetch', () => {
  it('attaches the token for the path\'s unit primitive and the gateway headers, keeping the caller\'s own', async () => {
    server.use(http.post(COMPLETIONS, () => HttpResponse.json({ ok: true })))
    const iss = issuer()
    const f = authFetch({ tokenSource: iss })
    const res = await f(COMPLETIONS, {
      method: 'POST',
      // what the OpenAI SDK sends: its own Authorization (replaced) and content type (kept)
      headers: { authorization: 'Bearer sk-placeholder', 'content-type': 'application/json; charset=utf-8', 'x-stainless-lang': 'js' },
      body: '{"current_file":{"file_name":"a.py","content_above_cursor":"","content_below_cursor":""}}',
    })
    expect(res.status).toBe(200)
    expect(await res.json()).toEqual({ ok: true })
    const h = received[0]!.headers
    const token = h['authorization']!.slice('Bearer '.length)
    expect(h).toEqual({
      authorization: `Bearer ${token}`,
      'content-type': 'application/json; charset=utf-8',
      'x-stainless-lang': 'js',
      'x-gitlab-authentication-type': 'oidc',
      'x-request-id': h['x-request-id'],
      'x-gitlab-host-name': 'gitlab.example.com',
      'x-gitlab-instance-id': INSTANCE_ID,
      'x-gitlab-realm': 'self-managed',
      'x-gitlab-deployment-type': 'self-managed',
      'x-gitlab-version': '18.5.4',
      'x-gitlab-feature-enabled-by-namespace-ids': '',
      'x-gitlab-subject-type': '',
      'x-gitlab-feature-enablement-type': '',
      'x-gitlab-enabled-feature-flags': '',
      'x-gitlab-enabled-instance-verbose-ai-logs': '',
      'x-gitlab-is-team-member': 'false',
    })
    expect(h['x-request-id']).toMatch(/^[0-9a-f-]{36}$/)
    const jwt = decodeJwt(token)
    expect(jwt.signatureValid).toBe(true)
    expect(jwt.claims['sub']).toBe(h['x-gitlab-instance-id'])
    expect(jwt.claims['gitlab_realm']).toBe(h['x-gitlab-realm'])
    expect(jwt.claims['scopes']).toContain('complete_code')
    await settled()
    expect(received[0]!.body).toBe('{"current_file":{"file_name":"a.py","content_above_cursor":"","content_below_cursor":""}}')
  })

  it('refreshes once on 401 and replays the body; a second 401 is returned as is (standard fetch) and logged', async () => {
    const iss = issuer()
    let n = 0
    server.use(http.post(COMPLETIONS, () => (n++ === 0 ? HttpResponse.json({ error: 'Forbidden by auth provider' }, { status: 401 }) : HttpResponse.json({ ok: true }))))
    const f = authFetch({ tokenSource: iss })
    const ok = await f(COMPLETIONS, { method: 'POST', body: '{"a":1}', headers: { 'x-request-id': 'rid-f' } })
    expect(ok.status).toBe(200)
    expect(iss.stats.mints).toBe(2)
    await settled()
    expect(received.map((r) => [r.body, r.headers['x-request-id']])).toEqual([
      ['{"a":1}', 'rid-f'],
      ['{"a":1}', 'rid-f'],
    ])

    received.length = 0
    server.resetHandlers(http.post(COMPLETIONS, () => HttpResponse.json({ error: 'Forbidden by auth provider' }, { status: 401 })))
    const logger = captureLogger()
    const iss2 = issuer()
    const denied = await authFetch({ tokenSource: iss2, logger })(COMPLETIONS, { method: 'POST', body: '{"a":2}' })
    expect(denied.status).toBe(401)
    expect(await denied.json()).toEqual({ error: 'Forbidden by auth provider' })
    expect(received).toHaveLength(2)
    expect(iss2.stats.mints).toBe(2)
    const line = logger.lines.find((l) => l.level === 'error')!
    expect(line.event).toBe('gateway.unauthorized')
    expect(line.fields).toMatchObject({ endpoint: 'codeCompletions', status: 401, attempts: 2, code: 'ERR_GATEWAY_UNAUTHORIZED', gatewayError: 'Forbidden by auth provider', kid: KEY.kid })
  })

  it('throws GatewayAuthError after the retry when asked to', async () => {
    server.use(http.post(COMPLETIONS, () => HttpResponse.json({ error: "Header mismatch 'X-Gitlab-Instance-Id'" }, { status: 401 })))
    const f = authFetch({ tokenSource: fixedSource(signJwt(claims())), throwOnAuthFailure: true })
    const err = await f(COMPLETIONS, { method: 'POST', body: '{}', headers: { 'x-request-id': 'rid-m' } }).then(
      () => undefined,
      (e: unknown) => e,
    )
    expect(err).toBeInstanceOf(GatewayAuthError)
    const e = err as GatewayAuthError
    expect(e.gatewayError).toBe("Header mismatch 'X-Gitlab-Instance-Id'")
    expect(e.message).toBe(
      'The AI Gateway answered 401 "Header mismatch \'X-Gitlab-Instance-Id\'" to POST /v2/code/completions (request id rid-m), ' +
        "also after a fresh token was obtained and the request retried once. The headers agreed with the token's claims when sent " +
        "(preflight passed), so an intermediary changed 'X-Gitlab-Instance-Id'.",
    )
    expect(e.diagnosis?.exp).toBe(NOW_S + 3600)
  })

  it('never attaches a token outside the base URL or on public gateway paths', async () => {
    const source = fixedSource(signJwt(claims()))
    server.use(
      http.get('https://elsewhere.test/x', () => HttpResponse.text('x')),
      http.get(`${GATEWAY}/monitoring/healthz`, () => HttpResponse.json({})),
      http.get('http://gateway.test:8080/v2/code/completions', () => HttpResponse.text('other port')),
    )
    const f = authFetch({ tokenSource: source })
    expect((await f('https://elsewhere.test/x', { headers: { authorization: 'Basic keep' } })).status).toBe(200)
    expect((await f(`${GATEWAY}/monitoring/healthz`)).status).toBe(200)
    expect((await f('http://gateway.test:8080/v2/code/completions')).status).toBe(200)
    expect(source.calls).toBe(0)
    expect(received.map((r) => r.headers['authorization'])).toEqual(['Basic keep', undefined, undefined])
  })

  it('needs a unit primitive for paths not in ENDPOINTS, from an option or a mapper', async () => {
    server.use(http.post(`${GATEWAY}/v1/search/gitlab-docs`, () => HttpResponse.json({ results: [] })))
    const source = scriptedSource(() => ({ token: signJwt(claims({ scopes: ['documentation_search'] })), source: 'self-issued', reason: 't' }))
    const unknown = await authFetch({ tokenSource: source })(`${GATEWAY}/v1/search/gitlab-docs`, { method: 'POST', body: '{}' }).then(
      () => undefined,
      (e: unknown) => e,
    )
    expect(unknown).toBeInstanceOf(InvalidOptionsError)
    expect((unknown as Error).message).toBe(
      'createAuthenticatedFetch: no unit primitive is known for POST /v1/search/gitlab-docs; pass options.unitPrimitive (a name, or a function of the URL) so the right token is requested. Nothing was sent.',
    )
    expect(received).toHaveLength(0)

    const mapped = authFetch({
      tokenSource: source,
      unitPrimitive: (url) => (url.pathname === '/v1/search/gitlab-docs' ? 'documentation_search' : undefined),
    })
    expect((await mapped(`${GATEWAY}/v1/search/gitlab-docs`, { method: 'POST', body: '{}' })).status).toBe(200)
    expect(source.requests.map((r) => r.unitPrimitive)).toEqual(['documentation_search'])
  })

  it('works under a base path and passes a Request input through with its body', async () => {
    server.use(http.post('https://gw.example.com/ai/v1/prompts/model_configuration%2Fcheck', () => HttpResponse.json('hi')))
    const source = fixedSource(signJwt(claims()))
    const f = authFetch({ tokenSource: source, baseUrl: 'https://gw.example.com/ai' })
    const req = new Request('https://gw.example.com/ai/v1/prompts/model_configuration%2Fcheck', { method: 'POST', body: '{"inputs":{}}' })
    const res = await f(req)
    expect(await res.json()).toBe('hi')
    expect(source.requests.map((r) => r.unitPrimitive)).toEqual(['complete_code'])
    await settled()
    expect(received[0]!.body).toBe('{"inputs":{}}')
  })

  it('keeps fetch semantics for aborts', async () => {
    const f = authFetch({ tokenSource: fixedSource(signJwt(claims())) })
    const err = await f(COMPLETIONS, { method: 'POST', body: '{}', signal: AbortSignal.abort() }).then(
      () => undefined,
      (e: unknown) => e,
    )
    expect((err as Error).name).toBe('AbortError')
    expect(received).toHaveLength(0)
  })
})
