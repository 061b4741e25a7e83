import { describe, expect, it } from 'vitest'
import { createGatewayVerifier, preflight, toJwks } from '../src/index.js'
import { buildGatewayCases } from './cases/gateway-cases.js'
import { loadCaseFixture } from './cases/fixture.js'

const fx = loadCaseFixture()
const cases = buildGatewayCases(fx)
const verifier = createGatewayVerifier({ jwks: toJwks([fx.key]), now: () => fx.now })

describe('the gateway case table', () => {
  it('covers at least 40 cases, each named once', () => {
    expect(cases.length).toBeGreaterThanOrEqual(40)
    expect(new Set(cases.map((c) => c.name)).size).toBe(cases.length)
  })

  it.each(cases)('verifier: $name', async (c) => {
    const v = await verifier.authenticate(c.headers, { unitPrimitive: c.unitPrimitive, forbiddenDetail: c.forbiddenDetail })
    expect({ status: v.status, error: v.error, reason: v.reason }).toEqual({ status: c.expected.status, error: c.expected.error, reason: c.expected.reason })
    if (v.status === 200 || v.status === 403) expect(v.claims?.sub).toBeTypeOf('string')
  })

  it.each(cases)('preflight: $name', (c) => {
    const p = preflight({
      token: undefined,
      headers: c.headers,
      unitPrimitive: c.unitPrimitive,
      audience: fx.audience,
      now: () => fx.now,
      verificationKeys: [fx.key],
      forbiddenDetail: c.forbiddenDetail,
    })
    if (c.expected.status === 200) {
      if (c.preflightStricter) {
        expect(p.ok).toBe(false)
        expect(p.errors[0]?.code).toBe(c.preflightStricter)
      } else {
        expect(p.errors).toEqual([])
        expect(p.ok).toBe(true)
      }
      return
    }
    // every request the gateway refuses is flagged, with the gateway's own answer
    expect(p.ok).toBe(false)
    const first = p.errors[0]
    expect(first).toBeDefined()
    if (first?.code === 'TOKEN_TOO_LARGE') return // refused before decoding: no claim on the gateway's reason
    if (c.expected.status === 500) {
      expect(first?.gatewayError).toBe('Internal Server Error')
      expect(p.status).toBeUndefined()
    } else {
      expect(p.status).toBe(c.expected.status)
      expect(p.gatewayError).toBe(c.expected.error)
    }
    if (c.expected.reason !== undefined) expect(first?.reason).toBe(c.expected.reason)
  })
})
