export { startEmulator, EmulatorError, type Emulator, type EmulatorOptions } from './server.js'
export { createGatewayCore, type GatewayCore, type GatewayCoreOptions, type GatewayKnobs } from './core.js'
export { createInstanceCore, openIdConfiguration, JWKS_MAX_AGE_SECONDS, type InstanceCore, type InstanceCoreOptions } from './instance.js'
export type { EmulatorRequest, EmulatorResponse } from './http.js'
export type { RecordedRequest, RecordedVerdict, RequestFilter, EmulatorSide, RequestLogLimits } from './record.js'
export { RequestLog, DEFAULT_REQUEST_LOG_MAX_ENTRIES, DEFAULT_REQUEST_LOG_MAX_BYTES, DEFAULT_REQUEST_LOG_MAX_BODY_BYTES } from './record.js'
export {
  MODEL_CHECK_PROMPT_ID,
  DEFAULT_MODEL_REPLY,
  CHAT_INVOKABLES,
  type FailingModel,
} from './routes.js'
