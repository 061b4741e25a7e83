/**
 * Issue 13, items 1 and 4: the endpoint rules of the newest public gateway, `movax01h/ai-gateway` at
 * eee38f6f (2026-08, gitlab-cloud-connector 3.27.0), each test citing the file its expectation is read
 * from. Preflight and the verifier are judged directly; the client end to end, over real sockets, against
 * the emulator and against a plain node:http server that answers with the gateway's exact bodies.
 */
import { sign } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { TokenError } from '../src/errors.js'
import {
  createAuthenticatedFetch,
  createGatewayClient,
  ENDPOINTS,
  endpointAccess,
  GatewayForbiddenError,
  lastUserMessageMentionsGitLabDuo,
  tokenUnitPrimitiveFor,
  UsageQuotaError,
  type ChatAgentBody,
} from '../src/client/index.js'
import { startEmulator, type Emulator } from '../src/emulator/index.js'
import { preflight, PreflightError } from '../src/inspect/index.js'
import { loadSigningKeySync, toJwks } from '../src/keys/index.js'
import { createTokenIssuer, createTokenSource } from '../src/token/index.js'
import { createGatewayVerifier } from '../src/verify/index.js'
import type { TokenRequest, TokenResult, TokenSource } from '../src/types.js'
import { json, startServer, type TestServer } from './reliability/servers.js'

const KEY = loadSigningKeySync(readFileSync(new URL('./fixtures/instance-key.pem', import.meta.url), 'utf8'))
const GATEWAY_KEY = loadSigningKeySync(readFileSync(new URL('./fixtures/second-key.pem', import.meta.url), 'utf8'))
const NOW = new Date('2026-08-01T12:00:00.000Z')
const NOW_S = Math.floor(NOW.getTime() / 1000)
const INSTANCE_ID = 'f798e820-207f-4849-869d-1f753edb3312'
const ISSUER = 'https://gitlab.example.com'
const GLOBAL_USER_ID = 'pgkDzqQoXjWQxdwm4wEX1jID6Aa3OGvWDr4I9wLPqmw='
const AUDIENCE = 'gitlab-ai-gateway'

const b64u = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url')
function jwt(claims: Record<string, unknown>, key = KEY): string {
  const input = `${b64u({ alg: 'RS256', typ: 'JWT', kid: key.kid })}.${b64u(claims)}`
  return `${input}.${sign('sha256', Buffer.from(input), key.privateKey!).toString('base64url')}`
}
function instanceToken(scopes: string[] | undefined, extra: Record<string, unknown> = {}): string {
  return jwt({ iss: ISSUER, sub: INSTANCE_ID, aud: [AUDIENCE], iat: NOW_S, nbf: NOW_S - 5, exp: NOW_S + 3600, gitlab_realm: 'self-managed', ...(scopes ? { scopes } : {}), ...extra })
}
function gatewayToken(scopes: string[]): string {
  return jwt({ iss: AUDIENCE, sub: GLOBAL_USER_ID, aud: AUDIENCE, iat: NOW_S, nbf: NOW_S, exp: NOW_S + 3600, gitlab_realm: 'self-managed', scopes }, GATEWAY_KEY)
}
const HEADERS = {
  'x-gitlab-authentication-type': 'oidc',
  'x-gitlab-realm': 'self-managed',
  'x-gitlab-instance-id': INSTANCE_ID,
  'x-gitlab-global-user-id': GLOBAL_USER_ID,
}
const withToken = (token: string) => ({ ...HEADERS, authorization: `Bearer ${token}` })

const PLAIN: ChatAgentBody = { messages: [{ role: 'user', content: 'What is GitLab?' }] }
const REVIEW: ChatAgentBody = { messages: [{ role: 'user', content: '@GitLabDuo review this merge request' }] }
const WITH_FILE: ChatAgentBody = { messages: [{ role: 'user', content: 'explain', additional_context: [{ category: 'file', id: 'a.py', content: 'x' }] }] }

function judge(endpoint: keyof typeof ENDPOINTS, token: string, body?: unknown) {
  const p = preflight({ token, headers: HEADERS, access: endpointAccess(endpoint, body), now: () => NOW })
  return { ok: p.ok, status: p.status, gatewayError: p.gatewayError, code: p.errors[0]?.code }
}
const verifier = createGatewayVerifier({ jwks: toJwks([KEY]), keys: [GATEWAY_KEY], now: () => NOW })
async function verdict(endpoint: keyof typeof ENDPOINTS, token: string, body?: unknown) {
  const access = endpointAccess(endpoint, body)
  const v = await verifier.authenticate(withToken(token), access === undefined ? {} : { access })
  return { status: v.status, error: v.error }
}

// ai_gateway/api/v2/chat/agent.py @ eee38f6f: get_agent, _has_gitlabduo_mention, authorize_additional_context.
describe('/v2/chat/agent: duo_classic_chat, the Duo Core cut-off and its @GitLabDuo carve-out', () => {
  it('a token with duo_classic_chat is admitted, whatever the body', async () => {
    for (const body of [PLAIN, REVIEW]) {
      expect(judge('chat', instanceToken(['duo_classic_chat']), body)).toMatchObject({ ok: true })
      expect(await verdict('chat', instanceToken(['duo_classic_chat']), body)).toEqual({ status: 200, error: undefined })
    }
  })

  it('duo_chat without duo_classic_chat: 403 "Duo Core no longer authorized to access Duo Classic Chat", unless @GitLabDuo', async () => {
    const duoCore = instanceToken(['duo_chat'])
    expect(judge('chat', duoCore, PLAIN)).toEqual({ ok: false, status: 403, gatewayError: 'Duo Core no longer authorized to access Duo Classic Chat', code: 'SCOPE_MISSING' })
    expect(await verdict('chat', duoCore, PLAIN)).toEqual({ status: 403, error: 'Duo Core no longer authorized to access Duo Classic Chat' })
    expect(judge('chat', duoCore, REVIEW)).toMatchObject({ ok: true })
    expect(await verdict('chat', duoCore, REVIEW)).toEqual({ status: 200, error: undefined })
  })

  it('neither: 403 "Unauthorized to access duo chat"; then each additional context needs its include_*_context', async () => {
    expect(judge('chat', instanceToken(['complete_code']), REVIEW)).toMatchObject({ status: 403, gatewayError: 'Unauthorized to access duo chat' })
    expect(await verdict('chat', instanceToken(['complete_code']), PLAIN)).toEqual({ status: 403, error: 'Unauthorized to access duo chat' })
    expect(judge('chat', instanceToken(['duo_classic_chat']), WITH_FILE)).toMatchObject({ status: 403, gatewayError: 'Unauthorized to access include_file_context' })
    expect(judge('chat', instanceToken(['duo_classic_chat', 'include_file_context']), WITH_FILE)).toMatchObject({ ok: true })
  })

  it('the mention is searched in the last user message that has content, exactly as written', () => {
    const m = (...messages: { role: string; content: string | null }[]) => lastUserMessageMentionsGitLabDuo({ messages })
    expect(m({ role: 'user', content: 'please, @GitLabDuo, review' })).toBe(true)
    expect(m({ role: 'user', content: '@GitLabDuo' }, { role: 'assistant', content: null }, { role: 'user', content: '' })).toBe(true)
    expect(m({ role: 'user', content: '@GitLabDuo' }, { role: 'user', content: 'and then?' })).toBe(false)
    expect(m({ role: 'user', content: '@gitlabduo review' })).toBe(false)
    expect(m({ role: 'assistant', content: '@GitLabDuo' })).toBe(false)
    expect(lastUserMessageMentionsGitLabDuo(undefined)).toBe(false)
  })

  // GitLab asks duo_classic_chat for chat and duo_chat for Duo Code Review
  // (flyisland/gitlab-ee ee/lib/gitlab/llm/completions/chat.rb @ 52d0d30b).
  it('the token is asked for duo_classic_chat, or duo_chat in the @GitLabDuo flow', () => {
    expect(ENDPOINTS.chat.unitPrimitive).toBe('duo_classic_chat')
    expect(tokenUnitPrimitiveFor('chat', PLAIN)).toBe('duo_classic_chat')
    expect(tokenUnitPrimitiveFor('chat', REVIEW)).toBe('duo_chat')
  })
})

// ai_gateway/api/v1/code/user_access_token.py and ai_gateway/api/v2/code/completions.py @ eee38f6f.
describe('/v1/code/user_access_token and /v2/code/generations', () => {
  it('user_access_token accepts complete_code or ai_gateway_model_provider_proxy; 403 "Unauthorized to create user access token"', async () => {
    expect(judge('userAccessToken', instanceToken(['ai_gateway_model_provider_proxy']))).toMatchObject({ ok: true })
    expect(judge('userAccessToken', instanceToken(['complete_code']))).toMatchObject({ ok: true })
    expect(judge('userAccessToken', instanceToken(['generate_code']))).toEqual({
      ok: false,
      status: 403,
      gatewayError: 'Unauthorized to create user access token',
      code: 'SCOPE_MISSING',
    })
    expect(await verdict('userAccessToken', instanceToken(['ai_gateway_model_provider_proxy']))).toEqual({ status: 200, error: undefined })
  })

  it('both refuse a token the gateway issued itself, whatever its scopes (disallowed_issuers)', async () => {
    const own = gatewayToken(['complete_code', 'generate_code', 'ai_gateway_model_provider_proxy'])
    expect(judge('userAccessToken', own)).toEqual({ ok: false, status: 403, gatewayError: 'Unauthorized to create user access token', code: 'GATEWAY_ISSUED_TOKEN' })
    expect(judge('codeGenerations', own)).toEqual({ ok: false, status: 403, gatewayError: 'Unauthorized to access code generations', code: 'GATEWAY_ISSUED_TOKEN' })
    expect(await verdict('userAccessToken', own)).toEqual({ status: 403, error: 'Unauthorized to create user access token' })
    expect(await verdict('codeGenerations', own)).toEqual({ status: 403, error: 'Unauthorized to access code generations' })
    // completions do accept it: that is what the token is for
    expect(judge('codeCompletions', own, { current_file: { file_name: 'a.py', content_above_cursor: '', content_below_cursor: '' } })).toMatchObject({ ok: true })
  })

  // The service name decides which tokens are the service's own: the Duo Workflow Service reads its name
  // from CLOUD_CONNECTOR_SERVICE_NAME (duo_workflow_service/__init__.py @ eee38f6f).
  it('the verifier covers the Duo Workflow Service: its audience, its own tokens and the issuers it refuses', async () => {
    const dws = createGatewayVerifier({ audience: 'gitlab-duo-workflow-service', keys: [KEY], now: () => NOW })
    const dwsToken = jwt({ iss: ISSUER, sub: INSTANCE_ID, aud: ['gitlab-duo-workflow-service'], iat: NOW_S, exp: NOW_S + 60, gitlab_realm: 'self-managed', scopes: ['generate_code'] })
    expect((await dws.authenticate(withToken(dwsToken), { access: endpointAccess('codeGenerations') })).status).toBe(200)
    expect(await verifier.authenticate(withToken(dwsToken))).toMatchObject({ status: 401, reason: 'Invalid audience' })
    const own = jwt({ iss: 'gitlab-duo-workflow-service', sub: GLOBAL_USER_ID, aud: 'gitlab-duo-workflow-service', iat: NOW_S, exp: NOW_S + 60, gitlab_realm: 'self-managed', scopes: ['generate_code'] })
    expect(await dws.authenticate(withToken(own), { access: endpointAccess('codeGenerations') })).toMatchObject({ status: 403, error: 'Unauthorized to access code generations' })
    expect(await dws.authenticate({ ...withToken(own), 'x-gitlab-global-user-id': 'someone-else' })).toMatchObject({ status: 401, error: "Header mismatch 'X-Gitlab-Global-User-Id'" })
  })
})

/** A token source that records what it is asked and answers with a fixed token. */
function recording(token: string): TokenSource & { asked: TokenRequest[] } {
  const asked: TokenRequest[] = []
  return {
    asked,
    getToken(request: TokenRequest): Promise<TokenResult> {
      asked.push(request)
      return Promise.resolve({ token, source: 'self-issued', reason: 'test' })
    },
  }
}

describe('the client against the emulator (real sockets)', () => {
  let emu: Emulator
  beforeAll(async () => {
    emu = await startEmulator({ key: KEY, now: () => NOW, gatewayKey: GATEWAY_KEY, instance: { instanceId: INSTANCE_ID } })
  })
  afterAll(async () => {
    await emu.stop()
  })
  const instance = { id: INSTANCE_ID, hostName: '127.0.0.1', version: '18.5.4', realm: 'self-managed' as const }
  const clientFor = (tokenSource: TokenSource) => createGatewayClient({ baseUrl: emu.url, tokenSource, headers: { instance }, now: () => NOW, retry: { limit: 0 } })
  const issuerFor = (addOns: string[]) => createTokenIssuer({ issuer: emu.instanceUrl, instanceId: INSTANCE_ID, realm: 'self-managed', key: KEY, addOns, now: () => NOW })

  it('chat asks the token source for duo_classic_chat, and for duo_chat when the last user message mentions @GitLabDuo', async () => {
    const source = recording(instanceToken(['duo_classic_chat']))
    await (await clientFor(source).chat(PLAIN)).text()
    await (await clientFor(source).chat(REVIEW)).text()
    expect(source.asked.map((r) => r.unitPrimitive)).toEqual(['duo_classic_chat', 'duo_chat'])
  })

  // Rails passes the feature setting explicitly to Tokens.get (flyisland/gitlab-ee ee/lib/cloud_connector/tokens.rb @ 52d0d30b);
  // the team-member flag becomes both x-gitlab-is-team-member and skip_usage_cutoff (ee/lib/gitlab/ai_gateway.rb @ 52d0d30b).
  it('the client hands the token source the call\'s feature setting and the team-member flag', async () => {
    const source = recording(instanceToken(['complete_code']))
    const body = { current_file: { file_name: 'a.py', content_above_cursor: '', content_below_cursor: '' } }
    await clientFor(source).codeCompletions(body, { featureSetting: 'code_completions', context: { feature: { teamMember: true } } })
    await clientFor(source).codeCompletions(body)
    expect(source.asked.map(({ signal: _s, ...r }) => r)).toEqual([
      { unitPrimitive: 'complete_code', featureSetting: 'code_completions', skipUsageCutoff: true },
      { unitPrimitive: 'complete_code' },
    ])
  })

  it('a duo_chat-only token is not sent to its 403; with @GitLabDuo it is, and the gateway serves it', async () => {
    const before = emu.countRequests({ side: 'gateway' })
    const err = await clientFor(recording(instanceToken(['duo_chat']))).chat(PLAIN).catch((e: unknown) => e)
    expect(err).toBeInstanceOf(PreflightError)
    expect((err as PreflightError).gatewayError).toBe('Duo Core no longer authorized to access Duo Classic Chat')
    expect(emu.countRequests({ side: 'gateway' })).toBe(before)
    const ok = await clientFor(recording(instanceToken(['duo_chat']))).chat(REVIEW)
    expect(ok.status).toBe(200)
    expect(emu.requests.at(-1)?.unitPrimitive).toBe('duo_chat')
  })

  it('createAuthenticatedFetch follows the same rule for /v2/chat/agent, body included', async () => {
    const source = recording(instanceToken(['duo_chat']))
    const gatewayFetch = createAuthenticatedFetch({ baseUrl: emu.url, tokenSource: source, headers: { instance }, now: () => NOW })
    const post = (body: unknown) => gatewayFetch(`${emu.url}/v2/chat/agent`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) })
    const before = emu.countRequests({ side: 'gateway' })
    const err = await post(PLAIN).catch((e: unknown) => e)
    expect(err).toBeInstanceOf(PreflightError)
    expect(emu.countRequests({ side: 'gateway' })).toBe(before)
    expect((await post(REVIEW)).status).toBe(200)
    expect(source.asked.map((r) => r.unitPrimitive)).toEqual(['duo_classic_chat', 'duo_chat'])
  })

  it("a Duo Pro instance's chat is sent; a Duo Core instance's only in the code-review flow (built-in catalog)", async () => {
    const pro = createTokenSource({ license: 'offline-cloud', selfIssued: issuerFor(['duo_pro']), now: () => NOW })
    expect((await clientFor(pro).chat(PLAIN)).status).toBe(200)
    const core = createTokenSource({ license: 'offline-cloud', selfIssued: issuerFor(['duo_core']), now: () => NOW })
    const before = emu.countRequests({ side: 'gateway' })
    const refused = await clientFor(core).chat(PLAIN).catch((e: unknown) => e)
    expect(refused).toBeInstanceOf(TokenError)
    expect((refused as TokenError).code).toBe('ERR_SCOPE_NOT_ENTITLED')
    expect(emu.countRequests({ side: 'gateway' })).toBe(before)
    expect((await clientFor(core).chat(REVIEW)).status).toBe(200)
  })

  // ai_gateway/api/middleware/route/usage_quota.py @ eee38f6f
  it('the usage-quota layer: 402 and 403 USAGE_QUOTA_NOT_ENTITLED are typed errors, not missing scopes; skip_usage_cutoff passes', async () => {
    const source = createTokenSource({ license: 'offline-cloud', selfIssued: issuerFor(['duo_enterprise']), now: () => NOW })
    const body = { current_file: { file_name: 'a.py', content_above_cursor: 'def ', content_below_cursor: '' } }
    try {
      emu.configure({ usageQuota: 'insufficient_credits' })
      const e402 = (await clientFor(source).codeCompletions(body).catch((e: unknown) => e)) as UsageQuotaError
      expect(e402).toBeInstanceOf(UsageQuotaError)
      expect(e402).toMatchObject({
        code: 'ERR_USAGE_QUOTA_EXCEEDED',
        status: 402,
        gatewayError: 'insufficient_credits',
        errorCode: 'USAGE_QUOTA_EXCEEDED',
        detail: 'Consumer does not have sufficient credits for this request',
      })
      expect(e402.message).toContain('the consumer has no usage credits left')

      emu.configure({ usageQuota: 'not_entitled' })
      const e403 = (await clientFor(source).userAccessToken({ context: { user: { id: 42, globalUserId: GLOBAL_USER_ID } } }).catch((e: unknown) => e)) as UsageQuotaError
      expect(e403).toBeInstanceOf(UsageQuotaError)
      expect(e403).not.toBeInstanceOf(GatewayForbiddenError)
      expect(e403).toMatchObject({ code: 'ERR_USAGE_QUOTA_NOT_ENTITLED', status: 403, errorCode: 'USAGE_QUOTA_NOT_ENTITLED', detail: 'Consumer does not have entitlements to use this feature.' })

      // a GitLab team member: the header and the token's skip_usage_cutoff claim (ee/lib/gitlab/ai_gateway.rb @ 52d0d30b)
      const member = await clientFor(source).codeGenerations(body, { context: { feature: { teamMember: true } } })
      expect(member.status).toBe(200)
      // the model check is not behind the quota layer
      expect((await clientFor(source).checkModelConfiguration({ name: 'm', endpoint: 'http://model.test/v1', provider: 'openai' })).status).toBe(200)
    } finally {
      emu.configure({ usageQuota: 'ok' })
    }
  })
})

describe('the client against a plain node:http server answering with the gateway\'s quota bodies', () => {
  let srv: TestServer
  beforeAll(async () => {
    srv = await startServer((_req, res, url) => {
      if (url.pathname === '/v2/code/completions') {
        json(res, 402, { error: 'insufficient_credits', error_code: 'USAGE_QUOTA_EXCEEDED', message: 'Consumer does not have sufficient credits for this request' })
      } else {
        json(res, 403, { error: 'not_entitled', error_code: 'USAGE_QUOTA_NOT_ENTITLED', message: 'Consumer does not have entitlements to use this feature.' })
      }
    })
  })
  afterAll(async () => {
    await srv.close()
  })

  it('maps both to UsageQuotaError with the gateway\'s words, after one request each', async () => {
    const client = createGatewayClient({
      baseUrl: srv.url,
      tokenSource: recording(instanceToken(['complete_code', 'generate_code'])),
      headers: { instance: { id: INSTANCE_ID, realm: 'self-managed' } },
      now: () => NOW,
      retry: { limit: 0 },
    })
    const body = { current_file: { file_name: 'a.py', content_above_cursor: '', content_below_cursor: '' } }
    const e402 = (await client.codeCompletions(body).catch((e: unknown) => e)) as UsageQuotaError
    expect(e402).toMatchObject({ name: 'UsageQuotaError', code: 'ERR_USAGE_QUOTA_EXCEEDED', status: 402, attempts: 1 })
    const e403 = (await client.codeGenerations(body).catch((e: unknown) => e)) as UsageQuotaError
    expect(e403).toMatchObject({ name: 'UsageQuotaError', code: 'ERR_USAGE_QUOTA_NOT_ENTITLED', status: 403 })
    expect(e403.message).toContain('"Consumer does not have entitlements to use this feature."')
    expect(srv.requests).toEqual(['POST /v2/code/completions', 'POST /v2/code/generations'])
  })
})

describe('the msw handlers answer the usage-quota layer as the emulator does', () => {
  it('402 insufficient_credits on completions, nothing on the model check; a team member passes', async () => {
    const { setupServer } = await import('msw/node')
    const { createMswGateway } = await import('../src/testing/msw.js')
    const double = await createMswGateway({ baseUrl: 'https://aigw.test', jwks: toJwks([KEY]), now: () => NOW, gatewayKey: false, usageQuota: 'insufficient_credits' })
    const server = setupServer(...double.handlers)
    server.listen({ onUnhandledRequest: 'error' })
    try {
      const client = (token: string) =>
        createGatewayClient({ baseUrl: 'https://aigw.test', tokenSource: recording(token), headers: { instance: { id: INSTANCE_ID, realm: 'self-managed' } }, now: () => NOW, retry: { limit: 0 } })
      const body = { current_file: { file_name: 'a.py', content_above_cursor: '', content_below_cursor: '' } }
      const err = await client(instanceToken(['complete_code'])).codeCompletions(body).catch((e: unknown) => e)
      expect(err).toMatchObject({ name: 'UsageQuotaError', code: 'ERR_USAGE_QUOTA_EXCEEDED', status: 402 })
      expect((await client(instanceToken(['complete_code'], { skip_usage_cutoff: true })).codeCompletions(body)).status).toBe(200)
      expect((await client(instanceToken(['complete_code'])).checkModelConfiguration({ name: 'm', endpoint: 'http://model.test/v1' })).status).toBe(200)
      expect(double.countRequests({ side: 'gateway', status: 402 })).toBe(1)
    } finally {
      server.close()
    }
  })
})
