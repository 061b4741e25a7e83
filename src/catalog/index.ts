// `cloud-connector-sdk/catalog`: the catalog (unit primitives, add-ons, backend services), its loader for the
// gitlab-cloud-connector `config/` layout (YAML), entitlements and the feature settings of unit primitives.
import { catalogSchemas } from './schema.js'

// The items' zod schemas, built when this subpath is loaded (the main entry builds them on first use).
const schemas = catalogSchemas()
export const unitPrimitiveSchema = schemas.unitPrimitive
export const backendServiceSchema = schemas.backendService
export const addOnSchema = schemas.addOn
export const licenseTypeSchema = schemas.licenseType
export {
  parseCutOffDate,
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
  hasFreeAccess,
  type Entitlements,
  type ResolveEntitlementsOptions,
} from './entitlements.js'
export { builtInCatalog } from './builtin.js'
export {
  FEATURE_SETTINGS,
  UNIT_PRIMITIVE_FEATURE_SETTINGS,
  featureSettingFor,
  featureSettingTitle,
  type FeatureSettingInfo,
} from '../token/feature-settings.js'
