/**
 * An endpoint's authorisation as the gateway runs it after authentication: which unit primitives admit
 * a request, which issuers it refuses, and what depends on the request body. One definition per
 * endpoint lives in the endpoint table (`ENDPOINTS[name].access`); preflight, the verifier, the emulator
 * and the msw handlers all judge it with `judgeAccess`, so they cannot disagree.
 */
import { checkScope } from './rules.js'

/** What the gateway checks for one request, its body already taken into account (see `accessFor`). */
export interface EndpointAccess {
  /** Unit primitives that admit the request, tried in the gateway's order; the first the token carries wins. */
  readonly anyOf: readonly string[]
  /** The gateway's 403 `detail` when none admits it (and, with a `fallback`, when the fallback is not held either). */
  readonly forbiddenDetail: string
  /**
   * The endpoint refuses tokens the gateway issued itself: `current_user.can(up, disallowed_issuers=[service_name])`
   * is false for a token whose `iss` is the gateway's service name (its `/v1/code/user_access_token` tokens).
   */
  readonly refusesGatewayTokens?: boolean
  /**
   * A second chance when no primitive of `anyOf` is held: a token with `unitPrimitive` is admitted when
   * `allowed` (a property of the body), else refused with `refusedDetail`.
   */
  readonly fallback?: { readonly unitPrimitive: string; readonly allowed: boolean; readonly refusedDetail: string }
  /** Further primitives an admitted request needs, checked in order (chat's additional context). */
  readonly also?: readonly { readonly unitPrimitive: string; readonly forbiddenDetail: string }[]
  /** The primitive a GitLab instance asks its token for (`CloudConnector::Tokens.get(unit_primitive:)`); default `anyOf[0]`. */
  readonly tokenUnitPrimitive?: string
}

/** An endpoint's rule: fixed, or a function of the request body (called with whatever the body is, even invalid). */
export type AccessRule = EndpointAccess | ((body: unknown) => EndpointAccess)

/** The rule applied to a body. */
export function accessFor(rule: AccessRule, body: unknown): EndpointAccess {
  return typeof rule === 'function' ? rule(body) : rule
}

/** The primitive to ask the token source for. */
export function tokenUnitPrimitiveOf(access: EndpointAccess): string {
  return access.tokenUnitPrimitive ?? access.anyOf[0] ?? ''
}

export type AccessVerdict =
  | { ok: true; unitPrimitive: string }
  | {
      ok: false
      status: 403
      detail: string
      /** The primitive the gateway wanted (the one its message is about). */
      unitPrimitive: string
      /** `missing`: not in scopes; `gateway-issued`: the endpoint refuses the gateway's own tokens; `fallback`: held, but the body does not qualify. */
      why: 'missing' | 'gateway-issued' | 'fallback'
      /** Whether the token has a `scopes` claim at all. */
      scopesPresent: boolean
    }
  /** `unit_primitive in scopes` raised (scopes is null, a number...): the gateway answers 500. */
  | { ok: false; status: 500; fatal: string; unitPrimitive: string }

/**
 * The gateway's verdict on verified claims: `current_user.can(...)` of gitlab-cloud-connector for each
 * check, in the endpoint's order. `serviceName` is the gateway's own name (its audience), the issuer it
 * refuses when `refusesGatewayTokens`.
 */
export function judgeAccess(access: EndpointAccess, claims: Record<string, unknown>, serviceName: string): AccessVerdict {
  const scopesPresent = Object.hasOwn(claims, 'scopes')
  // `can(up, disallowed_issuers)`: the issuer is refused before the scopes are searched.
  const gatewayIssued = access.refusesGatewayTokens === true && claims['iss'] === serviceName
  const can = (up: string): true | false | { fatal: string } => {
    if (gatewayIssued) return false
    const scope = checkScope(claims, up)
    if (scope.ok) return true
    return scope.missing ? false : { fatal: scope.fatal }
  }
  const refuse = (detail: string, unitPrimitive: string, why: 'missing' | 'gateway-issued' | 'fallback'): AccessVerdict => ({
    ok: false,
    status: 403,
    detail,
    unitPrimitive,
    why: gatewayIssued && why === 'missing' ? 'gateway-issued' : why,
    scopesPresent,
  })

  let granted: string | undefined
  for (const up of access.anyOf) {
    const r = can(up)
    if (typeof r === 'object') return { ok: false, status: 500, fatal: r.fatal, unitPrimitive: up }
    if (r) {
      granted = up
      break
    }
  }
  const first = access.anyOf[0] ?? ''
  if (granted === undefined) {
    const fb = access.fallback
    if (fb === undefined) return refuse(access.forbiddenDetail, first, 'missing')
    const r = can(fb.unitPrimitive)
    if (typeof r === 'object') return { ok: false, status: 500, fatal: r.fatal, unitPrimitive: fb.unitPrimitive }
    if (!r) return refuse(access.forbiddenDetail, first, 'missing')
    if (!fb.allowed) return refuse(fb.refusedDetail, first, 'fallback')
    granted = fb.unitPrimitive
  }
  for (const need of access.also ?? []) {
    const r = can(need.unitPrimitive)
    if (typeof r === 'object') return { ok: false, status: 500, fatal: r.fatal, unitPrimitive: need.unitPrimitive }
    if (!r) return refuse(need.forbiddenDetail, need.unitPrimitive, 'missing')
  }
  return { ok: true, unitPrimitive: granted }
}

/** The simplest rule: one primitive and its 403 detail. */
export function singlePrimitiveAccess(unitPrimitive: string, forbiddenDetail: string): EndpointAccess {
  return { anyOf: [unitPrimitive], forbiddenDetail }
}
