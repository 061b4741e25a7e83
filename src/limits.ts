/**
 * The SDK's limits and defaults in one frozen object (README "Limits"), instead of a constant per module in
 * the package's root: what a user reads to know a bound, or passes back as an option.
 */
import { DEFAULT_MAX_RESPONSE_BYTES, DEFAULT_RETRY, DEFAULT_TIMEOUT_MS } from './client/options.js'
import { MAX_TOKEN_BYTES } from './inspect/inspect.js'
import { MIN_RSA_BITS } from './keys/import.js'
import { DEFAULT_PUBLISH_DELAY_SECONDS } from './keys/ring.js'
import { DEFAULT_MAX_ENTRIES, DEFAULT_REFRESH_BEFORE_SECONDS } from './token/cache.js'
import { DEFAULT_TTL_SECONDS, NOT_BEFORE_SECONDS } from './token/jwt.js'
import { DEFAULT_FETCH_TIMEOUT_MS, MAX_DISCOVERY_BYTES } from './verify/discovery.js'
import { UNKNOWN_KID_COOLDOWN_SECONDS } from './verify/verifier.js'

export const LIMITS = Object.freeze({
  /** A bearer value larger than this (bytes, UTF-8) is refused before decoding: inspectToken, preflight, the strict verifier. */
  maxTokenBytes: MAX_TOKEN_BYTES,
  /** Token lifetime (`ttlSeconds`), as Rails: 3600 s. */
  tokenTtlSeconds: DEFAULT_TTL_SECONDS,
  /** `nbf` = `iat` − this, as Rails. */
  notBeforeSeconds: NOT_BEFORE_SECONDS,
  /** A cached token is refreshed this long before it expires (`cache.refreshBeforeSeconds`). */
  refreshBeforeSeconds: DEFAULT_REFRESH_BEFORE_SECONDS,
  /** Tokens the issuer's cache keeps (`cache.maxEntries`). */
  tokenCacheMaxEntries: DEFAULT_MAX_ENTRIES,
  /** The smallest RSA signing key accepted. */
  minRsaBits: MIN_RSA_BITS,
  /** A key ring's key signs only after being published this long (the gateway's JWKS cache). */
  publishDelaySeconds: DEFAULT_PUBLISH_DELAY_SECONDS,
  /** Per discovery request of the verifier (`fetchTimeoutMs`), the gateway's. */
  discoveryTimeoutMs: DEFAULT_FETCH_TIMEOUT_MS,
  /** The most bytes read of an OpenID configuration or a key set. */
  maxDiscoveryBytes: MAX_DISCOVERY_BYTES,
  /** The strict verifier reloads keys for an unknown `kid` at most once per this many seconds. */
  unknownKidCooldownSeconds: UNKNOWN_KID_COOLDOWN_SECONDS,
  /** The client's `timeout` per attempt: headers and whole body. */
  requestTimeoutMs: DEFAULT_TIMEOUT_MS,
  /** The client's `maxResponseBytes`. */
  maxResponseBytes: DEFAULT_MAX_RESPONSE_BYTES,
  /** The client's `retry` policy. */
  retry: Object.freeze({ ...DEFAULT_RETRY, statusCodes: Object.freeze([...DEFAULT_RETRY.statusCodes]) }),
})
