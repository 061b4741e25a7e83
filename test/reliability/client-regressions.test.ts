/**
 * Regressions: defects in src/client that the fuzzers of fuzz.test.ts and the secret-hygiene test
 * found (fixed in src/client by its owner), one reproduction each.
 *
 * The rule they check is the SDK's: bad input from a caller is refused with a typed error
 * (a CloudConnectorError with a code), nothing is sent, no raw TypeError escapes, and no secret a
 * gateway echoes back ends up in an error or a log line.
 */
import { inspect } from 'node:util'
import { describe, expect, it } from 'vitest'
import { CloudConnectorError, createAuthenticatedFetch, createGatewayClient, GatewayValidationError, HeaderError, type GatewayClient } from '../../src/index.js'
import { loadCaseFixture } from '../cases/fixture.js'
import { mintJwt } from '../cases/mint.js'
import { rejection } from './config.js'

const fx = loadCaseFixture()
const NOW = Math.floor(fx.now.getTime() / 1000)
const TOKEN = mintJwt(
  { alg: 'RS256', typ: 'JWT', kid: fx.key.kid },
  { iss: fx.issuer, sub: fx.instanceId, aud: ['gitlab-ai-gateway'], iat: NOW, nbf: NOW - 5, exp: NOW + 3600, gitlab_realm: 'self-managed', scopes: ['complete_code', 'duo_chat'] },
  fx.key.privateKey!,
)
const FILE = { file_name: 'a.py', content_above_cursor: 'def ', content_below_cursor: '' }

function setup(): { client: GatewayClient; sent: () => number } {
  let sent = 0
  const client = createGatewayClient({
    baseUrl: 'http://127.0.0.1:9',
    tokenSource: { getToken: async () => ({ token: TOKEN, source: 'self-issued', reason: 'test' }) },
    headers: { instance: { id: fx.instanceId, realm: 'self-managed' } },
    now: () => fx.now,
    retry: false,
    fetch: async () => {
      sent++
      return new Response('{"id":"1","model":{"engine":"e","name":"n","lang":"l"},"created":1,"choices":[]}', { status: 200, headers: { 'content-type': 'application/json' } })
    },
  })
  return { client, sent: () => sent }
}

describe('src/client: caller input that used to escape as a raw TypeError', () => {
  it('a BigInt in a body field the schema passes through is refused as GatewayValidationError, nothing sent', async () => {
    const { client, sent } = setup()
    const err = await rejection(client.codeCompletions({ current_file: FILE, extra: 10n } as never))
    // was: TypeError "Do not know how to serialize a BigInt" from JSON.stringify in Client.#bodyText
    expect(err).toBeInstanceOf(GatewayValidationError)
    expect((err as GatewayValidationError).sent).toBe(false)
    expect(sent()).toBe(0)
  })

  it('a cyclic value in a body field the schema passes through is refused as GatewayValidationError, nothing sent', async () => {
    const { client, sent } = setup()
    const cyclic: Record<string, unknown> = { a: 1 }
    cyclic.self = cyclic
    const err = await rejection(client.codeCompletions({ current_file: FILE, extra: cyclic } as never))
    // was: TypeError "Converting circular structure to JSON" from JSON.stringify in Client.#bodyText
    expect(err).toBeInstanceOf(GatewayValidationError)
    expect(sent()).toBe(0)
  })

  it('a requestId that is not a string is refused as HeaderError (x-request-id), nothing sent', async () => {
    const { client, sent } = setup()
    const err = await rejection(client.codeCompletions({ current_file: FILE }, { requestId: Object.create(null) as never }))
    // was: TypeError "Cannot convert object to primitive value" from REQUEST_ID_RE.test() in Client.#exchange
    expect(err).toBeInstanceOf(HeaderError)
    expect((err as HeaderError).header).toBe('x-request-id')
    expect(sent()).toBe(0)
  })

  it('options.context: null is treated as no context (or refused with a typed error), never a TypeError', async () => {
    const { client } = setup()
    let outcome: unknown = 'resolved'
    try {
      await client.codeCompletions({ current_file: FILE }, { context: null as never })
    } catch (e) {
      outcome = e
    }
    // was: TypeError "Cannot read properties of null (reading 'user')" in Client.#headersFor
    expect(outcome === 'resolved' || outcome instanceof CloudConnectorError).toBe(true)
  })
})

describe('src/client: secret hygiene of createAuthenticatedFetch', () => {
  it('an API key sent in the request body and echoed by the gateway is not repeated in the error or the log', async () => {
    const API_KEY = 'sk-canary-api-key-7f3c9e1d2b4a6c8e'
    const lines: string[] = []
    const authFetch = createAuthenticatedFetch({
      baseUrl: 'http://127.0.0.1:9',
      tokenSource: { getToken: async () => ({ token: TOKEN, source: 'self-issued', reason: 'test' }) },
      headers: { instance: { id: fx.instanceId, realm: 'self-managed' } },
      now: () => fx.now,
      throwOnAuthFailure: true,
      logger: { warn: (event, fields) => lines.push(`${event} ${JSON.stringify(fields)}`) },
      // a gateway (or a proxy in front of it) that echoes the request body in its 401
      fetch: async (input) => {
        const body = input instanceof Request ? await input.text() : ''
        return new Response(JSON.stringify({ error: `rejected request ${body}` }), { status: 401, headers: { 'content-type': 'application/json' } })
      },
    })
    const err = await rejection(authFetch('http://127.0.0.1:9/v2/code/completions', { method: 'POST', body: JSON.stringify({ current_file: FILE, model_api_key: API_KEY }) }))
    expect(err).toBeInstanceOf(CloudConnectorError)
    // was: GatewayAuthError.message quoted the gateway's error with the key in it, and so did the
    // 'gateway.unauthorized' warn line: the adapter gave scrub() no secrets from the body it sent
    expect(inspect(err, { depth: Infinity })).not.toContain(API_KEY)
    expect(lines.join('\n')).not.toContain(API_KEY)
  })
})
