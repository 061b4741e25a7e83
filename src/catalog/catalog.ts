/**
 * The in-memory catalog: validated, cross-checked, frozen. Built from plain objects
 * (`createCatalog`) or from a `config/` directory (`loadCatalogDir`, loader.ts); both go through
 * `buildCatalog` so the rules are written once.
 */
import type { z } from 'zod'
import { CatalogError } from '../errors.js'
import {
  catalogSchemas,
  type AddOn,
  type BackendService,
  type LicenseType,
  type UnitPrimitive,
} from './schema.js'

export interface Catalog {
  readonly unitPrimitives: ReadonlyMap<string, UnitPrimitive>
  readonly backendServices: ReadonlyMap<string, BackendService>
  readonly addOns: ReadonlyMap<string, AddOn>
  readonly licenseTypes: ReadonlyMap<string, LicenseType>
}

export interface CatalogData {
  unitPrimitives: unknown[]
  backendServices: unknown[]
  /**
   * When given, every `add_ons` reference of a unit primitive must name one of these.
   * When omitted, the add-ons are the distinct names the unit primitives reference.
   */
  addOns?: unknown[]
  /** Same rule as `addOns`, for `license_types`. */
  licenseTypes?: unknown[]
}

/**
 * Validate plain objects and build a catalog. Unknown fields are kept. Fails with a
 * `CatalogError` (`ERR_CATALOG_INVALID`) naming the item (`unitPrimitives[3]`) and the path of the
 * bad field; references to backend services (always) and to add-ons / license types (when those
 * lists are given) must resolve. Map order is the order given.
 */
export function createCatalog(data: CatalogData): Catalog {
  return fromData(data, true)
}

/**
 * The package's own catalog data (builtin.ts), built without the schemas: it is already in their output form
 * (test/catalog.test.ts holds it so, against `createCatalog`), and building it must not load zod when the package
 * is imported (src/zod.ts). The checks that are not the schemas' (references, duplicates, `__proto__`) still run.
 */
export function createBuiltInCatalog(data: CatalogData): Catalog {
  return fromData(data, false)
}

function fromData(data: CatalogData, validate: boolean): Catalog {
  if (data === null || typeof data !== 'object') {
    throw new CatalogError('ERR_CATALOG_INVALID', 'createCatalog(data): data must be an object { unitPrimitives: [...], backendServices: [...], addOns?, licenseTypes? }.', {
      file: 'data',
    })
  }
  const items: CatalogItem[] = []
  const add = (kind: ItemKind, field: keyof CatalogData, required: boolean): void => {
    const list = data[field]
    if (list === undefined && !required) return
    if (!Array.isArray(list)) {
      throw new CatalogError('ERR_CATALOG_INVALID', `createCatalog(data): ${field} must be an array of objects.`, { file: field, path: '' })
    }
    list.forEach((value, i) => items.push({ kind, source: `${field}[${i}]`, value }))
  }
  add('unitPrimitive', 'unitPrimitives', true)
  add('backendService', 'backendServices', true)
  add('addOn', 'addOns', false)
  add('licenseType', 'licenseTypes', false)
  return buildCatalog(items, {
    checkAddOns: data.addOns !== undefined,
    checkLicenseTypes: data.licenseTypes !== undefined,
    validate,
  })
}

// ---------------------------------------------------------------------------------------------
// Internal: shared with the loader.

export type ItemKind = 'unitPrimitive' | 'backendService' | 'addOn' | 'licenseType'

export interface CatalogItem {
  kind: ItemKind
  /** Where the item came from, as shown in messages: a file path relative to the catalog root, or `unitPrimitives[3]`. */
  source: string
  value: unknown
  /** For files: the name the item must have (the file's base name). */
  expectedName?: string
}

export interface BuildOptions {
  checkAddOns: boolean
  checkLicenseTypes: boolean
  /** Judge each item by its schema (false only for data already in the schemas' output form). */
  validate: boolean
}

export function buildCatalog(items: readonly CatalogItem[], options: BuildOptions): Catalog {
  const maps = {
    unitPrimitive: new Map<string, { item: UnitPrimitive; source: string }>(),
    backendService: new Map<string, { item: BackendService; source: string }>(),
    addOn: new Map<string, { item: AddOn; source: string }>(),
    licenseType: new Map<string, { item: LicenseType; source: string }>(),
  }
  for (const entry of items) {
    assertSafeTree(entry.value, entry.source)
    let item = entry.value as { name: string }
    if (options.validate) {
      const result = (catalogSchemas()[entry.kind] as z.ZodType).safeParse(entry.value)
      if (!result.success) throw invalid(entry.source, result.error.issues, entry.value)
      item = result.data as { name: string }
    }
    if (entry.expectedName !== undefined && item.name !== entry.expectedName) {
      throw new CatalogError(
        'ERR_CATALOG_INVALID',
        `${entry.source}: name: "${item.name}" does not match the file name; rename the file to ${item.name}.yml or fix the name.`,
        { file: entry.source, path: 'name' },
      )
    }
    const map = maps[entry.kind] as Map<string, { item: unknown; source: string }>
    const previous = map.get(item.name)
    if (previous) {
      throw new CatalogError(
        'ERR_CATALOG_INVALID',
        `${entry.source}: name: duplicate ${KIND_LABEL[entry.kind]} "${item.name}" (already defined by ${previous.source}); remove one of them.`,
        { file: entry.source, path: 'name' },
      )
    }
    map.set(item.name, { item, source: entry.source })
  }

  // References. Add-ons and license types not given explicitly are derived from the references.
  for (const { item, source } of maps.unitPrimitive.values()) {
    checkRefs(item, source, 'backend_services', maps.backendService, 'backend service', 'backend_services')
    if (options.checkAddOns) checkRefs(item, source, 'add_ons', maps.addOn, 'add-on', 'add_ons')
    if (options.checkLicenseTypes) checkRefs(item, source, 'license_types', maps.licenseType, 'license type', 'license_types')
  }
  if (!options.checkAddOns) deriveNames(maps.unitPrimitive, 'add_ons', maps.addOn)
  if (!options.checkLicenseTypes) deriveNames(maps.unitPrimitive, 'license_types', maps.licenseType)

  return Object.freeze({
    unitPrimitives: frozenMap(maps.unitPrimitive),
    backendServices: frozenMap(maps.backendService),
    addOns: frozenMap(maps.addOn),
    licenseTypes: frozenMap(maps.licenseType),
  })
}

/**
 * A `Map` whose mutators throw once built: the built-in catalog is shared by every caller in the
 * process, so nobody may add a primitive to it by accident.
 */
export class ReadonlyCatalogMap<V> extends Map<string, V> {
  #sealed = false
  constructor(entries: Iterable<readonly [string, V]>) {
    super()
    for (const [k, v] of entries) super.set(k, v)
    this.#sealed = true
  }
  override set(key: string, value: V): this {
    if (this.#sealed) throw new TypeError('Catalog maps are read-only: build a new catalog with createCatalog().')
    return super.set(key, value)
  }
  override delete(key: string): boolean {
    if (this.#sealed) throw new TypeError('Catalog maps are read-only: build a new catalog with createCatalog().')
    return super.delete(key)
  }
  override clear(): void {
    if (this.#sealed) throw new TypeError('Catalog maps are read-only: build a new catalog with createCatalog().')
    super.clear()
  }
}

/** Render a path such as `['backend_services', 0]` as `backend_services[0]`. */
export function formatPath(path: readonly PropertyKey[]): string {
  let out = ''
  for (const seg of path) {
    if (typeof seg === 'number') out += `[${seg}]`
    else if (typeof seg === 'string' && /^[A-Za-z_$][\w$]*$/.test(seg)) out += out === '' ? seg : `.${seg}`
    else out += `[${JSON.stringify(String(seg))}]`
  }
  return out === '' ? '(root)' : out
}

/** Keys that would change an object's prototype when copied by assignment (zod copies loose keys so). */
const FORBIDDEN_KEYS = new Set(['__proto__'])
/** Catalog items are flat; anything deeper than this is not a catalog file. */
const MAX_DEPTH = 32

/**
 * Refuse `__proto__` keys anywhere (prototype pollution through a crafted YAML/JSON file) and
 * absurd nesting, before zod copies the object.
 */
export function assertSafeTree(value: unknown, source: string): void {
  const walk = (v: unknown, path: PropertyKey[]): void => {
    if (v === null || typeof v !== 'object') return
    if (path.length > MAX_DEPTH) {
      throw new CatalogError('ERR_CATALOG_INVALID', `${source}: ${formatPath(path)}: nested deeper than ${MAX_DEPTH} levels; a catalog item is a flat mapping.`, {
        file: source,
        path: formatPath(path),
      })
    }
    if (Array.isArray(v)) {
      v.forEach((x, i) => walk(x, [...path, i]))
      return
    }
    for (const key of Object.keys(v)) {
      if (FORBIDDEN_KEYS.has(key)) {
        const at = formatPath([...path, key])
        throw new CatalogError('ERR_CATALOG_INVALID', `${source}: ${at}: the key "__proto__" is not allowed (it could alter object prototypes); remove it.`, {
          file: source,
          path: at,
        })
      }
      walk((v as Record<string, unknown>)[key], [...path, key])
    }
  }
  walk(value, [])
}

// ---------------------------------------------------------------------------------------------


const KIND_LABEL: Record<ItemKind, string> = {
  unitPrimitive: 'unit primitive',
  backendService: 'backend service',
  addOn: 'add-on',
  licenseType: 'license type',
}

/** How many problems one error message lists; the rest are counted. */
const MAX_LISTED_ISSUES = 5

function invalid(source: string, issues: readonly z.core.$ZodIssue[], input: unknown): CatalogError {
  const lines = issues.slice(0, MAX_LISTED_ISSUES).map((issue) => `${formatPath(issue.path)}: ${describeIssue(issue, input)}`)
  const more = issues.length > MAX_LISTED_ISSUES ? `; and ${issues.length - MAX_LISTED_ISSUES} more` : ''
  const first = issues[0]
  return new CatalogError('ERR_CATALOG_INVALID', `${source}: ${lines.join('; ')}${more}`, {
    file: source,
    path: first ? formatPath(first.path) : '(root)',
  })
}

function describeIssue(issue: z.core.$ZodIssue, input: unknown): string {
  if (issue.code === 'invalid_type') {
    // zod's default text starts with "Invalid input:"; our own (e.g. the version hint) is kept.
    if (!issue.message.startsWith('Invalid input')) return issue.message
    const actual = valueAt(input, issue.path)
    if (actual.missing) return `is required (expected ${issue.expected})`
    return `expected ${issue.expected}, received ${typeName(actual.value)}`
  }
  return issue.message
}

function valueAt(input: unknown, path: readonly PropertyKey[]): { missing: boolean; value?: unknown } {
  let v: unknown = input
  for (const seg of path) {
    if (v === null || typeof v !== 'object' || !Object.prototype.hasOwnProperty.call(v, seg)) return { missing: true }
    v = (v as Record<PropertyKey, unknown>)[seg]
  }
  return v === undefined ? { missing: true } : { missing: false, value: v }
}

function typeName(v: unknown): string {
  if (v === null) return 'null'
  if (Array.isArray(v)) return 'array'
  if (v instanceof Date) return 'date'
  if (typeof v === 'object') return 'object'
  return typeof v
}

function checkRefs(
  item: UnitPrimitive,
  source: string,
  field: 'backend_services' | 'add_ons' | 'license_types',
  known: ReadonlyMap<string, unknown>,
  label: string,
  dir: string,
): void {
  const refs = item[field]
  if (!refs) return
  refs.forEach((ref, i) => {
    if (known.has(ref)) return
    const names = [...known.keys()].sort()
    const list = names.length > 0 ? names.join(', ') : 'none'
    throw new CatalogError(
      'ERR_CATALOG_INVALID',
      `${source}: ${field}[${i}]: unknown ${label} "${ref}" (known: ${list}); define it in ${dir}/${ref}.yml or fix the name.`,
      { file: source, path: `${field}[${i}]` },
    )
  })
}

function deriveNames(
  primitives: ReadonlyMap<string, { item: UnitPrimitive }>,
  field: 'add_ons' | 'license_types',
  into: Map<string, { item: { name: string }; source: string }>,
): void {
  const names = new Set<string>()
  for (const { item } of primitives.values()) for (const n of item[field] ?? []) names.add(n)
  for (const name of [...names].sort()) into.set(name, { item: { name }, source: `(referenced by unit primitives)` })
}

function frozenMap<V>(source: Map<string, { item: V }>): ReadonlyMap<string, V> {
  return new ReadonlyCatalogMap([...source].map(([k, { item }]) => [k, frozenCopy(item)] as const))
}

/**
 * A frozen deep copy of arrays and plain objects: the catalog must not change under its users,
 * and building one must not freeze objects the caller still owns (zod keeps nested unknown
 * fields by reference).
 */
function frozenCopy<T>(value: T): T {
  if (Array.isArray(value)) return Object.freeze(value.map((v: unknown) => frozenCopy(v))) as T
  if (value !== null && typeof value === 'object' && isPlainObject(value)) {
    const out: Record<string, unknown> = {}
    // An optional field written as null was turned into undefined by the schema: drop it.
    for (const [k, v] of Object.entries(value)) if (v !== undefined) out[k] = frozenCopy(v)
    return Object.freeze(out) as T
  }
  return value
}

function isPlainObject(value: object): boolean {
  const proto: unknown = Object.getPrototypeOf(value)
  return proto === Object.prototype || proto === null
}
