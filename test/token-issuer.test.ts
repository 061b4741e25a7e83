import { createPrivateKey, createPublicKey, sign as nodeSign, type JsonWebKey } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { inspect } from 'node:util'
import { importJWK, jwtVerify } from 'jose'
import { describe, expect, it, vi } from 'vitest'
import { createCatalog } from '../src/catalog/index.js'
import { InvalidOptionsError, KeyError, TokenError } from '../src/errors.js'
import { createKeyRing, loadSigningKey, loadVerificationKey } from '../src/keys/index.js'
import { createTokenIssuer, type TokenIssuerOptions } from '../src/token/index.js'
import type { SigningKey } from '../src/types.js'

const PEM = readFileSync(new URL('./fixtures/instance-key.pem', import.meta.url), 'utf8')
const SECOND_PEM = readFileSync(new URL('./fixtures/second-key.pem', import.meta.url), 'utf8')
const NOW = new Date('2026-02-01T12:00:00.000Z') // iat 1769947200
const JTI = '3d5b0c5e-8f1a-4c2b-9e7d-1a2b3c4d5e6f'
const INSTANCE = 'f798e820-207f-4849-869d-1f753edb3312'
const ISSUER = 'https://gitlab.example.com'

/** A small catalog of our own, so the golden token does not move when the built-in catalog grows. */
const CATALOG = createCatalog({
  unitPrimitives: [
    up('complete_code', { add_ons: ['duo_pro', 'duo_enterprise'], cut_off_date: '2024-02-15T00:00:00+00:00' }),
    up('duo_chat', { add_ons: ['duo_enterprise'], cut_off_date: '2024-02-15T00:00:00+00:00' }),
    up('documentation_search', {}),
    up('duo_agent_platform', { add_ons: ['duo_enterprise'], cut_off_date: '2024-02-15T00:00:00+00:00', backend_services: ['duo_workflow_service'] }),
    up('self_hosted_models', { add_ons: ['duo_enterprise'], cut_off_date: '2024-02-15T00:00:00+00:00' }),
    up('summarize_review', { cut_off_date: '2026-06-01T00:00:00+00:00' }),
  ],
  backendServices: [
    { name: 'ai_gateway', jwt_aud: 'gitlab-ai-gateway' },
    { name: 'duo_workflow_service', jwt_aud: 'gitlab-duo-workflow-service' },
  ],
  addOns: [{ name: 'duo_pro' }, { name: 'duo_enterprise' }],
})

/**
 * Generated once by this SDK, then checked independently below (jose verifies the signature with
 * the public key exported by node:crypto; header and payload bytes compared with literal JSON).
 */
const GOLDEN_TOKEN =
  'eyJ0eXAiOiJKV1QiLCJraWQiOiJzV0FOS1dheVdPa3dpNThFLWtJSGRYWXFWdE9ybjk0dzZUMWJWNVd0eG9nIiwiYWxnIjoiUlMyNTYifQ.' +
  'eyJqdGkiOiIzZDViMGM1ZS04ZjFhLTRjMmItOWU3ZC0xYTJiM2M0ZDVlNmYiLCJhdWQiOlsiZ2l0bGFiLWFpLWdhdGV3YXkiLCJnaXRsYWItZHVvLXdvcmtmbG93LXNlcnZpY2UiXSwic3ViIjoiZjc5OGU4MjAtMjA3Zi00ODQ5LTg2OWQtMWY3NTNlZGIzMzEyIiwiaXNzIjoiaHR0cHM6Ly9naXRsYWIuZXhhbXBsZS5jb20iLCJpYXQiOjE3Njk5NDcyMDAsIm5iZiI6MTc2OTk0NzE5NSwiZXhwIjoxNzY5OTUwODAwLCJnaXRsYWJfcmVhbG0iOiJzZWxmLW1hbmFnZWQiLCJzY29wZXMiOlsiY29tcGxldGVfY29kZSIsImR1b19jaGF0IiwiZG9jdW1lbnRhdGlvbl9zZWFyY2giLCJkdW9fYWdlbnRfcGxhdGZvcm0iLCJzZWxmX2hvc3RlZF9tb2RlbHMiLCJzdW1tYXJpemVfcmV2aWV3Il0sInNraXBfdXNhZ2VfY3V0b2ZmIjp0cnVlfQ.' +
  'ieK-VmB4yDYc349inrReTrivBpMgBWG5AHIlSxSnJ-fijie-LyMz5vRwVMXFhV0qkHpflvLYgMeg85id4VtZR9bf5jvwNUckmc4F2Um93UwKy0L_Vq42aphFootxUVnnO5Ggq_wV6BI_0cYnS31T-xld7p9UPSFP7xWcck1XS9m-WntCL146SWb6p460gsOgiWZuOY32WJid1dpFtRByyBQKBRcVBRh2smKG4Pkq2QL_EzexK7oZ-Gywos0qOQprtVJTjvtBcXkGHHFDZxmi0t15vLwZ39U_vf7uZoB1BGVzPxcqURgX0gMg2NHifqjvkKS5QEJ4_OYeRpJ7EyxkfA'

const GOLDEN_HEADER_JSON = '{"typ":"JWT","kid":"sWANKWayWOkwi58E-kIHdXYqVtOrn94w6T1bV5Wtxog","alg":"RS256"}'
/**
 * Written from the source, not from our output: `TokenIssuer#token` (flyisland/gitlab-ee
 * ee/lib/cloud_connector/tokens/token_issuer.rb @ caa4042e) selects the available primitives from
 * `UnitPrimitive.all` in catalog order (token_issuer_spec.rb expects that order, unsorted) and puts
 * `unit_primitives.flat_map(&:backend_services).uniq.map(&:jwt_aud)` in `aud`; `extra_claims` hold
 * `skip_usage_cutoff` (ee/lib/gitlab/ai_gateway.rb @ 52d0d30b).
 */
const GOLDEN_PAYLOAD_JSON =
  '{"jti":"3d5b0c5e-8f1a-4c2b-9e7d-1a2b3c4d5e6f","aud":["gitlab-ai-gateway","gitlab-duo-workflow-service"],' +
  '"sub":"f798e820-207f-4849-869d-1f753edb3312","iss":"https://gitlab.example.com","iat":1769947200,"nbf":1769947195,' +
  '"exp":1769950800,"gitlab_realm":"self-managed","scopes":["complete_code","duo_chat","documentation_search",' +
  '"duo_agent_platform","self_hosted_models","summarize_review"],"skip_usage_cutoff":true}'

function up(name: string, extra: Record<string, unknown>) {
  return { name, description: `${name} (test)`, group: 'group::test', feature_category: 'test', backend_services: ['ai_gateway'], ...extra }
}

async function baseOptions(over: Partial<TokenIssuerOptions> = {}): Promise<TokenIssuerOptions> {
  return {
    issuer: ISSUER,
    instanceId: INSTANCE,
    realm: 'self-managed',
    key: await loadSigningKey(PEM),
    catalog: CATALOG,
    addOns: ['duo_enterprise'],
    now: () => NOW,
    jti: () => JTI,
    ...over,
  }
}

function segmentJson(token: string, i: number): string {
  return Buffer.from(token.split('.')[i] ?? '', 'base64url').toString('utf8')
}

/** The public JWK straight from node:crypto, not from the code under test. */
function independentPublicJwk(pem: string): JsonWebKey {
  return createPublicKey(createPrivateKey(pem)).export({ format: 'jwk' })
}

async function rejection(p: Promise<unknown> | (() => unknown)): Promise<unknown> {
  try {
    await (typeof p === 'function' ? p() : p)
  } catch (e) {
    return e
  }
  throw new Error('expected a rejection')
}

describe('createTokenIssuer: the golden token', () => {
  it('mints exactly the pinned JWT for a fixed key, clock and jti', async () => {
    const issuer = createTokenIssuer(await baseOptions({ skipUsageCutoff: true }))
    const { token } = await issuer.issue()
    expect(token).toBe(GOLDEN_TOKEN)
  })

  it('the pinned JWT has the exact header and payload bytes, in GitLab\'s order', () => {
    expect(segmentJson(GOLDEN_TOKEN, 0)).toBe(GOLDEN_HEADER_JSON)
    expect(segmentJson(GOLDEN_TOKEN, 1)).toBe(GOLDEN_PAYLOAD_JSON)
    expect(GOLDEN_TOKEN.split('.')).toHaveLength(3)
  })

  it('the pinned JWT verifies with jose against the independently exported public key', async () => {
    const jwk = independentPublicJwk(PEM)
    const key = await importJWK({ kty: 'RSA', n: jwk.n, e: jwk.e }, 'RS256')
    const { payload, protectedHeader } = await jwtVerify(GOLDEN_TOKEN, key, {
      algorithms: ['RS256'],
      audience: 'gitlab-ai-gateway',
      currentDate: NOW,
    })
    expect(protectedHeader).toEqual({ typ: 'JWT', kid: 'sWANKWayWOkwi58E-kIHdXYqVtOrn94w6T1bV5Wtxog', alg: 'RS256' })
    expect(payload).toEqual({
      jti: JTI,
      aud: ['gitlab-ai-gateway', 'gitlab-duo-workflow-service'],
      sub: INSTANCE,
      iss: ISSUER,
      iat: 1769947200,
      nbf: 1769947195,
      exp: 1769950800,
      gitlab_realm: 'self-managed',
      scopes: ['complete_code', 'duo_chat', 'documentation_search', 'duo_agent_platform', 'self_hosted_models', 'summarize_review'],
      skip_usage_cutoff: true,
    })
  })

  it('the signature is plain RSASSA-PKCS1-v1_5 SHA-256 over header.payload (node:crypto, deterministic)', () => {
    const [h, p, s] = GOLDEN_TOKEN.split('.') as [string, string, string]
    const expected = nodeSign('sha256', Buffer.from(`${h}.${p}`), createPrivateKey(PEM)).toString('base64url')
    expect(s).toBe(expected)
  })

  it('returns header, claims and expiresAt that match the token bytes', async () => {
    const issuer = createTokenIssuer(await baseOptions({ skipUsageCutoff: true }))
    const minted = await issuer.issue()
    expect(JSON.stringify(minted.header)).toBe(GOLDEN_HEADER_JSON)
    expect(JSON.stringify(minted.claims)).toBe(GOLDEN_PAYLOAD_JSON)
    expect(minted.expiresAt.toISOString()).toBe('2026-02-01T13:00:00.000Z')
    expect(minted.warnings).toEqual([])
    expect(issuer.kid).toBe('sWANKWayWOkwi58E-kIHdXYqVtOrn94w6T1bV5Wtxog')
  })
})

describe('createTokenIssuer: as the newest Rails mints (issue 13)', () => {
  // ee/lib/gitlab/ai_gateway.rb @ 52d0d30b: cloud_connector_token always passes
  // extra_claims: { skip_usage_cutoff: gitlab_team_member?(user) }.
  it('always adds skip_usage_cutoff, false unless the issuer or the request says true', async () => {
    const issuer = createTokenIssuer(await baseOptions())
    const plain = await issuer.issue({ scopes: ['complete_code'] })
    expect(segmentJson(plain.token, 1)).toBe(
      `{"jti":"${JTI}","aud":["gitlab-ai-gateway"],"sub":"${INSTANCE}","iss":"${ISSUER}","iat":1769947200,"nbf":1769947195,"exp":1769950800,` +
        '"gitlab_realm":"self-managed","scopes":["complete_code"],"skip_usage_cutoff":false}',
    )
    expect((await issuer.issue({ scopes: ['complete_code'], skipUsageCutoff: true })).claims.skip_usage_cutoff).toBe(true)
    const member = createTokenIssuer(await baseOptions({ skipUsageCutoff: true }))
    expect((await member.issue()).claims.skip_usage_cutoff).toBe(true)
    expect((await member.issue({ skipUsageCutoff: false })).claims.skip_usage_cutoff).toBe(false)
  })

  it('getToken keeps one cached token per skip_usage_cutoff value', async () => {
    const issuer = createTokenIssuer(await baseOptions())
    const normal = await issuer.getToken({ unitPrimitive: 'complete_code' })
    const member = await issuer.getToken({ unitPrimitive: 'complete_code', skipUsageCutoff: true })
    expect(JSON.parse(segmentJson(normal.token ?? '', 1)).skip_usage_cutoff).toBe(false)
    expect(JSON.parse(segmentJson(member.token ?? '', 1)).skip_usage_cutoff).toBe(true)
    expect((await issuer.getToken({ unitPrimitive: 'duo_chat', skipUsageCutoff: false })).token).toBe(normal.token)
    expect(issuer.peekToken({ unitPrimitive: 'duo_chat', skipUsageCutoff: true })?.token).toBe(member.token)
    expect(issuer.stats.mints).toBe(2)
  })

  // ee/app/models/gitlab_subscriptions/add_on_purchase.rb @ caa4042e: uniq_normalized_add_on_names maps
  // NORMALIZED_ADD_ON_NAME = { 'code_suggestions' => 'duo_pro' }; tokens.rb @ 52d0d30b uses it.
  it('a purchased code_suggestions add-on counts as duo_pro', async () => {
    const issuer = createTokenIssuer(await baseOptions({ addOns: ['code_suggestions'] }))
    expect(issuer.entitlements().scopes).toEqual(['complete_code', 'documentation_search', 'summarize_review'])
    expect(issuer.warnings).toEqual([])
  })

  it('an add-on the catalog does not know is a warning through the logger, not a crash, and grants nothing', async () => {
    const warn = vi.fn()
    const issuer = createTokenIssuer(await baseOptions({ addOns: ['duo_enterprise', 'secrets_manager'], logger: { warn } }))
    const message =
      'addOns: "secrets_manager" is not an add-on of the catalog (known: duo_pro, duo_enterprise) and grants no unit primitive; fix the name, or pass the catalog that defines it (strict: true refuses unknown add-ons).'
    expect(issuer.warnings).toEqual([message])
    expect(warn).toHaveBeenCalledWith({ event: 'cloud_connector.unknown_add_on', addOns: ['secrets_manager'] }, message)
    expect((await issuer.issue()).claims.scopes).toHaveLength(6)
  })
})

describe('createTokenIssuer: claims', () => {
  it('uses iat = floor(now), nbf = iat - 5, exp = iat + ttlSeconds', async () => {
    const issuer = createTokenIssuer(await baseOptions({ now: () => new Date('2026-02-01T12:00:00.999Z'), ttlSeconds: 600 }))
    const { claims, expiresAt } = await issuer.issue()
    expect([claims.iat, claims.nbf, claims.exp]).toEqual([1769947200, 1769947195, 1769947800])
    expect(expiresAt.toISOString()).toBe('2026-02-01T12:10:00.000Z')
  })

  it('defaults jti to a random UUID v4', async () => {
    const { jti: _unused, ...opts } = await baseOptions()
    const issuer = createTokenIssuer(opts)
    const a = await issuer.issue()
    const b = await issuer.issue()
    expect(a.claims.jti).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/)
    expect(a.claims.jti).not.toBe(b.claims.jti)
  })

  it('realm saas gives gitlab_realm "saas"', async () => {
    const issuer = createTokenIssuer(await baseOptions({ realm: 'saas' }))
    expect((await issuer.issue()).claims.gitlab_realm).toBe('saas')
  })

  it('a subset of scopes is put in catalog order with its own audience', async () => {
    const issuer = createTokenIssuer(await baseOptions())
    const { claims } = await issuer.issue({ scopes: ['duo_chat', 'complete_code', 'duo_chat'] })
    expect(claims.scopes).toEqual(['complete_code', 'duo_chat'])
    expect(claims.aud).toEqual(['gitlab-ai-gateway'])
    const dws = await issuer.issue({ scopes: ['duo_agent_platform'] })
    expect(dws.claims.aud).toEqual(['gitlab-duo-workflow-service'])
  })

  it('an explicit audience replaces the computed one', async () => {
    const issuer = createTokenIssuer(await baseOptions())
    const { claims } = await issuer.issue({ scopes: ['complete_code'], audience: ['custom-aud'] })
    expect(claims.aud).toEqual(['custom-aud'])
  })

  it('without add-ons only free primitives are granted (no cut-off, or one in the future)', async () => {
    const issuer = createTokenIssuer(await baseOptions({ addOns: [] }))
    const { claims } = await issuer.issue()
    expect(claims.scopes).toEqual(['documentation_search', 'summarize_review'])
    expect(issuer.entitlements()).toEqual({ scopes: ['documentation_search', 'summarize_review'], audiences: ['gitlab-ai-gateway'] })
  })

  it('a primitive whose cut-off passed drops out under the injected clock', async () => {
    let now = new Date('2026-05-31T23:59:59.000Z')
    const issuer = createTokenIssuer(await baseOptions({ addOns: [], now: () => now }))
    expect((await issuer.issue()).claims.scopes).toContain('summarize_review')
    now = new Date('2026-06-01T00:00:00.000Z')
    expect((await issuer.issue()).claims.scopes).toEqual(['documentation_search'])
  })

  it('extra claims come last, in the order given; request extras add to the issuer extras', async () => {
    const issuer = createTokenIssuer(await baseOptions({ extraClaims: { skip_usage_cutoff: false, zeta: 1 } }))
    const { token } = await issuer.issue({ scopes: ['complete_code'], extraClaims: { alpha: 'a', skip_usage_cutoff: true } })
    expect(segmentJson(token, 1)).toBe(
      `{"jti":"${JTI}","aud":["gitlab-ai-gateway"],"sub":"${INSTANCE}","iss":"${ISSUER}","iat":1769947200,"nbf":1769947195,"exp":1769950800,` +
        '"gitlab_realm":"self-managed","scopes":["complete_code"],"skip_usage_cutoff":true,"zeta":1,"alpha":"a"}',
    )
  })

  it('a caller mutating its extraClaims object afterwards does not change later tokens', async () => {
    const extra: Record<string, unknown> = { skip_usage_cutoff: true }
    const issuer = createTokenIssuer(await baseOptions({ extraClaims: extra }))
    extra.skip_usage_cutoff = false
    expect((await issuer.issue()).claims.skip_usage_cutoff).toBe(true)
  })
})

describe('createTokenIssuer: refused extra claims', () => {
  for (const claim of ['iss', 'sub', 'aud', 'iat', 'nbf', 'exp', 'jti', 'gitlab_realm', 'scopes']) {
    it(`refuses to override "${claim}" (at construction and per request)`, async () => {
      const atConstruction = await rejection(async () => createTokenIssuer(await baseOptions({ extraClaims: { [claim]: 'x' } })))
      expect(atConstruction).toBeInstanceOf(TokenError)
      expect((atConstruction as TokenError).code).toBe('ERR_RESERVED_CLAIM')
      expect((atConstruction as TokenError).claim).toBe(claim)
      expect((atConstruction as TokenError).message).toBe(
        `createTokenIssuer: extra claim "${claim}" would override a registered claim; the SDK sets jti, aud, sub, iss, iat, nbf, exp, gitlab_realm, scopes itself. Use the dedicated option instead (issuer, audience, instanceId, realm, scopes, ttlSeconds, jti).`,
      )
      const issuer = createTokenIssuer(await baseOptions())
      const perRequest = await rejection(issuer.issue({ extraClaims: { [claim]: 'x' } }))
      expect((perRequest as TokenError).code).toBe('ERR_RESERVED_CLAIM')
      expect((perRequest as TokenError).claim).toBe(claim)
    })
  }

  it('refuses prototype keys: __proto__ (as JSON gives it) and constructor', async () => {
    const issuer = createTokenIssuer(await baseOptions())
    const proto = await rejection(issuer.issue({ extraClaims: JSON.parse('{"__proto__":{"polluted":true}}') as Record<string, unknown> }))
    expect((proto as TokenError).code).toBe('ERR_RESERVED_CLAIM')
    expect((proto as TokenError).claim).toBe('__proto__')
    expect((proto as TokenError).message).toBe('issue(): extra claim name "__proto__" is not allowed (it is an object prototype key); rename the claim.')
    const atConstruction = (await rejection(async () =>
      createTokenIssuer(await baseOptions({ extraClaims: JSON.parse('{"a":1,"__proto__":{"polluted":true}}') as Record<string, unknown> })),
    )) as TokenError
    expect([atConstruction.code, atConstruction.claim]).toEqual(['ERR_RESERVED_CLAIM', '__proto__'])
    const ctor = await rejection(issuer.issue({ extraClaims: { constructor: 'x' } }))
    expect((ctor as TokenError).claim).toBe('constructor')
    expect(({} as Record<string, unknown>).polluted).toBeUndefined()
  })

  it('refuses values that are not JSON', async () => {
    const issuer = createTokenIssuer(await baseOptions())
    const err = await rejection(issuer.issue({ extraClaims: { nested: { list: [1, Number.NaN] } } }))
    expect(err).toBeInstanceOf(InvalidOptionsError)
    expect((err as InvalidOptionsError).message).toBe('issue(): extraClaims.nested.list[1] must be a finite number')
    const err2 = await rejection(issuer.issue({ extraClaims: { when: new Date(0) } }))
    expect((err2 as InvalidOptionsError).message).toBe(
      'issue(): extraClaims.when must be a JSON value (string, number, boolean, null, array or plain object), not an object of type Date',
    )
  })
})

describe('createTokenIssuer: scopes not entitled', () => {
  it('names the primitive and the add-on that would grant it', async () => {
    const issuer = createTokenIssuer(await baseOptions({ addOns: ['duo_pro'] }))
    const err = await rejection(issuer.issue({ scopes: ['complete_code', 'duo_chat'] }))
    expect(err).toBeInstanceOf(TokenError)
    expect((err as TokenError).code).toBe('ERR_SCOPE_NOT_ENTITLED')
    expect((err as TokenError).unitPrimitive).toBe('duo_chat')
    expect((err as TokenError).message).toBe(
      'The instance is not entitled to unit primitive "duo_chat". Its free access ended on 2024-02-15T00:00:00+00:00 (cut_off_date). It is granted by the add-on duo_enterprise; active add-ons: duo_pro. Pass addOns: [\'duo_enterprise\'] if the instance has it.',
    )
  })

  it('a primitive the catalog does not know', async () => {
    const issuer = createTokenIssuer(await baseOptions())
    const err = (await rejection(issuer.issue({ scopes: ['complete_cod'] }))) as TokenError
    expect(err.code).toBe('ERR_SCOPE_NOT_ENTITLED')
    expect(err.message).toBe(
      'Unit primitive "complete_cod" is not in the catalog, so no token can carry it: check the spelling, or pass a catalog that defines it (loadCatalogDir).',
    )
  })

  it('getToken for a primitive outside the entitled scopes', async () => {
    const issuer = createTokenIssuer(await baseOptions({ addOns: [] }))
    const err = (await rejection(issuer.getToken({ unitPrimitive: 'complete_code' }))) as TokenError
    expect(err.code).toBe('ERR_SCOPE_NOT_ENTITLED')
    expect(err.unitPrimitive).toBe('complete_code')
    expect(issuer.stats).toEqual({ mints: 0, cacheHits: 0 })
  })
})

describe('createTokenIssuer: getToken (the issuer as a TokenSource)', () => {
  it('returns a self-issued token with all entitled scopes, cached', async () => {
    const issuer = createTokenIssuer(await baseOptions())
    const a = await issuer.getToken({ unitPrimitive: 'complete_code' })
    const b = await issuer.getToken({ unitPrimitive: 'duo_chat' })
    expect(a.source).toBe('self-issued')
    expect(a.branch).toBe('self-issued')
    expect(a.expiresAt?.toISOString()).toBe('2026-02-01T13:00:00.000Z')
    expect(a.reason).toBe(
      "Self-issued JWT signed with this instance's key (kid sWANKWayWOkwi58E-kIHdXYqVtOrn94w6T1bV5Wtxog), carrying 6 entitled scopes including complete_code; expires 2026-02-01T13:00:00.000Z.",
    )
    expect(b.token).toBe(a.token)
    // catalog order, as Rails lists them (token_issuer.rb @ caa4042e)
    expect(JSON.parse(segmentJson(a.token ?? '', 1)).scopes).toEqual([
      'complete_code',
      'duo_chat',
      'documentation_search',
      'duo_agent_platform',
      'self_hosted_models',
      'summarize_review',
    ])
    expect(issuer.stats).toEqual({ mints: 1, cacheHits: 1 })
    expect(b.reason).toBe(a.reason.replace('including complete_code', 'including duo_chat'))
    // each answer is the caller's own: changing one changes nothing for the next caller
    a.expiresAt?.setTime(0)
    const c = await issuer.getToken({ unitPrimitive: 'complete_code' })
    expect(c).not.toBe(a)
    expect(c.expiresAt?.toISOString()).toBe('2026-02-01T13:00:00.000Z')
    expect(c.reason).toBe(a.reason)
  })

  it('with cache: false every call mints', async () => {
    const issuer = createTokenIssuer(await baseOptions({ cache: false }))
    await issuer.getToken({ unitPrimitive: 'complete_code' })
    await issuer.getToken({ unitPrimitive: 'complete_code' })
    expect(issuer.stats).toEqual({ mints: 2, cacheHits: 0 })
  })

  it('issue() is never cached', async () => {
    const issuer = createTokenIssuer(await baseOptions())
    await issuer.issue()
    await issuer.issue()
    expect(issuer.stats).toEqual({ mints: 2, cacheHits: 0 })
  })

  it('needs a unit primitive', async () => {
    const issuer = createTokenIssuer(await baseOptions())
    const err = (await rejection(issuer.getToken({} as never))) as InvalidOptionsError
    expect(err.code).toBe('ERR_INVALID_OPTIONS')
    expect(err.message).toBe('getToken(): request.unitPrimitive must be the unit primitive the call needs, e.g. "complete_code".')
  })

  it('neither inspect nor JSON of the issuer shows a token or key material', async () => {
    const issuer = createTokenIssuer(await baseOptions())
    const { token } = await issuer.getToken({ unitPrimitive: 'complete_code' })
    const shown = `${inspect(issuer, { depth: 8, getters: true })}\n${JSON.stringify(issuer)}`
    const signature = (token ?? '').split('.')[2] ?? ''
    expect(shown).not.toContain(signature)
    const d = String(createPrivateKey(PEM).export({ format: 'jwk' }).d)
    expect(shown).not.toContain(d.slice(0, 30))
  })
})

describe('createTokenIssuer: instance id', () => {
  it('accepts "uuid-not-set" but warns through the logger and the warnings field', async () => {
    const warn = vi.fn()
    const issuer = createTokenIssuer(await baseOptions({ instanceId: 'uuid-not-set', logger: { warn } }))
    const expected =
      'instanceId is "uuid-not-set": GitLab sends this when the instance UUID is missing; the gateway can only match it literally (sub ↔ X-Gitlab-Instance-Id) and cannot attribute usage to an instance. Set the instance UUID (Gitlab::CurrentSettings.uuid).'
    expect(issuer.warnings).toEqual([expected])
    expect(warn).toHaveBeenCalledTimes(1)
    expect(warn).toHaveBeenCalledWith({ event: 'cloud_connector.instance_id_not_set', issuer: ISSUER }, expected)
    const minted = await issuer.issue()
    expect(minted.claims.sub).toBe('uuid-not-set')
    expect(minted.warnings).toEqual([expected])
  })
})

describe('createTokenIssuer: options validation', () => {
  const cases: [string, Record<string, unknown>, string][] = [
    [
      'issuer missing',
      { issuer: undefined },
      'createTokenIssuer: options.issuer is required: the instance URL (Gitlab.config.gitlab.url), e.g. "https://gitlab.example.com"',
    ],
    [
      'issuer not a URL',
      { issuer: 'gitlab.example.com' },
      'createTokenIssuer: options.issuer must be an absolute http(s) URL without query or fragment, e.g. "https://gitlab.example.com"',
    ],
    [
      'instanceId not a UUID',
      { instanceId: '12345' },
      'createTokenIssuer: options.instanceId must be the instance UUID (8-4-4-4-12 hex digits, Gitlab::CurrentSettings.uuid) or GitLab\'s literal "uuid-not-set"',
    ],
    [
      'realm dedicated',
      { realm: 'dedicated' },
      'createTokenIssuer: options.realm must be "self-managed" (self-managed and Dedicated) or "saas" (GitLab.com)',
    ],
    [
      'key garbage',
      { key: 'BEGIN RSA PRIVATE KEY' },
      'createTokenIssuer: options.key must be a signing key from loadSigningKey() (or loadVerificationKey() with a signer), or a key ring from createKeyRing()',
    ],
    ['ttl zero', { ttlSeconds: 0 }, 'createTokenIssuer: options.ttlSeconds must be at least 1 second'],
    ['ttl fraction', { ttlSeconds: 90.5 }, 'createTokenIssuer: options.ttlSeconds must be a whole number of seconds'],
    ['ttl typo', { ttl: 3600 }, 'createTokenIssuer: options.ttl is not an option: did you mean "ttlSeconds"?'],
    ['jti not a function', { jti: 'abc' }, 'createTokenIssuer: options.jti must be a function returning a new UUID v4'],
    ['cache bad', { cache: { maxEntries: 0 } }, 'createTokenIssuer: options.cache.maxEntries must be at least 1'],
    [
      'unknown add-on in strict mode',
      { addOns: ['duo_pro', 'duo_enterprize'], strict: true },
      'createTokenIssuer: options.addOns[1] "duo_enterprize" is not an add-on of the catalog (known: duo_pro, duo_enterprise); fix the name or pass the catalog that defines it (strict mode refuses unknown add-ons).',
    ],
    [
      'refresh window not shorter than ttl',
      { ttlSeconds: 300 },
      'createTokenIssuer: options.cache.refreshBeforeSeconds (300) must be less than options.ttlSeconds (300), or every call would mint a new token.',
    ],
  ]
  for (const [name, over, message] of cases) {
    it(name, async () => {
      const err = await rejection(async () => createTokenIssuer({ ...(await baseOptions()), ...over } as TokenIssuerOptions))
      expect(err).toBeInstanceOf(InvalidOptionsError)
      expect((err as InvalidOptionsError).code).toBe('ERR_INVALID_OPTIONS')
      expect((err as InvalidOptionsError).message).toBe(message)
    })
  }

  it('lists every bad field at once', async () => {
    const err = (await rejection(async () =>
      createTokenIssuer({ ...(await baseOptions()), realm: 'x', instanceId: 'y' } as unknown as TokenIssuerOptions),
    )) as InvalidOptionsError
    expect(err.issues.map((i) => i.path)).toEqual(['options.instanceId', 'options.realm'])
    expect(err.message.startsWith('createTokenIssuer: 2 invalid options:\n  - options.instanceId must be')).toBe(true)
  })

  it('a verification-only key without a signer', async () => {
    const pub = loadVerificationKey(createPublicKey(createPrivateKey(PEM)))
    const err = (await rejection(async () => createTokenIssuer(await baseOptions({ key: pub })))) as InvalidOptionsError
    expect(err.code).toBe('ERR_INVALID_OPTIONS')
    expect(err.message).toBe(
      "createTokenIssuer: options.key (kid sWANKWayWOkwi58E-kIHdXYqVtOrn94w6T1bV5Wtxog) is verification-only (no private key): load the instance's private key with loadSigningKey(), or pass options.signer to sign with a KMS/HSM.",
    )
  })

  it('options that are not an object', () => {
    expect(() => createTokenIssuer(undefined as never)).toThrow('createTokenIssuer: options must be an object.')
  })

  it('a request with bad scopes', async () => {
    const issuer = createTokenIssuer(await baseOptions())
    const err = (await rejection(issuer.issue({ scopes: [] }))) as InvalidOptionsError
    expect(err.message).toBe('issue(): options.scopes must name at least one unit primitive (or be "all")')
  })
})

describe('createTokenIssuer: external signer (KMS/HSM)', () => {
  const privateKey = createPrivateKey(PEM)

  it('hands the signer the signing input and uses its signature; the key may be verification-only', async () => {
    const seen: { input: string; meta: unknown }[] = []
    const signer = async (input: Uint8Array, meta: { kid: string; alg: 'RS256' }) => {
      seen.push({ input: Buffer.from(input).toString('utf8'), meta })
      return new Uint8Array(nodeSign('sha256', input, privateKey))
    }
    const pub = loadVerificationKey(createPublicKey(privateKey))
    const issuer = createTokenIssuer(await baseOptions({ key: pub, signer, extraClaims: { skip_usage_cutoff: true } }))
    const { token } = await issuer.issue()
    expect(token).toBe(GOLDEN_TOKEN)
    expect(seen).toEqual([
      { input: GOLDEN_TOKEN.split('.').slice(0, 2).join('.'), meta: { kid: 'sWANKWayWOkwi58E-kIHdXYqVtOrn94w6T1bV5Wtxog', alg: 'RS256' } },
    ])
  })

  it('a failing signer gives ERR_SIGNER_FAILED without echoing its message', async () => {
    const signer = async () => {
      throw Object.assign(new Error('AccessDenied for secret arn:aws:kms:key/SECRET-123'), { code: 'AccessDeniedException' })
    }
    const issuer = createTokenIssuer(await baseOptions({ signer }))
    const err = (await rejection(issuer.issue())) as TokenError
    expect(err.code).toBe('ERR_SIGNER_FAILED')
    expect(err.message).toBe(
      "The external signer failed for kid sWANKWayWOkwi58E-kIHdXYqVtOrn94w6T1bV5Wtxog (Error AccessDeniedException): check the signer's credentials and that it signs with RSASSA-PKCS1-v1_5 SHA-256.",
    )
    expect(`${inspect(err)}${JSON.stringify(err)}`).not.toContain('SECRET-123')
  })

  it('a signer that signs with another key is caught before the gateway sees it', async () => {
    const other = createPrivateKey(SECOND_PEM)
    const issuer = createTokenIssuer(await baseOptions({ signer: async (input) => new Uint8Array(nodeSign('sha256', input, other)) }))
    const err = (await rejection(issuer.issue())) as TokenError
    expect(err.code).toBe('ERR_SIGNER_FAILED')
    expect(err.message).toBe(
      "The external signer's signature does not verify with the public key of kid sWANKWayWOkwi58E-kIHdXYqVtOrn94w6T1bV5Wtxog: the signer uses a different key or algorithm (RS256 = RSASSA-PKCS1-v1_5 with SHA-256).",
    )
  })

  it('a signer returning base64 text instead of bytes', async () => {
    const issuer = createTokenIssuer(await baseOptions({ signer: (async () => 'c2lnbmF0dXJl') as never }))
    const err = (await rejection(issuer.issue())) as TokenError
    expect(err.code).toBe('ERR_SIGNER_FAILED')
    expect(err.message).toBe('The external signer must resolve to a Uint8Array (the raw signature); it returned a string.')
  })

  it('a signer returning the wrong length', async () => {
    const issuer = createTokenIssuer(await baseOptions({ signer: async () => new Uint8Array(64) }))
    const err = (await rejection(issuer.issue())) as TokenError
    expect(err.message).toBe(
      'The external signer returned 64 bytes; an RS256 signature for a 2048-bit key is 256 bytes. Return the raw signature, not base64 or DER-wrapped.',
    )
  })
})

describe('createTokenIssuer: key rings', () => {
  it('asks the ring for its signing key at each mint, so a rotation changes the kid and the cache entry', async () => {
    const first = await loadSigningKey(PEM)
    const second = await loadSigningKey(SECOND_PEM)
    let current: SigningKey = first
    const signingKey = vi.fn(() => current)
    const ring = { signingKey, current: () => current }
    const issuer = createTokenIssuer(await baseOptions({ key: ring }))
    const a = await issuer.getToken({ unitPrimitive: 'complete_code' })
    expect(segmentJson(a.token ?? '', 0)).toBe(`{"typ":"JWT","kid":"${first.kid}","alg":"RS256"}`)
    current = second
    expect(issuer.kid).toBe(second.kid)
    const b = await issuer.getToken({ unitPrimitive: 'complete_code' })
    expect(segmentJson(b.token ?? '', 0)).toBe(`{"typ":"JWT","kid":"${second.kid}","alg":"RS256"}`)
    expect(signingKey).toHaveBeenCalledTimes(2)
    expect(issuer.stats).toEqual({ mints: 2, cacheHits: 0 })
  })

  it('a ring error (e.g. strict publish-age check) propagates unchanged', async () => {
    const boom = new KeyError('ERR_KEY_NOT_PUBLISHED', 'key published 2 h ago; the gateway caches JWKS for 24 h')
    const ring = {
      signingKey: () => {
        throw boom
      },
    }
    const issuer = createTokenIssuer(await baseOptions({ key: ring }))
    expect(await rejection(issuer.issue())).toBe(boom)
  })
})

describe('createTokenIssuer: with createKeyRing (GitLab rotation: add → publish → rotate → trim)', () => {
  it('signs with the current (oldest) key, and with the new one after rotate()', async () => {
    let now = NOW
    const first = await loadSigningKey(PEM)
    const second = await loadSigningKey(SECOND_PEM)
    const ring = createKeyRing({ keys: [{ key: first, createdAt: new Date('2025-01-01T00:00:00Z') }], now: () => now })
    const issuer = createTokenIssuer(await baseOptions({ key: ring, now: () => now }))
    expect((await issuer.issue()).header.kid).toBe(first.kid)

    ring.add(second, { createdAt: now, publishedAt: now })
    expect((await issuer.issue()).header.kid).toBe(first.kid) // still the oldest
    now = new Date(NOW.getTime() + 86_400_000) // published 24 h ago: the gateway has it
    ring.rotate()
    const rotated = await issuer.issue()
    expect(rotated.header.kid).toBe(second.kid)
    expect(rotated.warnings).toEqual([])
    expect(issuer.kid).toBe(second.kid)
  })

  it('a key published too recently: a warning on the token by default, KeyError in strict mode', async () => {
    const first = await loadSigningKey(PEM)
    const fresh = () => [{ key: first, createdAt: NOW, publishedAt: new Date(NOW.getTime() - 3_600_000) }]
    const lenient = createTokenIssuer(await baseOptions({ key: createKeyRing({ keys: fresh(), now: () => NOW }) }))
    const minted = await lenient.issue()
    expect(minted.warnings).toHaveLength(1)
    expect(minted.warnings[0]).toMatch(/^Key sWANKWayWOkwi58E-kIHdXYqVtOrn94w6T1bV5Wtxog was published at 2026-02-01T11:00:00.000Z, /)

    const strict = createTokenIssuer(await baseOptions({ key: createKeyRing({ keys: fresh(), now: () => NOW, strict: true }) }))
    const err = (await rejection(strict.getToken({ unitPrimitive: 'complete_code' }))) as KeyError
    expect(err).toBeInstanceOf(KeyError)
    expect(err.code).toBe('ERR_KEY_NOT_PUBLISHED')
    expect(err.kid).toBe(first.kid)
  })
})
