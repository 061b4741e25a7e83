/**
 * The verifier's memo of verified tokens, counted where it matters: how many RSA verifications reach node:crypto.
 * A remembered token skips the verification (`verifiedTokenCacheSize`, default 1024); `0` verifies every call, as
 * the gateway does; a failure is never remembered; only tokens up to 16 KiB are kept.
 */
import { beforeEach, describe, expect, it, vi } from 'vitest'
import { createGatewayVerifier, toJwks, type GatewayVerifierOptions } from '../src/index.js'
import { loadCaseFixture } from './cases/fixture.js'
import { mintJwt } from './cases/mint.js'

const counter = vi.hoisted(() => ({ verifies: 0 }))
vi.mock('node:crypto', async (importOriginal) => {
  const crypto = await importOriginal<typeof import('node:crypto')>()
  const verify = ((...args: Parameters<typeof crypto.verify>) => {
    counter.verifies++
    return (crypto.verify as (...a: unknown[]) => unknown)(...args)
  }) as typeof crypto.verify
  return { ...crypto, default: crypto, verify }
})

const fx = loadCaseFixture()
const now = Math.floor(fx.now.getTime() / 1000)
const header = { alg: 'RS256', typ: 'JWT', kid: fx.key.kid }
const claims = { iss: fx.issuer, sub: fx.instanceId, aud: ['gitlab-ai-gateway'], iat: now, exp: now + 3600, gitlab_realm: 'self-managed', scopes: ['complete_code'] }
const mint = (patch: Record<string, unknown> = {}, h: Record<string, unknown> = header, key = fx.key.privateKey!) => mintJwt(h, { ...claims, ...patch }, key)
const headersFor = (t: string) => ({ Authorization: `Bearer ${t}`, 'X-Gitlab-Authentication-Type': 'oidc', 'X-Gitlab-Instance-Id': fx.instanceId, 'X-Gitlab-Realm': 'self-managed' })
const verifier = (o: Partial<GatewayVerifierOptions> = {}) => createGatewayVerifier({ jwks: toJwks([fx.key]), now: () => fx.now, ...o })

/** How many RSA verifications authenticating these tokens in turn costs, and the statuses. */
async function cost(v: ReturnType<typeof verifier>, tokens: string[]): Promise<{ verifies: number; statuses: number[] }> {
  const before = counter.verifies
  const statuses: number[] = []
  for (const t of tokens) statuses.push((await v.authenticate(headersFor(t))).status)
  return { verifies: counter.verifies - before, statuses }
}

/** A good token of exactly `length` characters. */
function tokenOfLength(length: number): string {
  for (let extra = 0; extra < 4; extra++) {
    const h = { ...header, pad: 'h'.repeat(extra) }
    const base = mint({ padding: '' }, h).length
    for (let n = Math.max(0, Math.floor(((length - base) * 3) / 4) - 4); n < Math.floor(((length - base) * 3) / 4) + 4; n++) {
      const t = mint({ padding: 'x'.repeat(n) }, h)
      if (t.length === length) return t
    }
  }
  throw new Error(`no token of ${length} characters`)
}

beforeEach(() => {
  counter.verifies = 0
})

describe('the verified-token memo, counted in RSA verifications', () => {
  const good = mint()

  it('by default a token verified once is not verified again; a failure is verified every time', async () => {
    const v = verifier()
    expect(await cost(v, [good, good, good])).toEqual({ verifies: 1, statuses: [200, 200, 200] })
    const forged = mint({}, header, fx.otherKey.privateKey!)
    expect(await cost(v, [forged, forged, forged])).toEqual({ verifies: 3, statuses: [401, 401, 401] })
  })

  it('verifiedTokenCacheSize: 0 verifies every signature on every call, as the gateway does', async () => {
    expect(await cost(verifier({ verifiedTokenCacheSize: 0 }), [good, good, good])).toEqual({ verifies: 3, statuses: [200, 200, 200] })
  })

  it('verifiedTokenCacheSize bounds what is remembered: with 1, two tokens taking turns are each verified every time', async () => {
    const other = mint({ jti: 'other' })
    const v = verifier({ verifiedTokenCacheSize: 1 })
    expect(await cost(v, [good, other, good, other])).toEqual({ verifies: 4, statuses: [200, 200, 200, 200] })
    expect(await cost(v, [other, other])).toEqual({ verifies: 0, statuses: [200, 200] })
  })

  it('a token of up to 16 KiB is remembered; a longer one is verified every time', async () => {
    const v = verifier()
    const limit = tokenOfLength(16 * 1024)
    const over = tokenOfLength(16 * 1024 + 1)
    expect(await cost(v, [limit, limit, limit])).toEqual({ verifies: 1, statuses: [200, 200, 200] })
    expect(await cost(v, [over, over, over])).toEqual({ verifies: 3, statuses: [200, 200, 200] })
  })
})
