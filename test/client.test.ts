import { inspect } from 'node:util'
import { delay, http, HttpResponse } from 'msw'
import { describe, expect, it } from 'vitest'
import {
  ClockSkewError,
  createGatewayClient,
  GatewayAuthError,
  GatewayForbiddenError,
  GatewayHttpError,
  GatewayResponseError,
  GatewayTimeoutError,
  GatewayValidationError,
  ModelUnreachableError,
  NetworkError,
  AbortedError,
  type GatewayClientOptions,
} from '../src/client/index.js'
import { HeaderError, InvalidOptionsError } from '../src/errors.js'
import { PreflightError } from '../src/inspect/index.js'
import type { TokenResult, TokenSource } from '../src/types.js'
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
const API_KEY = 'sk-live-0123456789abcdefSECRET'
const CHECK_URL = `${GATEWAY}/v1/prompts/model_configuration%2Fcheck`
const MODEL = { name: 'mistral', endpoint: 'http://model:8000/v1', identifier: 'custom_openai/mistral', apiKey: API_KEY }

function issuer(jtis = ['11111111-1111-4111-8111-111111111111', '22222222-2222-4222-8222-222222222222', '33333333-3333-4333-8333-333333333333']) {
  let i = 0
  return createTokenIssuer({
    issuer: ISSUER,
    instanceId: INSTANCE_ID,
    realm: 'self-managed',
    key: KEY,
    addOns: ['duo_enterprise'],
    now,
    jti: () => jtis[i++ % jtis.length]!,
  })
}

function client(overrides: Partial<GatewayClientOptions> = {}) {
  return createGatewayClient({
    baseUrl: GATEWAY,
    tokenSource: overrides.tokenSource ?? issuer(),
    headers: { instance: INSTANCE },
    now,
    retry: { jitter: false, backoffLimitMs: 50 },
    ...overrides,
  })
}

const okReply = () => http.post(CHECK_URL, () => HttpResponse.json('Hello! How can I help?'))

async function rejection(p: Promise<unknown>): Promise<Error> {
  try {
    await p
  } catch (e) {
    return e as Error
  }
  throw new Error('expected a rejection')
}

describe('createGatewayClient: what goes on the wire', () => {
  it('sends the model check with exact headers, exact claims and Rails\'s body, and headers agree with claims', async () => {
    server.use(okReply())
    const iss = issuer()
    const answer = await client({ tokenSource: iss }).checkModelConfiguration(MODEL)
    expect(answer.data).toBe('Hello! How can I help?')
    expect(answer.status).toBe(200)
    expect(answer.attempts).toBe(1)

    expect(received).toHaveLength(1)
    const [req] = received
    expect(req!.method).toBe('POST')
    expect(req!.url).toBe(CHECK_URL)
    await settled()
    expect(req!.body).toBe(
      '{"inputs":{},"stream":false,"model_metadata":{"name":"mistral","provider":"openai","endpoint":"http://model:8000/v1",' +
        `"api_key":"${API_KEY}","identifier":"custom_openai/mistral"}}`,
    )
    const token = req!.headers['authorization']!.slice('Bearer '.length)
    expect(answer.requestId).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/)
    expect(req!.headers).toEqual({
      authorization: `Bearer ${token}`,
      // the exact length, set by the client since the body goes out as a stream (see client-sockets.test.ts)
      'content-length': String(Buffer.byteLength(req!.body)),
      'content-type': 'application/json',
      'x-gitlab-authentication-type': 'oidc',
      'x-request-id': answer.requestId,
      'x-gitlab-host-name': 'gitlab.example.com',
      'x-gitlab-instance-id': INSTANCE_ID,
      'x-gitlab-realm': 'self-managed',
      'x-gitlab-deployment-type': 'self-managed',
      'x-gitlab-version': '18.5.4',
      'x-gitlab-feature-enabled-by-namespace-ids': '',
      // always sent, '' without a user (flyisland/gitlab-ee ee/lib/cloud_connector.rb @ 063f90c1)
      'x-gitlab-subject-type': '',
      'x-gitlab-feature-enablement-type': '',
      'x-gitlab-enabled-feature-flags': '',
      'x-gitlab-enabled-instance-verbose-ai-logs': '',
      'x-gitlab-is-team-member': 'false',
    })

    const jwt = decodeJwt(token)
    expect(jwt.signatureValid).toBe(true)
    expect(jwt.header).toEqual({ alg: 'RS256', typ: 'JWT', kid: KEY.kid })
    expect(Object.keys(jwt.claims).sort()).toEqual(['aud', 'exp', 'gitlab_realm', 'iat', 'iss', 'jti', 'nbf', 'scopes', 'skip_usage_cutoff', 'sub'])
    expect(jwt.claims).toEqual({
      iss: ISSUER,
      sub: INSTANCE_ID,
      // distinct jwt_aud of the backend services of the granted primitives (Duo Enterprise reaches both)
      aud: ['gitlab-ai-gateway', 'gitlab-duo-workflow-service'],
      iat: NOW_S,
      nbf: NOW_S - 5,
      exp: NOW_S + 3600,
      jti: '11111111-1111-4111-8111-111111111111',
      gitlab_realm: 'self-managed',
      scopes: iss.entitlements().scopes,
      // always added, false unless a team member (flyisland/gitlab-ee ee/lib/gitlab/ai_gateway.rb @ 52d0d30b)
      skip_usage_cutoff: false,
    })
    expect(jwt.claims['scopes']).toContain('complete_code')
    // the agreement the gateway checks (domain.md §5 step 5)
    expect(jwt.claims['sub']).toBe(req!.headers['x-gitlab-instance-id'])
    expect(jwt.claims['gitlab_realm']).toBe(req!.headers['x-gitlab-realm'])
  })

  it('sends null api_key/identifier when not given, as Rails does, and a fresh X-Request-ID per call unless one is given', async () => {
    server.use(okReply())
    const c = client()
    const a = await c.checkModelConfiguration({ name: 'llama3', endpoint: 'https://models.internal/v1' })
    const b = await c.checkModelConfiguration({ name: 'llama3', endpoint: 'https://models.internal/v1' }, { requestId: 'req-123' })
    expect(received.map((r) => r.headers['x-request-id'])).toEqual([a.requestId, 'req-123'])
    expect(a.requestId).not.toBe('req-123')
    expect(b.requestId).toBe('req-123')
    await settled()
    expect(JSON.parse(received[0]!.body).model_metadata).toEqual({
      name: 'llama3',
      provider: 'openai',
      endpoint: 'https://models.internal/v1',
      api_key: null,
      identifier: null,
    })
  })

  it('uses the per-call user context for user headers', async () => {
    server.use(http.post(`${GATEWAY}/v1/code/user_access_token`, () => HttpResponse.json({ token: 'gw-issued-token', expires_at: NOW_S + 3600 })))
    const c = client()
    const missing = await rejection(c.userAccessToken())
    expect(missing).toBeInstanceOf(HeaderError)
    expect((missing as HeaderError).header).toBe('x-gitlab-global-user-id')
    expect(received).toHaveLength(0)
    const res = await c.userAccessToken({ context: { user: { id: 42, globalUserId: 'Zm9vYmFy' } } })
    expect(res.data).toEqual({ token: 'gw-issued-token', expires_at: NOW_S + 3600 })
    expect(received[0]!.headers['x-gitlab-global-user-id']).toBe('Zm9vYmFy')
    expect(received[0]!.headers['x-gitlab-user-id']).toBe('42')
  })

  it('calls health without a token', async () => {
    const source = fixedSource('never-used')
    server.use(http.get(`${GATEWAY}/monitoring/healthz`, () => HttpResponse.json({})))
    const res = await client({ tokenSource: source }).health()
    expect(res.data).toEqual({})
    expect(source.calls).toBe(0)
    expect(received[0]!.headers['authorization']).toBeUndefined()
    expect(Object.keys(received[0]!.headers)).toEqual(['x-request-id'])
  })

  it('works under a base path (https://cloud.gitlab.com/ai style) and parses code completions', async () => {
    const body = {
      id: 'id',
      model: { engine: 'litellm', name: 'codestral', lang: 'python' },
      created: 1700000000,
      choices: [{ text: 'print("hi")', index: 0, finish_reason: 'length' }],
    }
    server.use(http.post('https://gw.example.com/ai/v2/code/completions', () => HttpResponse.json(body)))
    const c = client({ baseUrl: 'https://gw.example.com/ai/' })
    const res = await c.codeCompletions({ current_file: { file_name: 'a.py', content_above_cursor: 'def f():' } })
    expect(res.data.choices[0]!.text).toBe('print("hi")')
    await settled()
    expect(JSON.parse(received[0]!.body)).toEqual({
      current_file: { file_name: 'a.py', content_above_cursor: 'def f():', content_below_cursor: '' },
      prompt_version: 1,
    })
  })
})

describe('createGatewayClient: 401 → refresh once, retry once', () => {
  it('mints exactly one more token, retries exactly once, replays the POST body', async () => {
    const iss = issuer()
    let n = 0
    server.use(
      http.post(CHECK_URL, () =>
        n++ === 0 ? HttpResponse.json({ error: 'Forbidden by auth provider' }, { status: 401 }) : HttpResponse.json('ok'),
      ),
    )
    const logger = captureLogger()
    const res = await client({ tokenSource: iss, logger }).checkModelConfiguration(MODEL)
    expect(res.data).toBe('ok')
    expect(res.attempts).toBe(2)
    expect(iss.stats.mints).toBe(2)
    expect(received).toHaveLength(2)
    await settled()
    expect(received[1]!.body).toBe(received[0]!.body)
    expect(received[1]!.headers['x-request-id']).toBe(received[0]!.headers['x-request-id'])
    const t1 = decodeJwt(received[0]!.headers['authorization']!.slice(7))
    const t2 = decodeJwt(received[1]!.headers['authorization']!.slice(7))
    expect([t1.claims['jti'], t2.claims['jti']]).toEqual(['11111111-1111-4111-8111-111111111111', '22222222-2222-4222-8222-222222222222'])
    const warn = logger.lines.find((l) => l.event === 'gateway.unauthorized')!
    expect(warn.fields).toMatchObject({
      endpoint: 'checkModelConfiguration',
      status: 401,
      gatewayError: 'Forbidden by auth provider',
      action: 'refresh-token-and-retry',
      jti: '11111111-1111-4111-8111-111111111111',
      kid: KEY.kid,
      exp: NOW_S + 3600,
    })
  })

  it('surfaces a second 401 as GatewayAuthError with status, message, request id and the SDK diagnosis', async () => {
    const iss = issuer()
    server.use(http.post(CHECK_URL, () => HttpResponse.json({ error: 'Forbidden by auth provider' }, { status: 401 })))
    const err = await rejection(client({ tokenSource: iss }).checkModelConfiguration(MODEL, { requestId: 'rid-401' }))
    expect(err).toBeInstanceOf(GatewayAuthError)
    const e = err as GatewayAuthError
    expect(e.code).toBe('ERR_GATEWAY_UNAUTHORIZED')
    expect(e.status).toBe(401)
    expect(e.gatewayError).toBe('Forbidden by auth provider')
    expect(e.requestId).toBe('rid-401')
    expect(e.attempts).toBe(2)
    expect(received).toHaveLength(2)
    expect(iss.stats.mints).toBe(2)
    expect(e.diagnosis).toMatchObject({
      source: 'self-issued',
      kind: 'jwt',
      kid: KEY.kid,
      alg: 'RS256',
      jti: '22222222-2222-4222-8222-222222222222',
      iss: ISSUER,
      sub: INSTANCE_ID,
      aud: ['gitlab-ai-gateway', 'gitlab-duo-workflow-service'],
      gitlab_realm: 'self-managed',
      iat: NOW_S,
      nbf: NOW_S - 5,
      exp: NOW_S + 3600,
      findings: [],
    })
    expect(e.clockSkew).toBeUndefined()
    expect(e.message).toBe(
      'The AI Gateway answered 401 "Forbidden by auth provider" to POST /v1/prompts/model_configuration%2Fcheck (request id rid-401), ' +
        'also after a fresh token was obtained and the request retried once. The token passed the SDK\'s own checks ' +
        `(kid ${KEY.kid}, iss ${ISSUER}, sub ${INSTANCE_ID}, aud ["gitlab-ai-gateway","gitlab-duo-workflow-service"], exp ${NOW_S + 3600}, source self-issued), ` +
        'so the gateway most likely could not verify its signature: it only trusts keys fetched by OIDC discovery from ' +
        'AIGW_GITLAB_URL (and the CustomersDot URL) and caches them for 24 h. Check that AIGW_GITLAB_URL points at ' +
        `${ISSUER}, that its /oauth/discovery/keys lists kid ${KEY.kid}, and that the key was published at least 24 h ago ` +
        '(or restart the gateway to reload keys).',
    )
  })

  it('explains a 401 by clock skew from the gateway Date header (ERR_CLOCK_SKEW)', async () => {
    const gatewayDate = new Date(now().getTime() - 60_000).toUTCString()
    server.use(
      http.post(CHECK_URL, () =>
        HttpResponse.json({ error: 'Forbidden by auth provider' }, { status: 401, headers: { date: gatewayDate } }),
      ),
    )
    const err = await rejection(client().checkModelConfiguration(MODEL, { requestId: 'rid-skew' }))
    expect(err).toBeInstanceOf(ClockSkewError)
    expect(err).toBeInstanceOf(GatewayAuthError)
    const e = err as ClockSkewError
    expect(e.code).toBe('ERR_CLOCK_SKEW')
    expect(e.clockSkew).toEqual({
      skewSeconds: -60,
      gatewayDate: '2026-03-01T11:59:00.000Z',
      localDate: '2026-03-01T12:00:00.000Z',
      effect: 'not-yet-valid',
    })
    expect(e.message).toContain(
      "The gateway's clock is 60 s behind this host's (its Date header says 2026-03-01T11:59:00.000Z, local time " +
        `2026-03-01T12:00:00.000Z) and it allows no leeway, so it finds the token not yet valid (nbf ${NOW_S - 5}). Synchronise both clocks (NTP).`,
    )
    // a skew within tolerance is not reported
    server.use(
      http.post(CHECK_URL, () =>
        HttpResponse.json({ error: 'Forbidden by auth provider' }, { status: 401, headers: { date: new Date(now().getTime() - 3_000).toUTCString() } }),
      ),
    )
    const near = (await rejection(client().checkModelConfiguration(MODEL))) as GatewayAuthError
    expect(near.code).toBe('ERR_GATEWAY_UNAUTHORIZED')
    expect(near.clockSkew).toBeUndefined()
  })

  it('coalesces the refresh of concurrent 401s on the same token into one forced refresh', async () => {
    const source = scriptedSource((n) => ({ token: signJwt(claims({ jti: `jti-${n}` })), source: 'self-issued', reason: 'test' }))
    const seen = new Set<string>()
    server.use(
      http.post(CHECK_URL, ({ request }) => {
        const auth = request.headers.get('authorization')!
        if (!seen.has(auth) && seen.size === 0) seen.add(auth)
        return auth === [...seen][0] ? HttpResponse.json({ error: 'Forbidden by auth provider' }, { status: 401 }) : HttpResponse.json('ok')
      }),
    )
    const c = client({ tokenSource: source })
    const results = await Promise.all(Array.from({ length: 10 }, () => c.checkModelConfiguration(MODEL)))
    expect(results.every((r) => r.data === 'ok')).toBe(true)
    expect(source.mints).toBe(2)
    expect(source.forced).toBe(1)
    expect(received).toHaveLength(20)
  })
})

describe('createGatewayClient: token sources that answer at once (peekToken)', () => {
  /** A source with a token at hand, counting what the client asks of it. */
  function peekingSource(first: string, opts: { peek?: 'token' | 'undefined' | 'throw' } = {}) {
    let current = first
    const counts = { peek: 0, get: 0, forced: 0 }
    const result = (): TokenResult => ({ token: current, source: 'self-issued', reason: 'test token' })
    const source: TokenSource = {
      peekToken(request) {
        counts.peek++
        expect(request.forceRefresh).toBeUndefined()
        if (opts.peek === 'throw') throw new Error('peek failed')
        return opts.peek === 'undefined' ? undefined : result()
      },
      async getToken(request) {
        counts.get++
        if (request.forceRefresh) {
          counts.forced++
          current = signJwt(claims({ jti: 'refreshed-0000-4000-8000-000000000000' }))
        }
        return result()
      },
    }
    return { source, counts, current: () => current }
  }

  it('a token at hand is sent without asking getToken()', async () => {
    server.use(okReply())
    const token = signJwt(claims())
    const { source, counts } = peekingSource(token)
    const c = client({ tokenSource: source })
    for (let i = 0; i < 5; i++) expect((await c.checkModelConfiguration(MODEL)).data).toBe('Hello! How can I help?')
    expect(counts).toEqual({ peek: 5, get: 0, forced: 0 })
    expect(received.map((r) => r.headers['authorization'])).toEqual(Array(5).fill(`Bearer ${token}`))
  })

  it('peekToken() answering undefined, or throwing, sends the request with what getToken() answers', async () => {
    server.use(okReply())
    for (const peek of ['undefined', 'throw'] as const) {
      received.length = 0
      const token = signJwt(claims())
      const { source, counts } = peekingSource(token, { peek })
      const c = client({ tokenSource: source })
      for (let i = 0; i < 3; i++) expect((await c.checkModelConfiguration(MODEL)).status).toBe(200)
      expect(counts).toEqual({ peek: 3, get: 3, forced: 0 })
      expect(received.map((r) => r.headers['authorization'])).toEqual(Array(3).fill(`Bearer ${token}`))
    }
  })

  it('a peeked token is preflighted like any other: an expired one is never sent', async () => {
    server.use(okReply())
    const { source, counts } = peekingSource(signJwt(claims({ exp: NOW_S - 10 })))
    const err = await rejection(client({ tokenSource: source }).checkModelConfiguration(MODEL))
    expect(err).toBeInstanceOf(PreflightError)
    expect((err as PreflightError).status).toBe(401)
    expect(received).toHaveLength(0)
    expect(counts.get).toBe(0)
  })

  it('after a 401 the fresh token comes from getToken({ forceRefresh: true }), and is then the one at hand', async () => {
    let n = 0
    server.use(http.post(CHECK_URL, () => (n++ === 0 ? HttpResponse.json({ error: 'Forbidden by auth provider' }, { status: 401 }) : HttpResponse.json('ok'))))
    const first = signJwt(claims())
    const { source, counts, current } = peekingSource(first)
    const c = client({ tokenSource: source })
    expect((await c.checkModelConfiguration(MODEL)).attempts).toBe(2)
    await c.checkModelConfiguration(MODEL)
    expect(counts).toEqual({ peek: 2, get: 1, forced: 1 })
    expect(received.map((r) => r.headers['authorization'])).toEqual([`Bearer ${first}`, `Bearer ${current()}`, `Bearer ${current()}`])
    expect(current()).not.toBe(first)
  })
})

describe('createGatewayClient: mapping the gateway refusals', () => {
  it('403 → GatewayForbiddenError naming the unit primitive missing from the token scopes', async () => {
    // preflight finds nothing wrong (no additional context sent), yet the gateway names a primitive it wanted
    const source = fixedSource(signJwt(claims({ scopes: ['duo_classic_chat'] })))
    server.use(
      http.post(`${GATEWAY}/v2/chat/agent`, () =>
        HttpResponse.json({ detail: 'Unauthorized to access include_file_context' }, { status: 403 }),
      ),
    )
    const err = await rejection(client({ tokenSource: source }).chat({ messages: [{ role: 'user', content: 'explain' }] }, { requestId: 'rid-403' }))
    expect(err).toBeInstanceOf(GatewayForbiddenError)
    const e = err as GatewayForbiddenError
    expect(e.code).toBe('ERR_GATEWAY_FORBIDDEN')
    expect(e.status).toBe(403)
    expect(e.unitPrimitive).toBe('include_file_context')
    expect(e.missingScope).toBe(true)
    expect(e.tokenScopes).toEqual(['duo_classic_chat'])
    expect(e.detail).toBe('Unauthorized to access include_file_context')
    expect(e.message).toBe(
      'The AI Gateway refused POST /v2/chat/agent with 403 "Unauthorized to access include_file_context" (request id rid-403): ' +
        "the token's scopes do not include the unit primitive 'include_file_context' this request needs (scopes: duo_classic_chat). " +
        "Give the instance the add-on that grants 'include_file_context' (e.g. duo_pro or duo_enterprise) or check its cut_off_date in the catalog.",
    )
  })

  it('403 when the scope is present says so', async () => {
    server.use(http.post(CHECK_URL, () => HttpResponse.json({ detail: "Unauthorized to access 'model_configuration/check'" }, { status: 403 })))
    const e = (await rejection(client({ tokenSource: fixedSource(signJwt(claims())) }).checkModelConfiguration(MODEL))) as GatewayForbiddenError
    expect(e.unitPrimitive).toBe('complete_code')
    expect(e.missingScope).toBe(false)
    expect(e.message).toContain("although the token's scopes include 'complete_code'")
  })

  it('421 → ModelUnreachableError with the model server status and reason', async () => {
    server.use(http.post(CHECK_URL, () => HttpResponse.json({ detail: '401: Unauthorized' }, { status: 421 })))
    const e = (await rejection(client().checkModelConfiguration(MODEL, { requestId: 'rid-421' }))) as ModelUnreachableError
    expect(e).toBeInstanceOf(ModelUnreachableError)
    expect(e.code).toBe('ERR_MODEL_UNREACHABLE')
    expect(e.status).toBe(421)
    expect(e.modelStatus).toBe(401)
    expect(e.modelReason).toBe('Unauthorized')
    expect(e.message).toBe(
      'The AI Gateway reached the model server but the model answered with an error 401 (Unauthorized) for ' +
        'POST /v1/prompts/model_configuration%2Fcheck (request id rid-421). Check the model endpoint URL as the gateway ' +
        'reaches it, the model name/identifier and the api key.',
    )
  })

  it('422 → GatewayValidationError with the gateway detail, without the echoed input (api key)', async () => {
    server.use(
      http.post(CHECK_URL, async ({ request }) =>
        HttpResponse.json(
          {
            detail: [
              {
                type: 'missing',
                loc: ['body', 'model_metadata', 'provider'],
                msg: 'Field required',
                input: (await request.json() as { model_metadata: unknown }).model_metadata,
              },
            ],
          },
          { status: 422 },
        ),
      ),
    )
    const e = (await rejection(client().checkModelConfiguration(MODEL))) as GatewayValidationError
    expect(e).toBeInstanceOf(GatewayValidationError)
    expect(e.code).toBe('ERR_GATEWAY_VALIDATION')
    expect(e.sent).toBe(true)
    expect(e.status).toBe(422)
    expect(e.issues).toEqual([{ path: 'model_metadata.provider', message: 'Field required' }])
    expect(e.detail).toEqual([{ type: 'missing', loc: ['body', 'model_metadata', 'provider'], msg: 'Field required' }])
    expect(`${e.message}${inspect(e)}${JSON.stringify(e)}`).not.toContain(API_KEY)
  })

  it('validates request bodies before sending', async () => {
    const e = (await rejection(client().checkModelConfiguration({ name: 'm', endpoint: 'not a url' }))) as GatewayValidationError
    expect(e).toBeInstanceOf(GatewayValidationError)
    expect(e.sent).toBe(false)
    expect(e.issues).toEqual([{ path: 'model_metadata.endpoint', message: 'Invalid URL' }])
    const e2 = (await rejection(client().codeCompletions({ current_file: { file_name: 'a', content_above_cursor: 'x'.repeat(100_001) } }))) as GatewayValidationError
    expect(e2.issues[0]!.path).toBe('current_file.content_above_cursor')
    expect(received).toHaveLength(0)
  })

  it('a 2xx with an unexpected shape → GatewayResponseError', async () => {
    server.use(http.post(`${GATEWAY}/v2/code/completions`, () => HttpResponse.json({ choices: 'nope' })))
    const e = (await rejection(client().codeCompletions({ current_file: { file_name: 'a.py', content_above_cursor: '' } }))) as GatewayResponseError
    expect(e).toBeInstanceOf(GatewayResponseError)
    expect(e.code).toBe('ERR_GATEWAY_RESPONSE_INVALID')
    expect(e.issues.map((i) => i.path)).toEqual(['id', 'model', 'created', 'choices'])
  })
})

describe('createGatewayClient: transport', () => {
  it('times out with GatewayTimeoutError', async () => {
    server.use(http.post(CHECK_URL, async () => {
      await delay(1_000)
      return HttpResponse.json('late')
    }))
    const started = Date.now()
    const e = (await rejection(client({ timeout: 100 }).checkModelConfiguration(MODEL, { retry: false, requestId: 'rid-t' }))) as GatewayTimeoutError
    expect(e).toBeInstanceOf(GatewayTimeoutError)
    expect(e.code).toBe('ERR_GATEWAY_TIMEOUT')
    expect(e.timeoutMs).toBe(100)
    expect(e.message).toBe(
      'checkModelConfiguration: no answer from the AI Gateway within 100 ms to POST /v1/prompts/model_configuration%2Fcheck ' +
        "(request id rid-t). Raise the timeout or check the gateway's load and its reachability.",
    )
    expect(Date.now() - started).toBeLessThan(900)
  })

  it('honours an AbortSignal, before and during the request', async () => {
    server.use(http.post(CHECK_URL, async () => {
      await delay(1_000)
      return HttpResponse.json('late')
    }))
    const source = fixedSource(signJwt(claims()))
    const c = client({ tokenSource: source })
    const before = await rejection(c.checkModelConfiguration(MODEL, { signal: AbortSignal.abort() }))
    expect(before).toBeInstanceOf(AbortedError)
    expect((before as AbortedError).code).toBe('ERR_ABORTED')
    expect(received).toHaveLength(0)
    expect(source.calls).toBe(0)

    const ac = new AbortController()
    setTimeout(() => ac.abort(), 50)
    const during = await rejection(c.checkModelConfiguration(MODEL, { signal: ac.signal }))
    expect(during).toBeInstanceOf(AbortedError)
    expect(received).toHaveLength(1)
  })

  it('maps an abort while the token source is still working to AbortedError, sending nothing', async () => {
    const slow = scriptedSource(
      (_n, request) =>
        new Promise((_resolve, reject) => request.signal?.addEventListener('abort', () => reject(request.signal!.reason), { once: true })),
    )
    const ac = new AbortController()
    setTimeout(() => ac.abort(), 20)
    const e = await rejection(client({ tokenSource: slow }).checkModelConfiguration(MODEL, { signal: ac.signal, requestId: 'rid-a' }))
    expect(e).toBeInstanceOf(AbortedError)
    expect(e.message).toBe("checkModelConfiguration: aborted by the caller's AbortSignal while obtaining a token (request id rid-a).")
    expect(received).toHaveLength(0)
  })

  it('maps a network failure to NetworkError', async () => {
    server.use(http.post(CHECK_URL, () => HttpResponse.error()))
    const e = (await rejection(client().checkModelConfiguration(MODEL, { retry: false }))) as NetworkError
    expect(e).toBeInstanceOf(NetworkError)
    expect(e.code).toBe('ERR_NETWORK')
  })

  it('retries 503 on a retry-safe endpoint honouring Retry-After', async () => {
    let n = 0
    server.use(
      http.post(CHECK_URL, () => (n++ === 0 ? new HttpResponse('busy', { status: 503, headers: { 'retry-after': '1' } }) : HttpResponse.json('ok'))),
    )
    const logger = captureLogger()
    const started = Date.now()
    const res = await client({ logger }).checkModelConfiguration(MODEL)
    const elapsed = Date.now() - started
    expect(res.data).toBe('ok')
    expect(res.attempts).toBe(2)
    expect(received).toHaveLength(2)
    await settled()
    expect(received[1]!.body).toBe(received[0]!.body)
    expect(elapsed).toBeGreaterThanOrEqual(950)
    expect(logger.lines.find((l) => l.event === 'gateway.retry')!.fields).toMatchObject({ endpoint: 'checkModelConfiguration', retry: 1, status: 503 })
  })

  it('caps Retry-After at maxRetryAfterMs', async () => {
    let n = 0
    server.use(
      http.post(CHECK_URL, () => (n++ === 0 ? new HttpResponse(null, { status: 429, headers: { 'retry-after': '3600' } }) : HttpResponse.json('ok'))),
    )
    const started = Date.now()
    const res = await client({ retry: { maxRetryAfterMs: 50 } }).checkModelConfiguration(MODEL)
    expect(res.data).toBe('ok')
    expect(Date.now() - started).toBeLessThan(1_000)
  })

  it('does not retry endpoints that are not retry-safe, and reports Retry-After', async () => {
    server.use(http.post(`${GATEWAY}/v2/code/generations`, () => HttpResponse.json({ detail: 'overloaded' }, { status: 503, headers: { 'retry-after': '7' } })))
    const e = (await rejection(client().codeGenerations({ current_file: { file_name: 'a.py', content_above_cursor: '' } }, { requestId: 'rid-503' }))) as GatewayHttpError
    expect(e).toBeInstanceOf(GatewayHttpError)
    expect(e.code).toBe('ERR_GATEWAY_HTTP')
    expect(e.status).toBe(503)
    expect(e.retryAfterSeconds).toBe(7)
    expect(e.detail).toBe('overloaded')
    expect(received).toHaveLength(1)
    expect(e.message).toBe(
      'The AI Gateway answered 503 "overloaded" to POST /v2/code/generations (request id rid-503). The gateway failed; retry later and check its logs for the request id.',
    )
  })

  it('gives up after the retry limit with the last status', async () => {
    server.use(http.post(CHECK_URL, () => new HttpResponse(null, { status: 500 })))
    const e = (await rejection(client({ retry: { limit: 1, backoffLimitMs: 10 } }).checkModelConfiguration(MODEL))) as GatewayHttpError
    expect(e.status).toBe(500)
    expect(e.attempts).toBe(2)
    expect(received).toHaveLength(2)
  })

  it('retries a network failure on a retry-safe endpoint, honours a per-call retry override, and HTTP-date Retry-After', async () => {
    let n = 0
    server.use(http.post(CHECK_URL, () => (n++ === 0 ? HttpResponse.error() : HttpResponse.json('ok'))))
    const res = await client().checkModelConfiguration(MODEL)
    expect(res.attempts).toBe(2)
    expect(received).toHaveLength(2)

    received.length = 0
    let g = 0
    const date = new Date('2026-03-01T12:00:00Z')
    server.use(
      http.post(`${GATEWAY}/v2/code/generations`, () =>
        g++ === 0
          ? new HttpResponse(null, {
              status: 429,
              // one second after the answer's own Date, whatever the local clock says
              headers: { date: date.toUTCString(), 'retry-after': new Date(date.getTime() + 1_000).toUTCString() },
            })
          : HttpResponse.json({ id: 'x', model: { engine: 'e', name: 'n', lang: 'l' }, created: 1, choices: [] }),
      ),
    )
    const started = Date.now()
    const gen = await client().codeGenerations({ current_file: { file_name: 'a.py', content_above_cursor: '' } }, { retry: 1 })
    expect(gen.attempts).toBe(2)
    expect(Date.now() - started).toBeGreaterThanOrEqual(950)
  })

  it('stops waiting for a retry when the caller aborts', async () => {
    server.use(http.post(CHECK_URL, () => new HttpResponse(null, { status: 503, headers: { 'retry-after': '20' } })))
    const ac = new AbortController()
    setTimeout(() => ac.abort(), 50)
    const started = Date.now()
    const e = await rejection(client().checkModelConfiguration(MODEL, { signal: ac.signal }))
    expect(e).toBeInstanceOf(AbortedError)
    expect(Date.now() - started).toBeLessThan(2_000)
    expect(received).toHaveLength(1)
  })

  it('logs preflight warnings once per token, and still sends', async () => {
    // expires in 30 s, within the 60 s request timeout
    const source = fixedSource(signJwt(claims({ exp: NOW_S + 30 })))
    server.use(okReply())
    const logger = captureLogger()
    const c = client({ tokenSource: source, logger })
    await c.checkModelConfiguration(MODEL)
    await c.checkModelConfiguration(MODEL)
    expect(received).toHaveLength(2)
    const warnings = logger.lines.filter((l) => l.event === 'gateway.preflight_warning')
    expect(warnings).toHaveLength(1)
    expect(warnings[0]!.fields).toMatchObject({ endpoint: 'checkModelConfiguration', code: 'EXPIRES_DURING_REQUEST', exp: NOW_S + 30 })
    const responses = logger.lines.filter((l) => l.event === 'gateway.response')
    expect(responses).toHaveLength(2)
    expect(Object.keys(responses[0]!.fields).sort()).toEqual(['attempts', 'durationMs', 'endpoint', 'exp', 'jti', 'kid', 'requestId', 'status', 'tokenSha'])
    expect(responses[0]!.fields).toMatchObject({ endpoint: 'checkModelConfiguration', status: 200, attempts: 1, jti: 'b7f3c1a2-0d4e-4f5a-9b8c-7d6e5f4a3b2c', kid: 'test-kid' })
  })

  it('streams chat as text chunks', async () => {
    const encoder = new TextEncoder()
    server.use(
      http.post(`${GATEWAY}/v2/chat/agent`, () => {
        const stream = new ReadableStream<Uint8Array>({
          async start(controller) {
            controller.enqueue(encoder.encode('{"type":"action","data":{"thought":"t"}}\n'))
            await delay(20)
            // a multi-byte character split across chunks is decoded whole
            const bytes = encoder.encode('{"type":"final_answer_delta","data":{"text":"héllo"}}\n')
            controller.enqueue(bytes.slice(0, 45))
            await delay(20)
            controller.enqueue(bytes.slice(45))
            controller.close()
          },
        })
        return new HttpResponse(stream, { headers: { 'content-type': 'application/x-ndjson; charset=utf-8' } })
      }),
    )
    const stream = await client().chat({ messages: [{ role: 'user', content: 'hi' }] }, { unitPrimitive: 'duo_chat' })
    expect(stream.status).toBe(200)
    const chunks: string[] = []
    for await (const chunk of stream) chunks.push(chunk)
    expect(chunks.length).toBeGreaterThanOrEqual(2)
    expect(chunks.join('')).toBe('{"type":"action","data":{"thought":"t"}}\n{"type":"final_answer_delta","data":{"text":"héllo"}}\n')
    await settled()
    expect(JSON.parse(received[0]!.body)).toEqual({ messages: [{ role: 'user', content: 'hi' }] })
  })

  it('serves 100 concurrent requests on a cold cache with one mint', async () => {
    const iss = issuer()
    server.use(okReply())
    const c = client({ tokenSource: iss })
    const results = await Promise.all(Array.from({ length: 100 }, () => c.checkModelConfiguration(MODEL)))
    expect(results).toHaveLength(100)
    expect(iss.stats.mints).toBe(1)
    expect(received).toHaveLength(100)
    expect(new Set(received.map((r) => r.headers['authorization'])).size).toBe(1)
    expect(new Set(received.map((r) => r.headers['x-request-id'])).size).toBe(100)
  })
})

describe('createGatewayClient: options', () => {
  it('validates options with messages naming the option', () => {
    const bad = (o: unknown) => {
      try {
        createGatewayClient(o as GatewayClientOptions)
      } catch (e) {
        return e as InvalidOptionsError
      }
      throw new Error('expected an error')
    }
    const e = bad({ baseUrl: 'ftp://x', tokenSource: {}, headers: { instance: INSTANCE }, timeot: 5 })
    expect(e).toBeInstanceOf(InvalidOptionsError)
    expect(e.code).toBe('ERR_INVALID_OPTIONS')
    expect(e.issues.map((i) => i.path)).toEqual(['baseUrl', 'tokenSource', '(options)'])
    expect(e.message).toContain('unknown option(s): timeot')
    expect(bad({ baseUrl: 'http://user:pw@gw', tokenSource: fixedSource('x'), headers: { instance: INSTANCE } }).message).toBe(
      'createGatewayClient: invalid options: baseUrl: must not contain credentials (user:password@); the gateway authenticates by token',
    )
    expect(() => createGatewayClient({ baseUrl: GATEWAY, tokenSource: fixedSource('x'), headers: { instance: { ...INSTANCE, version: '1\n2' } } })).toThrow(HeaderError)
  })
})
