import type { z } from 'zod'
import { lazy } from '../zod.js'
import { InvalidOptionsError, TokenError } from '../errors.js'
import { errorLabel, redact } from '../redact.js'
import { toLog, type Logger } from '../log.js'
import type { Clock, TokenRequest, TokenResult, TokenSource, TokenSourceKind } from '../types.js'
import { FEATURE_SETTINGS, UNIT_PRIMITIVE_FEATURE_SETTINGS, featureSettingFor, featureSettingTitle } from './feature-settings.js'
import type { TokenIssuer } from './issuer.js'
import { fn, parseOptions } from './options.js'

/**
 * Which token an instance sends for a unit primitive.
 *
 * Policy `rails` is `CloudConnector::Tokens.get` (`ee/lib/cloud_connector/tokens.rb`) step by step:
 *
 *   1. GitLab.com (`Gitlab::Saas.feature_available?(:cloud_connector_self_signed_tokens)`) → self-issued
 *   2. unit primitive `self_hosted_models`                                                → self-issued
 *   3. the feature setting is self-hosted (`Ai::FeatureSetting#self_hosted?`): the one the caller passes
 *      (`Tokens.get(feature_setting:)`), else the one the unit primitive maps to  → self-issued
 *   4. `CLOUD_CONNECTOR_SELF_SIGN_TOKENS` is true (`Gitlab::Utils.to_boolean`)            → self-issued
 *   5. else `ServiceAccessToken.active.last&.token`: the synced CustomersDot token, or nil.
 *
 * Step 5 is where an offline license ends with no token at all (it never syncs one), and Rails then
 * sends `Authorization: Bearer ` — the reported 401. Policy `safe` (the default) keeps steps 1–4 and
 * self-issues whenever the license is offline, legacy or absent or the gateway is self-hosted; an
 * online cloud license uses its synced token and falls back to a self-issued one. It ends with no
 * token only when there is neither a signing key nor a synced token, and then says what to configure.
 */
export function decideTokenSource(situation: TokenSituation, unitPrimitive: string, featureSetting?: string): PolicyDecision {
  if (typeof unitPrimitive !== 'string' || unitPrimitive.length === 0) {
    throw new InvalidOptionsError('decideTokenSource: unitPrimitive must be a non-empty string, e.g. "complete_code".', [
      { path: 'unitPrimitive', message: 'is required' },
    ])
  }
  if (!situation || !LICENSES.includes(situation.license)) {
    throw new InvalidOptionsError(`decideTokenSource: situation.license must be one of ${LICENSES.map((l) => `"${l}"`).join(', ')}.`, [
      { path: 'situation.license', message: 'is not a license kind' },
    ])
  }
  if (featureSetting !== undefined && (typeof featureSetting !== 'string' || featureSetting.length === 0)) {
    throw new InvalidOptionsError('decideTokenSource: featureSetting must be a feature setting name, e.g. "duo_agent_platform", or undefined.', [
      { path: 'featureSetting', message: 'must be a non-empty string' },
    ])
  }
  const policy = situation.policy ?? 'safe'
  const rails = decideRails(situation, unitPrimitive, featureSetting)
  // The answer first, the context after: this object is printed to users as is.
  const { source, branch, reason, ...context } = policy === 'rails' ? rails : decideSafe(situation, unitPrimitive, rails)
  return { source, branch, reason, ...context }
}

/**
 * A TokenSource that applies a policy: self-issued tokens come from `selfIssued` (an issuer from
 * createTokenIssuer), the synced token from `synced` (a value or a loader). `getToken` never throws
 * for a 'none' decision — it returns `{ source: 'none', reason, branch }` and the client's preflight
 * refuses to send.
 */
export function createTokenSource(options: TokenSourceOptions): PolicyTokenSource {
  const opts = parseOptions('createTokenSource', sourceOptionsSchema(), options, SOURCE_OPTION_NAMES)
  const now: Clock = opts.now ?? (() => new Date())
  const policy: TokenPolicy = opts.policy ?? 'safe'
  const logger = toLog(opts.logger)
  const featureMap = opts.featureSettingMap ? Object.freeze({ ...opts.featureSettingMap }) : UNIT_PRIMITIVE_FEATURE_SETTINGS
  const selfHostedFeatures = checkFeatureNames(opts.selfHostedFeatures ?? [], featureMap)
  const selfSignOverride = opts.selfSignOverride === undefined ? false : toBoolean(opts.selfSignOverride)
  const issuer = opts.selfIssued
  const syncedInput = opts.synced
  const loader = typeof syncedInput === 'function' ? syncedInput : undefined
  const staticSynced = typeof syncedInput === 'function' || syncedInput === undefined ? undefined : checkSyncedValue(syncedInput, 'construction')

  let loaded: SyncedToken | undefined
  let loadedOnce = false
  let pendingLoad: Promise<SyncedToken | undefined> | undefined

  const situation = (synced: SyncedTokenState, syncedExpiresAt?: Date): TokenSituation => ({
    policy,
    license: opts.license,
    gitlabCom: opts.gitlabCom ?? false,
    selfHostedFeatures,
    selfSignOverride,
    selfHostedGateway: opts.selfHostedGateway ?? false,
    hasSigningKey: issuer !== undefined,
    synced,
    syncedExpiresAt,
    featureSettingMap: featureMap,
  })

  function stateOf(value: SyncedToken | undefined): SyncedTokenState {
    if (!value) return 'absent'
    return now().getTime() < value.expiresAt.getTime() ? 'active' : 'expired'
  }

  /** What is known without I/O: a loader that was never asked (or whose token expired) is 'unknown'. */
  function knownState(): { state: SyncedTokenState; value?: SyncedToken } {
    if (!loader) return { state: stateOf(staticSynced), value: staticSynced }
    if (!loadedOnce) return { state: 'unknown' }
    const state = stateOf(loaded)
    return state === 'active' ? { state, value: loaded } : { state: 'unknown' }
  }

  async function load(force: boolean): Promise<SyncedToken | undefined> {
    if (!loader) return staticSynced
    if (!force && loadedOnce && stateOf(loaded) === 'active') return loaded
    pendingLoad ??= (async () => {
      let result: unknown
      try {
        result = await loader()
      } catch (err) {
        throw new TokenError(
          'ERR_SYNCED_TOKEN_INVALID',
          `The synced-token loader failed (${errorLabel(err)}): check the store it reads (GitLab keeps it in cloud_connector_access / ServiceAccessToken).`,
        )
      }
      const value = result === undefined || result === null ? undefined : checkSyncedValue(result, 'loader')
      loaded = value
      loadedOnce = true
      return value
    })().finally(() => {
      pendingLoad = undefined
    })
    return pendingLoad
  }

  /**
   * `decideTokenSource` for this source's fixed situation, memoised: the decision depends only on the unit
   * primitive and what is known of the synced token (its state and expiry), and building its reasons on
   * every request costs more than the rest of a cached-token request.
   */
  const decisions = new Map<string, PolicyDecision>()
  // The last decision, compared field by field: a service asks the same question request after request,
  // and building and hashing the map key costs more than the rest of a cached-token request.
  let last: { unitPrimitive: string; state: SyncedTokenState; expiresAt: number | undefined; featureSetting: string | undefined; decision: PolicyDecision } | undefined
  function decisionFor(unitPrimitive: string, state: SyncedTokenState, expiresAt: Date | undefined, featureSetting: string | undefined): PolicyDecision {
    const expiresMs = expiresAt?.getTime()
    if (
      last !== undefined &&
      last.unitPrimitive === unitPrimitive &&
      last.state === state &&
      last.expiresAt === expiresMs &&
      last.featureSetting === featureSetting
    ) {
      return last.decision
    }
    const key = `${unitPrimitive}\u0000${state}\u0000${expiresMs ?? ''}\u0000${featureSetting ?? ''}`
    let decision = decisions.get(key)
    if (decision === undefined) {
      decision = decideTokenSource(situation(state, expiresAt), unitPrimitive, featureSetting)
      if (decisions.size >= 256) decisions.clear()
      decisions.set(key, decision)
    }
    last = { unitPrimitive, state, expiresAt: expiresMs, featureSetting, decision }
    return decision
  }

  /** The issuer's cached answer, if it has one now; anything else (an issuer whose peek throws) leaves it to getToken(). */
  function peekIssuer(asked: TokenRequest): TokenResult | undefined {
    try {
      return issuer?.peekToken?.(asked) ?? undefined
    } catch {
      return undefined
    }
  }

  const logDecision = (decision: PolicyDecision, unitPrimitive: string): void =>
    logger?.debug?.('cloud_connector.token_source', { unitPrimitive, policy, source: decision.source, branch: decision.branch })

  /** The answer for a self-issued decision, around the issuer's token. */
  const selfIssuedAnswer = (decision: PolicyDecision, minted: TokenResult): TokenResult => ({
    token: minted.token,
    source: 'self-issued',
    reason: decision.reason,
    branch: decision.branch,
    expiresAt: minted.expiresAt,
  })

  function answer(decision: PolicyDecision, synced: SyncedToken | undefined, request: TokenRequest, unitPrimitive: string, force: boolean): Promise<TokenResult> {
    logDecision(decision, unitPrimitive)
    if (decision.source === 'self-issued') {
      if (!issuer) {
        // Only reachable with policy 'rails': GitLab raises "Cloud Connector: no key found" here.
        throw new TokenError(
          'ERR_NO_TOKEN',
          `${decision.reason} But no signing key is configured: pass selfIssued: createTokenIssuer({ key, ... }) with the instance key (GitLab raises "Cloud Connector: no key found" here).`,
          { unitPrimitive },
        )
      }
      const asked = issuerRequest(request, unitPrimitive, force)
      // A cached token is answered at once, without waiting for the issuer's promise to settle first.
      const cached = force ? undefined : peekIssuer(asked)
      if (cached !== undefined) return Promise.resolve(selfIssuedAnswer(decision, cached))
      return issuer.getToken(asked).then((minted) => selfIssuedAnswer(decision, minted))
    }
    if (decision.source === 'synced' && synced) {
      return Promise.resolve({ token: synced.token, source: 'synced', reason: decision.reason, branch: decision.branch, expiresAt: new Date(synced.expiresAt.getTime()) })
    }
    return Promise.resolve({ source: 'none', reason: decision.reason, branch: decision.branch })
  }

  const source: PolicyTokenSource = {
    policy,
    decide(unitPrimitive, featureSetting) {
      const known = knownState()
      return decideTokenSource(situation(known.state, known.value?.expiresAt), unitPrimitive, featureSetting)
    },

    // Not `async`: with a known synced state and a cached self-issued token (the hot path) it answers
    // with one memo lookup and the issuer's cache hit, without an async frame.
    getToken(request) {
      try {
        const unitPrimitive = (request as TokenRequest | undefined)?.unitPrimitive as unknown
        if (typeof unitPrimitive !== 'string' || unitPrimitive.length === 0) {
          throw new InvalidOptionsError('getToken(): request.unitPrimitive must be the unit primitive the call needs, e.g. "complete_code".', [
            { path: 'request.unitPrimitive', message: 'is required' },
          ])
        }
        const force = request.forceRefresh === true
        const feature = featureOf(request)
        let known = knownState()
        if (force && loader) known = { state: 'unknown' }
        const decision = decisionFor(unitPrimitive, known.state, known.value?.expiresAt, feature)
        // The loader is asked only when the decision actually depends on the synced token.
        if (decision.source === 'synced' && known.state === 'unknown') {
          return load(force).then((synced) => answer(decisionFor(unitPrimitive, stateOf(synced), synced?.expiresAt, feature), synced, request, unitPrimitive, force))
        }
        return answer(decision, known.value, request, unitPrimitive, force)
      } catch (e) {
        return Promise.reject(e)
      }
    },

    peekToken(request) {
      const unitPrimitive = (request as TokenRequest | undefined)?.unitPrimitive as unknown
      if (typeof unitPrimitive !== 'string' || unitPrimitive.length === 0 || request.forceRefresh === true) return undefined
      try {
        const known = knownState()
        const decision = decisionFor(unitPrimitive, known.state, known.value?.expiresAt, featureOf(request))
        if (decision.source === 'self-issued') {
          const minted = peekIssuer(issuerRequest(request, unitPrimitive, false))
          if (minted === undefined) return undefined
          logDecision(decision, unitPrimitive)
          return selfIssuedAnswer(decision, minted)
        }
        // a synced or 'none' answer may need the loader, or carries a fresh copy of the expiry: let getToken() answer
        return undefined
      } catch {
        return undefined
      }
    },

    invalidate() {
      loaded = undefined
      loadedOnce = false
      issuer?.invalidate()
    },
  }
  return Object.freeze(source)
}

/** What the issuer is asked: the unit primitive, the claim the request wants, and the refresh/abort of the call. */
function issuerRequest(request: TokenRequest, unitPrimitive: string, force: boolean): TokenRequest {
  const out: TokenRequest = { unitPrimitive, forceRefresh: force }
  if (typeof request.skipUsageCutoff === 'boolean') out.skipUsageCutoff = request.skipUsageCutoff
  if (request.signal !== undefined) out.signal = request.signal
  return out
}

/** The feature setting the caller named, if it is usable (anything else counts as not given: the map decides). */
function featureOf(request: TokenRequest): string | undefined {
  const f = (request as { featureSetting?: unknown }).featureSetting
  return typeof f === 'string' && f.length > 0 ? f : undefined
}

export type TokenPolicy = 'safe' | 'rails'
export type LicenseKind = 'online-cloud' | 'offline-cloud' | 'legacy' | 'none'

/** `unknown`: a loader that has not been asked yet. */
export type SyncedTokenState = 'active' | 'expired' | 'absent' | 'unknown'

/** The stable names of the decisions, for logs, tests and UIs. */
export type PolicyBranch =
  // self-issued, both policies (CloudConnector::Tokens.get checks 1–4)
  | 'gitlab-com'
  | 'self-hosted-models'
  | 'feature-self-hosted'
  | 'self-sign-override'
  // self-issued, policy 'safe' only
  | 'offline-license'
  | 'legacy-license'
  | 'no-license'
  | 'self-hosted-gateway'
  | 'synced-missing-fallback'
  | 'synced-expired-fallback'
  // synced
  | 'synced'
  | 'synced-pending'
  | 'synced-no-key'
  // none
  | 'no-synced-token'
  | 'synced-token-expired'
  | 'no-token-configured'

export interface TokenSituation {
  policy?: TokenPolicy
  license: LicenseKind
  /** The instance is GitLab.com. */
  gitlabCom?: boolean
  /** Feature settings (`code_completions`, `duo_chat`, ...) assigned to a self-hosted model. */
  selfHostedFeatures?: readonly string[]
  /** `CLOUD_CONNECTOR_SELF_SIGN_TOKENS` is true. */
  selfSignOverride?: boolean
  /** The AI Gateway is run by the customer (self-hosted models). */
  selfHostedGateway?: boolean
  /** A signing key (self-issuer) is configured. Only policy 'safe' looks at it. */
  hasSigningKey?: boolean
  /** State of the synced CustomersDot token (default 'absent'). */
  synced?: SyncedTokenState
  syncedExpiresAt?: Date
  /** Override the unit primitive → feature setting map (default: feature_metadata.yml of GitLab 18.9-pre). */
  featureSettingMap?: Readonly<Record<string, string>>
}

export interface PolicyDecision {
  source: TokenSourceKind
  branch: PolicyBranch
  /** Why, in words a user can act on. Never contains a token. */
  reason: string
  policy: TokenPolicy
  unitPrimitive: string
  /** The feature setting the unit primitive maps to, if any. */
  featureSetting?: string
  /** For policy 'safe': what GitLab itself (policy 'rails') would do here. */
  rails?: { source: TokenSourceKind; branch: PolicyBranch }
}

export interface SyncedToken {
  /** The opaque token CustomersDot issued; never logged. */
  token: string
  expiresAt: Date
}

export type SyncedTokenLoader = () => Promise<SyncedToken | undefined | null> | SyncedToken | undefined | null

export interface TokenSourceOptions {
  /** Default 'safe'. */
  policy?: TokenPolicy
  license: LicenseKind
  gitlabCom?: boolean
  selfHostedFeatures?: readonly string[]
  /** `CLOUD_CONNECTOR_SELF_SIGN_TOKENS`: a boolean, or the variable's text ("true", "1", "yes", ...). */
  selfSignOverride?: boolean | string
  selfHostedGateway?: boolean
  selfIssued?: TokenIssuer
  synced?: SyncedToken | SyncedTokenLoader
  now?: Clock
  featureSettingMap?: Readonly<Record<string, string>>
  logger?: Logger
}

export interface PolicyTokenSource extends TokenSource {
  readonly policy: TokenPolicy
  /** The decision for a unit primitive (and the feature setting a caller names) with what is known now (a loader not yet asked counts as 'unknown'). */
  decide(unitPrimitive: string, featureSetting?: string): PolicyDecision
  invalidate(): void
}

const SOURCE_OPTION_NAMES = [
  'policy',
  'license',
  'gitlabCom',
  'selfHostedFeatures',
  'selfSignOverride',
  'selfHostedGateway',
  'selfIssued',
  'synced',
  'now',
  'featureSettingMap',
  'logger',
] as const

export const sourceOptionsSchema = lazy((z) => z.strictObject({
  policy: z.enum(['safe', 'rails'], { error: 'must be "safe" (never ends without a token when a key exists) or "rails" (GitLab\'s own decision)' }).optional(),
  license: z.enum(['online-cloud', 'offline-cloud', 'legacy', 'none'], {
    error: 'is required: one of "online-cloud", "offline-cloud", "legacy", "none" (the instance\'s license kind)',
  }),
  gitlabCom: z.boolean({ error: 'must be a boolean' }).optional(),
  selfHostedFeatures: z
    .array(z.string().min(1), { error: 'must be an array of feature setting names, e.g. ["code_completions", "duo_chat"]' })
    .optional(),
  selfSignOverride: z.union([z.boolean(), z.string()], { error: 'must be a boolean or the text of CLOUD_CONNECTOR_SELF_SIGN_TOKENS' }).optional(),
  selfHostedGateway: z.boolean({ error: 'must be a boolean' }).optional(),
  selfIssued: z
    .custom<TokenIssuer>(
      (v) => !!v && typeof v === 'object' && typeof (v as TokenIssuer).getToken === 'function' && typeof (v as TokenIssuer).invalidate === 'function',
      { error: 'must be a token issuer from createTokenIssuer()' },
    )
    .optional(),
  synced: z
    .custom<SyncedToken | SyncedTokenLoader>((v) => typeof v === 'function' || (!!v && typeof v === 'object'), {
      error: 'must be { token, expiresAt } or a function that loads it',
    })
    .optional(),
  now: fn<Clock>('must be a function returning the current Date').optional(),
  featureSettingMap: z
    .record(z.string(), z.string({ error: 'must be a feature setting name, e.g. "code_completions"' }), { error: 'must map unit primitive names to feature setting names' })
    .optional(),
  logger: z.custom<Logger>((v) => !!v && typeof v === 'object', { error: 'must be an object with optional debug/info/warn/error methods' }).optional(),
}))

const LICENSES: readonly LicenseKind[] = ['online-cloud', 'offline-cloud', 'legacy', 'none']

const SELF_ISSUE_BRANCHES: ReadonlySet<PolicyBranch> = new Set(['gitlab-com', 'self-hosted-models', 'feature-self-hosted', 'self-sign-override'])

/**
 * `CloudConnector::Tokens.get(unit_primitive:, feature_setting:)` (flyisland/gitlab-ee
 * `ee/lib/cloud_connector/tokens.rb` @ 52d0d30b): `feature_setting ||= FeatureSetting.feature_for_unit_primitive(...)`,
 * so a feature setting the caller passes is judged instead of the unit primitive's.
 */
function decideRails(s: TokenSituation, up: string, given?: string): PolicyDecision {
  const featureSetting = given ?? featureSettingFor(up, s.featureSettingMap)
  const base = { policy: 'rails' as const, unitPrimitive: up, ...(featureSetting ? { featureSetting } : {}) }
  const selfIssue = railsSelfIssueBranch(s, up, featureSetting)
  if (selfIssue) return { ...base, source: 'self-issued', branch: selfIssue.branch, reason: selfIssue.reason }

  const synced = s.synced ?? 'absent'
  if (synced === 'active') {
    return { ...base, source: 'synced', branch: 'synced', reason: `${notSelfSigned(up, featureSetting)}, so GitLab uses the token synced from CustomersDot${until(s.syncedExpiresAt)}.` }
  }
  if (synced === 'unknown') {
    return {
      ...base,
      source: 'synced',
      branch: 'synced-pending',
      reason: `${notSelfSigned(up, featureSetting)}, so GitLab uses the synced CustomersDot token if one is active (the loader has not been asked yet).`,
    }
  }
  const missing =
    synced === 'expired'
      ? `the synced CustomersDot token expired${at(s.syncedExpiresAt)} and was not renewed (ServiceAccessToken.active is empty)`
      : `there is no synced CustomersDot token: ${NO_SYNC_BECAUSE[s.license]}`
  return {
    ...base,
    source: 'none',
    branch: synced === 'expired' ? 'synced-token-expired' : 'no-synced-token',
    reason:
      `GitLab would send no token for ${up}: ${notSelfSigned(up, featureSetting)}, and ${missing}. ` +
      `Rails then sends "Authorization: Bearer " and the gateway answers 401 "Forbidden by auth provider" (Not enough segments). ` +
      `Fix: ${railsFix(featureSetting)}, or use policy 'safe'.`,
  }
}

function decideSafe(s: TokenSituation, up: string, rails: PolicyDecision): PolicyDecision {
  const featureSetting = rails.featureSetting
  const base = {
    policy: 'safe' as const,
    unitPrimitive: up,
    ...(featureSetting ? { featureSetting } : {}),
    rails: { source: rails.source, branch: rails.branch },
  }
  const hasKey = s.hasSigningKey === true
  const synced = s.synced ?? 'absent'

  // Why this instance must self-issue, if it must: GitLab's own reasons first, then the ones GitLab misses.
  let why: { branch: PolicyBranch; reason: string } | undefined
  if (SELF_ISSUE_BRANCHES.has(rails.branch)) why = { branch: rails.branch, reason: rails.reason }
  else if (s.license === 'offline-cloud') {
    why = { branch: 'offline-license', reason: `The instance has an offline cloud license, which never syncs a CustomersDot token: every gateway call must carry a self-issued JWT, verified against the instance's own JWKS.` }
  } else if (s.license === 'legacy') {
    why = { branch: 'legacy-license', reason: `The instance has a legacy license, which does not sync a CustomersDot token: gateway calls must carry a self-issued JWT.` }
  } else if (s.license === 'none') {
    why = { branch: 'no-license', reason: `The instance has no license, so no CustomersDot token is synced: gateway calls must carry a self-issued JWT.` }
  } else if (s.selfHostedGateway) {
    why = { branch: 'self-hosted-gateway', reason: `The AI Gateway is self-hosted: it trusts the instance's own keys (AIGW_GITLAB_URL), so the instance self-issues its token.` }
  }

  if (why) {
    if (hasKey) return { ...base, source: 'self-issued', branch: why.branch, reason: railsNote(why.reason, rails) }
    if (synced === 'active' || synced === 'unknown') {
      return {
        ...base,
        source: 'synced',
        branch: synced === 'active' ? 'synced-no-key' : 'synced-pending',
        reason: `${why.reason} But no signing key is configured, so the ${synced === 'active' ? `synced CustomersDot token is used${until(s.syncedExpiresAt)}` : 'synced CustomersDot token is used if the loader returns an active one'}; configure selfIssued (createTokenIssuer with the instance key) to self-issue.`,
      }
    }
    return {
      ...base,
      source: 'none',
      branch: 'no-token-configured',
      reason: `No token for ${up}: ${lowerFirst(why.reason)} But no signing key is configured. Configure selfIssued: createTokenIssuer({ issuer, instanceId, realm, key: await loadSigningKey(<the instance key from cloud_connector_keys>) }).`,
    }
  }

  // Online cloud license, GitLab's gateway: the synced token is the normal path.
  if (synced === 'active') {
    return { ...base, source: 'synced', branch: 'synced', reason: `The instance has an online cloud license: it uses the token synced from CustomersDot${until(s.syncedExpiresAt)}.` }
  }
  if (synced === 'unknown') {
    return {
      ...base,
      source: 'synced',
      branch: 'synced-pending',
      reason: `The instance has an online cloud license: it uses the synced CustomersDot token if the loader returns an active one${hasKey ? ', else a self-issued JWT' : ''}.`,
    }
  }
  const missing = synced === 'expired' ? `the synced CustomersDot token expired${at(s.syncedExpiresAt)}` : 'no synced CustomersDot token is stored (the hourly sync has not run or failed)'
  if (hasKey) {
    return {
      ...base,
      source: 'self-issued',
      branch: synced === 'expired' ? 'synced-expired-fallback' : 'synced-missing-fallback',
      reason: railsNote(
        `The instance has an online cloud license but ${missing}: falling back to a self-issued JWT. The gateway accepts it only if it trusts this instance's keys (its AIGW_GITLAB_URL points at this instance); check the CustomersDot sync.`,
        rails,
      ),
    }
  }
  return {
    ...base,
    source: 'none',
    branch: 'no-token-configured',
    reason: `No token for ${up}: the instance has an online cloud license but ${missing}, and no signing key is configured. Provide the synced token (synced: { token, expiresAt } or a loader), or configure selfIssued (createTokenIssuer with the instance key).`,
  }
}

function railsSelfIssueBranch(s: TokenSituation, up: string, featureSetting: string | undefined): { branch: PolicyBranch; reason: string } | undefined {
  if (s.gitlabCom) return { branch: 'gitlab-com', reason: 'The instance is GitLab.com, where GitLab always self-issues its tokens.' }
  if (up === 'self_hosted_models') {
    return { branch: 'self-hosted-models', reason: 'The unit primitive is self_hosted_models, for which GitLab always self-issues the token.' }
  }
  if (featureSetting && (s.selfHostedFeatures ?? []).includes(featureSetting)) {
    return {
      branch: 'feature-self-hosted',
      reason: `${up} maps to the feature setting ${describeFeature(featureSetting)}, which is assigned to a self-hosted model, so GitLab self-issues the token.`,
    }
  }
  if (s.selfSignOverride) return { branch: 'self-sign-override', reason: 'CLOUD_CONNECTOR_SELF_SIGN_TOKENS is true, so GitLab self-issues the token.' }
  return undefined
}

const NO_SYNC_BECAUSE: Record<LicenseKind, string> = {
  'offline-cloud': 'an offline cloud license never syncs one (SyncCloudConnectorAccessService runs only for an online cloud license)',
  legacy: 'a legacy license does not sync one (only an online cloud license does)',
  none: 'without a license none is synced',
  'online-cloud': 'the hourly sync for this online cloud license has not stored one (check SyncCloudConnectorAccessService and the connection to CustomersDot)',
}

function notSelfSigned(up: string, featureSetting: string | undefined): string {
  return featureSetting
    ? `${up} maps to the feature setting ${describeFeature(featureSetting)}, which is not assigned to a self-hosted model`
    : `${up} maps to no feature setting`
}

function railsFix(featureSetting: string | undefined): string {
  const assign = featureSetting ? `assign ${describeFeature(featureSetting)} to a self-hosted model` : undefined
  return [assign, 'set CLOUD_CONNECTOR_SELF_SIGN_TOKENS=true on the instance'].filter(Boolean).join(', or ')
}

function railsNote(reason: string, rails: PolicyDecision): string {
  return rails.source === 'none' ? `${reason} (GitLab itself would send no token here: branch ${rails.branch}.)` : reason
}

function describeFeature(name: string): string {
  const title = featureSettingTitle(name)
  return title ? `${name} (${title})` : name
}

function until(d: Date | undefined): string {
  return d ? `, valid until ${d.toISOString()}` : ''
}

function at(d: Date | undefined): string {
  return d ? ` at ${d.toISOString()}` : ''
}

function lowerFirst(s: string): string {
  return s.charAt(0).toLowerCase() + s.slice(1)
}

/** `Gitlab::Utils.to_boolean`, refusing text it would silently read as "not set". */
function toBoolean(value: boolean | string): boolean {
  if (typeof value === 'boolean') return value
  const v = value.trim()
  if (v === '' || /^(false|f|no|n|0|off)$/i.test(v)) return false
  if (/^(true|t|yes|y|1|on)$/i.test(v)) return true
  throw new InvalidOptionsError(
    `createTokenSource: options.selfSignOverride "${v.slice(0, 20)}" is not a boolean: use true/false (GitLab reads CLOUD_CONNECTOR_SELF_SIGN_TOKENS with Gitlab::Utils.to_boolean: true, t, yes, y, 1, on).`,
    [{ path: 'options.selfSignOverride', message: 'is not a boolean text' }],
  )
}

function checkFeatureNames(names: readonly string[], map: Readonly<Record<string, string>>): string[] {
  const known = new Set([...FEATURE_SETTINGS.map((f) => f.name), ...Object.values(map)])
  names.forEach((name, i) => {
    if (known.has(name)) return
    const mapped = featureSettingFor(name, map)
    const hint = mapped
      ? `"${name}" is a unit primitive, not a feature setting; its feature setting is "${mapped}"`
      : `"${name}" is not a feature setting; known: ${[...known].join(', ')}`
    throw new InvalidOptionsError(`createTokenSource: options.selfHostedFeatures[${i}] ${hint}.`, [
      { path: `options.selfHostedFeatures.${i}`, message: hint },
    ])
  })
  return [...new Set(names)]
}

function checkSyncedValue(value: unknown, from: 'construction' | 'loader'): SyncedToken {
  const fail = (path: string, problem: string): never => {
    const fix = 'pass { token: <the CustomersDot token>, expiresAt: <Date> }'
    if (from === 'construction') {
      throw new InvalidOptionsError(`createTokenSource: options.synced.${path} ${problem}: ${fix}.`, [{ path: `options.synced.${path}`, message: problem }])
    }
    throw new TokenError('ERR_SYNCED_TOKEN_INVALID', `The synced-token loader returned an invalid value: ${path} ${problem}; it must resolve to { token, expiresAt } or undefined.`)
  }
  if (!value || typeof value !== 'object') return fail('token', 'is missing (the value is not an object)')
  const { token, expiresAt } = value as { token?: unknown; expiresAt?: unknown }
  if (typeof token !== 'string') return fail('token', 'must be a string')
  if (token.length === 0) return fail('token', 'is empty (GitLab would send "Bearer " and the gateway answers 401)')
  if (/\s/.test(token)) return fail('token', `contains whitespace (${redact(token)}); copy it without line breaks or spaces`)
  let expiry: Date | undefined
  if (expiresAt instanceof Date) expiry = expiresAt
  else if (typeof expiresAt === 'string') expiry = new Date(expiresAt)
  if (!expiry || !Number.isFinite(expiry.getTime())) return fail('expiresAt', 'must be a Date (or ISO 8601 text)')
  return Object.freeze({ token, expiresAt: new Date(expiry.getTime()) })
}
