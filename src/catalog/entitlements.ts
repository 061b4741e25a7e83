/**
 * What an instance may put in a self-issued token (domain.md §3): the `scopes` it is entitled to
 * and the `aud` those scopes need. Pure functions over a catalog; time comes in as a value.
 */
import { CatalogError, InvalidOptionsError } from '../errors.js'
import type { Catalog } from './catalog.js'
import { parseCutOffDate, type UnitPrimitive } from './schema.js'

export interface Entitlements {
  /**
   * Unit-primitive names in catalog order, as Rails lists them (`TokenIssuer#available_unit_primitives`
   * selects from `UnitPrimitive.all`, which the gem loads in file-name order): not sorted.
   */
  scopes: string[]
  /** The `jwt_aud` of the scopes' backend services, in the order Rails puts them in `aud` (see `audiencesFor`). */
  audiences: string[]
  /**
   * Add-on names (after normalisation) the catalog does not know. They grant nothing; unless `strict`,
   * they are reported here instead of refused (a newer GitLab may sell an add-on this catalog predates).
   */
  unknownAddOns: string[]
}

export interface ResolveEntitlementsOptions {
  /** Add-ons the instance has active (purchased, not expired), e.g. `['duo_enterprise']`; `code_suggestions` counts as `duo_pro`. */
  addOns: readonly string[]
  /** The moment to judge cut-off dates at; pass the issuer's clock. */
  now: Date
  /** Refuse an add-on the catalog does not know (`ERR_INVALID_OPTIONS`) instead of reporting it in `unknownAddOns`. */
  strict?: boolean
}

/**
 * How Rails names a purchased add-on before it mints: `AddOnPurchase.uniq_normalized_add_on_names` maps
 * through `NORMALIZED_ADD_ON_NAME = { 'code_suggestions' => 'duo_pro' }` (flyisland/gitlab-ee
 * `ee/app/models/gitlab_subscriptions/add_on_purchase.rb` @ caa4042e; used by `CloudConnector::Tokens`
 * `fetch_active_add_ons` in `ee/lib/cloud_connector/tokens.rb` @ 52d0d30b).
 */
export const NORMALIZED_ADD_ON_NAMES: Readonly<Record<string, string>> = Object.freeze({ code_suggestions: 'duo_pro' })

/** An add-on name as Rails hands it to the token issuer (`code_suggestions` → `duo_pro`). */
export function normalizeAddOnName(name: string): string {
  return Object.hasOwn(NORMALIZED_ADD_ON_NAMES, name) ? (NORMALIZED_ADD_ON_NAMES[name] as string) : name
}

/**
 * GitLab's rule for self-issued tokens (`CloudConnector::Tokens::TokenIssuer#available_unit_primitives`):
 * every unit primitive that is free — no `cut_off_date`, or one strictly after `now` — plus every one
 * that lists an active add-on in `add_ons`. `license_types` are not consulted (Rails does not consult
 * them for the token either).
 *
 * Add-on names are normalised as Rails does (`code_suggestions` → `duo_pro`). A name the catalog does
 * not know grants nothing and is listed in `unknownAddOns` (callers warn about it); with `strict` it is
 * refused (`InvalidOptionsError`, `ERR_INVALID_OPTIONS`), since a typo silently drops scopes that show
 * up only later as a 403 from the gateway.
 */
export function resolveEntitlements(catalog: Catalog, opts: ResolveEntitlementsOptions): Entitlements {
  const { addOns, now, strict } = opts ?? ({} as Partial<ResolveEntitlementsOptions>)
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
  const notStrings = addOns.flatMap((name: unknown, i) => (typeof name === 'string' ? [] : [{ path: `addOns[${i}]`, message: 'expected a string' }]))
  if (notStrings.length > 0) {
    throw new InvalidOptionsError(`resolveEntitlements: ${notStrings.map((i) => `${i.path}: ${i.message}`).join('; ')}.`, notStrings)
  }
  const active = new Set<string>()
  const unknownAddOns: string[] = []
  const issues: { path: string; message: string }[] = []
  addOns.forEach((given: string, i) => {
    const name = normalizeAddOnName(given)
    if (catalog.addOns.has(name)) active.add(name)
    else if (!unknownAddOns.includes(name)) {
      unknownAddOns.push(name)
      issues.push({ path: `addOns[${i}]`, message: `unknown add-on ${quote(name)}` })
    }
  })
  if (strict === true && issues.length > 0) {
    const known = [...catalog.addOns.keys()].sort().join(', ') || 'none'
    const list = issues.map((i) => `${i.path}: ${i.message}`).join('; ')
    throw new InvalidOptionsError(`resolveEntitlements: ${list}. The catalog knows these add-ons: ${known}. Fix the name, or load the catalog that defines it.`, issues)
  }

  const scopes: string[] = []
  for (const up of catalog.unitPrimitives.values()) {
    if (hasFreeAccess(up, now) || (up.add_ons ?? []).some((a) => active.has(a))) scopes.push(up.name)
  }
  return { scopes, audiences: audiencesFor(catalog, scopes), unknownAddOns }
}

/**
 * The `aud` of a token carrying these unit primitives, as Rails builds it (`TokenIssuer#token`:
 * `unit_primitives.flat_map(&:backend_services).uniq` then `map(&:jwt_aud)`, flyisland/gitlab-ee
 * `ee/lib/cloud_connector/tokens/token_issuer.rb` @ caa4042e): each backend service once, in the order the
 * primitives first name it; not sorted. Rails de-duplicates backend services, not audiences, so two
 * services sharing a `jwt_aud` would repeat it; so does this. Throws `ERR_CATALOG_UNKNOWN_PRIMITIVE` for
 * a name the catalog does not have.
 */
export function audiencesFor(catalog: Catalog, primitives: readonly string[]): string[] {
  const seen = new Set<string>()
  const out: string[] = []
  for (const name of primitives) {
    const up = assertKnownPrimitive(catalog, name)
    for (const service of up.backend_services ?? []) {
      if (seen.has(service)) continue
      seen.add(service)
      const backend = catalog.backendServices.get(service)
      // createCatalog / loadCatalogDir refuse dangling references; a hand-built Catalog may not.
      if (!backend) {
        throw new CatalogError('ERR_CATALOG_INVALID', `unit primitive "${name}": backend_services: unknown backend service "${service}"; build the catalog with createCatalog().`, {
          path: 'backend_services',
        })
      }
      out.push(backend.jwt_aud)
    }
  }
  return out
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
