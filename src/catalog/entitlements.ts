/**
 * What an instance may put in a self-issued token (domain.md §3): the `scopes` it is entitled to
 * and the `aud` those scopes need. Pure functions over a catalog; time comes in as a value.
 */
import { CatalogError, InvalidOptionsError } from '../errors.js'
import type { Catalog } from './catalog.js'
import { parseCutOffDate, type UnitPrimitive } from './schema.js'

export interface Entitlements {
  /** Unit-primitive names, sorted (code-unit order), so equal entitlements give equal tokens. */
  scopes: string[]
  /** Distinct `jwt_aud` of the scopes' backend services, sorted. */
  audiences: string[]
}

export interface ResolveEntitlementsOptions {
  /** Add-ons the instance has active (purchased, not expired), e.g. `['duo_enterprise']`. */
  addOns: readonly string[]
  /** The moment to judge cut-off dates at; pass the issuer's clock. */
  now: Date
}

/**
 * GitLab's rule for self-issued tokens: every unit primitive that is free — no `cut_off_date`,
 * or one strictly after `now` — plus every one that lists an active add-on in `add_ons`.
 * `license_types` are not consulted (Rails does not consult them for the token either).
 *
 * An add-on name the catalog does not know is refused (`InvalidOptionsError`,
 * `ERR_INVALID_OPTIONS`) instead of being ignored: a typo would silently drop scopes and
 * surface only later as a 403 from the gateway.
 */
export function resolveEntitlements(catalog: Catalog, opts: ResolveEntitlementsOptions): Entitlements {
  const { addOns, now } = opts ?? ({} as Partial<ResolveEntitlementsOptions>)
  if (!(now instanceof Date) || Number.isNaN(now.getTime())) {
    throw new InvalidOptionsError('resolveEntitlements: options.now must be a valid Date (pass your clock, e.g. now: clock()).', [
      { path: 'now', message: 'expected a valid Date' },
    ])
  }
  if (!Array.isArray(addOns)) {
    throw new InvalidOptionsError('resolveEntitlements: options.addOns must be an array of add-on names (use [] for none).', [
      { path: 'addOns', message: 'expected an array of strings' },
    ])
  }
  const active = new Set<string>()
  const issues: { path: string; message: string }[] = []
  addOns.forEach((name: unknown, i) => {
    if (typeof name === 'string' && catalog.addOns.has(name)) active.add(name)
    else issues.push({ path: `addOns[${i}]`, message: typeof name === 'string' ? `unknown add-on ${quote(name)}` : 'expected a string' })
  })
  if (issues.length > 0) {
    const known = [...catalog.addOns.keys()].sort().join(', ') || 'none'
    const list = issues.map((i) => `${i.path}: ${i.message}`).join('; ')
    throw new InvalidOptionsError(`resolveEntitlements: ${list}. The catalog knows these add-ons: ${known}. Fix the name, or load the catalog that defines it.`, issues)
  }

  const scopes: string[] = []
  for (const up of catalog.unitPrimitives.values()) {
    if (hasFreeAccess(up, now) || (up.add_ons ?? []).some((a) => active.has(a))) scopes.push(up.name)
  }
  scopes.sort(byCodeUnit)
  return { scopes, audiences: audiencesFor(catalog, scopes) }
}

/**
 * Distinct `jwt_aud` of the backend services of these unit primitives, sorted. Throws
 * `ERR_CATALOG_UNKNOWN_PRIMITIVE` for a name the catalog does not have.
 */
export function audiencesFor(catalog: Catalog, primitives: readonly string[]): string[] {
  const out = new Set<string>()
  for (const name of primitives) {
    const up = assertKnownPrimitive(catalog, name)
    for (const service of up.backend_services ?? []) {
      const backend = catalog.backendServices.get(service)
      // createCatalog / loadCatalogDir refuse dangling references; a hand-built Catalog may not.
      if (!backend) {
        throw new CatalogError('ERR_CATALOG_INVALID', `unit primitive "${name}": backend_services: unknown backend service "${service}"; build the catalog with createCatalog().`, {
          path: 'backend_services',
        })
      }
      out.add(backend.jwt_aud)
    }
  }
  return [...out].sort(byCodeUnit)
}

/**
 * Return the unit primitive called `name`, or throw `CatalogError` `ERR_CATALOG_UNKNOWN_PRIMITIVE`
 * naming the closest known names.
 */
export function assertKnownPrimitive(catalog: Catalog, name: string): UnitPrimitive {
  const up = typeof name === 'string' ? catalog.unitPrimitives.get(name) : undefined
  if (up) return up
  const shown = typeof name === 'string' ? quote(name) : `a ${name === null ? 'null' : typeof name}`
  const close = typeof name === 'string' ? closestNames(name, [...catalog.unitPrimitives.keys()]) : []
  const hint = close.length > 0 ? `did you mean ${close.join(', ')}?` : 'no known name is close.'
  throw new CatalogError(
    'ERR_CATALOG_UNKNOWN_PRIMITIVE',
    `Unknown unit primitive ${shown}: ${hint} Use a name from the catalog (${catalog.unitPrimitives.size} unit primitives), or load a catalog that defines it with loadCatalogDir().`,
    { path: typeof name === 'string' ? name.slice(0, 64) : undefined },
  )
}

/**
 * Free access: no `cut_off_date`, or one strictly after `now` (Rails: `cut_off_date.nil? ||
 * cut_off_date.future?`). An unreadable date counts as already past — fail closed.
 */
export function hasFreeAccess(primitive: Pick<UnitPrimitive, 'cut_off_date'>, now: Date): boolean {
  if (primitive.cut_off_date === undefined) return true
  const cutOff = parseCutOffDate(primitive.cut_off_date)
  return cutOff !== undefined && cutOff.getTime() > now.getTime()
}

// ---------------------------------------------------------------------------------------------

function byCodeUnit(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0
}

/** Names shown in messages are user input: cap them, and let JSON escape control characters. */
function quote(name: string): string {
  return JSON.stringify(name.length > 64 ? `${name.slice(0, 64)}…` : name)
}

/** Up to three known names within a small edit distance (or sharing a prefix), nearest first. */
function closestNames(name: string, known: readonly string[]): string[] {
  const target = name.toLowerCase().slice(0, 64)
  const limit = Math.max(2, Math.floor(target.length / 3))
  return known
    .map((k) => ({ k, d: levenshtein(target, k) }))
    .filter(({ k, d }) => d <= limit || (target.length >= 4 && (k.startsWith(target) || target.startsWith(k))))
    .sort((a, b) => a.d - b.d || byCodeUnit(a.k, b.k))
    .slice(0, 3)
    .map(({ k }) => k)
}

function levenshtein(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, i) => i)
  for (let i = 1; i <= a.length; i++) {
    const cur = [i]
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1
      cur[j] = Math.min((prev[j] ?? 0) + 1, (cur[j - 1] ?? 0) + 1, (prev[j - 1] ?? 0) + cost)
    }
    prev = cur
  }
  return prev[b.length] ?? 0
}
