/**
 * One table drives every judge: for each endpoint of `ENDPOINTS` with an authorisation rule, every
 * combination of the primitives its rule names (held or not), of issuer (the instance, or the gateway
 * itself) and of the bodies the rule distinguishes is judged by preflight, by the verifier, by the msw
 * handlers and by the emulator over a real socket. All four must give the same answer: status and the
 * gateway's message. The rules are the newest gateway's (movax01h/ai-gateway @ eee38f6f, cited in
 * src/client/endpoints.ts); the expected answers for the rules themselves are pinned in
 * test/fidelity-newest.test.ts.
 */
import { http, passthrough } from 'msw'
import { setupServer } from 'msw/node'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { ENDPOINTS, endpointAccess, type EndpointName } from '../src/client/endpoints.js'
import { startEmulator, type Emulator } from '../src/emulator/index.js'
import { preflight } from '../src/inspect/index.js'
import { toJwks } from '../src/keys/index.js'
import { createMswGateway, type MswGateway } from '../src/testing/msw.js'
import { createGatewayVerifier } from '../src/verify/index.js'
import { loadCaseFixture } from './cases/fixture.js'
import { mintJwt } from './cases/mint.js'

const fx = loadCaseFixture()
const gatewayKey = fx.otherKey
const NOW_S = Math.floor(fx.now.getTime() / 1000)
const MSW_GATEWAY = 'https://aigw.test'
const GLOBAL_USER_ID = 'pgkDzqQoXjWQxdwm4wEX1jID6Aa3OGvWDr4I9wLPqmw='

/** Bodies that the rules tell apart, per endpoint. */
const BODIES: Record<EndpointName, readonly { label: string; body: unknown }[]> = {
  checkModelConfiguration: [
    {
      label: 'model check',
      body: { inputs: {}, stream: false, model_metadata: { name: 'mistral', provider: 'openai', endpoint: 'http://model.test:8000/v1', api_key: null, identifier: null } },
    },
  ],
  codeCompletions: [
    { label: 'completion', body: { current_file: { file_name: 'a.py', content_above_cursor: 'def ', content_below_cursor: '' } } },
    {
      label: 'Amazon Q completion',
      body: { current_file: { file_name: 'a.py', content_above_cursor: 'def ', content_below_cursor: '' }, model_provider: 'amazon_q' },
    },
  ],
  codeGenerations: [{ label: 'generation', body: { current_file: { file_name: 'a.py', content_above_cursor: '# sort\n', content_below_cursor: '' } } }],
  chat: [
    { label: 'chat', body: { messages: [{ role: 'user', content: 'What is GitLab?' }] } },
    { label: '@GitLabDuo review', body: { messages: [{ role: 'user', content: '@GitLabDuo review this' }] } },
    { label: 'chat with a file', body: { messages: [{ role: 'user', content: 'explain', additional_context: [{ category: 'file', id: 'a.py', content: 'x' }] }] } },
    {
      label: '@GitLabDuo review with a file',
      body: { messages: [{ role: 'user', content: '@GitLabDuo review', additional_context: [{ category: 'file', id: 'a.py', content: 'x' }] }] },
    },
  ],
  userAccessToken: [{ label: 'user token', body: undefined }],
  health: [],
}

interface Case {
  name: string
  endpoint: EndpointName
  body: unknown
  headers: Record<string, string>
}

function subsets<T>(items: readonly T[]): T[][] {
  return items.reduce<T[][]>((acc, item) => [...acc, ...acc.map((s) => [...s, item])], [[]])
}

function buildCases(): Case[] {
  const out: Case[] = []
  for (const endpoint of Object.keys(ENDPOINTS) as EndpointName[]) {
    for (const { label, body } of BODIES[endpoint]) {
      const access = endpointAccess(endpoint, body)
      if (access === undefined) continue
      const named = [...new Set([...access.anyOf, ...(access.fallback ? [access.fallback.unitPrimitive] : []), ...(access.also ?? []).map((a) => a.unitPrimitive)])]
      const scopeSets: (string[] | null | undefined)[] = [...subsets(named), undefined, null]
      for (const scopes of scopeSets) {
        for (const issuer of ['instance', 'gateway'] as const) {
          const claims: Record<string, unknown> = {
            iss: issuer === 'instance' ? fx.issuer : fx.audience,
            sub: issuer === 'instance' ? fx.instanceId : GLOBAL_USER_ID,
            aud: issuer === 'instance' ? [fx.audience] : fx.audience,
            iat: NOW_S,
            nbf: NOW_S - 5,
            exp: NOW_S + 3600,
            jti: '0b8c4f3e-7d2a-4c55-9e0f-5a8d1c2b3e4f',
            gitlab_realm: fx.realm,
            ...(scopes === undefined ? {} : { scopes }),
          }
          const key = issuer === 'instance' ? fx.key : gatewayKey
          const token = mintJwt({ alg: 'RS256', typ: 'JWT', kid: key.kid }, claims, key.privateKey!)
          out.push({
            name: `${endpoint} · ${label} · ${issuer}-issued · scopes ${scopes === undefined ? '(none)' : JSON.stringify(scopes)}`,
            endpoint,
            body,
            headers: {
              authorization: `Bearer ${token}`,
              'x-gitlab-authentication-type': 'oidc',
              'x-gitlab-realm': fx.realm,
              'x-gitlab-instance-id': fx.instanceId,
              'x-gitlab-global-user-id': GLOBAL_USER_ID,
              'content-type': 'application/json',
            },
          })
        }
      }
    }
  }
  return out
}

const cases = buildCases()
const verifier = createGatewayVerifier({ jwks: toJwks([fx.key]), keys: [gatewayKey], now: () => fx.now })
let emu: Emulator
let double: MswGateway
const server = setupServer()

beforeAll(async () => {
  const common = { audience: fx.audience, now: () => new Date(fx.now), gatewayKey, jwks: toJwks([fx.key]) }
  emu = await startEmulator({ ...common, key: fx.key, instance: { instanceId: fx.instanceId, realm: fx.realm } })
  double = await createMswGateway({ ...common, baseUrl: MSW_GATEWAY })
  server.use(http.all(new RegExp(`^(?:${escape(emu.url)}|${escape(emu.instanceUrl)})/`), () => passthrough()), ...double.handlers)
  server.listen({ onUnhandledRequest: 'error' })
})

afterAll(async () => {
  server.close()
  await emu.stop()
})

describe('the endpoint table drives preflight, the verifier, the msw handlers and the emulator alike', () => {
  it('walks every endpoint with a rule, with both outcomes of each check', () => {
    const endpoints = new Set(cases.map((c) => c.endpoint))
    expect([...endpoints].sort()).toEqual(
      (Object.keys(ENDPOINTS) as EndpointName[]).filter((n) => (ENDPOINTS[n] as { access?: unknown }).access !== undefined).sort(),
    )
    expect(cases.length).toBeGreaterThanOrEqual(100)
  })

  it.each(cases.map((c) => [c.name, c] as const))('%s', async (_name, c) => {
    const access = endpointAccess(c.endpoint, c.body)
    const p = preflight({ token: undefined, headers: c.headers, access, audience: fx.audience, now: () => fx.now })
    const fromPreflight = p.ok
      ? { status: 200 }
      : p.errors[0]?.code === 'GATEWAY_CRASH'
        ? { status: 500, message: 'Internal Server Error' }
        : { status: p.status, message: p.gatewayError }

    const v = await verifier.authenticate(c.headers, access === undefined ? {} : { access })
    const fromVerifier = v.status === 200 ? { status: 200 } : { status: v.status, message: v.status === 500 ? 'Internal Server Error' : v.error }

    const def = ENDPOINTS[c.endpoint]
    const answers = await Promise.all(
      [emu.url, MSW_GATEWAY].map(async (base) => {
        const res = await fetch(`${base}${def.path}`, {
          method: def.method,
          headers: c.headers,
          ...(c.body === undefined ? {} : { body: JSON.stringify(c.body) }),
        })
        const text = await res.text()
        if (res.status === 200) return { status: 200 }
        let message: unknown = text
        try {
          const json = JSON.parse(text) as { detail?: unknown; error?: unknown }
          message = json.detail ?? json.error
        } catch {
          /* Starlette's plain-text 500 */
        }
        return { status: res.status, message }
      }),
    )
    expect({ verifier: fromVerifier, emulator: answers[0], msw: answers[1] }).toEqual({ verifier: fromPreflight, emulator: fromPreflight, msw: fromPreflight })
  })
})

function escape(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')
}
