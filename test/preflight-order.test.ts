/**
 * The gateway's check order, pinned: a request with two defects is answered for the one the gateway
 * checks first. Every defect and every pair of defects is judged by preflight and by the verifier (the
 * gateway's checks in its order, held to the python-jose case table in verify-gateway-cases.test.ts);
 * preflight's first finding must be the gateway's answer, status, message and logged reason.
 */
import { describe, expect, it } from 'vitest'
import { createGatewayVerifier, preflight, toJwks } from '../src/index.js'
import { caseClaims, loadCaseFixture } from './cases/fixture.js'
import { mintJwt } from './cases/mint.js'

const fx = loadCaseFixture()
const now = Math.floor(fx.now.getTime() / 1000)
const verifier = createGatewayVerifier({ jwks: toJwks([fx.key]), now: () => fx.now })
const FORBIDDEN = "Unauthorized to access 'model_configuration/check'"

interface Request {
  header: Record<string, unknown>
  claims: Record<string, unknown>
  signWith: 'instance' | 'other'
  alg: 'RS256' | 'RS512'
  scheme: string
  headers: Record<string, string | undefined>
}

const base = (): Request => ({
  header: { alg: 'RS256', typ: 'JWT', kid: fx.key.kid },
  claims: { ...caseClaims(fx), scopes: ['complete_code'] },
  signWith: 'instance',
  alg: 'RS256',
  scheme: 'Bearer',
  headers: { 'x-gitlab-authentication-type': 'oidc', 'x-gitlab-instance-id': fx.instanceId, 'x-gitlab-realm': 'self-managed' },
})

/** One defect each; `touches` names what it changes, so that two defects on the same thing are not paired. */
const DEFECTS: { name: string; touches: string; apply: (r: Request) => void }[] = [
  { name: 'scheme Token', touches: 'scheme', apply: (r) => void (r.scheme = 'Token') },
  { name: 'no authentication type', touches: 'auth-type', apply: (r) => void (r.headers['x-gitlab-authentication-type'] = undefined) },
  { name: 'alg RS512', touches: 'alg', apply: (r) => void ((r.alg = 'RS512'), (r.header.alg = 'RS512')) },
  { name: 'signed by another key', touches: 'key', apply: (r) => void (r.signWith = 'other') },
  { name: 'iat text', touches: 'iat', apply: (r) => void (r.claims.iat = 'soon') },
  { name: 'iat null (500)', touches: 'iat', apply: (r) => void (r.claims.iat = null) },
  { name: 'nbf text', touches: 'nbf', apply: (r) => void (r.claims.nbf = 'yesterday') },
  { name: 'nbf in the future', touches: 'nbf', apply: (r) => void (r.claims.nbf = now + 60) },
  { name: 'nbf null (500)', touches: 'nbf', apply: (r) => void (r.claims.nbf = null) },
  { name: 'exp text', touches: 'exp', apply: (r) => void (r.claims.exp = 'later') },
  { name: 'expired', touches: 'exp', apply: (r) => void (r.claims.exp = now - 1) },
  { name: 'exp null (500)', touches: 'exp', apply: (r) => void (r.claims.exp = null) },
  { name: 'aud of another service', touches: 'aud', apply: (r) => void (r.claims.aud = ['gitlab-duo-workflow-service']) },
  { name: 'aud a number', touches: 'aud', apply: (r) => void (r.claims.aud = 42) },
  { name: 'sub a number', touches: 'sub', apply: (r) => void (r.claims.sub = 42) },
  { name: 'at_hash present', touches: 'at_hash', apply: (r) => void (r.claims.at_hash = 'abc') },
  { name: 'realm header differs', touches: 'realm', apply: (r) => void (r.headers['x-gitlab-realm'] = 'saas') },
  { name: 'instance id header differs', touches: 'instance-id', apply: (r) => void (r.headers['x-gitlab-instance-id'] = '00000000-1111-4222-8333-444444444444') },
  { name: 'scope missing', touches: 'scopes', apply: (r) => void (r.claims.scopes = ['duo_chat']) },
  { name: 'scopes null (500)', touches: 'scopes', apply: (r) => void (r.claims.scopes = null) },
]

function build(defects: typeof DEFECTS): Record<string, string> {
  const r = base()
  for (const d of defects) d.apply(r)
  const key = r.signWith === 'instance' ? fx.key.privateKey! : fx.otherKey.privateKey!
  const token = mintJwt(r.header, r.claims, key, r.alg)
  const headers: Record<string, string> = { authorization: `${r.scheme} ${token}` }
  for (const [name, value] of Object.entries(r.headers)) if (value !== undefined) headers[name] = value
  return headers
}

const combinations: [string, typeof DEFECTS][] = [
  ...DEFECTS.map((d): [string, typeof DEFECTS] => [d.name, [d]]),
  ...DEFECTS.flatMap((a, i) =>
    DEFECTS.slice(i + 1)
      .filter((b) => b.touches !== a.touches)
      .flatMap((b): [string, typeof DEFECTS][] => [
        [`${a.name} + ${b.name}`, [a, b]],
        [`${b.name} + ${a.name}`, [b, a]],
      ]),
  ),
]

describe('preflight reports first what the gateway checks first', () => {
  it(`agrees with the verifier on ${combinations.length} requests with one or two defects`, async () => {
    const disagreements: string[] = []
    for (const [name, defects] of combinations) {
      const headers = build(defects)
      const gateway = await verifier.authenticate(headers, { unitPrimitive: 'complete_code', forbiddenDetail: FORBIDDEN })
      const p = preflight({ token: undefined, headers, unitPrimitive: 'complete_code', forbiddenDetail: FORBIDDEN, now: () => fx.now, verificationKeys: [fx.key] })
      const first = p.errors[0]
      const predicted = { status: first?.status ?? (first?.gatewayError === 'Internal Server Error' ? 500 : undefined), error: first?.gatewayError, reason: first?.reason }
      const actual = { status: gateway.status, error: gateway.error, reason: gateway.status === 403 || gateway.error?.startsWith('Header mismatch') ? undefined : gateway.reason }
      if (p.ok || JSON.stringify(predicted) !== JSON.stringify(actual)) disagreements.push(`${name}: preflight ${JSON.stringify(predicted)}, gateway ${JSON.stringify(actual)}`)
      // every defect is found, not only the first (a signature under an alg the gateway refuses cannot be judged)
      const judgeable = defects.some((d) => d.touches === 'alg') ? defects.filter((d) => d.touches !== 'key') : defects
      if (p.errors.length < judgeable.length) disagreements.push(`${name}: only ${p.errors.map((e) => e.code).join(', ')} found`)
    }
    expect(disagreements).toEqual([])
  })

  it('a bad signature is reported before a non-integer iat, as python-jose verifies before it reads the claims', () => {
    const headers = build(DEFECTS.filter((d) => d.name === 'iat text' || d.name === 'signed by another key'))
    const p = preflight({ token: undefined, headers, unitPrimitive: 'complete_code', now: () => fx.now, verificationKeys: [fx.key] })
    expect(p.errors.map((e) => [e.code, e.reason])).toEqual([
      ['SIGNATURE_INVALID', 'Signature verification failed.'],
      ['IAT_NOT_INTEGER', 'Issued At claim (iat) must be an integer.'],
    ])
    expect([p.status, p.gatewayError]).toEqual([401, 'Forbidden by auth provider'])
  })
})
