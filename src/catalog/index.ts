export {
  unitPrimitiveSchema,
  backendServiceSchema,
  addOnSchema,
  licenseTypeSchema,
  parseCutOffDate,
  CATALOG_NAME_PATTERN,
  type UnitPrimitive,
  type BackendService,
  type AddOn,
  type LicenseType,
} from './schema.js'
export { createCatalog, type Catalog, type CatalogData } from './catalog.js'
export { loadCatalogDir, DEFAULT_MAX_CATALOG_FILE_BYTES, DEFAULT_MAX_CATALOG_FILES, type LoadCatalogOptions } from './loader.js'
export {
  resolveEntitlements,
  normalizeAddOnName,
  NORMALIZED_ADD_ON_NAMES,
  audiencesFor,
  assertKnownPrimitive,
  hasFreeAccess,
  type Entitlements,
  type ResolveEntitlementsOptions,
} from './entitlements.js'
export { builtInCatalog } from './builtin.js'
