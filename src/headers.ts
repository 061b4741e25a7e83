/**
 * The header set a GitLab instance sends to the AI Gateway (domain.md §4), built the way Rails builds it
 * in `ee/lib/cloud_connector.rb` (`headers`, `ai_headers`) and `ee/lib/gitlab/ai_gateway.rb`
 * (`headers`, `public_headers`): lower-case names, list values joined with `,`, booleans as `true`/`false`.
 *
 * `Authorization` is not part of this set: the client attaches it per request with the token it obtained,
 * so the token never sits in a long-lived header object.
 */
import { createHash } from 'node:crypto'
import { HeaderError } from './errors.js'
import type { Realm } from './types.js'

/** `x-gitlab-deployment-type`: `CloudConnector.deployment_type` in Rails. */
export type DeploymentType = '.com' | 'dedicated' | 'self-managed'

export interface GatewayInstanceContext {
  /** The instance UUID (`Gitlab::CurrentSettings.uuid`); must equal the JWT `sub`. Rails sends `uuid-not-set` when unset. */
  id: string
  /** `Gitlab.config.gitlab.host`, e.g. `gitlab.example.com` (no scheme, no port). */
  hostName?: string
  /** `Gitlab.version_info`, e.g. `18.5.4`. */
  version?: string
  /** Must equal the JWT `gitlab_realm`. */
  realm: Realm
  /** Default: `.com` for realm `saas`, else `self-managed`. Dedicated instances pass `dedicated`. */
  deploymentType?: DeploymentType
}

export interface GatewayUserContext {
  /** The GitLab user id (numeric; the gateway parses it as an integer). */
  id: number | string
  /**
   * `Gitlab::GlobalAnonymousId.user_id(user)` when already known. Otherwise it is computed from `salt`
   * (see {@link computeGlobalUserId}).
   */
  globalUserId?: string
  /** The instance's secret salt (`db_key_base_truncated` in Rails), used only to compute `globalUserId`. */
  salt?: string
  /**
   * `x-gitlab-subject-type`: `user.user_type` in Rails (`human`, `service_account`, `project_bot`, ...).
   * Default `human`, the type of an ordinary user (assumed: Rails' default user type; no source sends it for us).
   */
  subjectType?: string
}

export interface GatewayFeatureContext {
  /** `x-gitlab-feature-enablement-type`, e.g. `duo_pro`, `duo_enterprise`, `duo_core`, `add_on`. Default `''`. */
  enablementType?: string
  /** Root namespace ids that enable the feature (GitLab.com). Joined with `,`. Default none (`''`). */
  namespaceIds?: ReadonlyArray<number | string>
  /** Feature flags pushed to the gateway. De-duplicated, joined with `,`. Default none (`''`). */
  featureFlags?: readonly string[]
  /** `x-gitlab-enabled-instance-verbose-ai-logs`: `true`/`false`, or unset (`''`) as Rails sends when no AI setting exists. */
  verboseAiLogs?: boolean
  /** `x-gitlab-is-team-member`. Default `false`. */
  teamMember?: boolean
  /** `x-gitlab-namespace-id` (numeric); sent only with `rootNamespaceId`, as Rails does. */
  namespaceId?: number | string
  /** `x-gitlab-root-namespace-id` (numeric): the billable / governing namespace. */
  rootNamespaceId?: number | string
  /** `x-gitlab-organization-id` (numeric). */
  organizationId?: number | string
  /** `x-gitlab-project-id` (numeric). */
  projectId?: number | string
}

export interface GatewayHeadersContext {
  instance: GatewayInstanceContext
  user?: GatewayUserContext
  feature?: GatewayFeatureContext
  /** `x-request-id`. The client sets a fresh one per request when this is absent. */
  requestId?: string
  /**
   * More headers to send (e.g. `x-gitlab-client-type`, `x-gitlab-language-server-version`). Validated like the
   * others; they cannot replace `authorization` or any header computed above.
   */
  extra?: Readonly<Record<string, string>>
}

/** Header names this module computes, lower case, in the order Rails builds them. */
export const GATEWAY_HEADER_NAMES = {
  authenticationType: 'x-gitlab-authentication-type',
  contentType: 'content-type',
  requestId: 'x-request-id',
  hostName: 'x-gitlab-host-name',
  instanceId: 'x-gitlab-instance-id',
  realm: 'x-gitlab-realm',
  deploymentType: 'x-gitlab-deployment-type',
  version: 'x-gitlab-version',
  globalUserId: 'x-gitlab-global-user-id',
  userId: 'x-gitlab-user-id',
  enabledByNamespaceIds: 'x-gitlab-feature-enabled-by-namespace-ids',
  subjectType: 'x-gitlab-subject-type',
  enablementType: 'x-gitlab-feature-enablement-type',
  enabledFeatureFlags: 'x-gitlab-enabled-feature-flags',
  verboseAiLogs: 'x-gitlab-enabled-instance-verbose-ai-logs',
  teamMember: 'x-gitlab-is-team-member',
  namespaceId: 'x-gitlab-namespace-id',
  rootNamespaceId: 'x-gitlab-root-namespace-id',
  organizationId: 'x-gitlab-organization-id',
  projectId: 'x-gitlab-project-id',
} as const

/**
 * The whole header set of domain.md §4 except `Authorization`, as a fresh plain object (callers may mutate it).
 * Throws {@link HeaderError} (code `ERR_INVALID_HEADER`, `.header` = the header's name) for a value the
 * gateway would misread or that `fetch` would refuse or silently alter.
 */
export function buildGatewayHeaders(ctx: GatewayHeadersContext): Record<string, string> {
  const H = GATEWAY_HEADER_NAMES
  if (ctx === null || typeof ctx !== 'object' || ctx.instance === null || typeof ctx.instance !== 'object') {
    throw new HeaderError(H.instanceId, 'buildGatewayHeaders: pass { instance: { id, realm, ... } }: the instance context is missing.')
  }
  const { instance, user, feature = {} } = ctx
  const out: Record<string, string> = {}

  out[H.authenticationType] = 'oidc'
  out[H.contentType] = 'application/json'
  if (ctx.requestId !== undefined) out[H.requestId] = visible(H.requestId, ctx.requestId)
  if (instance.hostName !== undefined) out[H.hostName] = visible(H.hostName, instance.hostName)
  out[H.instanceId] = visible(H.instanceId, instance.id)
  out[H.realm] = realmOf(instance.realm)
  out[H.deploymentType] = deploymentTypeOf(instance)
  if (instance.version !== undefined) out[H.version] = visible(H.version, instance.version)

  if (user !== undefined && user !== null) {
    const userId = numericId(H.userId, user.id)
    if (user.globalUserId !== undefined) {
      out[H.globalUserId] = visible(H.globalUserId, user.globalUserId)
    } else if (typeof user.salt === 'string' && user.salt.length > 0) {
      out[H.globalUserId] = computeGlobalUserId(instance.id, userId, user.salt)
    } else {
      throw new HeaderError(
        H.globalUserId,
        `${H.globalUserId}: a user was given without globalUserId or salt. Pass user.globalUserId (what GitLab computed) ` +
          `or user.salt (the instance secret salt) so the SDK can compute it.`,
      )
    }
    out[H.userId] = userId
  }

  out[H.enabledByNamespaceIds] = idList(H.enabledByNamespaceIds, feature.namespaceIds)
  // Always sent: `'x-gitlab-subject-type' => user&.user_type.to_s`, '' without a user
  // (CloudConnector.ai_headers, flyisland/gitlab-ee ee/lib/cloud_connector.rb @ 063f90c1).
  out[H.subjectType] = user === undefined || user === null ? '' : user.subjectType === undefined ? 'human' : visible(H.subjectType, user.subjectType, true)
  out[H.enablementType] = feature.enablementType === undefined ? '' : visible(H.enablementType, feature.enablementType, true)
  out[H.enabledFeatureFlags] = flagList(feature.featureFlags)
  out[H.verboseAiLogs] = feature.verboseAiLogs === undefined ? '' : bool(H.verboseAiLogs, feature.verboseAiLogs)
  out[H.teamMember] = feature.teamMember === undefined ? 'false' : bool(H.teamMember, feature.teamMember)

  // Rails only sends the namespace pair when a billable (root) namespace is known.
  if (feature.rootNamespaceId !== undefined) {
    const root = numericId(H.rootNamespaceId, feature.rootNamespaceId)
    out[H.namespaceId] = feature.namespaceId === undefined ? root : numericId(H.namespaceId, feature.namespaceId)
    out[H.rootNamespaceId] = root
  } else if (feature.namespaceId !== undefined) {
    throw new HeaderError(
      H.namespaceId,
      `${H.namespaceId}: GitLab sends it only together with ${H.rootNamespaceId}; pass feature.rootNamespaceId as well.`,
    )
  }
  if (feature.organizationId !== undefined) out[H.organizationId] = numericId(H.organizationId, feature.organizationId)
  if (feature.projectId !== undefined) out[H.projectId] = numericId(H.projectId, feature.projectId)

  if (ctx.extra !== undefined) {
    for (const [rawName, value] of Object.entries(ctx.extra)) {
      const name = headerName(rawName)
      if (name === 'authorization' || Object.prototype.hasOwnProperty.call(out, name) || COMPUTED.has(name)) {
        throw new HeaderError(
          name,
          `${name}: cannot be set through "extra"; it is computed from the context (or, for authorization, from the token).`,
        )
      }
      out[name] = visible(name, value, true)
    }
  }
  return out
}

/**
 * `x-gitlab-global-user-id` as GitLab computes it (`Gitlab::GlobalAnonymousId.user_id` →
 * `Gitlab::CryptoHelper.sha256`): standard, padded Base64 of SHA-256 over `instanceId + userId + salt`.
 */
export function computeGlobalUserId(instanceId: string, userId: number | string, salt: string): string {
  return createHash('sha256').update(`${instanceId}${String(userId)}${salt}`, 'utf8').digest('base64')
}

// ---------------------------------------------------------------------------------------------

const COMPUTED: ReadonlySet<string> = new Set(Object.values(GATEWAY_HEADER_NAMES))

/** RFC 9110 token characters: what a header name may contain. */
const TOKEN_RE = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/

function headerName(name: string): string {
  if (typeof name !== 'string' || !TOKEN_RE.test(name)) {
    throw new HeaderError(String(name), `Header name ${JSON.stringify(String(name)).slice(0, 80)} is not a valid HTTP field name.`)
  }
  return name.toLowerCase()
}

/**
 * Printable ASCII only. Control characters (CR/LF above all) would split or corrupt the request; characters
 * above U+00FF make fetch throw; leading/trailing blanks are silently trimmed by fetch, so the gateway would
 * compare a different value than the one the claims were built from.
 */
function visible(name: string, value: unknown, allowEmpty = false): string {
  if (typeof value !== 'string') {
    throw new HeaderError(name, `${name}: expected a string, got ${value === null ? 'null' : typeof value}.`)
  }
  if (value.length === 0) {
    if (allowEmpty) return value
    throw new HeaderError(name, `${name}: the value is empty; the gateway would treat the header as missing.`)
  }
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i)
    if (c < 0x20 || c > 0x7e) {
      const what = c === 0x0a || c === 0x0d ? 'a line break' : c < 0x20 || c === 0x7f ? 'a control character' : 'a non-ASCII character'
      throw new HeaderError(
        name,
        `${name}: contains ${what} (U+${c.toString(16).toUpperCase().padStart(4, '0')}) at position ${i}; ` +
          `header values must be printable ASCII. Remove it from the configured value.`,
      )
    }
  }
  if (value.charCodeAt(0) === 0x20 || value.charCodeAt(value.length - 1) === 0x20) {
    throw new HeaderError(
      name,
      `${name}: has leading or trailing spaces, which HTTP strips in transit, so the gateway would see a different value. Trim it.`,
    )
  }
  return value
}

function numericId(name: string, value: unknown): string {
  if (typeof value === 'number') {
    if (Number.isSafeInteger(value) && value >= 0) return String(value)
  } else if (typeof value === 'string' && /^[0-9]{1,19}$/.test(value)) {
    return value
  }
  throw new HeaderError(
    name,
    `${name}: must be a non-negative integer id (the gateway parses it as one); got ${describe(value)}.`,
  )
}

function idList(name: string, ids: ReadonlyArray<number | string> | undefined): string {
  if (ids === undefined) return ''
  if (!Array.isArray(ids)) throw new HeaderError(name, `${name}: expected an array of numeric ids.`)
  return ids.map((id) => numericId(name, id)).join(',')
}

function flagList(flags: readonly string[] | undefined): string {
  const name = GATEWAY_HEADER_NAMES.enabledFeatureFlags
  if (flags === undefined) return ''
  if (!Array.isArray(flags)) throw new HeaderError(name, `${name}: expected an array of feature flag names.`)
  const seen = new Set<string>()
  for (const flag of flags) {
    // a comma would split one flag into two on the gateway side
    if (typeof flag !== 'string' || !/^[A-Za-z0-9_.:-]+$/.test(flag)) {
      throw new HeaderError(name, `${name}: ${describe(flag)} is not a feature flag name (letters, digits, "_", ".", ":", "-").`)
    }
    seen.add(flag)
  }
  return [...seen].join(',')
}

function bool(name: string, value: unknown): string {
  if (typeof value !== 'boolean') throw new HeaderError(name, `${name}: expected true or false, got ${describe(value)}.`)
  return value ? 'true' : 'false'
}

function realmOf(realm: unknown): Realm {
  if (realm === 'saas' || realm === 'self-managed') return realm
  throw new HeaderError(
    GATEWAY_HEADER_NAMES.realm,
    `${GATEWAY_HEADER_NAMES.realm}: must be "saas" or "self-managed" (Dedicated counts as self-managed); got ${describe(realm)}.`,
  )
}

function deploymentTypeOf(instance: GatewayInstanceContext): DeploymentType {
  const t = instance.deploymentType
  if (t === undefined) return instance.realm === 'saas' ? '.com' : 'self-managed'
  if (t === '.com' || t === 'dedicated' || t === 'self-managed') return t
  throw new HeaderError(
    GATEWAY_HEADER_NAMES.deploymentType,
    `${GATEWAY_HEADER_NAMES.deploymentType}: must be ".com", "dedicated" or "self-managed"; got ${describe(t)}.`,
  )
}

/** A short, safe description of a rejected value (header values here are not secrets, but keep logs tidy). */
function describe(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}…` : value)
  if (typeof value === 'number' || typeof value === 'boolean') return String(value)
  return value === null ? 'null' : typeof value
}
