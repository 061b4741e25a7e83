import {
  createHash,
  createPrivateKey,
  createPublicKey,
  generateKeyPairSync,
  KeyObject,
  type JsonWebKey,
} from 'node:crypto'
import { KeyError } from '../errors.js'
import type { PublicRsaJwk, SigningKey } from '../types.js'

/** What `loadSigningKey` accepts: a PEM (PKCS#1 or PKCS#8, as text or bytes), a private JWK, or a KeyObject. */
export type SigningKeyInput = string | Uint8Array | JsonWebKey | KeyObject

export const MIN_RSA_BITS = 2048

/**
 * Load an instance's signing key. GitLab stores `cloud_connector_keys` as PKCS#1 PEM
 * (`BEGIN RSA PRIVATE KEY`), which jose's importPKCS8 refuses, so everything goes through
 * node:crypto and jose (if used) is handed the KeyObject.
 *
 * A PEM whose newlines were escaped as a literal `\n` (a `.env` file) is accepted after unescaping.
 */
export async function loadSigningKey(input: SigningKeyInput): Promise<SigningKey> {
  return loadSigningKeySync(input)
}

/** Synchronous twin of `loadSigningKey`, for the CLI and for start-up code. */
export function loadSigningKeySync(input: SigningKeyInput): SigningKey {
  const privateKey = toPrivateKeyObject(input)
  return fromPrivateKeyObject(privateKey)
}

/** The verification half only (from a public JWK, a public PEM or a KeyObject). */
export function loadVerificationKey(input: string | Uint8Array | JsonWebKey | PublicRsaJwk | KeyObject): SigningKey {
  let publicKey: KeyObject
  if (input instanceof KeyObject) {
    publicKey = input.type === 'private' ? createPublicKey(input) : input
  } else if (typeof input === 'string' || input instanceof Uint8Array) {
    const text = normalisePem(typeof input === 'string' ? input : Buffer.from(input).toString('utf8'))
    if (text.trimStart().startsWith('{')) return loadVerificationKey(parseJwkText(text))
    try {
      publicKey = createPublicKey(text)
    } catch {
      throw new KeyError('ERR_KEY_INVALID', 'The verification key is not a readable PEM or JWK: give an RSA public key (BEGIN PUBLIC KEY) or a JWK with kty "RSA", n and e.')
    }
  } else if (typeof input !== 'object' || input === null) {
    throw new KeyError('ERR_KEY_INVALID', 'The verification key must be a PEM string, a JWK object or a KeyObject.')
  } else {
    // kty is described, never converted: String() of an object without a prototype throws a TypeError.
    if (input.kty !== 'RSA') throw notRsa(`a JWK with kty "${typeof input.kty === 'string' ? input.kty.slice(0, 16) : 'missing'}"`)
    try {
      const { n, e } = input as { n?: unknown; e?: unknown }
      if (typeof n !== 'string' || typeof e !== 'string') throw new Error('n/e')
      publicKey = createPublicKey({ key: { kty: 'RSA', n, e }, format: 'jwk' })
    } catch {
      throw new KeyError('ERR_KEY_INVALID', 'The JWK is not a usable RSA public key: it needs base64url members "n" and "e".')
    }
  }
  assertRsa(publicKey)
  const publicJwk = toPublicJwk(publicKey)
  return Object.freeze({
    kid: publicJwk.kid,
    alg: 'RS256' as const,
    publicJwk,
    publicKey,
    modulusLength: modulusBits(publicKey),
  })
}

/** A new RSA-2048 key as GitLab creates it (`OpenSSL::PKey::RSA.new(2048).to_pem`): PKCS#1 PEM. */
export function generateSigningKeyPem(bits = MIN_RSA_BITS): string {
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: bits, publicExponent: 0x10001 })
  return privateKey.export({ type: 'pkcs1', format: 'pem' }).toString()
}

/**
 * RFC 7638 SHA-256 thumbprint of an RSA public JWK, base64url without padding.
 * The required members in lexicographic order, no whitespace: exactly what ruby-jwt hashes.
 */
export function rsaThumbprint(jwk: { e: string; n: string }): string {
  const canonical = `{"e":"${jwk.e}","kty":"RSA","n":"${jwk.n}"}`
  return createHash('sha256').update(canonical).digest('base64url')
}

/** The public JWK the instance publishes at /oauth/discovery/keys for this key. */
export function toPublicJwk(key: KeyObject): PublicRsaJwk {
  const pub = key.type === 'private' ? createPublicKey(key) : key
  const jwk = pub.export({ format: 'jwk' }) as { n?: string; e?: string }
  if (!jwk.n || !jwk.e) throw notRsa(String(pub.asymmetricKeyType))
  return { kty: 'RSA', kid: rsaThumbprint({ e: jwk.e, n: jwk.n }), e: jwk.e, n: jwk.n, use: 'sig', alg: 'RS256' }
}

function fromPrivateKeyObject(privateKey: KeyObject): SigningKey {
  assertRsa(privateKey)
  const publicKey = createPublicKey(privateKey)
  const publicJwk = toPublicJwk(publicKey)
  const key: SigningKey = {
    kid: publicJwk.kid,
    alg: 'RS256',
    publicJwk,
    publicKey,
    privateKey,
    modulusLength: modulusBits(privateKey),
  }
  return Object.freeze(key)
}

function toPrivateKeyObject(input: SigningKeyInput): KeyObject {
  if (input instanceof KeyObject) {
    if (input.type === 'public') throw publicOnly('a public KeyObject')
    if (input.type !== 'private') throw notRsa('a secret (symmetric) key')
    return input
  }
  if (typeof input === 'string' || input instanceof Uint8Array) {
    const text = typeof input === 'string' ? input : Buffer.from(input).toString('utf8')
    if (text.trim().length === 0) {
      throw new KeyError('ERR_KEY_INVALID', 'The signing key is empty: pass the PEM of the instance key (BEGIN RSA PRIVATE KEY), a private JWK, or a KeyObject.')
    }
    if (text.trimStart().startsWith('{')) return toPrivateKeyObject(parseJwkText(text))
    return privateFromPem(normalisePem(text))
  }
  if (typeof input === 'object' && input !== null) return privateFromJwk(input)
  throw new KeyError('ERR_KEY_INVALID', 'The signing key must be a PEM string, a private JWK object or a KeyObject.')
}

const PEM_BLOCK = /-----BEGIN ([A-Z0-9 ]+)-----/

function privateFromPem(pem: string): KeyObject {
  const begin = PEM_BLOCK.exec(pem)
  if (!begin) {
    throw new KeyError(
      'ERR_KEY_INVALID',
      'The signing key is neither a PEM nor a JWK: expected text starting with "-----BEGIN RSA PRIVATE KEY-----" (PKCS#1, as GitLab stores it) or "-----BEGIN PRIVATE KEY-----" (PKCS#8).',
    )
  }
  const label = begin[1] ?? ''
  if (label === 'ENCRYPTED PRIVATE KEY' || /Proc-Type:\s*4,ENCRYPTED/.test(pem)) {
    throw new KeyError(
      'ERR_KEY_ENCRYPTED',
      'The signing key PEM is encrypted with a passphrase: decrypt it first (openssl rsa -in key.pem -out key.dec.pem) and keep it in a secret store instead.',
    )
  }
  if (label === 'PUBLIC KEY' || label === 'RSA PUBLIC KEY' || label === 'CERTIFICATE') {
    throw publicOnly(`a PEM "${label}"`)
  }
  if (!pem.includes(`-----END ${label}-----`)) {
    throw new KeyError(
      'ERR_KEY_TRUNCATED',
      `The signing key PEM is truncated: it has "-----BEGIN ${label}-----" but no matching END line. Copy the whole key, including the END line.`,
    )
  }
  if (label !== 'RSA PRIVATE KEY' && label !== 'PRIVATE KEY') {
    if (label === 'EC PRIVATE KEY' || label === 'OPENSSH PRIVATE KEY' || label === 'DSA PRIVATE KEY') throw notRsa(`a PEM "${label}"`)
    throw new KeyError('ERR_KEY_INVALID', `The PEM block "${label}" is not a private key: give BEGIN RSA PRIVATE KEY (PKCS#1) or BEGIN PRIVATE KEY (PKCS#8).`)
  }
  try {
    return createPrivateKey({ key: pem, format: 'pem' })
  } catch {
    // node's messages do not hold key material, but we do not pass them on as a cause regardless.
    throw new KeyError(
      'ERR_KEY_TRUNCATED',
      `The signing key PEM "${label}" has its BEGIN and END lines but its body does not decode as a key: it is truncated or corrupted. Copy the key again from its source.`,
    )
  }
}

function privateFromJwk(jwk: JsonWebKey): KeyObject {
  if (jwk.kty !== 'RSA') throw notRsa(`a JWK with kty "${typeof jwk.kty === 'string' ? jwk.kty.slice(0, 16) : 'missing'}"`)
  if (typeof jwk.d !== 'string') throw publicOnly('a JWK without the private member "d"')
  try {
    return createPrivateKey({ key: jwk, format: 'jwk' })
  } catch {
    throw new KeyError('ERR_KEY_INVALID', 'The private JWK is incomplete or corrupted: an RSA private JWK needs n, e, d, p, q, dp, dq and qi as base64url.')
  }
}

function parseJwkText(text: string): JsonWebKey {
  try {
    const parsed: unknown = JSON.parse(text)
    if (parsed && typeof parsed === 'object' && !Array.isArray(parsed)) return parsed as JsonWebKey
  } catch {
    /* fall through */
  }
  throw new KeyError('ERR_KEY_INVALID', 'The key text starts with "{" but is not a JSON object: give a JWK object, or a PEM.')
}

/**
 * Accept what people paste: a PEM with `\n` escapes (from .env files), Windows line endings,
 * surrounding quotes or whitespace.
 */
function normalisePem(text: string): string {
  let t = text.trim()
  if ((t.startsWith('"') && t.endsWith('"')) || (t.startsWith("'") && t.endsWith("'"))) t = t.slice(1, -1).trim()
  if (t.includes('-----BEGIN') && !t.includes('\n') && t.includes('\\n')) t = t.replace(/\\r\\n|\\n/g, '\n')
  return t.replace(/\r\n/g, '\n')
}

function assertRsa(key: KeyObject): void {
  if (key.asymmetricKeyType !== 'rsa') throw notRsa(`a ${key.asymmetricKeyType ?? 'non-asymmetric'} key`)
  const bits = modulusBits(key)
  if (bits < MIN_RSA_BITS) {
    throw new KeyError(
      'ERR_KEY_TOO_SMALL',
      `The signing key is RSA ${bits}-bit; GitLab and the gateway use RSA ${MIN_RSA_BITS} or larger. Generate a new key (cloud-connector keygen).`,
    )
  }
}

function modulusBits(key: KeyObject): number {
  return key.asymmetricKeyDetails?.modulusLength ?? 0
}

function notRsa(what: string): KeyError {
  return new KeyError(
    'ERR_KEY_NOT_RSA',
    `The signing key is ${what}, not an RSA key: cloud-connector tokens are RS256, the only algorithm the gateway accepts. Use the instance's RSA key.`,
  )
}

function publicOnly(what: string): KeyError {
  return new KeyError(
    'ERR_KEY_PUBLIC_ONLY',
    `The signing key is ${what}: a public key cannot sign. Pass the instance's private key (BEGIN RSA PRIVATE KEY); publish its public half with toJwks().`,
  )
}
