import { createPrivateKey, createPublicKey } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { inspect } from 'node:util'
import { importJWK, jwtVerify } from 'jose'
import { describe, expect, it, vi } from 'vitest'
import { InvalidOptionsError, TokenError } from '../src/errors.js'
import { loadSigningKey } from '../src/keys/index.js'
import {
  FEATURE_SETTINGS,
  UNIT_PRIMITIVE_FEATURE_SETTINGS,
  createTokenIssuer,
  createTokenSource,
  decideTokenSource,
  featureSettingFor,
  type PolicyBranch,
  type TokenSituation,
  type TokenSourceOptions,
} from '../src/token/index.js'
import type { TokenSourceKind } from '../src/types.js'

const PEM = readFileSync(new URL('./fixtures/instance-key.pem', import.meta.url), 'utf8')
const NOW = new Date('2026-02-01T12:00:00.000Z')
const INSTANCE = 'f798e820-207f-4849-869d-1f753edb3312'
const SYNCED_TOKEN = 'cdot.opaque-synced-token-value-0123456789abcdef'

/** The reported instance: GitLab 18.5, offline license with Duo Enterprise, self-hosted gateway. */
async function reportedIssuer() {
  return createTokenIssuer({
    issuer: 'https://gitlab.example.com',
    instanceId: INSTANCE,
    realm: 'self-managed',
    key: await loadSigningKey(PEM),
    addOns: ['duo_enterprise'],
    now: () => NOW,
  })
}

async function rejection(p: Promise<unknown> | (() => unknown)): Promise<unknown> {
  try {
    await (typeof p === 'function' ? p() : p)
  } catch (e) {
    return e
  }
  throw new Error('expected a rejection')
}

const RAILS_OFFLINE_COMPLETE_CODE_REASON =
  'GitLab would send no token for complete_code: complete_code maps to the feature setting code_completions (Code Completion), which is not assigned to a self-hosted model, and there is no synced CustomersDot token: an offline cloud license never syncs one (SyncCloudConnectorAccessService runs only for an online cloud license). Rails then sends "Authorization: Bearer " and the gateway answers 401 "Forbidden by auth provider" (Not enough segments). Fix: assign code_completions (Code Completion) to a self-hosted model, or set CLOUD_CONNECTOR_SELF_SIGN_TOKENS=true on the instance, or use policy \'safe\'.'

describe('the reported scenario: offline license, Code Completion not self-hosted, request for complete_code', () => {
  const situation = { license: 'offline-cloud', selfHostedFeatures: ['duo_chat'], selfHostedGateway: true } as const

  it("policy 'rails' yields no token, with the reason", async () => {
    const source = createTokenSource({ ...situation, policy: 'rails', selfIssued: await reportedIssuer(), now: () => NOW })
    const result = await source.getToken({ unitPrimitive: 'complete_code' })
    expect(result).toEqual({ source: 'none', branch: 'no-synced-token', reason: RAILS_OFFLINE_COMPLETE_CODE_REASON })
  })

  it("policy 'rails' self-issues for General Chat (duo_classic_chat), which is self-hosted — why chat works", async () => {
    const source = createTokenSource({ ...situation, policy: 'rails', selfIssued: await reportedIssuer(), now: () => NOW })
    const result = await source.getToken({ unitPrimitive: 'duo_classic_chat' })
    expect(result.source).toBe('self-issued')
    expect(result.branch).toBe('feature-self-hosted')
    expect(result.reason).toBe(
      'duo_classic_chat maps to the feature setting duo_chat (General Chat), which is assigned to a self-hosted model, so GitLab self-issues the token.',
    )
  })

  it("policy 'safe' (the default) yields a self-issued JWT whose scopes contain complete_code", async () => {
    const issuer = await reportedIssuer()
    const source = createTokenSource({ ...situation, selfIssued: issuer, now: () => NOW })
    const result = await source.getToken({ unitPrimitive: 'complete_code' })
    expect(result.source).toBe('self-issued')
    expect(result.branch).toBe('offline-license')
    expect(result.reason).toBe(
      "The instance has an offline cloud license, which never syncs a CustomersDot token: every gateway call must carry a self-issued JWT, verified against the instance's own JWKS. (GitLab itself would send no token here: branch no-synced-token.)",
    )
    expect(result.expiresAt?.toISOString()).toBe('2026-02-01T13:00:00.000Z')
    const jwk = createPublicKey(createPrivateKey(PEM)).export({ format: 'jwk' })
    const { payload, protectedHeader } = await jwtVerify(result.token ?? '', await importJWK({ kty: 'RSA', n: jwk.n, e: jwk.e }, 'RS256'), {
      audience: 'gitlab-ai-gateway',
      currentDate: NOW,
    })
    expect(protectedHeader.kid).toBe(issuer.kid)
    expect(payload.scopes).toContain('complete_code')
    expect(payload.sub).toBe(INSTANCE)
    expect(payload.gitlab_realm).toBe('self-managed')
    expect(payload.iss).toBe('https://gitlab.example.com')
  })

  it("the 'safe' decision also says what GitLab would have done", () => {
    const d = decideTokenSource({ ...situation, hasSigningKey: true }, 'complete_code')
    expect(d).toEqual({
      source: 'self-issued',
      branch: 'offline-license',
      reason:
        "The instance has an offline cloud license, which never syncs a CustomersDot token: every gateway call must carry a self-issued JWT, verified against the instance's own JWKS. (GitLab itself would send no token here: branch no-synced-token.)",
      policy: 'safe',
      unitPrimitive: 'complete_code',
      featureSetting: 'code_completions',
      rails: { source: 'none', branch: 'no-synced-token' },
    })
  })
})

describe("policy 'rails' = CloudConnector::Tokens.get, branch by branch, in order", () => {
  const base: TokenSituation = { policy: 'rails', license: 'online-cloud', synced: 'active', syncedExpiresAt: new Date('2026-02-01T13:00:00Z') }
  const rows: [string, TokenSituation, string, TokenSourceKind, PolicyBranch][] = [
    // each row makes every later check true as well, to show the earlier one wins
    [
      '1. GitLab.com wins over everything',
      { ...base, gitlabCom: true, selfHostedFeatures: ['code_completions'], selfSignOverride: true },
      'self_hosted_models',
      'self-issued',
      'gitlab-com',
    ],
    ['2. self_hosted_models', { ...base, selfHostedFeatures: ['code_completions'], selfSignOverride: true }, 'self_hosted_models', 'self-issued', 'self-hosted-models'],
    ['3. feature setting self-hosted', { ...base, selfHostedFeatures: ['code_completions'], selfSignOverride: true }, 'complete_code', 'self-issued', 'feature-self-hosted'],
    ['3. code_suggestions shares Code Completion', { ...base, selfHostedFeatures: ['code_completions'] }, 'code_suggestions', 'self-issued', 'feature-self-hosted'],
    ['4. CLOUD_CONNECTOR_SELF_SIGN_TOKENS', { ...base, selfHostedFeatures: ['duo_chat'], selfSignOverride: true }, 'complete_code', 'self-issued', 'self-sign-override'],
    ['5. the active synced token', { ...base, selfHostedFeatures: ['duo_chat'] }, 'complete_code', 'synced', 'synced'],
    ['5. an offline license with a synced token still uses it', { ...base, license: 'offline-cloud' }, 'complete_code', 'synced', 'synced'],
    ['6. no synced token → no token', { ...base, synced: 'absent' }, 'complete_code', 'none', 'no-synced-token'],
    ['6. expired synced token → no token', { ...base, synced: 'expired' }, 'complete_code', 'none', 'synced-token-expired'],
    ['6. a key does not matter to Rails', { ...base, synced: 'absent', hasSigningKey: true, license: 'offline-cloud' }, 'complete_code', 'none', 'no-synced-token'],
    ['6. nor does a self-hosted gateway', { ...base, synced: 'absent', selfHostedGateway: true }, 'complete_code', 'none', 'no-synced-token'],
    ['loader not yet asked', { ...base, synced: 'unknown' }, 'complete_code', 'synced', 'synced-pending'],
  ]
  for (const [name, situation, up, source, branch] of rows) {
    it(name, () => {
      const d = decideTokenSource(situation, up)
      expect([d.source, d.branch, d.policy]).toEqual([source, branch, 'rails'])
      expect(d.rails).toBeUndefined()
    })
  }

  it('reasons, exactly', () => {
    const d = (s: Partial<TokenSituation>, up = 'complete_code') => decideTokenSource({ ...base, ...s }, up).reason
    expect(d({ gitlabCom: true })).toBe('The instance is GitLab.com, where GitLab always self-issues its tokens.')
    expect(d({}, 'self_hosted_models')).toBe('The unit primitive is self_hosted_models, for which GitLab always self-issues the token.')
    expect(d({ selfSignOverride: true })).toBe('CLOUD_CONNECTOR_SELF_SIGN_TOKENS is true, so GitLab self-issues the token.')
    expect(d({})).toBe(
      'complete_code maps to the feature setting code_completions (Code Completion), which is not assigned to a self-hosted model, so GitLab uses the token synced from CustomersDot, valid until 2026-02-01T13:00:00.000Z.',
    )
    expect(d({ synced: 'expired' })).toBe(
      'GitLab would send no token for complete_code: complete_code maps to the feature setting code_completions (Code Completion), which is not assigned to a self-hosted model, and the synced CustomersDot token expired at 2026-02-01T13:00:00.000Z and was not renewed (ServiceAccessToken.active is empty). Rails then sends "Authorization: Bearer " and the gateway answers 401 "Forbidden by auth provider" (Not enough segments). Fix: assign code_completions (Code Completion) to a self-hosted model, or set CLOUD_CONNECTOR_SELF_SIGN_TOKENS=true on the instance, or use policy \'safe\'.',
    )
    expect(d({ synced: 'absent' }, 'documentation_search')).toBe(
      'GitLab would send no token for documentation_search: documentation_search maps to no feature setting, and there is no synced CustomersDot token: the hourly sync for this online cloud license has not stored one (check SyncCloudConnectorAccessService and the connection to CustomersDot). Rails then sends "Authorization: Bearer " and the gateway answers 401 "Forbidden by auth provider" (Not enough segments). Fix: set CLOUD_CONNECTOR_SELF_SIGN_TOKENS=true on the instance, or use policy \'safe\'.',
    )
    expect(d({ synced: 'absent', license: 'offline-cloud' })).toBe(RAILS_OFFLINE_COMPLETE_CODE_REASON)
  })
})

describe("policy 'safe'", () => {
  const rows: [string, TokenSituation, TokenSourceKind, PolicyBranch][] = [
    ['offline license', { license: 'offline-cloud', hasSigningKey: true }, 'self-issued', 'offline-license'],
    ['offline license even with a synced token', { license: 'offline-cloud', hasSigningKey: true, synced: 'active' }, 'self-issued', 'offline-license'],
    ['legacy license', { license: 'legacy', hasSigningKey: true }, 'self-issued', 'legacy-license'],
    ['no license', { license: 'none', hasSigningKey: true }, 'self-issued', 'no-license'],
    ['self-hosted gateway', { license: 'online-cloud', selfHostedGateway: true, hasSigningKey: true, synced: 'active' }, 'self-issued', 'self-hosted-gateway'],
    ["GitLab's own reasons first", { license: 'offline-cloud', gitlabCom: true, hasSigningKey: true }, 'self-issued', 'gitlab-com'],
    ['feature self-hosted', { license: 'offline-cloud', selfHostedFeatures: ['code_completions'], hasSigningKey: true }, 'self-issued', 'feature-self-hosted'],
    ['online cloud with an active synced token', { license: 'online-cloud', hasSigningKey: true, synced: 'active' }, 'synced', 'synced'],
    ['online cloud, no synced token, key → fallback', { license: 'online-cloud', hasSigningKey: true }, 'self-issued', 'synced-missing-fallback'],
    ['online cloud, expired synced token, key → fallback', { license: 'online-cloud', hasSigningKey: true, synced: 'expired' }, 'self-issued', 'synced-expired-fallback'],
    ['offline, no key, but a synced token', { license: 'offline-cloud', synced: 'active' }, 'synced', 'synced-no-key'],
    ['offline, no key, no synced token → none', { license: 'offline-cloud' }, 'none', 'no-token-configured'],
    ['online, no key, no synced token → none', { license: 'online-cloud', synced: 'expired' }, 'none', 'no-token-configured'],
    ['online, loader not yet asked', { license: 'online-cloud', synced: 'unknown', hasSigningKey: true }, 'synced', 'synced-pending'],
  ]
  for (const [name, situation, source, branch] of rows) {
    it(name, () => {
      const d = decideTokenSource(situation, 'complete_code')
      expect([d.source, d.branch, d.policy]).toEqual([source, branch, 'safe'])
    })
  }

  it('never ends with no token when a key exists', () => {
    for (const license of ['online-cloud', 'offline-cloud', 'legacy', 'none'] as const) {
      for (const synced of ['active', 'expired', 'absent'] as const) {
        for (const selfHostedGateway of [false, true]) {
          for (const up of ['complete_code', 'duo_chat', 'documentation_search', 'self_hosted_models', 'made_up']) {
            expect(decideTokenSource({ license, synced, selfHostedGateway, hasSigningKey: true }, up).source).not.toBe('none')
          }
        }
      }
    }
  })

  it('says what to configure when it has nothing', () => {
    expect(decideTokenSource({ license: 'offline-cloud' }, 'complete_code').reason).toBe(
      "No token for complete_code: the instance has an offline cloud license, which never syncs a CustomersDot token: every gateway call must carry a self-issued JWT, verified against the instance's own JWKS. But no signing key is configured. Configure selfIssued: createTokenIssuer({ issuer, instanceId, realm, key: await loadSigningKey(<the instance key from cloud_connector_keys>) }).",
    )
    expect(decideTokenSource({ license: 'online-cloud' }, 'complete_code').reason).toBe(
      'No token for complete_code: the instance has an online cloud license but no synced CustomersDot token is stored (the hourly sync has not run or failed), and no signing key is configured. Provide the synced token (synced: { token, expiresAt } or a loader), or configure selfIssued (createTokenIssuer with the instance key).',
    )
  })

  it('explains a fallback from a missing synced token', () => {
    expect(decideTokenSource({ license: 'online-cloud', hasSigningKey: true }, 'complete_code').reason).toBe(
      "The instance has an online cloud license but no synced CustomersDot token is stored (the hourly sync has not run or failed): falling back to a self-issued JWT. The gateway accepts it only if it trusts this instance's keys (its AIGW_GITLAB_URL points at this instance); check the CustomersDot sync. (GitLab itself would send no token here: branch no-synced-token.)",
    )
  })

  it('is the default policy', () => {
    expect(decideTokenSource({ license: 'offline-cloud', hasSigningKey: true }, 'complete_code').policy).toBe('safe')
  })
})

describe('feature settings (feature_metadata.yml)', () => {
  it('maps unit primitives the way Ai::FeatureSetting.unit_primitive_to_feature_name_map does', () => {
    expect(featureSettingFor('complete_code')).toBe('code_completions')
    expect(featureSettingFor('code_suggestions')).toBe('code_completions')
    expect(featureSettingFor('generate_code')).toBe('code_generations')
    expect(featureSettingFor('duo_classic_chat')).toBe('duo_chat')
    expect(featureSettingFor('include_file_context')).toBe('duo_chat')
    expect(featureSettingFor('duo_chat')).toBe('duo_agent_platform_agentic_chat')
    expect(featureSettingFor('explain_code')).toBe('duo_chat_explain_code')
    expect(featureSettingFor('self_hosted_models')).toBeUndefined()
    expect(featureSettingFor('documentation_search')).toBeUndefined()
    expect(featureSettingFor('toString')).toBeUndefined()
    expect(Object.keys(UNIT_PRIMITIVE_FEATURE_SETTINGS)).toHaveLength(31)
    expect(FEATURE_SETTINGS.map((f) => f.name)).toHaveLength(22)
  })

  it('a featureSettingMap overrides the mapping (older GitLab versions)', () => {
    const d = decideTokenSource(
      { policy: 'rails', license: 'offline-cloud', selfHostedFeatures: ['duo_chat'], featureSettingMap: { duo_chat: 'duo_chat' } },
      'duo_chat',
    )
    expect([d.source, d.branch, d.featureSetting]).toEqual(['self-issued', 'feature-self-hosted', 'duo_chat'])
  })
})

describe('createTokenSource', () => {
  it('returns the synced token when the policy picks it, with its expiry', async () => {
    const source = createTokenSource({
      license: 'online-cloud',
      synced: { token: SYNCED_TOKEN, expiresAt: new Date('2026-02-01T13:00:00Z') },
      now: () => NOW,
    })
    expect(await source.getToken({ unitPrimitive: 'complete_code' })).toEqual({
      token: SYNCED_TOKEN,
      source: 'synced',
      branch: 'synced',
      reason: 'The instance has an online cloud license: it uses the token synced from CustomersDot, valid until 2026-02-01T13:00:00.000Z.',
      expiresAt: new Date('2026-02-01T13:00:00Z'),
    })
  })

  it('a synced token expiring exactly now is not active (ServiceAccessToken.active: expires_at > now)', async () => {
    const issuer = await reportedIssuer()
    const source = createTokenSource({ license: 'online-cloud', selfIssued: issuer, synced: { token: SYNCED_TOKEN, expiresAt: NOW }, now: () => NOW })
    const r = await source.getToken({ unitPrimitive: 'complete_code' })
    expect([r.source, r.branch]).toEqual(['self-issued', 'synced-expired-fallback'])
  })

  it("'none' is returned, not thrown", async () => {
    const source = createTokenSource({ license: 'offline-cloud', now: () => NOW })
    const r = await source.getToken({ unitPrimitive: 'complete_code' })
    expect(r).toEqual({ source: 'none', branch: 'no-token-configured', reason: decideTokenSource({ license: 'offline-cloud' }, 'complete_code').reason })
  })

  it("policy 'rails' choosing self-issued without a key throws ERR_NO_TOKEN, as Rails raises", async () => {
    const source = createTokenSource({ policy: 'rails', license: 'offline-cloud', selfHostedFeatures: ['code_completions'] })
    const err = (await rejection(source.getToken({ unitPrimitive: 'complete_code' }))) as TokenError
    expect(err.code).toBe('ERR_NO_TOKEN')
    expect(err.unitPrimitive).toBe('complete_code')
    expect(err.message).toBe(
      'complete_code maps to the feature setting code_completions (Code Completion), which is assigned to a self-hosted model, so GitLab self-issues the token. But no signing key is configured: pass selfIssued: createTokenIssuer({ key, ... }) with the instance key (GitLab raises "Cloud Connector: no key found" here).',
    )
  })

  it('passes forceRefresh to the issuer', async () => {
    const issuer = await reportedIssuer()
    const source = createTokenSource({ license: 'offline-cloud', selfIssued: issuer, now: () => NOW })
    const a = await source.getToken({ unitPrimitive: 'complete_code' })
    const b = await source.getToken({ unitPrimitive: 'complete_code', forceRefresh: true })
    expect(b.token).not.toBe(a.token)
    expect(issuer.stats.mints).toBe(2)
  })

  it('decide() exposes the decision without minting', async () => {
    const issuer = await reportedIssuer()
    const source = createTokenSource({ license: 'offline-cloud', selfIssued: issuer })
    expect(source.decide('complete_code').branch).toBe('offline-license')
    expect(source.policy).toBe('safe')
    expect(issuer.stats.mints).toBe(0)
  })

  it('accepts CLOUD_CONNECTOR_SELF_SIGN_TOKENS text as GitLab reads it', () => {
    const branch = (v: string | boolean) => createTokenSource({ policy: 'rails', license: 'online-cloud', selfSignOverride: v }).decide('complete_code').branch
    for (const v of ['true', 'TRUE', '1', 'yes', 'on', 't', 'y', true]) expect(branch(v)).toBe('self-sign-override')
    for (const v of ['false', '0', 'no', 'off', '', false]) expect(branch(v)).toBe('no-synced-token')
    expect(() => branch('enabled')).toThrow(
      'createTokenSource: options.selfSignOverride "enabled" is not a boolean: use true/false (GitLab reads CLOUD_CONNECTOR_SELF_SIGN_TOKENS with Gitlab::Utils.to_boolean: true, t, yes, y, 1, on).',
    )
  })
})

describe('createTokenSource: a synced-token loader', () => {
  it('is asked only when the decision depends on it, once while the token is active, again after it expires', async () => {
    let now = NOW
    const loader = vi.fn(async () => ({ token: SYNCED_TOKEN, expiresAt: new Date('2026-02-01T13:00:00Z') }))
    const issuer = await reportedIssuer()
    const source = createTokenSource({ license: 'online-cloud', selfIssued: issuer, synced: loader, now: () => now })
    expect(source.decide('complete_code').branch).toBe('synced-pending')
    const a = await source.getToken({ unitPrimitive: 'complete_code' })
    expect([a.source, a.branch, a.token]).toEqual(['synced', 'synced', SYNCED_TOKEN])
    await source.getToken({ unitPrimitive: 'complete_code' })
    expect(loader).toHaveBeenCalledTimes(1)
    expect(source.decide('complete_code').branch).toBe('synced')
    // self_hosted_models is always self-issued: the loader is not asked
    expect((await source.getToken({ unitPrimitive: 'self_hosted_models' })).source).toBe('self-issued')
    expect(loader).toHaveBeenCalledTimes(1)
    now = new Date('2026-02-01T13:00:00Z')
    loader.mockResolvedValueOnce(undefined as never)
    const c = await source.getToken({ unitPrimitive: 'complete_code' })
    expect([c.source, c.branch]).toEqual(['self-issued', 'synced-missing-fallback'])
    expect(loader).toHaveBeenCalledTimes(2)
  })

  it('each answer follows what is known now: the same source across an expiry and a renewed synced token', async () => {
    let now = NOW
    let expiresAt = new Date('2026-02-01T13:00:00Z')
    const issuer = await reportedIssuer()
    const source = createTokenSource({ license: 'online-cloud', selfIssued: issuer, synced: async () => ({ token: SYNCED_TOKEN, expiresAt }), now: () => now })
    const step = async (branch: PolicyBranch, until?: string) => {
      const r = await source.getToken({ unitPrimitive: 'complete_code' })
      expect(r.branch).toBe(branch)
      if (until !== undefined) {
        // the answer's reason is the decision's, for what is known at this instant
        expect(r.reason).toBe(source.decide('complete_code').reason)
        expect(r.reason).toContain(`valid until ${until}`)
      }
      return r
    }
    await step('synced', '2026-02-01T13:00:00.000Z')
    await step('synced', '2026-02-01T13:00:00.000Z')
    // CustomersDot renewed the token: once the old one expires, the loader's new expiry is in the answer
    expiresAt = new Date('2026-02-02T13:00:00Z')
    now = new Date('2026-02-01T13:00:00Z')
    await step('synced', '2026-02-02T13:00:00.000Z')
    // and when nothing valid comes back, the same source falls back to a self-issued token
    expiresAt = new Date('2026-02-01T14:00:00Z')
    now = new Date('2026-02-02T13:00:00Z')
    const fallback = await step('synced-expired-fallback')
    expect(fallback.source).toBe('self-issued')
    expect(fallback.reason).toContain('expired at 2026-02-01T14:00:00.000Z')
  })

  it('concurrent callers share one load; forceRefresh reloads', async () => {
    const loader = vi.fn(async () => ({ token: SYNCED_TOKEN, expiresAt: '2026-02-01T13:00:00Z' as unknown as Date }))
    const source = createTokenSource({ policy: 'rails', license: 'online-cloud', synced: loader, now: () => NOW })
    const all = await Promise.all(Array.from({ length: 20 }, () => source.getToken({ unitPrimitive: 'complete_code' })))
    expect(all.every((r) => r.token === SYNCED_TOKEN && r.expiresAt?.toISOString() === '2026-02-01T13:00:00.000Z')).toBe(true)
    expect(loader).toHaveBeenCalledTimes(1)
    await source.getToken({ unitPrimitive: 'complete_code', forceRefresh: true })
    expect(loader).toHaveBeenCalledTimes(2)
  })

  it('a failing loader gives ERR_SYNCED_TOKEN_INVALID without echoing its message', async () => {
    const source = createTokenSource({
      license: 'online-cloud',
      synced: async () => {
        throw new Error(`db error near ${SYNCED_TOKEN}`)
      },
    })
    const err = (await rejection(source.getToken({ unitPrimitive: 'complete_code' }))) as TokenError
    expect(err).toBeInstanceOf(TokenError)
    expect(err.code).toBe('ERR_SYNCED_TOKEN_INVALID')
    expect(err.message).toBe(
      'The synced-token loader failed (Error): check the store it reads (GitLab keeps it in cloud_connector_access / ServiceAccessToken).',
    )
    expect(`${inspect(err)}${JSON.stringify(err)}`).not.toContain(SYNCED_TOKEN)
  })

  it('an invalid loaded value is refused, and the token is only shown redacted', async () => {
    const bad = `${SYNCED_TOKEN}\n`
    const source = createTokenSource({ license: 'online-cloud', synced: async () => ({ token: bad, expiresAt: new Date('2026-02-01T13:00:00Z') }) })
    const err = (await rejection(source.getToken({ unitPrimitive: 'complete_code' }))) as TokenError
    expect(err.code).toBe('ERR_SYNCED_TOKEN_INVALID')
    expect(err.message).toMatch(
      /^The synced-token loader returned an invalid value: token contains whitespace \(<redacted 48 chars, sha256:[\w-]{10}>\); copy it without line breaks or spaces; it must resolve to \{ token, expiresAt \} or undefined\.$/,
    )
    expect(err.message).not.toContain(SYNCED_TOKEN)
  })

  it('never logs a token', async () => {
    const calls: unknown[] = []
    const log = (...args: unknown[]) => void calls.push(args)
    const issuer = await reportedIssuer()
    const source = createTokenSource({
      license: 'online-cloud',
      selfIssued: issuer,
      synced: async () => ({ token: SYNCED_TOKEN, expiresAt: new Date('2026-02-01T13:00:00Z') }),
      logger: { debug: log, info: log, warn: log, error: log },
      now: () => NOW,
    })
    const a = await source.getToken({ unitPrimitive: 'complete_code' })
    const b = await source.getToken({ unitPrimitive: 'self_hosted_models' })
    const logged = JSON.stringify(calls)
    expect(calls.length).toBeGreaterThan(0)
    expect(logged).not.toContain(SYNCED_TOKEN)
    expect(logged).not.toContain(b.token ?? 'x')
    expect(a.token).toBe(SYNCED_TOKEN)
    expect(inspect(source, { depth: 8 })).not.toContain(SYNCED_TOKEN)
  })
})

describe('createTokenSource: options validation', () => {
  const cases: [string, Partial<TokenSourceOptions> & Record<string, unknown>, string][] = [
    [
      'license missing',
      { license: undefined },
      'createTokenSource: options.license is required: one of "online-cloud", "offline-cloud", "legacy", "none" (the instance\'s license kind)',
    ],
    ['policy unknown', { policy: 'strict' as never }, 'createTokenSource: options.policy must be "safe" (never ends without a token when a key exists) or "rails" (GitLab\'s own decision)'],
    [
      'a unit primitive where a feature setting belongs',
      { selfHostedFeatures: ['duo_chat', 'complete_code'] },
      'createTokenSource: options.selfHostedFeatures[1] "complete_code" is a unit primitive, not a feature setting; its feature setting is "code_completions".',
    ],
    [
      'synced token empty',
      { synced: { token: '', expiresAt: NOW } },
      'createTokenSource: options.synced.token is empty (GitLab would send "Bearer " and the gateway answers 401): pass { token: <the CustomersDot token>, expiresAt: <Date> }.',
    ],
    [
      'synced expiry missing',
      { synced: { token: SYNCED_TOKEN } as never },
      'createTokenSource: options.synced.expiresAt must be a Date (or ISO 8601 text): pass { token: <the CustomersDot token>, expiresAt: <Date> }.',
    ],
    ['selfIssued not an issuer', { selfIssued: {} as never }, 'createTokenSource: options.selfIssued must be a token issuer from createTokenIssuer()'],
    ['typo', { selfHostedFeature: ['duo_chat'] }, 'createTokenSource: options.selfHostedFeature is not an option: did you mean "selfHostedFeatures"?'],
  ]
  for (const [name, over, message] of cases) {
    it(name, () => {
      const err = (() => {
        try {
          createTokenSource({ license: 'offline-cloud', ...over } as TokenSourceOptions)
        } catch (e) {
          return e
        }
        return undefined
      })() as InvalidOptionsError
      expect(err).toBeInstanceOf(InvalidOptionsError)
      expect(err.code).toBe('ERR_INVALID_OPTIONS')
      expect(err.message).toBe(message)
      expect(err.message).not.toContain(SYNCED_TOKEN)
    })
  }

  it('an unknown feature setting lists the known ones', () => {
    expect(() => createTokenSource({ license: 'offline-cloud', selfHostedFeatures: ['code_completion'] })).toThrow(
      /^createTokenSource: options\.selfHostedFeatures\[0\] "code_completion" is not a feature setting; known: code_generations, code_completions, duo_chat, /,
    )
  })

  it('decideTokenSource needs a known license kind', () => {
    expect(() => decideTokenSource({ license: 'offline' as never }, 'complete_code')).toThrow(
      'decideTokenSource: situation.license must be one of "online-cloud", "offline-cloud", "legacy", "none".',
    )
  })

  it('decideTokenSource needs a unit primitive', () => {
    expect(() => decideTokenSource({ license: 'none' }, '')).toThrow('decideTokenSource: unitPrimitive must be a non-empty string, e.g. "complete_code".')
  })
})

describe('the feature setting Rails passes explicitly to Tokens.get (issue 13)', () => {
  // flyisland/gitlab-ee ee/lib/cloud_connector/tokens.rb @ 52d0d30b: get(unit_primitive:, feature_setting:) and
  // `feature_setting ||= ::Ai::FeatureSetting.feature_for_unit_primitive(unit_primitive)`; Duo Workflow passes the
  // duo_agent_platform feature setting (ee/spec/lib/gitlab/duo_workflow/client_spec.rb).
  const situation = { license: 'offline-cloud', policy: 'rails', selfHostedFeatures: ['duo_agent_platform'] } as const

  it("policy 'rails' judges the given feature setting instead of the unit primitive's", async () => {
    const source = createTokenSource({ ...situation, selfIssued: await reportedIssuer(), now: () => NOW })
    // duo_chat maps to duo_agent_platform_agentic_chat, which is not self-hosted here
    expect((await source.getToken({ unitPrimitive: 'duo_chat' })).source).toBe('none')
    const given = await source.getToken({ unitPrimitive: 'duo_chat', featureSetting: 'duo_agent_platform' })
    expect(given.source).toBe('self-issued')
    expect(given.branch).toBe('feature-self-hosted')
    expect(given.reason).toBe(
      'duo_chat maps to the feature setting duo_agent_platform (Agents & flows), which is assigned to a self-hosted model, so GitLab self-issues the token.',
    )
    // and the other way round: a given setting that is not self-hosted wins over a mapped one that is
    const chat = createTokenSource({ ...situation, selfHostedFeatures: ['duo_chat'], selfIssued: await reportedIssuer(), now: () => NOW })
    expect((await chat.getToken({ unitPrimitive: 'duo_classic_chat' })).source).toBe('self-issued')
    expect((await chat.getToken({ unitPrimitive: 'duo_classic_chat', featureSetting: 'code_completions' })).source).toBe('none')
    expect(chat.decide('duo_classic_chat', 'code_completions')).toMatchObject({ source: 'none', featureSetting: 'code_completions' })
  })

  it('decideTokenSource takes it as a third argument and refuses an empty name', () => {
    expect(decideTokenSource({ ...situation }, 'duo_chat', 'duo_agent_platform').branch).toBe('feature-self-hosted')
    expect(() => decideTokenSource({ ...situation }, 'duo_chat', '')).toThrow(InvalidOptionsError)
  })

  it('the request\'s skipUsageCutoff reaches the self-issued token', async () => {
    const source = createTokenSource({ license: 'offline-cloud', selfIssued: await reportedIssuer(), now: () => NOW })
    const member = await source.getToken({ unitPrimitive: 'complete_code', skipUsageCutoff: true })
    const plain = await source.getToken({ unitPrimitive: 'complete_code' })
    const claims = (t: string | undefined) => JSON.parse(Buffer.from((t ?? '').split('.')[1] ?? '', 'base64url').toString('utf8')) as Record<string, unknown>
    expect(claims(member.token).skip_usage_cutoff).toBe(true)
    expect(claims(plain.token).skip_usage_cutoff).toBe(false)
    expect(source.peekToken?.({ unitPrimitive: 'complete_code', skipUsageCutoff: true })?.token).toBe(member.token)
  })
})
