import { inspect } from 'node:util'
import { delay, http, HttpResponse } from 'msw'
import { describe, expect, it } from 'vitest'
import { createAuthenticatedFetch, createGatewayClient, type GatewayClientOptions } from '../src/client/index.js'
import { PreflightError } from '../src/inspect/index.js'
import { loadSigningKeySync } from '../src/keys/index.js'
import { createTokenIssuer, createTokenSource } from '../src/token/index.js'
import type { TokenResult } from '../src/types.js'
import {
  captureLogger,
  claims,
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

const CHECK_URL = `${GATEWAY}/v1/prompts/model_configuration%2Fcheck`
const API_KEY = 'sk-proj-VERYSECRET-9f8e7d6c5b4a3210'
const MODEL = { name: 'mistral', endpoint: 'http://model:8000/v1', apiKey: API_KEY }

async function rejection(p: Promise<unknown>): Promise<Error> {
  try {
    await p
  } catch (e) {
    return e as Error
  }
  throw new Error('expected a rejection')
}

function client(source: GatewayClientOptions['tokenSource'], extra: Partial<GatewayClientOptions> = {}) {
  return createGatewayClient({ baseUrl: GATEWAY, tokenSource: source, headers: { instance: INSTANCE }, now, retry: 0, ...extra })
}

/** Every way a bearer value can be doomed, and what the gateway would answer (domain.md §5). */
const AUTH_FAILED = 'Forbidden by auth provider'
const DOOMED: Array<{ name: string; result: TokenResult; status: 401 | 403; gatewayError: string; code: string }> = [
  {
    name: "source 'none' (offline license, primitive not self-signed)",
    result: { source: 'none', reason: 'Offline cloud license: no synced token exists and complete_code is not self-issued.' },
    status: 401,
    gatewayError: AUTH_FAILED,
    code: 'TOKEN_SOURCE_NONE',
  },
  { name: 'empty token', result: { token: '', source: 'synced', reason: 'stored token' }, status: 401, gatewayError: AUTH_FAILED, code: 'TOKEN_EMPTY' },
  { name: 'opaque token', result: { token: 'glcc_0123456789abcdef', source: 'synced', reason: 'stored token' }, status: 401, gatewayError: AUTH_FAILED, code: 'TOKEN_OPAQUE' },
  {
    name: 'two segments',
    result: { token: 'eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0', source: 'synced', reason: 'stored token' },
    status: 401,
    gatewayError: AUTH_FAILED,
    code: 'TOKEN_SEGMENTS',
  },
  {
    name: 'expired',
    result: { token: signJwt(claims({ iat: NOW_S - 7200, nbf: NOW_S - 7205, exp: NOW_S - 3600 })), source: 'self-issued', reason: 't' },
    status: 401,
    gatewayError: AUTH_FAILED,
    code: 'EXPIRED',
  },
  { name: 'not yet valid', result: { token: signJwt(claims({ nbf: NOW_S + 600 })), source: 'self-issued', reason: 't' }, status: 401, gatewayError: AUTH_FAILED, code: 'NOT_YET_VALID' },
  {
    name: 'wrong audience',
    result: { token: signJwt(claims({ aud: ['gitlab-duo-workflow-service'] })), source: 'self-issued', reason: 't' },
    status: 401,
    gatewayError: AUTH_FAILED,
    code: 'AUD_MISMATCH',
  },
  {
    name: 'alg not RS256',
    result: { token: signJwt(claims(), { alg: 'HS256', typ: 'JWT', kid: 'k' }), source: 'self-issued', reason: 't' },
    status: 401,
    gatewayError: AUTH_FAILED,
    code: 'ALG_NOT_ALLOWED',
  },
  {
    name: 'sub ≠ X-Gitlab-Instance-Id',
    result: { token: signJwt(claims({ sub: '00000000-0000-4000-8000-000000000000' })), source: 'self-issued', reason: 't' },
    status: 401,
    gatewayError: "Header mismatch 'X-Gitlab-Instance-Id'",
    code: 'INSTANCE_ID_MISMATCH',
  },
  {
    name: 'gitlab_realm ≠ X-Gitlab-Realm',
    result: { token: signJwt(claims({ gitlab_realm: 'saas' })), source: 'self-issued', reason: 't' },
    status: 401,
    gatewayError: "Header mismatch 'X-Gitlab-Realm'",
    code: 'REALM_MISMATCH',
  },
  {
    name: 'scope missing',
    result: { token: signJwt(claims({ scopes: ['duo_chat'] })), source: 'self-issued', reason: 't' },
    status: 403,
    gatewayError: "Unauthorized to access 'model_configuration/check'",
    code: 'SCOPE_MISSING',
  },
]

describe('never send a doomed request', () => {
  for (const { name, result, status, gatewayError, code } of DOOMED) {
    it(`client: ${name} → PreflightError, zero requests`, async () => {
      server.use(http.post(CHECK_URL, () => HttpResponse.json('must not be reached')))
      const source = scriptedSource(() => result)
      const logger = captureLogger()
      const err = await rejection(client(source, { logger }).checkModelConfiguration(MODEL))
      expect(err).toBeInstanceOf(PreflightError)
      const e = err as PreflightError
      expect(e.code).toBe('ERR_PREFLIGHT_REJECTED')
      expect(e.status).toBe(status)
      expect(e.gatewayError).toBe(gatewayError)
      expect(e.findings[0]!.code).toBe(code)
      expect(e.unitPrimitive).toBe('complete_code')
      expect(received).toHaveLength(0)
      expect(logger.lines.map((l) => l.event)).toEqual(['gateway.preflight_rejected'])
      if (result.token) {
        const shown = `${e.message}\n${inspect(e, { depth: 10 })}\n${JSON.stringify(e)}\n${logger.text()}`
        expect(shown).not.toContain(result.token)
      }
    })

    it(`fetch adapter: ${name} → PreflightError, zero requests`, async () => {
      server.use(http.post(CHECK_URL, () => HttpResponse.json('must not be reached')))
      const f = createAuthenticatedFetch({ baseUrl: GATEWAY, tokenSource: scriptedSource(() => result), headers: { instance: INSTANCE }, now })
      const err = await rejection(f(CHECK_URL, { method: 'POST', body: '{}' }))
      expect(err).toBeInstanceOf(PreflightError)
      expect((err as PreflightError).status).toBe(status)
      expect((err as PreflightError).gatewayError).toBe(gatewayError)
      expect((err as PreflightError).findings[0]!.code).toBe(code)
      expect(received).toHaveLength(0)
    })
  }

  it("the reason of a 'none' source reaches the error", async () => {
    const reason = 'Offline cloud license: no synced token exists and complete_code is not self-issued.'
    const err = (await rejection(client(fixedSource(undefined, 'none', reason)).checkModelConfiguration(MODEL))) as PreflightError
    expect(err.message).toContain(reason)
    expect(received).toHaveLength(0)
  })
})

describe('the reported failure (domain.md §8): offline license, model check not self-hosted', () => {
  const key = loadSigningKeySync(KEY_PEM)
  const selfIssued = () =>
    createTokenIssuer({ issuer: ISSUER, instanceId: INSTANCE_ID, realm: 'self-managed', key, addOns: ['duo_enterprise'], now })

  it("policy 'rails' ends with no token for complete_code: the SDK refuses to send it, saying why", async () => {
    const source = createTokenSource({ policy: 'rails', license: 'offline-cloud', selfHostedFeatures: ['duo_chat'], selfIssued: selfIssued(), now })
    server.use(http.post(CHECK_URL, () => HttpResponse.json({ error: 'Forbidden by auth provider' }, { status: 401 })))
    const err = (await rejection(client(source).checkModelConfiguration(MODEL))) as PreflightError
    expect(err).toBeInstanceOf(PreflightError)
    expect(err.status).toBe(401)
    expect(err.gatewayError).toBe('Forbidden by auth provider')
    expect(err.findings[0]!.code).toBe('TOKEN_SOURCE_NONE')
    expect(err.findings[0]!.reason).toBe('Not enough segments')
    expect(received).toHaveLength(0)
  })

  it("policy 'safe' self-issues for complete_code, so the same check goes through", async () => {
    const source = createTokenSource({ policy: 'safe', license: 'offline-cloud', selfHostedFeatures: ['duo_chat'], selfIssued: selfIssued(), now })
    server.use(http.post(CHECK_URL, () => HttpResponse.json('pong')))
    const res = await client(source).checkModelConfiguration(MODEL)
    expect(res.data).toBe('pong')
    expect(received).toHaveLength(1)
    expect(received[0]!.headers['authorization']).toMatch(/^Bearer eyJ[\w-]+\.[\w-]+\.[\w-]+$/)
  })
})

describe('secrets stay secret', () => {
  it('neither the api key nor the token appears in any error, inspect output, JSON or log line', async () => {
    const token = signJwt(claims())
    const signature = token.split('.')[2]!
    const logger = captureLogger()
    const c = client(fixedSource(token), { logger, timeout: 100 })
    const shown: string[] = []
    const collect = (e: Error) => shown.push(e.message, inspect(e, { depth: 10, showHidden: true }), JSON.stringify(e), String(e.stack))

    // the gateway echoing what it got, in every shape it answers
    const scenarios = [
      () => HttpResponse.json({ error: `Forbidden by auth provider: Bearer ${token}` }, { status: 401 }),
      () => HttpResponse.json({ detail: `Unauthorized to access complete_code with ${token}` }, { status: 403 }),
      () => HttpResponse.json({ detail: `401: invalid api key ${API_KEY}` }, { status: 421 }),
      () => HttpResponse.json({ detail: [{ loc: ['body', 'model_metadata'], msg: `bad ${API_KEY}`, input: { api_key: API_KEY } }] }, { status: 422 }),
      () => new HttpResponse(`upstream said: authorization=Bearer ${token} api_key=${API_KEY}`, { status: 500 }),
      () => HttpResponse.json({ unexpected: API_KEY }),
      () => HttpResponse.error(),
      async () => {
        await delay(500)
        return HttpResponse.json('late')
      },
    ]
    for (const reply of scenarios) {
      server.resetHandlers(http.post(CHECK_URL, reply))
      collect(await rejection(c.checkModelConfiguration(MODEL)))
    }
    // and one never-send, with the bad token in hand
    const expired = signJwt(claims({ exp: NOW_S - 10 }))
    collect(await rejection(client(fixedSource(expired), { logger }).checkModelConfiguration(MODEL)))

    const f = createAuthenticatedFetch({ baseUrl: GATEWAY, tokenSource: fixedSource(token), headers: { instance: INSTANCE }, now, logger, throwOnAuthFailure: true })
    server.resetHandlers(http.post(CHECK_URL, () => HttpResponse.json({ error: `Forbidden by auth provider ${token}` }, { status: 401 })))
    collect(await rejection(f(CHECK_URL, { method: 'POST', body: JSON.stringify({ model_metadata: { api_key: API_KEY } }) })))

    // the client itself keeps what it validated and cached in private fields only
    shown.push(inspect(c, { depth: 10, showHidden: true }), JSON.stringify(c))
    expect(shown.length).toBe(42)
    expect(logger.lines.length).toBeGreaterThan(10)
    const everything = `${shown.join('\n')}\n${logger.text()}`
    expect(everything).not.toContain(API_KEY)
    expect(everything).not.toContain(token)
    expect(everything).not.toContain(signature)
    expect(everything).not.toContain(expired)
    expect(everything).not.toContain(expired.split('.')[2]!)
    expect(everything.toLowerCase()).not.toContain('"authorization"')
  })
})
