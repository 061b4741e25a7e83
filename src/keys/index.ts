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
