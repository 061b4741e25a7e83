/**
 * The token source (src/token/policy.ts) in the states a deployment meets: no signing key with a
 * synced-token loader that has not been asked, a loader that finds nothing (`null`), a synced token
 * that expired, a feature setting named per request, peeking at a cached answer, invalidation — and
 * the options and reasons a user reads to fix a configuration. The policy's decision table itself is
 * pinned in policy.test.ts.
 */
import { describe, expect, it, vi } from 'vitest'
import { InvalidOptionsError } from '../src/errors.js'
import { createTokenIssuer, createTokenSource, decideTokenSource, type TokenIssuer, type TokenSituation, type TokenSourceOptions } from '../src/token/index.js'
import type { TokenRequest, TokenResult } from '../src/types.js'
import { loadCaseFixture } from './cases/fixture.js'
import { rejection, thrownBy } from './reliability/config.js'

const fx = loadCaseFixture()
const NOW = fx.now // 2026-02-01T12:00:00Z
const EXPIRES = new Date('2026-02-01T13:00:00Z')
const SYNCED_TOKEN = 'cdot.opaque-synced-token-value-0123456789abcdef'
const active = () => ({ token: SYNCED_TOKEN, expiresAt: EXPIRES })

const issuer = () => createTokenIssuer({ issuer: fx.issuer, instanceId: fx.instanceId, realm: 'self-managed', key: fx.key, addOns: ['duo_enterprise'], now: () => NOW })

/** An issuer of our own, recording what the source asks it. */
function recordingIssuer() {
  const requests: TokenRequest[] = []
  let invalidated = 0
  const answer: TokenResult = { token: 'minted.jwt.value', source: 'self-issued', reason: 'recording issuer', expiresAt: EXPIRES }
  const rec = {
    requests,
    get invalidated() {
      return invalidated
    },
    getToken: async (request: TokenRequest) => {
      requests.push(request)
      return answer
    },
    invalidate: () => void invalidated++,
  }
  return rec
}



/*
 * Mutation testing (npm run mutation -- --mutate src/token/policy.ts): the surviving mutants left, and why
 * none changes what a caller gets.
 * - `loadedOnce` (its initial `false`, `!loadedOnce`, its reset in invalidate()): a loader's state is
 *   'unknown' whenever the loaded token is not active, and a never-loaded token is not active, so the
 *   flag never changes a decision. Likewise load()'s early return for an active loaded token is only
 *   reachable when getToken() already knew the token active, in which case it does not call load(); and
 *   so `force || loader`, and `known.state === 'unknown'` → true, only add a load() call that returns the
 *   same token without asking the loader.
 * - The decision memo (`decision === undefined` → true, the 256-entry bound, the '' placeholders of its
 *   key) and the last decision's early return emptied: they only save recomputing a pure function; the bound is
 *   memory, not behaviour. The last decision's expiry comparison (→ true, `!==`): a loaded token's expiry only
 *   changes through a load, and every load follows an 'unknown' decision, so the last decision never has the same
 *   state with another expiry ('a renewed synced token' holds the reason's expiry all the same).
 * - The option schema's messages (`{ error: ... }` emptied or removed, `z.union([])`): they survive under Stryker
 *   only because the schema is built once per process (`lazy`, for the import cost) before Stryker switches a
 *   mutant on, so no mutant of it ever runs. 'options a deployment sets' asserts every message, and kills each
 *   such mutant applied by hand (checked for gitlabCom's message, selfSignOverride's union, logger's message).
 * - `situation.policy ?? 'safe'` → '' and `s.synced ?? 'absent'` → '': both are only compared with other
 *   values ('rails'; 'active', 'unknown', 'expired'), so '' behaves as the default.
 * - `s.selfHostedFeatures ?? []` → ["Stryker was here"]: no feature setting has that name.
 * - peekToken(): an empty unit primitive, an issuer without peekToken and the catch block emptied all end
 *   in `undefined` anyway (decideTokenSource's throw and the TypeError are caught; an empty catch falls
 *   off the function).
 * - The selfIssued check with `typeof v === 'object'` → true accepts a function carrying getToken and
 *   invalidate, which works as an issuer all the same.
 * - checkSyncedValue's `!value ||` dropped: null never reaches it (the options schema refuses it, a loader's null
 *   means "no token"), and every other falsy value fails `typeof value !== 'object'` with the same message.
 */
const OFFLINE = "The instance has an offline cloud license, which never syncs a CustomersDot token: every gateway call must carry a self-issued JWT, verified against the instance's own JWKS."
const ONLINE_NOTHING =
  'No token for complete_code: the instance has an online cloud license but no synced CustomersDot token is stored (the hourly sync has not run or failed), and no signing key is configured. Provide the synced token (synced: { token, expiresAt } or a loader), or configure selfIssued (createTokenIssuer with the instance key).'

describe('no signing key, a synced-token loader not asked yet', () => {
  it('online license: the loader is asked, and its active token is sent', async () => {
    const loader = vi.fn(async () => active())
    const source = createTokenSource({ license: 'online-cloud', synced: loader, now: () => NOW })
    expect(source.decide('complete_code')).toMatchObject({
      source: 'synced',
      branch: 'synced-pending',
      reason: 'The instance has an online cloud license: it uses the synced CustomersDot token if the loader returns an active one.',
    })
    expect(loader).not.toHaveBeenCalled()
    expect(await source.getToken({ unitPrimitive: 'complete_code' })).toEqual({
      token: SYNCED_TOKEN,
      source: 'synced',
      branch: 'synced',
      reason: 'The instance has an online cloud license: it uses the token synced from CustomersDot, valid until 2026-02-01T13:00:00.000Z.',
      expiresAt: EXPIRES,
    })
    expect(loader).toHaveBeenCalledTimes(1)
  })

  it('online license, the loader finds nothing (null): no token, and what to configure', async () => {
    const loader = vi.fn(async () => null)
    const source = createTokenSource({ license: 'online-cloud', synced: loader, now: () => NOW })
    expect(await source.getToken({ unitPrimitive: 'complete_code' })).toEqual({ source: 'none', branch: 'no-token-configured', reason: ONLINE_NOTHING })
    expect(loader).toHaveBeenCalledTimes(1)
  })

  it('offline license: the loader is still asked (a synced token beats none), and the reason says to configure the key', async () => {
    const source = createTokenSource({ license: 'offline-cloud', synced: async () => active(), now: () => NOW })
    expect(source.decide('complete_code')).toMatchObject({
      source: 'synced',
      branch: 'synced-pending',
      reason: `${OFFLINE} But no signing key is configured, so the synced CustomersDot token is used if the loader returns an active one; configure selfIssued (createTokenIssuer with the instance key) to self-issue.`,
    })
    expect(await source.getToken({ unitPrimitive: 'complete_code' })).toEqual({
      token: SYNCED_TOKEN,
      source: 'synced',
      branch: 'synced-no-key',
      reason: `${OFFLINE} But no signing key is configured, so the synced CustomersDot token is used, valid until 2026-02-01T13:00:00.000Z; configure selfIssued (createTokenIssuer with the instance key) to self-issue.`,
      expiresAt: EXPIRES,
    })
  })

  it('offline license, the loader finds nothing: no token', async () => {
    const source = createTokenSource({ license: 'offline-cloud', synced: () => null, now: () => NOW })
    expect(await source.getToken({ unitPrimitive: 'complete_code' })).toEqual({
      source: 'none',
      branch: 'no-token-configured',
      reason: decideTokenSource({ license: 'offline-cloud' }, 'complete_code').reason,
    })
  })

  it('with a key, a loader that finds nothing (null) means the self-issued fallback', async () => {
    const source = createTokenSource({ license: 'online-cloud', selfIssued: issuer(), synced: async () => null, now: () => NOW })
    const r = await source.getToken({ unitPrimitive: 'complete_code' })
    expect([r.source, r.branch]).toEqual(['self-issued', 'synced-missing-fallback'])
  })

  it('a loader whose answer is not a token object: ERR_SYNCED_TOKEN_INVALID saying what it must return', async () => {
    const bad = (value: unknown) => rejection(createTokenSource({ license: 'online-cloud', synced: async () => value as never, now: () => NOW }).getToken({ unitPrimitive: 'complete_code' }))
    expect(await bad(SYNCED_TOKEN)).toMatchObject({
      code: 'ERR_SYNCED_TOKEN_INVALID',
      message: 'The synced-token loader returned an invalid value: token is missing (the value is not an object); it must resolve to { token, expiresAt } or undefined.',
    })
    expect(await bad({ token: 42, expiresAt: EXPIRES })).toMatchObject({
      code: 'ERR_SYNCED_TOKEN_INVALID',
      message: 'The synced-token loader returned an invalid value: token must be a string; it must resolve to { token, expiresAt } or undefined.',
    })
  })
})

describe('a renewed synced token', () => {
  it("the answer's reason names the expiry of the token it carries, not of the one before (same state, new expiry)", async () => {
    const renewed = new Date('2026-02-01T14:00:00Z')
    const tokens = [active(), { token: `${SYNCED_TOKEN}-renewed`, expiresAt: renewed }]
    const loader = vi.fn(async () => tokens.shift())
    const source = createTokenSource({ license: 'online-cloud', synced: loader, now: () => NOW })
    const first = await source.getToken({ unitPrimitive: 'complete_code' })
    expect(first).toMatchObject({ source: 'synced', expiresAt: EXPIRES })
    expect(first.reason).toContain(`valid until ${EXPIRES.toISOString()}`)
    source.invalidate()
    const second = await source.getToken({ unitPrimitive: 'complete_code' })
    expect(second).toMatchObject({ source: 'synced', token: `${SYNCED_TOKEN}-renewed`, expiresAt: renewed })
    expect(second.reason).toContain(`valid until ${renewed.toISOString()}`)
    expect(second.reason).not.toContain(EXPIRES.toISOString())
    expect(loader).toHaveBeenCalledTimes(2)
  })
})

describe('the loader is asked only when the decision depends on it', () => {
  it('an offline license with a key self-issues without asking it', async () => {
    const loader = vi.fn(async () => active())
    const source = createTokenSource({ license: 'offline-cloud', selfIssued: issuer(), synced: loader, now: () => NOW })
    expect((await source.getToken({ unitPrimitive: 'complete_code' })).branch).toBe('offline-license')
    expect((await source.getToken({ unitPrimitive: 'complete_code', forceRefresh: true })).branch).toBe('offline-license')
    expect(loader).not.toHaveBeenCalled()
  })

  it('invalidate() forgets the loaded token and the issuer’s tokens: both are fetched again', async () => {
    const loader = vi.fn(async () => active())
    const rec = recordingIssuer()
    const source = createTokenSource({ license: 'online-cloud', selfIssued: rec as unknown as TokenIssuer, synced: loader, now: () => NOW })
    await source.getToken({ unitPrimitive: 'complete_code' })
    await source.getToken({ unitPrimitive: 'complete_code' })
    expect(loader).toHaveBeenCalledTimes(1)
    source.invalidate()
    expect(rec.invalidated).toBe(1)
    expect(source.decide('complete_code').branch).toBe('synced-pending')
    await source.getToken({ unitPrimitive: 'complete_code' })
    expect(loader).toHaveBeenCalledTimes(2)
  })
})

describe('a synced token given as a value', () => {
  it('expired, with no key: nothing is sent, not the expired token', async () => {
    const source = createTokenSource({ license: 'online-cloud', synced: { token: SYNCED_TOKEN, expiresAt: new Date('2026-02-01T11:00:00Z') }, now: () => NOW })
    const r = await source.getToken({ unitPrimitive: 'complete_code' })
    expect(r).toEqual({
      source: 'none',
      branch: 'no-token-configured',
      reason:
        'No token for complete_code: the instance has an online cloud license but the synced CustomersDot token expired at 2026-02-01T11:00:00.000Z, and no signing key is configured. Provide the synced token (synced: { token, expiresAt } or a loader), or configure selfIssued (createTokenIssuer with the instance key).',
    })
    expect(r.token).toBeUndefined()
  })

  it('active: peekToken leaves the synced answer to getToken, even when the issuer holds a cached token', async () => {
    const source = createTokenSource({ license: 'online-cloud', selfIssued: issuer(), synced: active(), now: () => NOW })
    const minted = await source.getToken({ unitPrimitive: 'self_hosted_models' }) // always self-issued: fills the issuer's cache
    expect(source.peekToken?.({ unitPrimitive: 'self_hosted_models' })).toEqual(minted)
    expect(source.peekToken?.({ unitPrimitive: 'complete_code' })).toBeUndefined()
    expect(source.peekToken?.({ unitPrimitive: '' })).toBeUndefined()
    expect((await source.getToken({ unitPrimitive: 'complete_code' })).token).toBe(SYNCED_TOKEN)
  })
})

describe('the feature setting a request names', () => {
  const situation = { policy: 'rails', license: 'offline-cloud', selfHostedFeatures: ['duo_agent_platform', 'duo_chat'], now: () => NOW } as const

  it('each named feature setting gets its own decision: one that is self-hosted never answers for one that is not', async () => {
    const source = createTokenSource({ ...situation, selfIssued: issuer() })
    expect((await source.getToken({ unitPrimitive: 'duo_chat', featureSetting: 'duo_agent_platform' })).source).toBe('self-issued')
    expect((await source.getToken({ unitPrimitive: 'duo_chat', featureSetting: 'code_completions' })).source).toBe('none')
    expect((await source.getToken({ unitPrimitive: 'duo_chat', featureSetting: 'duo_agent_platform' })).source).toBe('self-issued')
  })

  it('an empty name counts as not given: the unit primitive’s own feature setting decides', async () => {
    const source = createTokenSource({ ...situation, selfIssued: issuer() })
    const r = await source.getToken({ unitPrimitive: 'duo_classic_chat', featureSetting: '' })
    expect([r.source, r.branch]).toEqual(['self-issued', 'feature-self-hosted'])
    expect(source.peekToken?.({ unitPrimitive: 'duo_classic_chat', featureSetting: '' })?.token).toBe(r.token)
  })
})

describe('what the issuer is asked, and what is logged', () => {
  it('the issuer gets the unit primitive, the refresh flag, and the request’s claim and signal only when given', async () => {
    const rec = recordingIssuer()
    const source = createTokenSource({ license: 'offline-cloud', selfIssued: rec as unknown as TokenIssuer, now: () => NOW })
    const signal = new AbortController().signal
    await source.getToken({ unitPrimitive: 'complete_code' })
    await source.getToken({ unitPrimitive: 'complete_code', forceRefresh: true, skipUsageCutoff: true, signal })
    await source.getToken({ unitPrimitive: 'complete_code', skipUsageCutoff: 'yes' as never })
    expect(rec.requests).toStrictEqual([
      { unitPrimitive: 'complete_code', forceRefresh: false },
      { unitPrimitive: 'complete_code', forceRefresh: true, skipUsageCutoff: true, signal },
      { unitPrimitive: 'complete_code', forceRefresh: false },
    ])
  })

  it('each answer logs its decision (never the token) at debug', async () => {
    const debug = vi.fn()
    const source = createTokenSource({ license: 'online-cloud', synced: active(), logger: { debug }, now: () => NOW })
    await source.getToken({ unitPrimitive: 'complete_code' })
    // pino's signature: (obj, msg), the event in obj and as the message
    expect(debug.mock.calls).toEqual([
      [{ event: 'cloud_connector.token_source', unitPrimitive: 'complete_code', policy: 'safe', source: 'synced', branch: 'synced' }, 'cloud_connector.token_source'],
    ])
  })

  it('a peek logs its decision when it answers, and nothing when it leaves the answer to getToken()', async () => {
    const debug = vi.fn()
    const source = createTokenSource({ license: 'offline-cloud', selfIssued: issuer(), logger: { debug }, now: () => NOW })
    expect(source.peekToken?.({ unitPrimitive: 'complete_code' })).toBeUndefined()
    expect(debug).not.toHaveBeenCalled()
    const minted = await source.getToken({ unitPrimitive: 'complete_code' })
    expect(source.peekToken?.({ unitPrimitive: 'complete_code' })).toEqual(minted)
    const logged = [{ event: 'cloud_connector.token_source', unitPrimitive: 'complete_code', policy: 'safe', source: 'self-issued', branch: 'offline-license' }, 'cloud_connector.token_source']
    expect(debug.mock.calls).toEqual([logged, logged])
  })

  it('a request without a unit primitive is refused, saying what to pass', async () => {
    const source = createTokenSource({ license: 'offline-cloud', selfIssued: issuer(), now: () => NOW })
    for (const request of [{ unitPrimitive: '' }, {}, undefined]) {
      const err = await rejection(source.getToken(request as never))
      expect(err).toBeInstanceOf(InvalidOptionsError)
      expect(err).toMatchObject({
        message: 'getToken(): request.unitPrimitive must be the unit primitive the call needs, e.g. "complete_code".',
        issues: [{ path: 'request.unitPrimitive', message: 'is required' }],
      })
    }
  })
})

describe('options a deployment sets', () => {
  it('gitlabCom, selfHostedGateway and the CLOUD_CONNECTOR_SELF_SIGN_TOKENS default reach the decision', () => {
    const branch = (o: Partial<TokenSourceOptions>) => createTokenSource({ license: 'online-cloud', selfIssued: issuer(), synced: active(), now: () => NOW, ...o }).decide('complete_code').branch
    expect(branch({ gitlabCom: true })).toBe('gitlab-com')
    expect(branch({ selfHostedGateway: true })).toBe('self-hosted-gateway')
    expect(branch({})).toBe('synced')
    expect(createTokenSource({ policy: 'rails', license: 'online-cloud' }).decide('complete_code').branch).toBe('no-synced-token')
  })

  it('a featureSettingMap is used as given at construction', () => {
    const map: Record<string, string> = { duo_chat: 'duo_chat' }
    const source = createTokenSource({ policy: 'rails', license: 'offline-cloud', selfHostedFeatures: ['duo_chat'], featureSettingMap: map })
    map.duo_chat = 'code_completions'
    expect(source.decide('duo_chat')).toMatchObject({ source: 'self-issued', branch: 'feature-self-hosted', featureSetting: 'duo_chat' })
  })

  it('a feature setting of a custom map that GitLab has no title for is named as is, in the reason and in the fix', () => {
    const o = { policy: 'rails', license: 'offline-cloud', featureSettingMap: { complete_code: 'local_completion' }, now: () => NOW } as const
    expect(createTokenSource({ ...o, selfHostedFeatures: ['local_completion'] }).decide('complete_code').reason).toBe(
      'complete_code maps to the feature setting local_completion, which is assigned to a self-hosted model, so GitLab self-issues the token.',
    )
    expect(createTokenSource(o).decide('complete_code').reason).toBe(
      'GitLab would send no token for complete_code: complete_code maps to the feature setting local_completion, which is not assigned to a self-hosted model, and there is no synced CustomersDot token: an offline cloud license never syncs one (SyncCloudConnectorAccessService runs only for an online cloud license). Rails then sends "Authorization: Bearer " and the gateway answers 401 "Forbidden by auth provider" (Not enough segments). Fix: assign local_completion to a self-hosted model, or set CLOUD_CONNECTOR_SELF_SIGN_TOKENS=true on the instance, or use policy \'safe\'.',
    )
  })

  it('an option that resembles none is refused with the list of the options there are', () => {
    expect(thrownBy(() => createTokenSource({ license: 'offline-cloud', privateKeyPem: 'x' } as never))).toMatchObject({
      message:
        'createTokenSource: options.privateKeyPem is not an option: known options: policy, license, gitlabCom, selfHostedFeatures, selfSignOverride, selfHostedGateway, selfIssued, synced, now, featureSettingMap, logger.',
      issues: [{ path: 'options.privateKeyPem' }],
    })
  })

  it('a synced expiry given as text must be a date: text that is not one is refused, not taken as an expired token', () => {
    expect(thrownBy(() => createTokenSource({ license: 'online-cloud', synced: { token: SYNCED_TOKEN, expiresAt: 'in an hour' as never } }))).toMatchObject({
      message: 'createTokenSource: options.synced.expiresAt must be a Date (or ISO 8601 text): pass { token: <the CustomersDot token>, expiresAt: <Date> }.',
      issues: [{ path: 'options.synced.expiresAt', message: 'must be a Date (or ISO 8601 text)' }],
    })
  })

  it.each([
    ['gitlabCom', 'yes', 'must be a boolean'],
    ['selfHostedGateway', 'true', 'must be a boolean'],
    ['selfHostedFeatures', 'duo_chat', 'must be an array of feature setting names, e.g. ["code_completions", "duo_chat"]'],
    ['selfSignOverride', 1, 'must be a boolean or the text of CLOUD_CONNECTOR_SELF_SIGN_TOKENS'],
    ['selfIssued', { getToken: async () => ({}) }, 'must be a token issuer from createTokenIssuer()'],
    ['selfIssued', { invalidate: () => undefined }, 'must be a token issuer from createTokenIssuer()'],
    ['selfIssued', null, 'must be a token issuer from createTokenIssuer()'],
    ['selfIssued', 'issuer', 'must be a token issuer from createTokenIssuer()'],
    ['synced', SYNCED_TOKEN, 'must be { token, expiresAt } or a function that loads it'],
    ['synced', null, 'must be { token, expiresAt } or a function that loads it'],
    ['now', new Date(0), 'must be a function returning the current Date'],
    ['featureSettingMap', ['complete_code'], 'must map unit primitive names to feature setting names'],
    ['featureSettingMap', { complete_code: 1 }, '.complete_code must be a feature setting name, e.g. "code_completions"'],
    ['logger', 'console', 'must be an object with optional debug/info/warn/error methods'],
    ['logger', null, 'must be an object with optional debug/info/warn/error methods'],
  ])('options.%s = %j is refused: %s', (name, value, message) => {
    const err = thrownBy(() => createTokenSource({ license: 'offline-cloud', [name]: value } as TokenSourceOptions)) as InvalidOptionsError
    expect(err).toBeInstanceOf(InvalidOptionsError)
    expect(err.message).toBe(`createTokenSource: options.${name}${message.startsWith('.') ? '' : ' '}${message}`)
    expect(err.issues[0]?.path).toMatch(new RegExp(`^options\\.${name}`))
  })

  it('names the field to fix in issues: a synced value, a feature setting, the override text', () => {
    expect(thrownBy(() => createTokenSource({ license: 'online-cloud', synced: { token: '', expiresAt: NOW } }))).toMatchObject({
      issues: [{ path: 'options.synced.token', message: 'is empty (GitLab would send "Bearer " and the gateway answers 401)' }],
    })
    expect(thrownBy(() => createTokenSource({ license: 'online-cloud', selfHostedFeatures: ['duo_chat', 'complete_code'] }))).toMatchObject({
      issues: [{ path: 'options.selfHostedFeatures.1', message: '"complete_code" is a unit primitive, not a feature setting; its feature setting is "code_completions"' }],
    })
    expect(thrownBy(() => createTokenSource({ license: 'online-cloud', selfSignOverride: 'enabled' }))).toMatchObject({
      issues: [{ path: 'options.selfSignOverride', message: 'is not a boolean text' }],
    })
  })

  it('CLOUD_CONNECTOR_SELF_SIGN_TOKENS text: surrounding spaces are ignored, anything but a whole boolean word is refused', () => {
    const branch = (v: string) => createTokenSource({ policy: 'rails', license: 'online-cloud', selfSignOverride: v }).decide('complete_code').branch
    expect(branch(' true\n')).toBe('self-sign-override')
    expect(branch(' off ')).toBe('no-synced-token')
    expect(branch('  ')).toBe('no-synced-token')
    for (const v of ['nope', 'only', 'icon', 'falsetto']) {
      expect(() => branch(v)).toThrow(`createTokenSource: options.selfSignOverride "${v}" is not a boolean`)
    }
    // the message quotes at most 20 characters of the variable's text
    expect(() => branch('enabled-for-every-instance-in-the-fleet')).toThrow(
      'createTokenSource: options.selfSignOverride "enabled-for-every-in" is not a boolean: use true/false',
    )
  })
})

describe('decideTokenSource: input and reasons not covered by the decision table', () => {
  it('refuses a missing unit primitive, an unknown license and an empty feature setting, naming the field', () => {
    expect(thrownBy(() => decideTokenSource({ license: 'none' }, 42 as never))).toMatchObject({
      message: 'decideTokenSource: unitPrimitive must be a non-empty string, e.g. "complete_code".',
      issues: [{ path: 'unitPrimitive', message: 'is required' }],
    })
    for (const situation of [undefined, { license: 'offline' }]) {
      expect(thrownBy(() => decideTokenSource(situation as never, 'complete_code'))).toMatchObject({
        message: 'decideTokenSource: situation.license must be one of "online-cloud", "offline-cloud", "legacy", "none".',
        issues: [{ path: 'situation.license', message: 'is not a license kind' }],
      })
    }
    for (const featureSetting of ['', 7]) {
      expect(thrownBy(() => decideTokenSource({ license: 'none' }, 'complete_code', featureSetting as never))).toMatchObject({
        message: 'decideTokenSource: featureSetting must be a feature setting name, e.g. "duo_agent_platform", or undefined.',
        issues: [{ path: 'featureSetting', message: 'must be a non-empty string' }],
      })
    }
  })

  const reason = (s: TokenSituation, up = 'complete_code') => decideTokenSource(s, up).reason
  const railsNone = ' (GitLab itself would send no token here: branch no-synced-token.)'

  it("policy 'safe': why the instance self-issues, and what GitLab itself would do only when it would send nothing", () => {
    expect(reason({ license: 'legacy', hasSigningKey: true })).toBe(
      `The instance has a legacy license, which does not sync a CustomersDot token: gateway calls must carry a self-issued JWT.${railsNone}`,
    )
    expect(reason({ license: 'none', hasSigningKey: true })).toBe(`The instance has no license, so no CustomersDot token is synced: gateway calls must carry a self-issued JWT.${railsNone}`)
    expect(reason({ license: 'online-cloud', selfHostedGateway: true, hasSigningKey: true, synced: 'active' })).toBe(
      "The AI Gateway is self-hosted: it trusts the instance's own keys (AIGW_GITLAB_URL), so the instance self-issues its token.",
    )
    expect(reason({ license: 'offline-cloud', hasSigningKey: true, synced: 'active' })).toBe(OFFLINE)
    expect(reason({ license: 'online-cloud', hasSigningKey: true, synced: 'unknown' })).toBe(
      'The instance has an online cloud license: it uses the synced CustomersDot token if the loader returns an active one, else a self-issued JWT.',
    )
  })

  it("policy 'rails': the loader not asked yet, and a synced token whose expiry is not known", () => {
    expect(reason({ policy: 'rails', license: 'online-cloud', synced: 'unknown' })).toBe(
      'complete_code maps to the feature setting code_completions (Code Completion), which is not assigned to a self-hosted model, so GitLab uses the synced CustomersDot token if one is active (the loader has not been asked yet).',
    )
    expect(reason({ policy: 'rails', license: 'online-cloud', synced: 'active' })).toBe(
      'complete_code maps to the feature setting code_completions (Code Completion), which is not assigned to a self-hosted model, so GitLab uses the token synced from CustomersDot.',
    )
    expect(reason({ policy: 'rails', license: 'online-cloud', synced: 'expired' })).toContain(
      'and the synced CustomersDot token expired and was not renewed (ServiceAccessToken.active is empty).',
    )
  })

  it("policy 'rails' without a synced token says why none was synced, for each license kind", () => {
    const why = (license: TokenSituation['license']) => reason({ policy: 'rails', license }, 'documentation_search')
    const around = (because: string) =>
      `GitLab would send no token for documentation_search: documentation_search maps to no feature setting, and there is no synced CustomersDot token: ${because}. Rails then sends "Authorization: Bearer " and the gateway answers 401 "Forbidden by auth provider" (Not enough segments). Fix: set CLOUD_CONNECTOR_SELF_SIGN_TOKENS=true on the instance, or use policy 'safe'.`
    expect(why('legacy')).toBe(around('a legacy license does not sync one (only an online cloud license does)'))
    expect(why('none')).toBe(around('without a license none is synced'))
  })
})

