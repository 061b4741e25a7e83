export { inspectToken, MAX_TOKEN_BYTES, PROBLEM_CODES, RESEMBLANCES, type InspectOptions, type ProblemCode, type TokenReport } from './inspect.js'
export { preflight, preflightOrThrow, PreflightError, type PreflightInput, type PreflightResult } from './preflight.js'
export {
  GATEWAY_MESSAGES,
  JOSE_REASONS,
  DEFAULT_AUDIENCE,
  DUO_WORKFLOW_AUDIENCE,
  headerMismatchMessage,
  forbiddenMessage,
  missingRequiredClaimReason,
  type GatewayHeaderName,
} from './messages.js'
export { headersToMap, getHeader, parseAuthorization } from './headers.js'
export {
  judgeAccess,
  accessFor,
  tokenUnitPrimitiveOf,
  singlePrimitiveAccess,
  type EndpointAccess,
  type AccessRule,
  type AccessVerdict,
} from './access.js'
