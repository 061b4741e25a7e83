// `cloud-connector-sdk/testing`: a test instance and token-shape assertions. It needs no msw: the msw handlers
// are `cloud-connector-sdk/testing/msw`, the emulator `cloud-connector-sdk/emulator`.
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
