/**
 * The emulator over real loopback sockets: the instance's OIDC discovery, the gateway double's
 * authentication (keys discovered over HTTP), each endpoint's answers, the knobs, the request log
 * and a clean shutdown.
 */
import { readFileSync } from 'node:fs'
import { createServer } from 'node:net'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { loadSigningKeySync } from '../src/keys/index.js'
import { redact } from '../src/redact.js'
import { SuggestionsResponseSchema, UserAccessTokenResponseSchema } from '../src/client/index.js'
import { DEFAULT_MODEL_REPLY, EmulatorError, startEmulator, type Emulator } from '../src/emulator/index.js'
import { createTestInstance } from '../src/testing/index.js'

const INSTANCE_KEY = loadSigningKeySync(readFileSync(new URL('./fixtures/instance-key.pem', import.meta.url), 'utf8'))
const OTHER_KEY = loadSigningKeySync(readFileSync(new URL('./fixtures/second-key.pem', import.meta.url), 'utf8'))
const INSTANCE_ID = '3f2a9d4e-1b7c-4e8f-9a6d-2c5b8e1f0a34'
const NOW = new Date('2026-03-01T12:00:00.000Z')
const NOW_S = NOW.getTime() / 1000
const MODEL_CHECK = '/v1/prompts/model_configuration/check'
const MODEL_CHECK_RAILS = '/v1/prompts/model_configuration%2Fcheck'
const API_KEY = 'sk-test-0123456789abcdef'
const CHECK_BODY = {
  inputs: {},
  stream: false,
  model_metadata: { name: 'mistral', provider: 'openai', endpoint: 'http://model.test:8000/v1', api_key: API_KEY, identifier: 'custom_openai/mistral' },
}

let emu: Emulator

beforeAll(async () => {
  emu = await startEmulator({
    key: INSTANCE_KEY,
    instance: { instanceId: INSTANCE_ID },
    gatewayKey: OTHER_KEY,
    now: () => new Date(NOW),
  })
})
afterAll(async () => {
  await emu.stop()
})
afterEach(() => {
  emu.reset()
})

async function call(
  path: string,
  init: { method?: string; headers?: Record<string, string>; body?: unknown } = {},
): Promise<{ status: number; headers: Headers; text: string; json: unknown }> {
  const body = init.body === undefined ? undefined : typeof init.body === 'string' ? init.body : JSON.stringify(init.body)
  const res = await fetch(`${emu.url}${path}`, {
    method: init.method ?? (body === undefined ? 'GET' : 'POST'),
    ...(init.headers === undefined ? {} : { headers: init.headers }),
    ...(body === undefined ? {} : { body }),
  })
  const text = await res.text()
  let json: unknown
  try {
    json = JSON.parse(text)
  } catch {
    json = undefined
  }
  return { status: res.status, headers: res.headers, text, json }
}

const authHeaders = (scopes: string[] = ['complete_code']) => emu.instance.authHeaders({ scopes })

describe('the instance side', () => {
  it('serves OIDC discovery and the JWKS the way GitLab does', async () => {
    expect(emu.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/)
    expect(emu.instanceUrl).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/)
    expect(emu.instanceUrl).not.toBe(emu.url)
    expect(emu.issuerUrls).toEqual([emu.instanceUrl])

    const conf = await fetch(`${emu.instanceUrl}/.well-known/openid-configuration`)
    expect(conf.status).toBe(200)
    const doc = (await conf.json()) as Record<string, unknown>
    expect(doc['issuer']).toBe(emu.instanceUrl)
    expect(doc['jwks_uri']).toBe(`${emu.instanceUrl}/oauth/discovery/keys`)
    expect(doc['id_token_signing_alg_values_supported']).toEqual(['RS256'])

    const keys = await fetch(`${emu.instanceUrl}/oauth/discovery/keys`)
    expect(keys.status).toBe(200)
    expect(keys.headers.get('cache-control')).toBe('max-age=86400, public')
    expect(await keys.json()).toEqual({ keys: [{ ...INSTANCE_KEY.publicJwk }] })
    expect(emu.jwks).toEqual({ keys: [INSTANCE_KEY.publicJwk] })

    expect((await fetch(`${emu.instanceUrl}/oauth/token`)).status).toBe(404)
    expect(emu.countRequests({ side: 'instance' })).toBe(3)
    expect(emu.countRequests({ side: 'instance', route: 'jwks' })).toBe(1)
  })

  it('gives the emulated instance a ready issuer whose tokens carry its URL, UUID and key', async () => {
    expect(emu.instance.instanceId).toBe(INSTANCE_ID)
    expect(emu.instance.issuerUrl).toBe(emu.instanceUrl)
    expect(emu.instance.kid).toBe(INSTANCE_KEY.kid)
    const issued = await emu.instance.issuer.issue({ scopes: ['complete_code'] })
    expect(issued.header).toEqual({ alg: 'RS256', typ: 'JWT', kid: INSTANCE_KEY.kid })
    expect(issued.claims).toMatchObject({
      iss: emu.instanceUrl,
      sub: INSTANCE_ID,
      aud: ['gitlab-ai-gateway'],
      iat: NOW_S,
      nbf: NOW_S - 5,
      exp: NOW_S + 3600,
      gitlab_realm: 'self-managed',
      scopes: ['complete_code'],
    })
  })
})

describe('the self-hosted model check', () => {
  it('discovers keys over the socket, accepts the token and answers 200 on both path forms', async () => {
    const headers = await authHeaders()
    const plain = await call(MODEL_CHECK, { headers, body: CHECK_BODY })
    const rails = await call(MODEL_CHECK_RAILS, { headers, body: CHECK_BODY })
    for (const r of [plain, rails]) {
      expect(r.status).toBe(200)
      expect(r.headers.get('content-type')).toBe('application/json')
      expect(r.json).toBe(DEFAULT_MODEL_REPLY)
    }
    // one discovery (openid-configuration then keys), then two gateway requests, in that order
    expect(emu.requests.map((r) => [r.side, r.route, r.status])).toEqual([
      ['instance', 'openid-configuration', 200],
      ['instance', 'jwks', 200],
      ['gateway', 'prompts', 200],
      ['gateway', 'prompts', 200],
    ])
    const [, , first, second] = emu.requests
    expect(first?.path).toBe(MODEL_CHECK)
    expect(second?.path).toBe(MODEL_CHECK_RAILS)
    expect(second?.decodedPath).toBe(MODEL_CHECK)
    expect(second?.unitPrimitive).toBe('complete_code')
    expect(second?.verdict).toMatchObject({ status: 200, claims: { sub: INSTANCE_ID, scopes: ['complete_code'] } })
  })

  it('records requests without the token or the api key', async () => {
    const headers = await authHeaders()
    const token = headers['authorization']!.slice('Bearer '.length)
    await call(MODEL_CHECK_RAILS, { headers, body: CHECK_BODY })
    const [rec] = emu.requests.filter((r) => r.side === 'gateway')
    expect(rec?.headers['authorization']).toBe(`Bearer ${redact(token)}`)
    expect(rec?.headers['x-gitlab-instance-id']).toBe(INSTANCE_ID)
    expect(rec?.body).toEqual({ ...CHECK_BODY, model_metadata: { ...CHECK_BODY.model_metadata, api_key: redact(API_KEY) } })
    const everything = JSON.stringify(emu.requests)
    expect(everything).not.toContain(token.split('.')[2])
    expect(everything).not.toContain(token.split('.')[1])
    expect(everything).not.toContain(API_KEY)
  })

  it('answers 403 with the prompt id when the token lacks complete_code', async () => {
    const r = await call(MODEL_CHECK_RAILS, { headers: await authHeaders(['duo_chat']), body: CHECK_BODY })
    expect(r.status).toBe(403)
    expect(r.json).toEqual({ detail: "Unauthorized to access 'model_configuration/check'" })
    expect(emu.requests.at(-1)).toMatchObject({ status: 403, unitPrimitive: 'complete_code' })
  })

  it('answers 401 with the verifier message, before looking at the body', async () => {
    const headers = await authHeaders()
    const r = await call(MODEL_CHECK_RAILS, { headers: { ...headers, authorization: 'Bearer ' }, body: 'not json' })
    expect(r.status).toBe(401)
    expect(r.json).toEqual({ error: 'Forbidden by auth provider' })
    expect(emu.requests.at(-1)?.verdict).toMatchObject({ status: 401, error: 'Forbidden by auth provider' })

    const none = await call(MODEL_CHECK_RAILS, { headers: { 'content-type': 'application/json' }, body: CHECK_BODY })
    expect(none.status).toBe(401)
    expect(none.json).toEqual({ error: 'No authorization header presented' })
  })

  it('answers 422 with FastAPI validation details for bad bodies, before the scope check', async () => {
    const headers = await authHeaders(['duo_chat'])
    const missing = await call(MODEL_CHECK_RAILS, { headers, body: { stream: false } })
    expect(missing.status).toBe(422)
    expect(missing.json).toEqual({ detail: [{ type: 'missing', loc: ['body', 'inputs'], msg: 'Field required', input: { stream: false } }] })

    const noProvider = await call(MODEL_CHECK_RAILS, {
      headers,
      body: { inputs: {}, model_metadata: { name: 'mistral', endpoint: 'http://model.test:8000/v1' } },
    })
    expect(noProvider.status).toBe(422)
    const input = { name: 'mistral', endpoint: 'http://model.test:8000/v1' }
    expect(noProvider.json).toEqual({
      detail: [
        { type: 'missing', loc: ['body', 'model_metadata', 'ModelMetadata', 'provider'], msg: 'Field required', input },
        { type: 'missing', loc: ['body', 'model_metadata', 'AmazonQModelMetadata', 'provider'], msg: 'Field required', input },
        {
          type: 'literal_error',
          loc: ['body', 'model_metadata', 'AmazonQModelMetadata', 'name'],
          msg: "Input should be 'amazon_q'",
          input: 'mistral',
          ctx: { expected: "'amazon_q'" },
        },
        { type: 'missing', loc: ['body', 'model_metadata', 'AmazonQModelMetadata', 'role_arn'], msg: 'Field required', input },
      ],
    })

    const badJson = await call(MODEL_CHECK_RAILS, { headers, body: '{"inputs": ' })
    expect(badJson.status).toBe(422)
    expect(badJson.json).toEqual({
      detail: [{ type: 'json_invalid', loc: ['body', 11], msg: 'JSON decode error', input: {}, ctx: { error: 'Expecting value' } }],
    })

    const empty = await call(MODEL_CHECK_RAILS, { method: 'POST', headers })
    expect(empty.status).toBe(422)
    expect(empty.json).toEqual({ detail: [{ type: 'missing', loc: ['body'], msg: 'Field required', input: null }] })

    const badUrl = await call(MODEL_CHECK_RAILS, {
      headers,
      body: { inputs: {}, stream: 'maybe', model_metadata: { ...CHECK_BODY.model_metadata, endpoint: 'model-server/v1' } },
    })
    expect(badUrl.status).toBe(422)
    const details = (badUrl.json as { detail: Array<{ type: string; loc: unknown[] }> }).detail
    expect(details.map((d) => [d.type, d.loc.join('.')])).toEqual([
      ['bool_parsing', 'body.stream'],
      ['url_parsing', 'body.model_metadata.ModelMetadata.endpoint'],
      ['literal_error', 'body.model_metadata.AmazonQModelMetadata.provider'],
      ['literal_error', 'body.model_metadata.AmazonQModelMetadata.name'],
      ['missing', 'body.model_metadata.AmazonQModelMetadata.role_arn'],
    ])
    expect(emu.countRequests({ side: 'gateway', status: 422 })).toBe(5)
  })

  it('answers 421 "<status>: <reason>" when the model server is configured to fail', async () => {
    const headers = await authHeaders()
    emu.configure({ failingModels: { 'http://model.test:8000/v1': { status: 503 } } })
    const byEndpoint = await call(MODEL_CHECK_RAILS, { headers, body: CHECK_BODY })
    expect(byEndpoint.status).toBe(421)
    expect(byEndpoint.json).toEqual({ detail: '503: Service Unavailable' })

    emu.configure({ failingModels: { mistral: { status: 401 } } })
    expect((await call(MODEL_CHECK_RAILS, { headers, body: CHECK_BODY })).json).toEqual({ detail: '401: Unauthorized' })

    emu.configure({ failingModels: { 'custom_openai/mistral': { status: 500, reason: 'model crashed' } } })
    expect((await call(MODEL_CHECK_RAILS, { headers, body: CHECK_BODY })).json).toEqual({ detail: '500: model crashed' })

    // another model still works; the 403 comes before the model is called
    const other = { ...CHECK_BODY, model_metadata: { ...CHECK_BODY.model_metadata, name: 'llama', endpoint: 'http://llama.test/v1', identifier: null } }
    expect((await call(MODEL_CHECK_RAILS, { headers, body: other })).status).toBe(200)
    expect((await call(MODEL_CHECK_RAILS, { headers: await authHeaders(['duo_chat']), body: CHECK_BODY })).status).toBe(403)
  })

  it('streams the reply as text when asked to', async () => {
    const r = await call(MODEL_CHECK, { headers: await authHeaders(), body: { ...CHECK_BODY, stream: true } })
    expect(r.status).toBe(200)
    expect(r.headers.get('content-type')).toBe('text/event-stream; charset=utf-8')
    expect(r.text).toBe(DEFAULT_MODEL_REPLY)
  })

  it('404s an unknown prompt id and serves extra prompts given as a knob', async () => {
    const headers = await authHeaders(['duo_chat'])
    const unknown = await call('/v1/prompts/chat%2Freact', { headers, body: { inputs: {} } })
    expect(unknown.status).toBe(404)
    expect(unknown.json).toEqual({ detail: "Prompt 'chat/react' not found" })
    emu.configure({ prompts: { 'chat/react': 'duo_chat' }, modelReply: 'pong' })
    const known = await call('/v1/prompts/chat%2Freact', { headers, body: { inputs: {} } })
    expect(known.status).toBe(200)
    expect(known.json).toBe('pong')
  })
})

describe('routing and public paths', () => {
  it('serves /monitoring/healthz without authentication', async () => {
    const r = await call('/monitoring/healthz')
    expect(r.status).toBe(200)
    expect(r.json).toEqual({})
    expect(emu.requests.at(-1)).toMatchObject({ route: 'healthz', status: 200 })
    expect(emu.requests.at(-1)?.verdict).toBeUndefined()
    expect(emu.countRequests({ side: 'instance' })).toBe(0)
  })

  it('authenticates before routing: 401 for an unknown path without a token, 404 / 405 with one', async () => {
    expect(await call('/v1/nope')).toMatchObject({ status: 401, json: { error: 'No authorization header presented' } })
    const headers = await authHeaders()
    expect(await call('/v1/nope', { headers })).toMatchObject({ status: 404, json: { detail: 'Not Found' } })
    const wrongMethod = await call(MODEL_CHECK, { headers })
    expect(wrongMethod.status).toBe(405)
    expect(wrongMethod.json).toEqual({ detail: 'Method Not Allowed' })
    expect(wrongMethod.headers.get('allow')).toBe('POST')
  })

  it('accepts a header far larger than node’s 16 KiB default, as the gateway does', async () => {
    const r = await call(MODEL_CHECK_RAILS, { headers: { ...(await authHeaders()), authorization: `Bearer ${'a'.repeat(100 * 1024)}` }, body: CHECK_BODY })
    expect(r.status).toBe(401)
    expect(r.json).toEqual({ error: 'Forbidden by auth provider' })
  })
})

describe('the other endpoints of the gateway', () => {
  const completion = {
    current_file: { file_name: 'main.py', content_above_cursor: 'def hello', content_below_cursor: '' },
    prompt_version: 1,
  }

  it('/v2/code/completions: complete_code, a SuggestionsResponse', async () => {
    const ok = await call('/v2/code/completions', { headers: await authHeaders(), body: completion })
    expect(ok.status).toBe(200)
    const parsed = SuggestionsResponseSchema().parse(ok.json)
    expect(parsed.created).toBe(NOW_S)
    expect(parsed.model.lang).toBe('python')
    expect(parsed.choices).toEqual([{ text: DEFAULT_MODEL_REPLY, index: 0, finish_reason: 'length' }])
    const denied = await call('/v2/code/completions', { headers: await authHeaders(['duo_chat']), body: completion })
    expect(denied).toMatchObject({ status: 403, json: { detail: 'Unauthorized to access code completions' } })
    const invalid = await call('/v2/code/completions', { headers: await authHeaders(), body: { current_file: { file_name: 'a.py' } } })
    expect(invalid.status).toBe(422)
    expect((invalid.json as { detail: Array<{ loc: unknown[] }> }).detail.map((d) => d.loc.join('.'))).toEqual([
      'body.current_file.content_above_cursor',
      'body.current_file.content_below_cursor',
    ])
  })

  it('/v2/code/generations: generate_code', async () => {
    const ok = await call('/v2/code/generations', { headers: await authHeaders(['generate_code']), body: completion })
    expect(ok.status).toBe(200)
    expect(SuggestionsResponseSchema().parse(ok.json).model.name).toBe('emulator-code-generation')
    const denied = await call('/v2/code/generations', { headers: await authHeaders(), body: completion })
    expect(denied).toMatchObject({ status: 403, json: { detail: 'Unauthorized to access code generations' } })
  })

  // ai_gateway/api/v2/chat/agent.py @ eee38f6f (movax01h/ai-gateway): duo_classic_chat; duo_chat only with @GitLabDuo.
  it('/v2/chat/agent: duo_classic_chat, NDJSON events, and include_*_context per additional context', async () => {
    const body = { messages: [{ role: 'user', content: 'hi', additional_context: [{ category: 'file', id: 'a.py', content: 'x' }] }] }
    const denied = await call('/v2/chat/agent', { headers: await authHeaders(['duo_classic_chat']), body })
    expect(denied).toMatchObject({ status: 403, json: { detail: 'Unauthorized to access include_file_context' } })
    const ok = await call('/v2/chat/agent', { headers: await authHeaders(['duo_classic_chat', 'include_file_context']), body })
    expect(ok.status).toBe(200)
    expect(ok.headers.get('content-type')).toBe('application/x-ndjson; charset=utf-8')
    expect(ok.text).toBe(`${JSON.stringify({ type: 'final_answer_delta', data: { thought: '', text: DEFAULT_MODEL_REPLY } })}\n`)
    expect(emu.requests.at(-1)?.unitPrimitive).toBe('duo_classic_chat')
    const noChat = await call('/v2/chat/agent', { headers: await authHeaders(['complete_code']), body })
    expect(noChat).toMatchObject({ status: 403, json: { detail: 'Unauthorized to access duo chat' } })
  })

  it('/v2/chat/agent: a duo_chat-only token (Duo Core) only for the @GitLabDuo code-review flow', async () => {
    const headers = await authHeaders(['duo_chat'])
    const plain = { messages: [{ role: 'user', content: 'what is gitlab?' }] }
    expect(await call('/v2/chat/agent', { headers, body: plain })).toMatchObject({
      status: 403,
      json: { detail: 'Duo Core no longer authorized to access Duo Classic Chat' },
    })
    // the last user message with content decides; assistant turns and empty user turns are skipped
    const review = {
      messages: [
        { role: 'user', content: 'diff: ...' },
        { role: 'user', content: '@GitLabDuo please review' },
        { role: 'assistant', content: null },
        { role: 'user', content: '' },
      ],
    }
    const ok = await call('/v2/chat/agent', { headers, body: review })
    expect(ok.status).toBe(200)
    expect(emu.requests.at(-1)?.unitPrimitive).toBe('duo_chat')
    // an earlier mention does not count, and the match is case-sensitive
    const earlier = { messages: [{ role: 'user', content: '@GitLabDuo hi' }, { role: 'user', content: 'and now?' }] }
    expect((await call('/v2/chat/agent', { headers, body: earlier })).status).toBe(403)
    expect((await call('/v2/chat/agent', { headers, body: { messages: [{ role: 'user', content: '@gitlabduo review' }] } })).status).toBe(403)
  })

  it('/v1/chat/{name}: the unit primitive of each chat invokable, 404 for an unknown one', async () => {
    const body = {
      prompt_components: [{ type: 'prompt', metadata: { source: 'GitLab EE', version: '18.5.4' }, payload: { content: 'explain', provider: 'anthropic', model: 'claude-3-5-sonnet-20240620' } }],
    }
    const ok = await call('/v1/chat/explain_code', { headers: await authHeaders(['duo_chat']), body })
    expect(ok).toMatchObject({
      status: 200,
      json: { response: DEFAULT_MODEL_REPLY, metadata: { provider: 'anthropic', model: 'claude-3-5-sonnet-20240620', timestamp: NOW_S } },
    })
    const denied = await call('/v1/chat/troubleshoot_job', { headers: await authHeaders(['duo_chat']), body })
    expect(denied).toMatchObject({ status: 403, json: { detail: 'Unauthorized to access troubleshoot_job' } })
    expect(await call('/v1/chat/nope', { headers: await authHeaders(['duo_chat']), body })).toMatchObject({ status: 404, json: { detail: 'Not found' } })
  })

  it('/v1/search/gitlab-docs: documentation_search', async () => {
    const body = { type: 'search-docs', metadata: { source: 'GitLab EE', version: '18.5.4' }, payload: { query: 'how do I rotate keys?' } }
    const ok = await call('/v1/search/gitlab-docs', { headers: await authHeaders(['documentation_search']), body })
    expect(ok.status).toBe(200)
    expect(ok.json).toMatchObject({ response: { results: [{ id: 'emulator-doc-1' }] }, metadata: { provider: 'emulator', timestamp: NOW_S } })
    const denied = await call('/v1/search/gitlab-docs', { headers: await authHeaders(), body })
    expect(denied).toMatchObject({ status: 403, json: { detail: 'Unauthorized to search documentations' } })
  })

  // ai_gateway/api/v1/code/user_access_token.py @ eee38f6f: complete_code or ai_gateway_model_provider_proxy, every one held
  // becomes a scope, never for a gateway-issued token; generations refuse gateway-issued tokens too (completions.py).
  it('/v1/code/user_access_token: a gateway-issued token the gateway then accepts for completions, but not for generations', async () => {
    const globalUserId = 'pgkDzqQoXjWQxdwm4wEX1jID6Aa3OGvWDr4I9wLPqmw='
    const headers = await emu.instance.authHeaders({ scopes: ['complete_code', 'generate_code'] }, { user: { id: 42, globalUserId } })
    const r = await call('/v1/code/user_access_token', { method: 'POST', headers })
    expect(r.status).toBe(200)
    const { token, expires_at } = UserAccessTokenResponseSchema().parse(r.json)
    expect(expires_at).toBe(NOW_S + 3600)
    const claims = JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString('utf8')) as Record<string, unknown>
    expect(claims).toMatchObject({
      iss: 'gitlab-ai-gateway',
      sub: globalUserId,
      aud: 'gitlab-ai-gateway',
      scopes: ['complete_code'],
      gitlab_realm: 'self-managed',
      gitlab_instance_id: INSTANCE_ID,
      iat: NOW_S,
      exp: NOW_S + 3600,
    })

    const ideHeaders = { ...headers, authorization: `Bearer ${token}` }
    expect((await call('/v2/code/completions', { headers: ideHeaders, body: completion })).status).toBe(200)
    // a gateway-issued token cannot mint another one, nor generate code
    expect(await call('/v1/code/user_access_token', { method: 'POST', headers: ideHeaders })).toMatchObject({
      status: 403,
      json: { detail: 'Unauthorized to create user access token' },
    })
    expect(await call('/v2/code/generations', { headers: ideHeaders, body: completion })).toMatchObject({
      status: 403,
      json: { detail: 'Unauthorized to access code generations' },
    })

    const proxyOnly = await emu.instance.authHeaders({ scopes: ['ai_gateway_model_provider_proxy'] }, { user: { id: 42, globalUserId } })
    const proxy = await call('/v1/code/user_access_token', { method: 'POST', headers: proxyOnly })
    expect(proxy.status).toBe(200)
    const proxyClaims = JSON.parse(Buffer.from(UserAccessTokenResponseSchema().parse(proxy.json).token.split('.')[1]!, 'base64url').toString('utf8')) as Record<string, unknown>
    expect(proxyClaims['scopes']).toEqual(['ai_gateway_model_provider_proxy'])
    const both = await emu.instance.authHeaders({ scopes: ['ai_gateway_model_provider_proxy', 'complete_code'] }, { user: { id: 42, globalUserId } })
    const bothToken = UserAccessTokenResponseSchema().parse((await call('/v1/code/user_access_token', { method: 'POST', headers: both })).json).token
    expect(JSON.parse(Buffer.from(bothToken.split('.')[1]!, 'base64url').toString('utf8')).scopes).toEqual(['complete_code', 'ai_gateway_model_provider_proxy'])
    const neither = await emu.instance.authHeaders({ scopes: ['generate_code'] }, { user: { id: 42, globalUserId } })
    expect(await call('/v1/code/user_access_token', { method: 'POST', headers: neither })).toMatchObject({
      status: 403,
      json: { detail: 'Unauthorized to create user access token' },
    })

    const { 'x-gitlab-global-user-id': _dropped, ...noUser } = headers
    expect(await call('/v1/code/user_access_token', { method: 'POST', headers: noUser })).toMatchObject({
      status: 400,
      json: { detail: 'Missing X-Gitlab-Global-User-Id header' },
    })
  })
})

describe('knobs', () => {
  it('bypass: no authentication at all and every unit primitive allowed', async () => {
    emu.configure({ bypassAuth: true })
    const r = await call(MODEL_CHECK_RAILS, { headers: { 'content-type': 'application/json' }, body: CHECK_BODY })
    expect(r.status).toBe(200)
    expect(emu.requests.at(-1)?.verdict).toBeUndefined()
    expect(emu.countRequests({ side: 'instance' })).toBe(0)
    emu.reset()
    expect((await call(MODEL_CHECK_RAILS, { headers: { 'content-type': 'application/json' }, body: CHECK_BODY })).status).toBe(401)
  })

  it('starts bypassed when asked to', async () => {
    const open = await startEmulator({ key: INSTANCE_KEY, gatewayKey: false, bypassAuth: true })
    try {
      const r = await fetch(`${open.url}${MODEL_CHECK_RAILS}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(CHECK_BODY) })
      expect(r.status).toBe(200)
      // fetch labels a string body text/plain: FastAPI then does not parse it as JSON
      const plain = await fetch(`${open.url}${MODEL_CHECK_RAILS}`, { method: 'POST', body: JSON.stringify(CHECK_BODY) })
      expect(plain.status).toBe(422)
      expect(((await plain.json()) as { detail: Array<{ type: string }> }).detail[0]?.type).toBe('model_attributes_type')
    } finally {
      await open.stop()
    }
  })

  it('caches discovered keys for the TTL on the gateway clock, then discovers again', async () => {
    let t = NOW.getTime()
    emu.configure({ now: () => new Date(t), jwksCacheTtlSeconds: 600 })
    const headers = await authHeaders()
    for (let i = 0; i < 3; i++) expect((await call(MODEL_CHECK_RAILS, { headers, body: CHECK_BODY })).status).toBe(200)
    expect(emu.countRequests({ side: 'instance', route: 'jwks' })).toBe(1)
    t += 599_000
    expect((await call(MODEL_CHECK_RAILS, { headers, body: CHECK_BODY })).status).toBe(200)
    expect(emu.countRequests({ side: 'instance', route: 'jwks' })).toBe(1)
    t += 1_000
    expect((await call(MODEL_CHECK_RAILS, { headers, body: CHECK_BODY })).status).toBe(200)
    expect(emu.countRequests({ side: 'instance', route: 'jwks' })).toBe(2)
  })

  it('a key published after the gateway cached the old set is refused until the cache is refreshed', async () => {
    const headers = await authHeaders()
    expect((await call(MODEL_CHECK_RAILS, { headers, body: CHECK_BODY })).status).toBe(200)

    // the instance's next key (a new one; OTHER_KEY is the gateway's own here)
    const rotated = await createTestInstance({ instanceId: INSTANCE_ID, issuerUrl: emu.instanceUrl, now: () => new Date(NOW) })
    emu.publishKeys([INSTANCE_KEY, rotated.key])
    const newHeaders = await rotated.authHeaders({ scopes: ['complete_code'] })
    expect(await call(MODEL_CHECK_RAILS, { headers: newHeaders, body: CHECK_BODY })).toMatchObject({
      status: 401,
      json: { error: 'Forbidden by auth provider' },
    })
    await emu.refreshGatewayKeys()
    expect((await call(MODEL_CHECK_RAILS, { headers: newHeaders, body: CHECK_BODY })).status).toBe(200)
    expect(emu.jwks.keys.map((k) => k.kid)).toEqual([INSTANCE_KEY.kid, rotated.kid])
    emu.reset()
    expect(emu.jwks.keys.map((k) => k.kid)).toEqual([INSTANCE_KEY.kid])
  })

  it('audience: a token for the AI gateway is refused by a Duo Workflow Service double', async () => {
    emu.configure({ audience: 'gitlab-duo-workflow-service' })
    const r = await call(MODEL_CHECK_RAILS, { headers: await authHeaders(), body: CHECK_BODY })
    expect(r).toMatchObject({ status: 401, json: { error: 'Forbidden by auth provider' } })
    expect(emu.requests.at(-1)?.verdict?.reason).toBeDefined()
  })

  it('skips an unreachable CustomersDot issuer, as the gateway does', async () => {
    const deadPort = await freePort()
    const withCdot = await startEmulator({
      key: INSTANCE_KEY,
      gatewayKey: false,
      customersDotUrl: `http://127.0.0.1:${deadPort}`,
      now: () => new Date(NOW),
      discoveryTimeoutMs: 2_000,
    })
    try {
      expect(withCdot.issuerUrls).toEqual([withCdot.instanceUrl, `http://127.0.0.1:${deadPort}`])
      const headers = await withCdot.instance.authHeaders({ scopes: ['complete_code'] })
      const r = await fetch(`${withCdot.url}${MODEL_CHECK_RAILS}`, { method: 'POST', headers, body: JSON.stringify(CHECK_BODY) })
      expect(r.status).toBe(200)
    } finally {
      await withCdot.stop()
    }
  })

  it('answers a plain 500 when no key at all can be loaded, and records why', async () => {
    const deadPort = await freePort()
    const orphan = await startEmulator({ key: INSTANCE_KEY, gatewayKey: false, instanceUrl: `http://127.0.0.1:${deadPort}`, now: () => new Date(NOW) })
    try {
      expect(orphan.jwks).toEqual({ keys: [] })
      const headers = await orphan.instance.authHeaders({ scopes: ['complete_code'] })
      const r = await fetch(`${orphan.url}${MODEL_CHECK_RAILS}`, { method: 'POST', headers, body: JSON.stringify(CHECK_BODY) })
      expect(r.status).toBe(500)
      expect(r.headers.get('content-type')).toBe('text/plain; charset=utf-8')
      expect(await r.text()).toBe('Internal Server Error')
      expect(orphan.requests.at(-1)?.verdict).toMatchObject({ status: 500, error: 'No keys founds in JWKS; are OIDC providers up?' })
    } finally {
      await orphan.stop()
    }
  })

  it('rejects invalid knobs with a message naming them', async () => {
    expect(() => emu.configure({ failingModels: { x: { status: 42 } } })).toThrow(/failingModels\.x\.status/)
    await expect(startEmulator({ key: INSTANCE_KEY, jwksCacheTtlSeconds: -1 })).rejects.toMatchObject({ code: 'ERR_INVALID_OPTIONS' })
  })
})

describe('lifecycle', () => {
  it('stops cleanly: no server, socket or timer left behind, even with keep-alive and in-flight connections', async () => {
    const before = await settledResources()
    const e = await startEmulator({ key: INSTANCE_KEY, gatewayKey: OTHER_KEY, now: () => new Date(NOW) })
    const headers = await e.instance.authHeaders({ scopes: ['complete_code'] })
    for (let i = 0; i < 3; i++) {
      const r = await fetch(`${e.url}${MODEL_CHECK_RAILS}`, { method: 'POST', headers, body: JSON.stringify(CHECK_BODY) })
      expect(r.status).toBe(200)
    }
    expect(countResources().servers).toBe(before.servers + 2)
    // a request whose body never completes keeps a connection active
    const hanging = fetch(`${e.url}${MODEL_CHECK_RAILS}`, {
      method: 'POST',
      headers,
      body: new ReadableStream({ start: () => undefined }),
      duplex: 'half',
    } as RequestInit).catch(() => 'aborted')
    await new Promise((r) => setTimeout(r, 50))

    await e.stop()
    await e.stop()
    expect(await hanging).toBe('aborted')
    await expect(fetch(`${e.url}/monitoring/healthz`)).rejects.toThrow()
    await waitFor(() => {
      const after = countResources()
      return after.servers === before.servers && after.sockets <= before.sockets && after.timers <= before.timers
    })
  })

  it('reports a taken port as EmulatorError with a hint', async () => {
    const port = Number(new URL(emu.url).port)
    const err = await startEmulator({ key: INSTANCE_KEY, port }).catch((e: unknown) => e)
    expect(err).toBeInstanceOf(EmulatorError)
    expect(err).toMatchObject({ code: 'ERR_EMULATOR_START', port })
    expect((err as Error).message).toBe(
      `The cloud-connector emulator could not start on 127.0.0.1: the gateway port ${port} is already in use: pass port: 0 (the default) to get a free one.`,
    )
    const instancePort = Number(new URL(emu.instanceUrl).port)
    await expect(startEmulator({ key: INSTANCE_KEY, instancePort })).rejects.toMatchObject({
      code: 'ERR_EMULATOR_START',
      port: instancePort,
      message: `The cloud-connector emulator could not start on 127.0.0.1: the instance port ${instancePort} is already in use: pass instancePort: 0 (the default) to get a free one.`,
    })
  })
})

/** Handles closed by earlier tests leave the list on the next loop turn: wait until two readings agree. */
async function settledResources(): Promise<ReturnType<typeof countResources>> {
  let last = JSON.stringify(countResources())
  for (let i = 0; i < 50; i++) {
    await new Promise((r) => setTimeout(r, 20))
    const now = JSON.stringify(countResources())
    if (now === last) break
    last = now
  }
  return countResources()
}

function countResources(): { servers: number; sockets: number; timers: number } {
  const all = process.getActiveResourcesInfo()
  return {
    servers: all.filter((r) => r === 'TCPServerWrap').length,
    sockets: all.filter((r) => r === 'TCPSocketWrap').length,
    timers: all.filter((r) => r === 'Timeout').length,
  }
}

async function waitFor(condition: () => boolean, timeoutMs = 3_000): Promise<void> {
  const end = Date.now() + timeoutMs
  while (!condition()) {
    if (Date.now() > end) throw new Error(`still leaking after ${timeoutMs} ms: ${JSON.stringify(countResources())}`)
    await new Promise((r) => setTimeout(r, 20))
  }
}

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const srv = createServer()
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as { port: number }
      srv.close(() => resolve(port))
    })
  })
}

// Issue 12, item 6: the route tables are Maps, so a name from the request never finds Object.prototype.
describe('names that are Object.prototype members are unknown names like any other', () => {
  const chatBody = {
    prompt_components: [{ type: 'prompt', metadata: { source: 'GitLab EE', version: '18.5.4' }, payload: { content: 'explain' } }],
  }

  it('prompt ids constructor, __proto__, toString, hasOwnProperty: 404 Prompt not found', async () => {
    const headers = await authHeaders(['complete_code', 'duo_chat'])
    for (const id of ['constructor', '__proto__', 'toString', 'hasOwnProperty']) {
      expect(await call(`/v1/prompts/${id}`, { headers, body: { inputs: {} } }), id).toMatchObject({ status: 404, json: { detail: `Prompt '${id}' not found` } })
    }
  })

  it('chat invokables constructor, __proto__, toString: 404 Not found', async () => {
    const headers = await authHeaders(['duo_chat'])
    for (const name of ['constructor', '__proto__', 'toString']) {
      expect(await call(`/v1/chat/${name}`, { headers, body: chatBody }), name).toMatchObject({ status: 404, json: { detail: 'Not found' } })
    }
  })

  it('a model named toString, constructor or __proto__ is not a failing model (unless configured as one)', async () => {
    const headers = await authHeaders()
    for (const name of ['toString', 'constructor', '__proto__']) {
      const body = { ...CHECK_BODY, model_metadata: { ...CHECK_BODY.model_metadata, name, endpoint: 'http://model.test:8000/v1', identifier: null } }
      expect(await call(MODEL_CHECK, { headers, body }), name).toMatchObject({ status: 200, json: DEFAULT_MODEL_REPLY })
    }
    emu.configure({ failingModels: { toString: { status: 503 } } })
    const failing = { ...CHECK_BODY, model_metadata: { ...CHECK_BODY.model_metadata, name: 'toString', identifier: null } }
    expect(await call(MODEL_CHECK, { headers, body: failing })).toMatchObject({ status: 421, json: { detail: '503: Service Unavailable' } })
  })

  it('a prompt configured under such a name is served', async () => {
    emu.configure({ prompts: { constructor: 'duo_chat' } })
    expect((await call('/v1/prompts/constructor', { headers: await authHeaders(['duo_chat']), body: { inputs: {} } })).status).toBe(200)
  })
})
