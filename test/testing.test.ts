/**
 * The testing toolkit: a test instance, the token-shape assertions (and what their failures show),
 * and the msw handlers built on the emulator's core.
 */
import { readFileSync } from 'node:fs'
import { inspect } from 'node:util'
import { setupServer } from 'msw/node'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { loadSigningKeySync } from '../src/keys/index.js'
import {
  TokenShapeError,
  checkTokenShape,
  createTestInstance,
  expectTokenShape,
  type TestInstance,
} from '../src/testing/index.js'
import { DEFAULT_MODEL_REPLY } from '../src/emulator/index.js'
import { createMswGateway, gatewayHandlers, instanceHandlers, type MswGateway } from '../src/testing/msw.js'

const PEM = readFileSync(new URL('./fixtures/instance-key.pem', import.meta.url), 'utf8')
const KEY = loadSigningKeySync(PEM)
const GATEWAY_KEY = loadSigningKeySync(readFileSync(new URL('./fixtures/second-key.pem', import.meta.url), 'utf8'))
const INSTANCE_ID = '3f2a9d4e-1b7c-4e8f-9a6d-2c5b8e1f0a34'
const NOW = new Date('2026-03-01T12:00:00.000Z')
const NOW_S = NOW.getTime() / 1000
const JTI = 'b7f3c1a2-0d4e-4f5a-9b8c-7d6e5f4a3b2c'
const CHECK_BODY = { inputs: {}, stream: false, model_metadata: { name: 'mistral', provider: 'openai', endpoint: 'http://model.test/v1', api_key: null, identifier: null } }

let instance: TestInstance

beforeAll(async () => {
  instance = await createTestInstance({ key: PEM, instanceId: INSTANCE_ID, now: () => new Date(NOW), jti: () => JTI })
})

describe('createTestInstance', () => {
  it('mints exactly what the instance would, and builds the headers that agree with it', async () => {
    expect(instance.issuerUrl).toBe('https://gitlab.example.com')
    expect(instance.hostName).toBe('gitlab.example.com')
    expect(instance.realm).toBe('self-managed')
    expect(instance.kid).toBe(KEY.kid)
    expect(instance.jwks).toEqual({ keys: [KEY.publicJwk] })
    const issued = await instance.issuer.issue({ scopes: ['complete_code'] })
    expect(issued.header).toEqual({ alg: 'RS256', typ: 'JWT', kid: KEY.kid })
    expect(issued.claims).toEqual({
      iss: 'https://gitlab.example.com',
      sub: INSTANCE_ID,
      aud: ['gitlab-ai-gateway'],
      iat: NOW_S,
      nbf: NOW_S - 5,
      exp: NOW_S + 3600,
      jti: JTI,
      gitlab_realm: 'self-managed',
      scopes: ['complete_code'],
      // always added (flyisland/gitlab-ee ee/lib/gitlab/ai_gateway.rb @ 52d0d30b)
      skip_usage_cutoff: false,
    })
    // RS256 is deterministic: the same claims give the same token
    expect(await instance.token({ scopes: ['complete_code'] })).toBe(issued.token)

    expect(instance.headers(issued.token)).toEqual({
      authorization: `Bearer ${issued.token}`,
      'x-gitlab-authentication-type': 'oidc',
      'content-type': 'application/json',
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
    expect(instance.headers()).not.toHaveProperty('authorization')
    expect(instance.headers({ token: '' })['authorization']).toBe('Bearer ')
    expect(await instance.authHeaders({ scopes: ['complete_code'] })).toEqual(instance.headers(issued.token))
  })

  it('entitles every add-on by default, so any unit primitive can be asked for', async () => {
    const all = instance.issuer.entitlements().scopes
    expect(all).toEqual(expect.arrayContaining(['complete_code', 'duo_chat', 'generate_code', 'documentation_search']))
    const restricted = await createTestInstance({ key: KEY, addOns: [], now: () => new Date(NOW) })
    expect(restricted.issuer.entitlements().scopes.length).toBeLessThan(all.length)
  })

  it('generates a key and a UUID when none is given', async () => {
    const fresh = await createTestInstance({ realm: 'saas', issuerUrl: 'https://gitlab.com' })
    expect(fresh.kid).toMatch(/^[A-Za-z0-9_-]{43}$/)
    expect(fresh.kid).not.toBe(KEY.kid)
    expect(fresh.instanceId).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/)
    expect(fresh.key.modulusLength).toBe(2048)
    expect(fresh.headers()['x-gitlab-realm']).toBe('saas')
    expect(fresh.headers()['x-gitlab-deployment-type']).toBe('.com')
    await expect(createTestInstance({ key: KEY, issuerUrl: 'not a url' })).rejects.toMatchObject({ code: 'ERR_INVALID_OPTIONS' })
  })
})

describe('expectTokenShape / checkTokenShape', () => {
  it('passes a token as GitLab mints it and returns its decoded parts', async () => {
    const token = await instance.token({ scopes: ['complete_code', 'duo_chat'] })
    const { header, claims } = expectTokenShape(token, {
      scopes: ['duo_chat', 'complete_code'],
      audience: ['gitlab-ai-gateway'],
      realm: 'self-managed',
      instanceId: INSTANCE_ID,
      issuer: 'https://gitlab.example.com',
      kid: KEY.kid,
      lifetimeSeconds: 3600,
      validAt: NOW,
      claims: { jti: JTI },
      headers: instance.headers(token),
    })
    expect(header).toEqual({ alg: 'RS256', typ: 'JWT', kid: KEY.kid })
    expect(claims['sub']).toBe(INSTANCE_ID)
    expect(checkTokenShape(token, { scopes: { includes: ['complete_code'], excludes: ['generate_code'] }, audience: 'gitlab-ai-gateway' })).toMatchObject({
      ok: true,
      failures: [],
    })
  })

  it('lists every unmet expectation', async () => {
    const token = await instance.token({ scopes: ['duo_chat'] })
    const result = checkTokenShape(token, {
      scopes: ['complete_code'],
      audience: ['gitlab-duo-workflow-service'],
      realm: 'saas',
      lifetimeSeconds: 600,
      validAt: new Date(NOW.getTime() + 3600_000),
      headers: { ...instance.headers(token), 'x-gitlab-instance-id': 'uuid-not-set', 'x-gitlab-realm': 'saas' },
    })
    expect(result.ok).toBe(false)
    expect(result.failures).toEqual([
      'scopes: expected exactly ["complete_code"], got ["duo_chat"] (missing ["complete_code"], unexpected ["duo_chat"])',
      'aud: expected exactly ["gitlab-duo-workflow-service"], got ["gitlab-ai-gateway"]',
      'gitlab_realm: expected "saas", got "self-managed"',
      'lifetime (exp − iat): expected 600 s, got 3600 s',
      `exp: expired at 2026-03-01T13:00:00.000Z (${NOW_S + 3600}), checked at 2026-03-01T13:00:00.000Z (${NOW_S + 3600})`,
      `header X-Gitlab-Instance-Id "uuid-not-set" ≠ sub "${INSTANCE_ID}"`,
      'header X-Gitlab-Realm "saas" ≠ gitlab_realm "self-managed"',
    ])
  })

  it('checks the self-issued shape of domain.md §3 unless told not to', () => {
    const b64 = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url')
    const odd = `${b64({ alg: 'HS256' })}.${b64({ iss: 'x', sub: 'y', aud: 'gitlab-ai-gateway', iat: 1.5, scopes: 'complete_code' })}.c2ln`
    expect(checkTokenShape(odd).failures).toEqual([
      'header alg: expected "RS256", got "HS256"',
      'header typ: expected "JWT", got nothing',
      "header kid: expected the key's thumbprint, got nothing",
      'aud: GitLab sends a non-empty array of strings, got "gitlab-ai-gateway"',
      'iat: expected an integer (seconds), got 1.5',
      'nbf: expected an integer (seconds), got nothing',
      'exp: expected an integer (seconds), got nothing',
      'jti: expected a UUID v4, got nothing',
      'gitlab_realm: expected "saas" or "self-managed", got nothing',
      'scopes: expected an array of unit-primitive names, got "complete_code"',
    ])
    expect(checkTokenShape(odd, { profile: 'jwt', audience: 'gitlab-ai-gateway' })).toMatchObject({ ok: true })
  })

  it('says when the Authorization header carries another token, without showing either', async () => {
    const token = await instance.token({ scopes: ['complete_code'] })
    const other = await instance.token({ scopes: ['duo_chat'] })
    const err = captureError(() => expectTokenShape(token, { headers: instance.headers(other) }))
    expect(err.failures).toHaveLength(1)
    expect(err.failures[0]).toMatch(/^header Authorization carries another token \(eyJ.*<redacted \d+ chars, sha256:[\w-]{10}>\) than the one checked \(eyJ.*\)$/)
    for (const t of [token, other]) expectNoSecret(err, t)
  })

  it('fails with the decoded header and claims in the message, never the token or its signature', async () => {
    const token = await instance.token({ scopes: ['duo_chat'] })
    const err = captureError(() => expectTokenShape(token, { scopes: ['complete_code'] }))
    expect(err).toBeInstanceOf(TokenShapeError)
    expect(err.code).toBe('ERR_TOKEN_SHAPE')
    expect(err.message).toBe(
      [
        'The token does not have the expected shape (1 problem):',
        '  - scopes: expected exactly ["complete_code"], got ["duo_chat"] (missing ["complete_code"], unexpected ["duo_chat"])',
        `Decoded header: ${JSON.stringify(err.header)}`,
        `Decoded claims: ${JSON.stringify(err.claims, null, 2)}`,
        '(The token and its signature are not shown.)',
      ].join('\n'),
    )
    expect(err.header).toEqual({ alg: 'RS256', typ: 'JWT', kid: KEY.kid })
    expect(err.message).toContain(`"sub": "${INSTANCE_ID}"`)
    expect(err.message).toContain(`"jti": "${JTI}"`)
    expectNoSecret(err, token)
  })

  it('reports a value that is not a JWT', () => {
    const err = captureError(() => expectTokenShape('', { scopes: ['complete_code'] }))
    expect(err.failures).toHaveLength(1)
    expect(err.failures[0]).toMatch(/^not a decodable JWT \(empty/)
    expect(err.claims).toBeUndefined()
    const opaque = 'glpat-abcdefghijklmnopqrst'
    const err2 = captureError(() => expectTokenShape(opaque))
    expect(err2.failures[0]).toMatch(/^not a decodable JWT \(opaque/)
    expect(`${err2.message}${inspect(err2)}${JSON.stringify(err2)}`).not.toContain(opaque)
  })
})

describe('msw handlers', () => {
  const server = setupServer()
  let gateway: MswGateway

  beforeAll(async () => {
    gateway = await createMswGateway({ baseUrl: 'https://aigw.test', instance, gatewayKey: GATEWAY_KEY, now: () => new Date(NOW) })
    server.listen({ onUnhandledRequest: 'error' })
  })
  afterEach(() => {
    server.resetHandlers()
    gateway.reset()
  })
  afterAll(() => server.close())

  it('answers like the emulator, discovering the instance keys through msw', async () => {
    server.use(...gateway.handlers)
    const headers = await instance.authHeaders({ scopes: ['complete_code'] })
    const ok = await fetch('https://aigw.test/v1/prompts/model_configuration%2Fcheck', { method: 'POST', headers, body: JSON.stringify(CHECK_BODY) })
    expect(ok.status).toBe(200)
    expect(await ok.json()).toBe(DEFAULT_MODEL_REPLY)
    expect(gateway.requests.map((r) => [r.side, r.route ?? null, r.status])).toEqual([
      ['instance', 'openid-configuration', 200],
      ['instance', 'jwks', 200],
      ['gateway', 'prompts', 200],
    ])
    expect(gateway.requests[0]?.path).toBe('/.well-known/openid-configuration')

    const denied = await fetch('https://aigw.test/v1/prompts/model_configuration/check', {
      method: 'POST',
      headers: await instance.authHeaders({ scopes: ['duo_chat'] }),
      body: JSON.stringify(CHECK_BODY),
    })
    expect(denied.status).toBe(403)
    expect(await denied.json()).toEqual({ detail: "Unauthorized to access 'model_configuration/check'" })

    const noToken = await fetch('https://aigw.test/v1/prompts/model_configuration%2Fcheck', { method: 'POST', body: '{}' })
    expect(noToken.status).toBe(401)
    expect(await noToken.json()).toEqual({ error: 'No authorization header presented' })
    expect((await fetch('https://aigw.test/monitoring/healthz')).status).toBe(200)
    expect(gateway.countRequests({ side: 'gateway' })).toBe(4)
  })

  it('knobs work the same: failing models, bypass', async () => {
    server.use(...gateway.handlers)
    gateway.configure({ failingModels: { mistral: { status: 502 } } })
    const headers = await instance.authHeaders({ scopes: ['complete_code'] })
    const failed = await fetch('https://aigw.test/v1/prompts/model_configuration%2Fcheck', { method: 'POST', headers, body: JSON.stringify(CHECK_BODY) })
    expect(failed.status).toBe(421)
    expect(await failed.json()).toEqual({ detail: '502: Bad Gateway' })
    gateway.configure({ bypassAuth: true, failingModels: {} })
    const open = await fetch('https://aigw.test/v1/prompts/model_configuration%2Fcheck', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(CHECK_BODY),
    })
    expect(open.status).toBe(200)
  })

  it('mounts under a base path, and leaves other paths of the origin unhandled', async () => {
    server.use(...(await gatewayHandlers({ baseUrl: 'https://cloud.gitlab.com/ai', instance, gatewayKey: GATEWAY_KEY, now: () => new Date(NOW) })))
    const headers = await instance.authHeaders({ scopes: ['complete_code'] })
    const ok = await fetch('https://cloud.gitlab.com/ai/v1/prompts/model_configuration%2Fcheck', { method: 'POST', headers, body: JSON.stringify(CHECK_BODY) })
    expect(ok.status).toBe(200)
    await expect(fetch('https://cloud.gitlab.com/other', { headers })).rejects.toThrow()
  })

  it('instanceHandlers serve discovery alone, for a gateway configured with issuer URLs', async () => {
    const standalone = await createMswGateway({ baseUrl: 'https://gw.test', issuerUrls: ['https://gitlab.example.com'], gatewayKey: false, now: () => new Date(NOW) })
    server.use(...(await instanceHandlers({ url: 'https://gitlab.example.com', keys: [KEY] })), ...standalone.handlers)
    const jwks = await fetch('https://gitlab.example.com/oauth/discovery/keys')
    expect(jwks.headers.get('cache-control')).toBe('max-age=86400, public')
    expect(await jwks.json()).toEqual({ keys: [KEY.publicJwk] })
    const headers = await instance.authHeaders({ scopes: ['complete_code'] })
    const ok = await fetch('https://gw.test/v1/prompts/model_configuration%2Fcheck', { method: 'POST', headers, body: JSON.stringify(CHECK_BODY) })
    expect(ok.status).toBe(200)
  })

  it('reproduces the gateway’s discovery quirk for an instance under a relative URL root', async () => {
    const subPath = await createTestInstance({ key: KEY, instanceId: INSTANCE_ID, issuerUrl: 'https://host.test/gitlab', now: () => new Date(NOW) })
    const double = await createMswGateway({ baseUrl: 'https://gw.test', instance: subPath, gatewayKey: false, now: () => new Date(NOW) })
    server.use(...double.handlers)
    const conf = await fetch('https://host.test/gitlab/.well-known/openid-configuration')
    expect(((await conf.json()) as { jwks_uri: string }).jwks_uri).toBe('https://host.test/gitlab/oauth/discovery/keys')
    expect((await fetch('https://host.test/gitlab/oauth/discovery/keys')).status).toBe(200)
    // the gateway asks https://host.test/.well-known/openid-configuration, which is not there: no key at all
    const headers = await subPath.authHeaders({ scopes: ['complete_code'] })
    const r = await fetch('https://gw.test/v1/prompts/model_configuration%2Fcheck', { method: 'POST', headers, body: JSON.stringify(CHECK_BODY) })
    expect(r.status).toBe(500)
    expect(double.requests.filter((q) => q.side === 'instance').map((q) => [q.path, q.status])).toEqual([
      ['/gitlab/.well-known/openid-configuration', 200],
      ['/gitlab/oauth/discovery/keys', 200],
      ['/.well-known/openid-configuration', 404],
    ])
    expect(double.requests.at(-1)?.verdict?.error).toBe('No keys founds in JWKS; are OIDC providers up?')
  })

  it('rejects a base URL that is not an http(s) URL', async () => {
    await expect(createMswGateway({ baseUrl: 'aigw.test' })).rejects.toMatchObject({ code: 'ERR_INVALID_OPTIONS' })
    await expect(createMswGateway({ baseUrl: 'ftp://aigw.test' })).rejects.toMatchObject({ code: 'ERR_INVALID_OPTIONS' })
  })
})

function captureError(fn: () => unknown): TokenShapeError {
  try {
    fn()
  } catch (err) {
    if (err instanceof TokenShapeError) return err
    throw err
  }
  throw new Error('expected a TokenShapeError')
}

function expectNoSecret(err: Error, token: string): void {
  const [, payload, signature] = token.split('.')
  const shown = `${err.message}\n${err.stack ?? ''}\n${inspect(err)}\n${JSON.stringify(err)}`
  expect(shown).not.toContain(token)
  expect(shown).not.toContain(signature)
  expect(shown).not.toContain(payload)
}
