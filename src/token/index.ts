export {
  createTokenIssuer,
  UUID_NOT_SET,
  type TokenIssuer,
  type TokenIssuerOptions,
  type IssueRequest,
  type IssuedToken,
  type SigningKeyProvider,
} from './issuer.js'
export {
  createTokenCache,
  DEFAULT_REFRESH_BEFORE_SECONDS,
  DEFAULT_MAX_ENTRIES,
  type TokenCache,
  type TokenCacheOptions,
  type TokenCacheStats,
  type ExternalTokenStore,
} from './cache.js'
export {
  decideTokenSource,
  createTokenSource,
  type TokenPolicy,
  type LicenseKind,
  type SyncedTokenState,
  type PolicyBranch,
  type PolicyDecision,
  type TokenSituation,
  type SyncedToken,
  type SyncedTokenLoader,
  type TokenSourceOptions,
  type PolicyTokenSource,
} from './policy.js'
export {
  FEATURE_SETTINGS,
  UNIT_PRIMITIVE_FEATURE_SETTINGS,
  featureSettingFor,
  featureSettingTitle,
  type FeatureSettingInfo,
} from './feature-settings.js'
export { REGISTERED_CLAIMS, NOT_BEFORE_SECONDS, DEFAULT_TTL_SECONDS, type JwtSigner } from './jwt.js'
