/**
 * The gateway's checks after python-jose accepted a token (auth.py `_validate_headers`, then the
 * endpoint's `current_user.can(unit_primitive)`), shared by preflight and the verifier.
 */
import type { GatewayHeaderName } from './messages.js'
import { pyContains, pyNotEqual, pyTruthy } from './python.js'

export interface HeaderMismatch {
  header: GatewayHeaderName
  /** The claim compared with the header. */
  claim: 'gitlab_realm' | 'gitlab_instance_id' | 'sub'
  /** The claim's value (claims are not secret). */
  expected: unknown
  /** The header's value, undefined when the header is absent. */
  actual: string | undefined
}

/**
 * Every claim/header disagreement, in the gateway's order (realm, gitlab_instance_id, sub); the
 * gateway reports the first. A claim that is empty (falsy) is skipped; a missing header counts as a
 * mismatch. `sub` is compared with X-Gitlab-Global-User-Id instead when `iss` equals the service name
 * (tokens the gateway issued itself).
 */
export function headerMismatches(claims: Record<string, unknown>, headers: ReadonlyMap<string, string>, serviceName: string): HeaderMismatch[] {
  const out: HeaderMismatch[] = []
  const realm = claimOrEmpty(claims, 'gitlab_realm')
  if (pyTruthy(realm) && pyNotEqual(realm, headers.get('x-gitlab-realm'))) {
    out.push({ header: 'X-Gitlab-Realm', claim: 'gitlab_realm', expected: realm, actual: headers.get('x-gitlab-realm') })
  }
  const instanceId = claimOrEmpty(claims, 'gitlab_instance_id')
  if (pyTruthy(instanceId) && pyNotEqual(instanceId, headers.get('x-gitlab-instance-id'))) {
    out.push({ header: 'X-Gitlab-Instance-Id', claim: 'gitlab_instance_id', expected: instanceId, actual: headers.get('x-gitlab-instance-id') })
  }
  const sub = claimOrEmpty(claims, 'sub')
  if (pyTruthy(sub)) {
    const header: GatewayHeaderName = claimOrEmpty(claims, 'iss') === serviceName ? 'X-Gitlab-Global-User-Id' : 'X-Gitlab-Instance-Id'
    const actual = headers.get(header.toLowerCase())
    if (pyNotEqual(sub, actual)) out.push({ header, claim: 'sub', expected: sub, actual })
  }
  return out
}

export type ScopeCheck =
  | { ok: true }
  | { ok: false; missing: true; scopesPresent: boolean }
  /** `unit_primitive in scopes` raised (scopes is null, a number or a boolean): the gateway answers 500. */
  | { ok: false; missing: false; fatal: string }

/** `current_user.can(unit_primitive)`: `unit_primitive in claims.get("scopes", [])`. */
export function checkScope(claims: Record<string, unknown>, unitPrimitive: string): ScopeCheck {
  const scopesPresent = Object.hasOwn(claims, 'scopes')
  if (!unitPrimitive) return { ok: false, missing: true, scopesPresent }
  const scopes = scopesPresent ? claims.scopes : []
  const r = pyContains(scopes, unitPrimitive)
  if (!r.ok) return { ok: false, missing: false, fatal: `${r.error}: ${r.message}` }
  return r.value ? { ok: true } : { ok: false, missing: true, scopesPresent }
}

/** `jwt_claims.get(name, "")`. */
function claimOrEmpty(claims: Record<string, unknown>, name: string): unknown {
  return Object.hasOwn(claims, name) ? claims[name] : ''
}
