/**
 * `cloud-connector-sdk`: what a service needs on its common path — keys, tokens, the policy, inspection and
 * preflight, the gateway's verdict, headers, the client — and the errors. Rare tools live in subpaths so that
 * importing this entry loads neither them nor their dependencies: the emulator (`/emulator`), catalog loading
 * and data (`/catalog`, with the YAML parser), the testing toolkit (`/testing`, `/testing/msw`).
 * `test/package-surface.test.ts` counts the runtime exports (at most 60).
 */

// the common path in one call
export { createCloudConnector, type CloudConnector, type CloudConnectorOptions, type CloudConnectorInstance } from './connector.js'

// errors
export {
  ERROR_CODES,
  CloudConnectorError,
  InvalidOptionsError,
  KeyError,
  CatalogError,
  TokenError,
  HeaderError,
  JwksError,
  isCloudConnectorError,
  type AnyCloudConnectorError,
  type CloudConnectorErrorClasses,
  type CloudConnectorErrorCode,
  type CloudConnectorErrorOptions,
  type KeyErrorCode,
} from './errors.js'
export {
  GatewayError,
  GatewayAuthError,
  ClockSkewError,
  GatewayForbiddenError,
  ModelUnreachableError,
  GatewayValidationError,
  GatewayHttpError,
  GatewayResponseError,
  GatewayTimeoutError,
  GatewayResponseTooLargeError,
  NetworkError,
  GatewayRedirectError,
  AbortedError,
  UsageQuotaError,
  isGatewayError,
  type GatewayErrorCode,
  type GatewayErrorContext,
  type TokenDiagnosis,
  type ClockSkewInfo,
  type ValidationIssue,
  type AuthFailureCause,
} from './client/errors.js'

// shared shapes
export type * from './types.js'
export { LIMITS } from './limits.js'
export { redact } from './redact.js'

// keys
export { loadSigningKey, loadSigningKeySync, loadVerificationKey, generateSigningKeyPem, type SigningKeyInput } from './keys/import.js'
export { toJwks, type Jwks } from './keys/jwks.js'
export {
  createKeyRing,
  KeyRingError,
  type KeyRing,
  type KeyRingOptions,
  type KeyRingKeyInput,
  type KeyRingEntry,
  type KeyRingWarning,
  type SigningStatus,
} from './keys/ring.js'

// tokens and the policy
export {
  createTokenIssuer,
  UUID_NOT_SET,
  type TokenIssuer,
  type TokenIssuerOptions,
  type IssueRequest,
  type IssuedToken,
  type SigningKeyProvider,
} from './token/issuer.js'
export type { ExternalTokenStore } from './token/cache.js'
export type { JwtSigner } from './token/jwt.js'
export {
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
} from './token/policy.js'
export type { Catalog } from './catalog/catalog.js'

// inspection and preflight
export { inspectToken, type InspectOptions, type ProblemCode, type TokenReport } from './inspect/inspect.js'
export { preflight, preflightOrThrow, PreflightError, type PreflightInput, type PreflightResult } from './inspect/preflight.js'
export { GATEWAY_MESSAGES, DEFAULT_AUDIENCE, DUO_WORKFLOW_AUDIENCE, type GatewayHeaderName } from './inspect/messages.js'
export type { EndpointAccess, AccessRule } from './inspect/access.js'

// the gateway's verdict
export {
  createGatewayVerifier,
  type GatewayVerifier,
  type GatewayVerifierOptions,
  type StrictOptions,
  type AuthenticateOptions,
  type Verdict,
  type VerdictCheck,
  type KeySetInfo,
} from './verify/verifier.js'

// headers and the client
export {
  buildGatewayHeaders,
  computeGlobalUserId,
  type DeploymentType,
  type GatewayInstanceContext,
  type GatewayUserContext,
  type GatewayFeatureContext,
  type GatewayHeadersContext,
} from './headers.js'
export {
  createGatewayClient,
  type GatewayClient,
  type CallOptions,
  type GatewayResult,
  type GatewayStream,
  type ModelConfigurationCheckInput,
  type CodeSuggestionsBody,
  type CodeGenerationsBody,
  type ChatAgentBody,
  type SuggestionsResponse,
  type UserAccessTokenResponse,
} from './client/client.js'
export { createAuthenticatedFetch } from './client/fetch.js'
export { ENDPOINTS, endpointAccess, type EndpointDefinition, type EndpointName, type HttpMethod } from './client/endpoints.js'
export type { GatewayClientOptions, AuthenticatedFetchOptions, CommonOptions, RetryPolicy } from './client/options.js'
