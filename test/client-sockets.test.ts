/**
 * The gateway client against real loopback sockets, on the paths Node's own fetch (undici) takes: the
 * emulator, and plain node:http servers that misbehave on purpose (a 421, a stalled body, a huge body).
 */
import { setFlagsFromString } from 'node:v8'
import { runInNewContext } from 'node:vm'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import {
  AbortedError,
  createGatewayClient,
  GatewayHttpError,
  GatewayResponseTooLargeError,
  GatewayTimeoutError,
  ModelUnreachableError,
  NetworkError,
  type GatewayClientOptions,
} from '../src/index.js'
import { DEFAULT_MAX_RESPONSE_BYTES } from '../src/client/options.js'
import { startEmulator, type Emulator } from '../src/emulator/index.js'
import { fixedSource, INSTANCE, claims, signJwt } from './client-support.js'
import { json, startServer, type TestServer } from './reliability/servers.js'
import { rejection } from './reliability/config.js'

const MODEL = { name: 'failing', endpoint: 'http://model:8000/v1' }

// a full garbage collection on demand (what a busy process does on its own, at some point)
setFlagsFromString('--expose-gc')
const gc = runInNewContext('gc') as () => void

const nowS = () => Math.floor(Date.now() / 1000)
/** A client of a plain test server, with a token valid now (signed with the fixture key), no retries. */
function clientOf(server: TestServer, extra: Partial<GatewayClientOptions> = {}) {
  // scopes as a Duo Pro instance's: chat (/v2/chat/agent) is authorised against duo_classic_chat
  const token = signJwt(claims({ iat: nowS(), nbf: nowS() - 5, exp: nowS() + 3600, scopes: ['complete_code', 'generate_code', 'duo_classic_chat'] }))
  return createGatewayClient({ baseUrl: server.url, tokenSource: fixedSource(token), headers: { instance: INSTANCE }, retry: false, ...extra })
}

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
    const err = await rejection(client().checkModelConfiguration(MODEL))
    expect(err).toBeInstanceOf(ModelUnreachableError)
    expect(err).toMatchObject({ code: 'ERR_MODEL_UNREACHABLE', status: 421, modelStatus: 503, modelReason: 'Service Unavailable', attempts: 1 })
    // fetch may retry a 421 on a new connection; the gateway's 421 means "the model failed", so the
    // client sends a body fetch cannot replay and the model is asked once, as GitLab asks it
    expect(emulator.countRequests({ side: 'gateway', path: /model_configuration/ }) - before).toBe(1)
  })

  it("is ModelUnreachableError with redirect: 'follow' too, and the model is asked once there as well", async () => {
    const before = emulator.countRequests({ side: 'gateway', path: /model_configuration/ })
    const err = await rejection(client({ redirect: 'follow' }).checkModelConfiguration(MODEL))
    expect(err).toBeInstanceOf(ModelUnreachableError)
    expect(err).toMatchObject({ status: 421, modelStatus: 503 })
    expect(emulator.countRequests({ side: 'gateway', path: /model_configuration/ }) - before).toBe(1)
  })
})

describe('chat streams NDJSON event lines (the README sample)', () => {
  it('parses into final_answer_delta events whose text is the answer', async () => {
    const emulator = await startEmulator({ modelReply: 'GitLab is a DevSecOps platform.' })
    try {
      const client = createGatewayClient({ baseUrl: emulator.gatewayUrl, tokenSource: emulator.instance.issuer, headers: { instance: { id: emulator.instance.instanceId, realm: 'self-managed' } } })
      let line = ''
      let text = ''
      const events: string[] = []
      for await (const chunk of await client.chat({ messages: [{ role: 'user', content: 'What is GitLab?' }] })) {
        const lines = (line + chunk).split('\n')
        line = lines.pop() ?? ''
        for (const l of lines) {
          const event = JSON.parse(l) as { type: string; data?: { text?: string } }
          events.push(event.type)
          if (event.type === 'final_answer_delta') text += event.data?.text ?? ''
        }
      }
      expect(line).toBe('')
      expect(events).toEqual(['final_answer_delta'])
      expect(text).toBe('GitLab is a DevSecOps platform.')
    } finally {
      await emulator.stop()
    }
  })
})

describe('a plain node:http gateway', () => {
  let server: TestServer
  beforeAll(async () => {
    server = await startServer()
  })
  afterEach(() => server.handle((_req, res) => json(res, 404, { detail: 'Not Found' })))
  afterAll(() => server.close())

  const client = (extra: Partial<GatewayClientOptions> = {}) => clientOf(server, extra)

  it('a TLS failure (https:// to a plain HTTP port) is a NetworkError with a one-line message', async () => {
    const err = await rejection(createGatewayClient({ baseUrl: server.url.replace('http:', 'https:'), tokenSource: fixedSource('x.y.z'), headers: { instance: INSTANCE }, retry: false }).health())
    expect(err).toBeInstanceOf(NetworkError)
    // OpenSSL's message ends with a line break; a message is one line
    expect((err as Error).message).toMatch(/^health: could not reach the AI Gateway for GET \/monitoring\/healthz \(request id [0-9a-f-]{36}\): .*wrong version number.*\. Check the base URL/)
    expect((err as Error).message).not.toMatch(/[\r\n]/)
  })

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

describe('the timeout bounds the whole exchange; an AbortSignal always aborts', () => {
  let server: TestServer
  beforeAll(async () => {
    server = await startServer()
  })
  afterAll(() => server.close())

  const client = (extra: Partial<GatewayClientOptions> = {}) => clientOf(server, extra)
  const chat = { messages: [{ role: 'user' as const, content: 'hi' }] }

  it('headers, then a stalled body: GatewayTimeoutError after the timeout, not a hang', async () => {
    server.handle((req, res) => {
      req.resume()
      res.writeHead(200, { 'content-type': 'application/json' })
      res.write('"Hel') // and never more
    })
    const started = performance.now()
    const err = await rejection(client({ timeout: 1000 }).checkModelConfiguration(MODEL))
    const took = performance.now() - started
    expect(err).toBeInstanceOf(GatewayTimeoutError)
    expect(err).toMatchObject({ code: 'ERR_GATEWAY_TIMEOUT', timeoutMs: 1000, status: 200 })
    expect((err as Error).message).toContain('was not complete within 1000 ms (the timeout bounds headers and body)')
    expect(took).toBeGreaterThanOrEqual(900)
    expect(took).toBeLessThan(8000)
  })

  it('an error answer whose body stalls: the typed error, when the timeout ends', async () => {
    server.handle((req, res) => {
      req.resume()
      res.writeHead(421, { 'content-type': 'application/json' })
      res.write('{"detail":"503: Serv') // and never more
    })
    const started = performance.now()
    const err = await rejection(client({ timeout: 1000 }).checkModelConfiguration(MODEL))
    expect(err).toBeInstanceOf(ModelUnreachableError)
    expect(performance.now() - started).toBeLessThan(8000)
  })

  it('a stream: each gap between chunks is bounded, not the whole stream', async () => {
    server.handle(async (req, res) => {
      req.resume()
      res.writeHead(200, { 'content-type': 'application/x-ndjson' })
      // five chunks 300 ms apart (1.2 s in all, more than the 1 s timeout), then a stall
      for (let i = 0; i < 5; i++) {
        res.write(`{"n":${i}}\n`)
        await new Promise((r) => setTimeout(r, 300))
      }
    })
    const stream = await client({ timeout: 1000 }).chat(chat)
    const got: string[] = []
    let err: unknown
    try {
      for await (const chunk of stream) got.push(chunk)
    } catch (e) {
      err = e
    }
    expect(got.join('')).toBe('{"n":0}\n{"n":1}\n{"n":2}\n{"n":3}\n{"n":4}\n')
    expect(err).toBeInstanceOf(GatewayTimeoutError)
    expect((err as Error).message).toContain('sent nothing for 1000 ms')
  })

  it('an AbortSignal aborts a stalled body, also after an earlier stall and a garbage collection', async () => {
    server.handle((req, res) => {
      req.resume()
      res.writeHead(200, { 'content-type': 'application/json' })
      res.write('"Hel')
    })
    // an earlier stall in the same process, ended by an abort
    const first = new AbortController()
    const earlier = rejection(client({ timeout: false }).checkModelConfiguration(MODEL, { signal: first.signal }))
    setTimeout(() => first.abort(), 200)
    expect(await earlier).toBeInstanceOf(AbortedError)
    const controller = new AbortController()
    const pending = rejection(client({ timeout: false }).checkModelConfiguration(MODEL, { signal: controller.signal }))
    await new Promise((r) => setTimeout(r, 200))
    // fetch's link to the caller's signal is an AbortSignal.any() that Node keeps only weakly
    gc()
    await new Promise((r) => setTimeout(r, 100))
    const abortedAt = performance.now()
    controller.abort()
    const err = await Promise.race([pending, new Promise((r) => setTimeout(() => r('still waiting 5 s after the abort'), 5000))])
    expect(err).toBeInstanceOf(AbortedError)
    expect(performance.now() - abortedAt).toBeLessThan(2000)
  })

  it('an AbortSignal aborts a stream between chunks', async () => {
    server.handle((req, res) => {
      req.resume()
      res.writeHead(200, { 'content-type': 'application/x-ndjson' })
      res.write('{"n":0}\n')
    })
    const controller = new AbortController()
    const stream = await client({ timeout: false }).chat(chat, { signal: controller.signal })
    const it = stream[Symbol.asyncIterator]()
    expect(await it.next()).toEqual({ done: false, value: '{"n":0}\n' })
    gc()
    setTimeout(() => controller.abort(), 100)
    expect(await rejection(it.next())).toBeInstanceOf(AbortedError)
  })
})

describe('every read is capped while streaming', () => {
  let server: TestServer
  let written = 0
  let closed: Promise<void>
  beforeAll(async () => {
    server = await startServer()
  })
  afterAll(() => server.close())

  const client = (extra: Partial<GatewayClientOptions> = {}) => clientOf(server, { timeout: 20_000, ...extra })

  /** A body that never ends: 64 KiB chunks as fast as the client reads them, until it closes the connection. */
  function endless(status: number, prefix: string) {
    written = 0
    let done: () => void
    closed = new Promise((r) => (done = r))
    server.handle((req, res) => {
      req.resume()
      res.writeHead(status, { 'content-type': 'application/json' })
      const chunk = Buffer.alloc(64 * 1024, 'a')
      res.write(prefix)
      const pump = () => {
        while (!res.destroyed && res.write(chunk)) written += chunk.length
      }
      res.on('drain', pump)
      res.on('close', () => done())
      pump()
    })
  }

  it('an error body: read up to 64 KiB, then the connection is closed (the rest is never read)', async () => {
    endless(500, '{"detail":"')
    const started = performance.now()
    const err = await rejection(client().checkModelConfiguration(MODEL))
    expect(err).toBeInstanceOf(GatewayHttpError)
    expect(err).toMatchObject({ status: 500 })
    await closed
    // kernel and stream buffers hold a few MiB at most; without the cap the client would read forever
    expect(written).toBeLessThan(16 * 1024 * 1024)
    expect(performance.now() - started).toBeLessThan(10_000)
  })

  it('a success body over maxResponseBytes: GatewayResponseTooLargeError, connection closed', async () => {
    endless(200, '"')
    const err = await rejection(client({ maxResponseBytes: 1024 * 1024 }).checkModelConfiguration(MODEL))
    expect(err).toBeInstanceOf(GatewayResponseTooLargeError)
    expect(err).toMatchObject({ code: 'ERR_GATEWAY_RESPONSE_TOO_LARGE', limitBytes: 1024 * 1024, status: 200 })
    await closed
    expect(written).toBeLessThan(16 * 1024 * 1024)
  })

  it('a declared Content-Length over the cap is refused before reading', async () => {
    let sent = 0
    server.handle((req, res) => {
      req.resume()
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': String(512 * 1024 * 1024) })
      res.write('"')
      sent = 1
    })
    const err = await rejection(client({ maxResponseBytes: 1024 }).checkModelConfiguration(MODEL))
    expect(err).toBeInstanceOf(GatewayResponseTooLargeError)
    expect(sent).toBe(1)
  })

  it('a stream over maxResponseBytes fails while iterating', async () => {
    endless(200, '')
    const stream = await client({ maxResponseBytes: 256 * 1024 }).chat({ messages: [{ role: 'user', content: 'hi' }] })
    let read = 0
    let err: unknown
    try {
      for await (const chunk of stream) read += chunk.length
    } catch (e) {
      err = e
    }
    expect(err).toBeInstanceOf(GatewayResponseTooLargeError)
    expect(read).toBeLessThanOrEqual(256 * 1024)
    await closed
  })

  it('the default cap is 16 MiB and maxResponseBytes is validated', () => {
    expect(DEFAULT_MAX_RESPONSE_BYTES).toBe(16 * 1024 * 1024)
    expect(() => client({ maxResponseBytes: 0 })).toThrow(/maxResponseBytes/)
  })
})
