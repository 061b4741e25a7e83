export {
  createGatewayVerifier,
  UNKNOWN_KID_COOLDOWN_SECONDS,
  type GatewayVerifier,
  type GatewayVerifierOptions,
  type StrictOptions,
  type AuthenticateOptions,
  type Verdict,
  type VerdictCheck,
  type KeySetInfo,
} from './verifier.js'
export { discoverJwks, openIdConfigurationUrl, DEFAULT_FETCH_TIMEOUT_MS, MAX_DISCOVERY_BYTES, type DiscoveryOptions, type DiscoveredJwks } from './discovery.js'
