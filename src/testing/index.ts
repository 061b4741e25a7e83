// `cloud-connector-sdk/testing`: a test instance, token-shape assertions, msw handlers (msw loaded
// lazily, an optional peer dependency) and, for convenience, the emulator.
export {
  createTestInstance,
  DEFAULT_TEST_ISSUER_URL,
  DEFAULT_TEST_VERSION,
  type TestInstance,
  type TestInstanceOptions,
  type TestHeadersOptions,
} from './instance.js'
export {
  checkTokenShape,
  expectTokenShape,
  TokenShapeError,
  type TokenShapeExpectations,
  type TokenShapeResult,
} from './assertions.js'
export {
  createMswGateway,
  gatewayHandlers,
  instanceHandlers,
  MswMissingError,
  type MswGateway,
  type MswGatewayOptions,
  type MswInstanceOptions,
} from './msw.js'
export * from '../emulator/index.js'
