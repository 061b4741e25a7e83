/**
 * createCloudConnector: one description of the instance, the rest from the environment the CLI documents, and
 * one InvalidOptionsError naming each option and its variable when neither gives it. Over real sockets: the
 * emulator (a gateway that discovers the instance's keys) accepts what it sends.
 */
import { createPrivateKey, sign as rsaSign } from 'node:crypto'
import { fileURLToPath } from 'node:url'
import pino from 'pino'
import { Writable } from 'node:stream'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createCloudConnector, createKeyRing, InvalidOptionsError, KeyError, loadSigningKey } from '../src/index.js'
import { startEmulator, type Emulator } from '../src/emulator/index.js'
import { builtInCatalog, loadCatalogDir, resolveEntitlements } from '../src/catalog/index.js'
import { INSTANCE_ID, KEY_PEM, now } from './client-support.js'
import { thrownBy } from './reliability/config.js'

const KEY_FILE = fileURLToPath(new URL('./fixtures/instance-key.pem', import.meta.url))
const MODEL = { name: 'mistral', endpoint: 'http://model:8000/v1', identifier: 'custom_openai/mistral', provider: 'openai' }

let emulator: Emulator
beforeAll(async () => {
  emulator = await startEmulator({ key: await loadSigningKey(KEY_PEM) })
})
afterAll(() => emulator.stop())

/** The environment a service would have: every variable the factory reads. */
function serviceEnv(overrides: Record<string, string | undefined> = {}): Record<string, string | undefined> {
  return {
    GITLAB_URL: 'https://gitlab.example.com',
    GITLAB_INSTANCE_ID: INSTANCE_ID,
    CLOUD_CONNECTOR_KEY_FILE: KEY_FILE,
    AI_GATEWAY_URL: emulator.gatewayUrl,
    GITLAB_ADD_ONS: 'duo_enterprise',
    GITLAB_VERSION: '18.5.4',
    ...overrides,
  }
}

/** The InvalidOptionsError a call throws (thrownBy fails the test when it does not throw). */
function thrown(run: () => unknown): InvalidOptionsError {
  const err = thrownBy(run)
  expect(err).toBeInstanceOf(InvalidOptionsError)
  return err as InvalidOptionsError
}

describe('createCloudConnector', () => {
  it('from the environment alone: the model check reaches the emulator once, with the token and headers of that instance', async () => {
    emulator.reset()
    const cc = createCloudConnector({ env: serviceEnv() })
    const answer = await cc.client.checkModelConfiguration(MODEL)
    expect(answer.status).toBe(200)
    const sent = emulator.requests.filter((r) => r.side === 'gateway')
    expect(sent.map((r) => `${r.method} ${r.decodedPath} ${r.status}`)).toEqual(['POST /v1/prompts/model_configuration/check 200'])
    expect(sent[0]!.headers).toMatchObject({
      'x-gitlab-instance-id': INSTANCE_ID,
      'x-gitlab-realm': 'self-managed',
      'x-gitlab-host-name': 'gitlab.example.com',
      'x-gitlab-version': '18.5.4',
    })
    expect(sent[0]!.verdict).toMatchObject({ status: 200, claims: { iss: 'https://gitlab.example.com', sub: INSTANCE_ID, gitlab_realm: 'self-managed' } })
    expect(sent[0]!.verdict?.claims?.scopes).toContain('complete_code')
    expect(cc.instance).toEqual({ url: 'https://gitlab.example.com', id: INSTANCE_ID, realm: 'self-managed', hostName: 'gitlab.example.com', version: '18.5.4' })
    expect(cc.gateway).toBe(`${emulator.gatewayUrl}/`)
    expect(cc.tokenSource.policy).toBe('safe')
    expect(cc.tokenSource.decide('complete_code').source).toBe('self-issued')
  })

  it('options win over the environment, and the instance is described once for the token and the headers', async () => {
    emulator.reset()
    const other = '0b4c9e1a-7f2d-4a3b-8c6e-5d1f9a2b3c4d'
    const cc = createCloudConnector({
      instance: { url: 'https://gitlab.internal.example', id: other, realm: 'self-managed', version: '18.6.0' },
      key: KEY_PEM,
      addOns: ['duo_enterprise'],
      gateway: emulator.gatewayUrl,
      now,
      // every variable points elsewhere: none of them may be read
      env: serviceEnv({ GITLAB_URL: 'https://wrong.example', GITLAB_INSTANCE_ID: 'not-a-uuid', CLOUD_CONNECTOR_KEY_FILE: '/nonexistent', AI_GATEWAY_URL: 'http://127.0.0.1:1', GITLAB_VERSION: '1.0' }),
    })
    const { claims } = await cc.issuer.issue({ scopes: ['complete_code'] })
    expect(claims).toMatchObject({ iss: 'https://gitlab.internal.example', sub: other, gitlab_realm: 'self-managed', iat: Math.floor(now().getTime() / 1000) })
    expect(cc.instance).toMatchObject({ hostName: 'gitlab.internal.example', version: '18.6.0' })
    expect(cc.gateway).toBe(`${emulator.gatewayUrl}/`)
  })

  it('the authenticated fetch attaches the same token and headers', async () => {
    emulator.reset()
    const cc = createCloudConnector({ env: serviceEnv() })
    const res = await cc.fetch(`${emulator.gatewayUrl}/v1/prompts/model_configuration%2Fcheck`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ inputs: {}, stream: false, model_metadata: { name: 'mistral', provider: 'openai', endpoint: 'http://model:8000/v1', api_key: null, identifier: null } }),
    })
    expect(res.status).toBe(200)
    const sent = emulator.requests.filter((r) => r.side === 'gateway')
    expect(sent.map((r) => `${r.method} ${r.decodedPath} ${r.status}`)).toEqual(['POST /v1/prompts/model_configuration/check 200'])
    expect(sent[0]!.headers).toMatchObject({ 'x-gitlab-instance-id': INSTANCE_ID, 'x-gitlab-version': '18.5.4' })
  })

  it('reads GITLAB_REALM, GITLAB_LICENSE and GITLAB_ADD_ONS (comma-separated, spaces ignored)', async () => {
    const cc = createCloudConnector({ env: serviceEnv({ GITLAB_REALM: 'saas', GITLAB_LICENSE: 'online-cloud', GITLAB_ADD_ONS: ' duo_pro , duo_enterprise ,' }) })
    expect(cc.instance.realm).toBe('saas')
    const { claims } = await cc.issuer.issue()
    expect(claims.gitlab_realm).toBe('saas')
    // online license without a synced token: safe self-issues, saying why
    expect(cc.tokenSource.decide('complete_code')).toMatchObject({ source: 'self-issued' })
    expect(claims.scopes).toContain('duo_chat')
  })

  it('a catalog given reaches the issuer: the token claims what that catalog entitles', async () => {
    const catalog = await loadCatalogDir(fileURLToPath(new URL('./fixtures/catalog/config', import.meta.url)))
    const cc = createCloudConnector({ catalog, env: serviceEnv(), now })
    const expected = resolveEntitlements(catalog, { addOns: ['duo_enterprise'], now: now() })
    expect(expected.scopes).not.toEqual(resolveEntitlements(builtInCatalog, { addOns: ['duo_enterprise'], now: now() }).scopes)
    expect((await cc.issuer.issue()).claims.scopes).toEqual(expected.scopes)
  })

  it('nothing given anywhere: one InvalidOptionsError naming each option and its variable, nothing read or sent', () => {
    const err = thrown(() => createCloudConnector({ env: {} }))
    expect(err.code).toBe('ERR_INVALID_OPTIONS')
    expect(err.issues).toEqual([
      { path: 'options.instance.url', variable: 'GITLAB_URL', message: 'is missing: pass it, or set GITLAB_URL (the instance URL, e.g. "https://gitlab.example.com")' },
      { path: 'options.instance.id', variable: 'GITLAB_INSTANCE_ID', message: 'is missing: pass it, or set GITLAB_INSTANCE_ID (the instance UUID (Gitlab::CurrentSettings.uuid))' },
      { path: 'options.gateway', variable: 'AI_GATEWAY_URL', message: 'is missing: pass it, or set AI_GATEWAY_URL (the AI Gateway base URL, e.g. "http://127.0.0.1:5052")' },
      {
        path: 'options.key',
        variable: 'CLOUD_CONNECTOR_KEY_FILE',
        message: "is missing: pass options.key (the instance's private key: PEM, JWK, KeyObject or a key ring) or options.keyFile, or set CLOUD_CONNECTOR_KEY_FILE to the PEM file's path",
      },
    ])
    expect(err.message).toBe(
      [
        'createCloudConnector: 4 invalid options:',
        '  - options.instance.url is missing: pass it, or set GITLAB_URL (the instance URL, e.g. "https://gitlab.example.com")',
        '  - options.instance.id is missing: pass it, or set GITLAB_INSTANCE_ID (the instance UUID (Gitlab::CurrentSettings.uuid))',
        '  - options.gateway is missing: pass it, or set AI_GATEWAY_URL (the AI Gateway base URL, e.g. "http://127.0.0.1:5052")',
        "  - options.key is missing: pass options.key (the instance's private key: PEM, JWK, KeyObject or a key ring) or options.keyFile, or set CLOUD_CONNECTOR_KEY_FILE to the PEM file's path",
      ].join('\n'),
    )
  })

  it('one missing: the message is one line naming the option and the variable', () => {
    const err = thrown(() => createCloudConnector({ env: serviceEnv({ AI_GATEWAY_URL: '' }) }))
    expect(err.message).toBe('createCloudConnector: options.gateway is missing: pass it, or set AI_GATEWAY_URL (the AI Gateway base URL, e.g. "http://127.0.0.1:5052")')
  })

  it('a bad variable is named with the option it stands for, judged by the rule of the factory it goes to; its value is not echoed', () => {
    const err = thrown(() =>
      createCloudConnector({ env: serviceEnv({ GITLAB_INSTANCE_ID: 'sk-secret-not-a-uuid', GITLAB_REALM: 'dedicated', GITLAB_LICENSE: 'gold', AI_GATEWAY_URL: 'ftp://gw' }) }),
    )
    expect(err.issues.map((i) => [i.variable, i.path])).toEqual([
      ['GITLAB_INSTANCE_ID', 'options.instance.id'],
      ['GITLAB_REALM', 'options.instance.realm'],
      ['GITLAB_LICENSE', 'options.license'],
      ['AI_GATEWAY_URL', 'options.gateway'],
    ])
    expect(err.message).toContain(
      '  - GITLAB_INSTANCE_ID (for options.instance.id) must be the instance UUID (8-4-4-4-12 hex digits, Gitlab::CurrentSettings.uuid) or GitLab\'s literal "uuid-not-set"',
    )
    expect(err.message).toContain('  - GITLAB_REALM (for options.instance.realm) must be "self-managed" (self-managed and Dedicated) or "saas" (GitLab.com)')
    expect(err.message).toContain('  - AI_GATEWAY_URL (for options.gateway) must be http: or https:, got ftp:')
    expect(err.message).not.toContain('sk-secret')
  })

  it('an unreadable key file is named by its option or its variable', () => {
    expect(thrown(() => createCloudConnector({ env: serviceEnv({ CLOUD_CONNECTOR_KEY_FILE: '/nonexistent/key.pem' }) })).message).toBe(
      "createCloudConnector: CLOUD_CONNECTOR_KEY_FILE (for options.keyFile) cannot be read (ENOENT): give the path of the instance's private key (PEM)",
    )
    expect(thrown(() => createCloudConnector({ keyFile: '/nonexistent/key.pem', env: serviceEnv() })).message).toBe(
      "createCloudConnector: options.keyFile cannot be read (ENOENT): give the path of the instance's private key (PEM)",
    )
  })

  it('key and keyFile together, an unknown option, a bad option: refused up front', () => {
    expect(thrown(() => createCloudConnector({ key: KEY_PEM, keyFile: KEY_FILE, env: serviceEnv() })).message).toBe(
      'createCloudConnector: options.keyFile is given with options.key: pass one of them',
    )
    expect(thrown(() => createCloudConnector({ gatewayUrl: 'http://x' } as never)).message).toBe('createCloudConnector: options.gatewayUrl is not an option: did you mean "gateway"?')
    expect(thrown(() => createCloudConnector({ instance: { url: 'gitlab.example.com' }, env: serviceEnv() })).message).toBe(
      'createCloudConnector: options.instance.url must be an absolute http(s) URL without query or fragment, e.g. "https://gitlab.example.com"',
    )
  })

  it('a key that is not a private key is a KeyError (nothing of it in the message)', () => {
    expect(() => createCloudConnector({ key: 'not a pem', env: serviceEnv() })).toThrow(KeyError)
  })

  it('a key ring, a loaded key, a JWK and a signer with the public half all sign tokens the emulator accepts', async () => {
    const loaded = await loadSigningKey(KEY_PEM)
    const privateKey = createPrivateKey(KEY_PEM)
    const signer = async (input: Uint8Array) => new Uint8Array(rsaSign('RSA-SHA256', input, privateKey))
    const keys = [
      { key: createKeyRing({ keys: [{ key: loaded, createdAt: new Date(0) }] }) },
      { key: loaded },
      { key: privateKey.export({ format: 'jwk' }) },
      { key: loaded.publicJwk, signer },
    ]
    for (const k of keys) {
      emulator.reset()
      const cc = createCloudConnector({ ...k, env: serviceEnv({ CLOUD_CONNECTOR_KEY_FILE: undefined }) })
      expect((await cc.client.checkModelConfiguration(MODEL)).status).toBe(200)
      expect(emulator.countRequests({ side: 'gateway', status: 200 })).toBe(1)
    }
  })

  it('logs through a real pino logger with every field, never the token', async () => {
    const lines: Record<string, unknown>[] = []
    const sink = new Writable({
      write(chunk: Buffer, _enc, done) {
        for (const line of chunk.toString().split('\n').filter(Boolean)) lines.push(JSON.parse(line) as Record<string, unknown>)
        done()
      },
    })
    const cc = createCloudConnector({ env: serviceEnv(), logger: pino({ level: 'debug' }, sink) })
    await cc.client.checkModelConfiguration(MODEL)
    const token = (await cc.issuer.getToken({ unitPrimitive: 'complete_code' })).token!
    const events = lines.map((l) => l['event'])
    expect(events).toEqual(expect.arrayContaining(['cloud_connector.token_source', 'gateway.response']))
    expect(lines.find((l) => l['event'] === 'gateway.response')).toMatchObject({ status: 200, endpoint: 'checkModelConfiguration' })
    expect(JSON.stringify(lines)).not.toContain(token.split('.')[2]!)
  })
})
