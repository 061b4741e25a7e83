/**
 * zod schemas for the items of the gitlab-cloud-connector `config/` catalog (domain.md §7):
 * unit primitives, backend services, add-ons and license types.
 *
 * Every schema is a *loose* object: fields this SDK does not know (the real catalog grows,
 * e.g. `unit_primitive_issue_url`) are kept as they are, so a catalog read from disk can be
 * handed on without losing data.
 */
import type { z } from 'zod'
import { lazy } from '../zod.js'

/** A unit primitive (`config/unit_primitives/<name>.yml`). */
export interface UnitPrimitive {
  name: string
  description: string
  group: string
  feature_category: string
  documentation_url?: string
  /** ISO 8601 date-time after which the primitive is no longer free (see `parseCutOffDate`). */
  cut_off_date?: string
  min_gitlab_version?: string
  min_gitlab_version_for_free_access?: string
  license_types?: string[]
  backend_services?: string[]
  add_ons?: string[]
  deprecated_by_url?: string
  deprecation_message?: string
  milestone?: string
  introduced_by_url?: string
  [unknown: string]: unknown
}

/** A backend service (`config/backend_services/<name>.yml`); `jwt_aud` is the token audience. */
export interface BackendService {
  name: string
  project_url?: string
  group?: string
  jwt_aud: string
  [unknown: string]: unknown
}

/** An add-on (`config/add_ons/<name>.yml`), e.g. `duo_enterprise`. */
export interface AddOn {
  name: string
  [unknown: string]: unknown
}

/** A license type (`config/license_types/<name>.yml`), e.g. `ultimate`. */
export interface LicenseType {
  name: string
  [unknown: string]: unknown
}

/**
 * Names are snake_case in the real catalog ("lowercase letters, numbers, underscores",
 * gitlab-cloud-connector docs); they end up verbatim in the JWT `scopes` claim.
 */
export const CATALOG_NAME_PATTERN = /^[a-z][a-z0-9_]*$/

/**
 * Parse a `cut_off_date` as the catalog writes it: ISO 8601 (`2024-10-17T00:00:00+00:00`,
 * `2024-10-17T00:00:00Z`, `2024-10-17`) or the Ruby form of the legacy files
 * (`2024-02-15 00:00:00 UTC`). A date-time without a zone is read as UTC, as the catalog means
 * every cut-off in UTC. Returns undefined for anything else, including impossible dates.
 */
export function parseCutOffDate(value: string): Date | undefined {
  const m = CUT_OFF_PATTERN.exec(value.trim())
  if (!m) return undefined
  const [, y, mo, d, h = '00', mi = '00', s = '00', frac = '', zone = ''] = m
  const year = Number(y)
  const month = Number(mo)
  const day = Number(d)
  const hour = Number(h)
  const minute = Number(mi)
  const second = Number(s)
  const base = Date.UTC(year, month - 1, day, hour, minute, second, frac ? Math.round(Number(`0.${frac}`) * 1000) : 0)
  const probe = new Date(base)
  // Date.UTC silently rolls 2024-02-30 over to March: refuse what does not round-trip.
  if (
    probe.getUTCFullYear() !== year ||
    probe.getUTCMonth() !== month - 1 ||
    probe.getUTCDate() !== day ||
    probe.getUTCHours() !== hour ||
    probe.getUTCMinutes() !== minute ||
    probe.getUTCSeconds() !== second
  ) {
    return undefined
  }
  return new Date(base - zoneOffsetMs(zone))
}

/**
 * The catalog items' schemas, built on first use (zod is loaded then: src/zod.ts). `cloud-connector-sdk/catalog`
 * exports them as `unitPrimitiveSchema`, `backendServiceSchema`, `addOnSchema` and `licenseTypeSchema`.
 */
export const catalogSchemas = lazy((z) => {
  const nameSchema = z
    .string()
    .min(1, { error: 'must not be empty' })
    .regex(CATALOG_NAME_PATTERN, { error: 'must be snake_case (lowercase letters, digits and underscores, starting with a letter)' })

  const text = z.string().min(1, { error: 'must not be empty' })

  /**
   * An optional field. `null` (a YAML key with nothing after it, `cut_off_date:`) counts as absent,
   * as `nil` does in the Ruby gem.
   */
  const optional = <T extends z.ZodType>(schema: T) => {
    return z.preprocess((v) => (v === null ? undefined : v), schema.optional()).optional()
  }

  const optionalText = optional(z.string())
  /** Versions must be quoted in YAML: an unquoted 16.10 is the number 16.1. */
  const version = optional(z.string({ error: versionError }).min(1, { error: 'must not be empty' }))
  const nameList = optional(z.array(nameSchema))

  /**
   * Dates parsed by a YAML 1.1 loader (or given as a Date) are turned back into ISO strings, so a
   * catalog built from any source holds `cut_off_date` as text, as the contract says.
   */
  const cutOffDate = optional(
    z.preprocess(
      (v) => (v instanceof Date && !Number.isNaN(v.getTime()) ? v.toISOString() : v),
      z.string().refine((v) => parseCutOffDate(v) !== undefined, {
        error: 'must be an ISO 8601 date-time such as 2024-10-17T00:00:00+00:00',
      }),
    ),
  )

  const unitPrimitive = z.looseObject({
    name: nameSchema,
    description: text,
    group: text,
    feature_category: text,
    documentation_url: optionalText,
    cut_off_date: cutOffDate,
    min_gitlab_version: version,
    min_gitlab_version_for_free_access: version,
    license_types: nameList,
    backend_services: nameList,
    add_ons: nameList,
    deprecated_by_url: optionalText,
    deprecation_message: optionalText,
    milestone: version,
    introduced_by_url: optionalText,
  })

  const backendService = z.looseObject({
    name: nameSchema,
    project_url: optionalText,
    group: optionalText,
    jwt_aud: z
      .string()
      .min(1, { error: 'must not be empty' })
      .regex(/^\S+$/, { error: 'must not contain whitespace (it is sent as a JWT audience)' }),
  })

  const addOn = z.looseObject({ name: nameSchema })

  const licenseType = z.looseObject({ name: nameSchema })
  return { unitPrimitive, backendService, addOn, licenseType }
})

// The schemas' output types and the interfaces above must not drift apart.
type CatalogSchemas = ReturnType<typeof catalogSchemas>
type Assignable<A, B> = A extends B ? true : never
const _upCheck: Assignable<z.output<CatalogSchemas['unitPrimitive']>, UnitPrimitive> = true
const _bsCheck: Assignable<z.output<CatalogSchemas['backendService']>, BackendService> = true
const _aoCheck: Assignable<z.output<CatalogSchemas['addOn']>, AddOn> = true
const _ltCheck: Assignable<z.output<CatalogSchemas['licenseType']>, LicenseType> = true
void _upCheck
void _bsCheck
void _aoCheck
void _ltCheck

const CUT_OFF_PATTERN =
  /^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?)?\s*(Z|UTC|[+-]\d{2}:?\d{2})?$/

function zoneOffsetMs(zone: string): number {
  if (zone === '' || zone === 'Z' || zone === 'UTC') return 0
  const sign = zone.startsWith('-') ? -1 : 1
  const digits = zone.slice(1).replace(':', '')
  return sign * (Number(digits.slice(0, 2)) * 60 + Number(digits.slice(2, 4))) * 60_000
}

function versionError(issue: { input?: unknown }): string | undefined {
  if (typeof issue.input === 'number') return 'expected string, received number (quote versions in YAML: an unquoted 16.10 reads as 16.1)'
  return undefined
}
