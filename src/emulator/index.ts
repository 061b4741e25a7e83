// `cloud-connector-sdk/emulator`: a GitLab instance (OIDC discovery) and an AI Gateway double on loopback.
export { startEmulator, EmulatorError, type Emulator, type EmulatorOptions } from './server.js'
export type { GatewayKnobs } from './core.js'
export { JWKS_MAX_AGE_SECONDS } from './instance.js'
export type { RecordedRequest, RecordedVerdict, RequestFilter, EmulatorSide, RequestLogLimits } from './record.js'
export { RequestLog, DEFAULT_REQUEST_LOG_MAX_ENTRIES, DEFAULT_REQUEST_LOG_MAX_BYTES, DEFAULT_REQUEST_LOG_MAX_BODY_BYTES } from './record.js'
export { MODEL_CHECK_PROMPT_ID, DEFAULT_MODEL_REPLY, CHAT_INVOKABLES, type FailingModel, type UsageQuotaState } from './routes.js'
