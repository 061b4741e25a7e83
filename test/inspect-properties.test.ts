/** Properties: nothing throws on any input, and nothing not signed by a trusted key is accepted. */
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { createGatewayVerifier, inspectToken, preflight, toJwks } from '../src/index.js'
import { loadCaseFixture } from './cases/fixture.js'
import { b64url, b64urlJson, mintJwt } from './cases/mint.js'

const fx = loadCaseFixture()
const now = Math.floor(fx.now.getTime() / 1000)
const verifier = createGatewayVerifier({ jwks: toJwks([fx.key]), now: () => fx.now })
const good = mintJwt({ alg: 'RS256', typ: 'JWT', kid: fx.key.kid }, { sub: fx.instanceId, aud: ['gitlab-ai-gateway'], exp: now + 60, scopes: ['complete_code'] }, fx.key.privateKey!)

/** Strings that look like tokens more often than uniform noise would. */
const tokenish = fc.oneof(
  fc.string({ unit: 'binary', maxLength: 80 }),
  fc.string({ unit: fc.constantFrom(...'eyJAa0_-+/=. \t…é\u0000'.split('')), maxLength: 120 }),
  fc.tuple(fc.nat({ max: good.length }), fc.string({ unit: 'binary', maxLength: 4 })).map(([i, s]) => good.slice(0, i) + s + good.slice(i + 1)),
  fc.array(fc.string({ maxLength: 30 }), { maxLength: 6 }).map((parts) => parts.map((p) => b64url(p)).join('.')),
)

const headerValue = fc.oneof(fc.string({ unit: 'binary', maxLength: 40 }), fc.array(fc.string({ maxLength: 20 }), { maxLength: 3 }), fc.constant(undefined))
const headerMap = fc.dictionary(
  fc.oneof(fc.constantFrom('authorization', 'Authorization', 'x-gitlab-authentication-type', 'X-Gitlab-Realm', 'x-gitlab-instance-id', 'x-gitlab-global-user-id'), fc.string({ maxLength: 12 })),
  headerValue,
  { maxKeys: 8 },
)

describe('never throws', () => {
  it('inspectToken, on anything', () => {
    fc.assert(
      fc.property(fc.oneof(fc.anything(), tokenish), (v) => {
        const r = inspectToken(v)
        expect(['empty', 'opaque', 'malformed', 'jwt']).toContain(r.kind)
        for (const p of r.problems) expect(typeof p.message === 'string' && typeof p.fix === 'string').toBe(true)
      }),
      { numRuns: 2000 },
    )
  })

  it('preflight, on any token and header map', () => {
    fc.assert(
      fc.property(fc.option(tokenish, { nil: undefined }), fc.oneof(headerMap, fc.array(fc.tuple(fc.string(), fc.string()), { maxLength: 5 })), fc.option(fc.string({ maxLength: 20 }), { nil: undefined }), (token, headers, unitPrimitive) => {
        const r = preflight({ token, headers, unitPrimitive, now: () => fx.now, leewaySeconds: 5, requestTimeoutMs: 10_000 })
        expect(r.ok).toBe(r.errors.length === 0)
        expect(r.problems).toEqual([...r.errors, ...r.warnings])
      }),
      { numRuns: 1000 },
    )
  })

  it('authenticate, on any Authorization value and header map', async () => {
    await fc.assert(
      fc.asyncProperty(fc.oneof(tokenish.map((t) => `Bearer ${t}`), fc.string({ unit: 'binary', maxLength: 60 })), headerMap, fc.option(fc.string({ maxLength: 20 }), { nil: undefined }), async (authorization, rest, unitPrimitive) => {
        const v = await verifier.authenticate({ ...rest, authorization, 'x-gitlab-authentication-type': 'oidc' }, { unitPrimitive })
        expect([200, 401, 403, 500]).toContain(v.status)
      }),
      { numRuns: 600 },
    )
  })
})

describe('a token not signed by a trusted key is never accepted', () => {
  const json = fc.jsonValue({ maxDepth: 2 })
  const claims = fc.record(
    {
      sub: fc.oneof(fc.constant(fx.instanceId), json),
      aud: fc.oneof(fc.constant(['gitlab-ai-gateway']), fc.constant('gitlab-ai-gateway'), json),
      exp: fc.oneof(fc.constant(now + 60), json),
      scopes: fc.oneof(fc.constant(['complete_code']), json),
      gitlab_realm: fc.oneof(fc.constant('self-managed'), json),
    },
    { requiredKeys: [] },
  )
  const headers = (token: string) => ({ authorization: `Bearer ${token}`, 'x-gitlab-authentication-type': 'oidc', 'x-gitlab-instance-id': fx.instanceId, 'x-gitlab-realm': 'self-managed' })

  it('signed by another key, whatever the header says', async () => {
    await fc.assert(
      fc.asyncProperty(claims, fc.constantFrom(fx.key.kid, fx.otherKey.kid, undefined), async (c, kid) => {
        const t = mintJwt({ alg: 'RS256', typ: 'JWT', ...(kid ? { kid } : {}) }, c, fx.otherKey.privateKey!)
        expect((await verifier.authenticate(headers(t), { unitPrimitive: 'complete_code' })).status).not.toBe(200)
      }),
      { numRuns: 150 },
    )
  })

  it('with a forged signature or another algorithm', async () => {
    await fc.assert(
      fc.asyncProperty(
        claims,
        fc.constantFrom('RS256', 'none', 'HS256', 'RS512', 'PS256', 'ES256'),
        fc.uint8Array({ minLength: 0, maxLength: 300 }),
        async (c, alg, sig) => {
          const t = `${b64urlJson({ alg, typ: 'JWT', kid: fx.key.kid })}.${b64urlJson(c)}.${b64url(sig)}`
          expect((await verifier.authenticate(headers(t), { unitPrimitive: 'complete_code' })).status).not.toBe(200)
        },
      ),
      { numRuns: 300 },
    )
  })
})
