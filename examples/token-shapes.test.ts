/**
 * What a user's own test suite looks like with `cloud-connector-sdk/testing`: a throwaway instance,
 * the gateway double on msw, and assertions on the token a service sends.
 *
 *   npx vitest run examples/token-shapes.test.ts
 *
 * In an application: import from 'cloud-connector-sdk', 'cloud-connector-sdk/testing' and 'cloud-connector-sdk/testing/msw'.
 */
import { setupServer } from 'msw/node'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { createGatewayClient, createTokenSource, PreflightError } from '../src/index.js'
import { createTestInstance, expectTokenShape, TokenShapeError, type TestInstance } from '../src/testing/index.js'
import { createMswGateway, type MswGateway } from '../src/testing/msw.js'

const GATEWAY = 'https://aigw.test'
let instance: TestInstance
let gateway: MswGateway
const server = setupServer()

beforeAll(async () => {
  instance = await createTestInstance({ addOns: ['duo_enterprise'] })
  gateway = await createMswGateway({ baseUrl: GATEWAY, instance })
  server.use(...gateway.handlers)
  server.listen({ onUnhandledRequest: 'error' })
})
afterEach(() => gateway.reset())
afterAll(() => server.close())

describe('the tokens my service sends', () => {
  it('are self-issued with the scopes, audience, realm and lifetime GitLab uses', async () => {
    const token = await instance.token({ scopes: ['complete_code'] })
    const { claims } = expectTokenShape(token, {
      scopes: ['complete_code'],
      audience: ['gitlab-ai-gateway'],
      realm: 'self-managed',
      lifetimeSeconds: 3600,
      instanceId: instance.instanceId,
      issuer: instance.issuerUrl,
      headers: instance.headers(token),
    })
    expect(claims.nbf).toBe((claims.iat as number) - 5)
  })

  it('fail with the decoded claims, never the signature, when the shape is wrong', async () => {
    const token = await instance.token({ scopes: ['duo_chat'] })
    let error: unknown
    try {
      expectTokenShape(token, { scopes: { includes: ['complete_code'] } })
    } catch (err) {
      error = err
    }
    expect(error).toBeInstanceOf(TokenShapeError)
    const message = (error as Error).message
    expect(message).toContain('complete_code')
    expect(message).toContain(instance.instanceId)
    expect(message).not.toContain(token.split('.')[2])
  })

  it('reach the gateway double and pass its checks', async () => {
    const source = createTokenSource({ license: 'offline-cloud', selfIssued: instance.issuer })
    const client = createGatewayClient({ baseUrl: GATEWAY, tokenSource: source, headers: { instance: { id: instance.instanceId, realm: instance.realm } } })
    const answer = await client.checkModelConfiguration({ name: 'mistral', endpoint: 'http://model:8000/v1' })
    expect(answer.status).toBe(200)
    expect(gateway.countRequests({ side: 'gateway', status: 200 })).toBe(1)
  })

  it('are never sent when the gateway would refuse them with 403', async () => {
    // a token that claims duo_chat only, sent to the model check, which needs complete_code
    const chatOnly = { getToken: async () => ({ token: await instance.token({ scopes: ['duo_chat'] }), source: 'self-issued' as const, reason: 'test' }) }
    const client = createGatewayClient({ baseUrl: GATEWAY, tokenSource: chatOnly, headers: { instance: { id: instance.instanceId, realm: instance.realm } } })
    const error = await client.checkModelConfiguration({ name: 'mistral', endpoint: 'http://model:8000/v1' }).catch((e: unknown) => e)
    expect(error).toBeInstanceOf(PreflightError)
    expect(error).toMatchObject({ code: 'ERR_PREFLIGHT_REJECTED', status: 403, unitPrimitive: 'complete_code' })
    // preflight caught it: nothing reached the double
    expect(gateway.countRequests({ side: 'gateway' })).toBe(0)
  })
})
