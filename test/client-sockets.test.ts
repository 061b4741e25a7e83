/**
 * The gateway client against real loopback sockets, on the paths Node's own fetch (undici) takes: the
 * emulator, and plain node:http servers that misbehave on purpose (a 421, a stalled body, a huge body).
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { createGatewayClient, ModelUnreachableError, startEmulator, type Emulator, type GatewayClientOptions } from '../src/index.js'
import { fixedSource, INSTANCE, claims, signJwt } from './client-support.js'
import { json, startServer, type TestServer } from './reliability/servers.js'

const MODEL = { name: 'failing', endpoint: 'http://model:8000/v1' }

describe('a real HTTP 421 (the model server failed)', () => {
  let emulator: Emulator
  beforeAll(async () => {
    emulator = await startEmulator({ failingModels: { failing: { status: 503, reason: 'Service Unavailable' } } })
  })
  afterAll(() => emulator.stop())

  const client = (extra: Partial<GatewayClientOptions> = {}) =>
    createGatewayClient({
      baseUrl: emulator.gatewayUrl,
      tokenSource: emulator.instance.issuer,
      headers: { instance: { id: emulator.instance.instanceId, realm: 'self-managed' } },
      ...extra,
    })

  it('is ModelUnreachableError from the emulator over a socket, and the check reached the gateway once', async () => {
    const before = emulator.countRequests({ side: 'gateway', path: /model_configuration/ })
    const err = await client()
      .checkModelConfiguration(MODEL)
      .then(() => undefined, (e: unknown) => e)
    expect(err).toBeInstanceOf(ModelUnreachableError)
    expect(err).toMatchObject({ code: 'ERR_MODEL_UNREACHABLE', status: 421, modelStatus: 503, modelReason: 'Service Unavailable', attempts: 1 })
    // fetch may retry a 421 on a new connection; the gateway's 421 means "the model failed", so the
    // client sends a body fetch cannot replay and the model is asked once, as GitLab asks it
    expect(emulator.countRequests({ side: 'gateway', path: /model_configuration/ }) - before).toBe(1)
  })

  it("is ModelUnreachableError with redirect: 'follow' too (where fetch replays the body once after the 421)", async () => {
    const before = emulator.countRequests({ side: 'gateway', path: /model_configuration/ })
    const err = await client({ redirect: 'follow' })
      .checkModelConfiguration(MODEL)
      .then(() => undefined, (e: unknown) => e)
    expect(err).toBeInstanceOf(ModelUnreachableError)
    expect(err).toMatchObject({ status: 421, modelStatus: 503 })
    expect(emulator.countRequests({ side: 'gateway', path: /model_configuration/ }) - before).toBe(2)
  })
})

describe('a plain node:http gateway', () => {
  let server: TestServer
  beforeAll(async () => {
    server = await startServer()
  })
  afterEach(() => server.handle((_req, res) => json(res, 404, { detail: 'Not Found' })))
  afterAll(() => server.close())

  const token = signJwt(claims({ exp: Math.floor(Date.now() / 1000) + 3600, iat: Math.floor(Date.now() / 1000), nbf: Math.floor(Date.now() / 1000) - 5 }))
  const client = (extra: Partial<GatewayClientOptions> = {}) =>
    createGatewayClient({ baseUrl: server.url, tokenSource: fixedSource(token), headers: { instance: INSTANCE }, retry: false, ...extra })

  it('receives every attempt with its whole body and an exact Content-Length (401 refresh and 5xx retries)', async () => {
    const seen: { length: string | undefined; body: string }[] = []
    let n = 0
    server.handle(async (req, res) => {
      let body = ''
      for await (const chunk of req) body += String(chunk)
      seen.push({ length: req.headers['content-length'], body })
      n++
      if (n === 1) return json(res, 401, { error: 'Forbidden by auth provider' })
      if (n === 2) return json(res, 503, { detail: 'busy' }, { 'retry-after': '0' })
      json(res, 200, 'Hello!')
    })
    const answer = await client({ retry: 1 }).checkModelConfiguration({ name: 'mistral', endpoint: 'http://model:8000/v1', apiKey: 'k' })
    expect(answer).toMatchObject({ status: 200, data: 'Hello!', attempts: 3 })
    expect(seen).toHaveLength(3)
    const expected = JSON.stringify({ inputs: {}, stream: false, model_metadata: { name: 'mistral', provider: 'openai', endpoint: 'http://model:8000/v1', api_key: 'k', identifier: null } })
    for (const s of seen) expect(s).toEqual({ length: String(Buffer.byteLength(expected)), body: expected })
  })
})
