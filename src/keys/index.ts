export {
  loadSigningKey,
  loadSigningKeySync,
  loadVerificationKey,
  generateSigningKeyPem,
  rsaThumbprint,
  toPublicJwk,
  MIN_RSA_BITS,
  type SigningKeyInput,
} from './import.js'
export { toJwks, type Jwks } from './jwks.js'
export {
  createKeyRing,
  KeyRingError,
  DEFAULT_PUBLISH_DELAY_SECONDS,
  type KeyRing,
  type KeyRingOptions,
  type KeyRingKeyInput,
  type KeyRingEntry,
  type KeyRingWarning,
  type SigningStatus,
} from './ring.js'
