/**
 * Every error the SDK throws is a `CloudConnectorError` with a stable `code`, so callers can
 * `switch (err.code)` and narrow. Messages say what to do; they never carry a whole token, a
 * signature, an API key or key material (see `redact.ts`).
 */

/** All codes, in one place, so that the union type below stays exhaustive. */
export const ERROR_CODES = [
  // options and configuration
  'ERR_INVALID_OPTIONS',
  // keys
  'ERR_KEY_PUBLIC_ONLY',
  'ERR_KEY_NOT_RSA',
  'ERR_KEY_TOO_SMALL',
  'ERR_KEY_ENCRYPTED',
  'ERR_KEY_TRUNCATED',
  'ERR_KEY_INVALID',
  'ERR_KEYRING_EMPTY',
  'ERR_KEY_NOT_PUBLISHED',
  'ERR_KEYRING_STATE',
  // catalog
  'ERR_CATALOG_INVALID',
  'ERR_CATALOG_UNKNOWN_PRIMITIVE',
  // tokens
  'ERR_SCOPE_NOT_ENTITLED',
  'ERR_RESERVED_CLAIM',
  'ERR_SIGNER_FAILED',
  'ERR_NO_TOKEN',
  'ERR_SYNCED_TOKEN_INVALID',
  // preflight
  'ERR_PREFLIGHT_REJECTED',
  // headers
  'ERR_INVALID_HEADER',
  // verification / key discovery
  'ERR_JWKS_UNAVAILABLE',
  'ERR_JWKS_INVALID',
  'ERR_DISCOVERY_FAILED',
  // gateway responses and transport
  'ERR_GATEWAY_UNAUTHORIZED',
  'ERR_GATEWAY_FORBIDDEN',
  'ERR_MODEL_UNREACHABLE',
  'ERR_GATEWAY_VALIDATION',
  'ERR_GATEWAY_HTTP',
  'ERR_GATEWAY_RESPONSE_INVALID',
  'ERR_GATEWAY_TIMEOUT',
  'ERR_NETWORK',
  'ERR_GATEWAY_REDIRECT',
  'ERR_ABORTED',
  'ERR_CLOCK_SKEW',
  'ERR_USAGE_QUOTA_EXCEEDED',
  'ERR_USAGE_QUOTA_NOT_ENTITLED',
  'ERR_GATEWAY_RESPONSE_TOO_LARGE',
  // emulator and testing toolkit
  'ERR_EMULATOR_START',
  'ERR_TOKEN_SHAPE',
  'ERR_MSW_MISSING',
] as const

export type CloudConnectorErrorCode = (typeof ERROR_CODES)[number]

export interface CloudConnectorErrorOptions {
  /** Only pass causes that cannot hold secrets (they are shown by util.inspect). */
  cause?: unknown
}

/** Base class. `name` is the subclass name; `code` is stable and documented. */
export class CloudConnectorError extends Error {
  readonly code: CloudConnectorErrorCode

  constructor(code: CloudConnectorErrorCode, message: string, options?: CloudConnectorErrorOptions) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause })
    this.name = new.target.name
    this.code = code
  }

  /** A plain, secret-free view, so JSON.stringify(err) says something useful. */
  toJSON(): Record<string, unknown> {
    const out: Record<string, unknown> = { name: this.name, code: this.code, message: this.message }
    for (const [k, v] of Object.entries(this)) {
      if (k !== 'code' && k !== 'cause') out[k] = v
    }
    return out
  }
}

/** Options given to a factory failed validation. `issues` lists each bad path. */
export class InvalidOptionsError extends CloudConnectorError {
  readonly issues: readonly { path: string; message: string }[]
  constructor(message: string, issues: readonly { path: string; message: string }[] = []) {
    super('ERR_INVALID_OPTIONS', message)
    this.issues = issues
  }
}

export type KeyErrorCode = Extract<
  CloudConnectorErrorCode,
  | 'ERR_KEY_PUBLIC_ONLY'
  | 'ERR_KEY_NOT_RSA'
  | 'ERR_KEY_TOO_SMALL'
  | 'ERR_KEY_ENCRYPTED'
  | 'ERR_KEY_TRUNCATED'
  | 'ERR_KEY_INVALID'
  | 'ERR_KEYRING_EMPTY'
  | 'ERR_KEY_NOT_PUBLISHED'
>

/** A signing key could not be loaded or used. Never carries key material. */
export class KeyError extends CloudConnectorError {
  readonly kid: string | undefined
  constructor(code: KeyErrorCode, message: string, details: { kid?: string } = {}) {
    super(code, message)
    this.kid = details.kid
  }
}

/** A catalog file or object is invalid, or names an unknown unit primitive. */
export class CatalogError extends CloudConnectorError {
  readonly file: string | undefined
  readonly path: string | undefined
  constructor(
    code: Extract<CloudConnectorErrorCode, 'ERR_CATALOG_INVALID' | 'ERR_CATALOG_UNKNOWN_PRIMITIVE'>,
    message: string,
    details: { file?: string; path?: string } = {},
  ) {
    super(code, message)
    this.file = details.file
    this.path = details.path
  }
}

/** A token could not be minted or obtained. */
export class TokenError extends CloudConnectorError {
  readonly unitPrimitive: string | undefined
  readonly claim: string | undefined
  /** `ERR_SCOPE_NOT_ENTITLED`: the catalog's add-ons that would grant what was asked (most granting first). */
  readonly grantedBy: readonly string[] | undefined
  constructor(
    code: Extract<
      CloudConnectorErrorCode,
      'ERR_SCOPE_NOT_ENTITLED' | 'ERR_RESERVED_CLAIM' | 'ERR_SIGNER_FAILED' | 'ERR_NO_TOKEN' | 'ERR_SYNCED_TOKEN_INVALID'
    >,
    message: string,
    details: { unitPrimitive?: string; claim?: string; grantedBy?: readonly string[]; cause?: unknown } = {},
  ) {
    super(code, message, { cause: details.cause })
    this.unitPrimitive = details.unitPrimitive
    this.claim = details.claim
    this.grantedBy = details.grantedBy
  }
}

/** A header value is unusable (CR/LF, non-visible characters, non-numeric id...). */
export class HeaderError extends CloudConnectorError {
  readonly header: string
  constructor(header: string, message: string) {
    super('ERR_INVALID_HEADER', message)
    this.header = header
  }
}

/** Key discovery for verification failed (OIDC discovery, JWKS fetch or contents). */
export class JwksError extends CloudConnectorError {
  /** The URL that failed (credentials removed). */
  readonly url: string | undefined
  /** The issuer URL whose discovery failed (credentials removed). */
  readonly issuer: string | undefined
  constructor(
    code: Extract<CloudConnectorErrorCode, 'ERR_JWKS_UNAVAILABLE' | 'ERR_JWKS_INVALID' | 'ERR_DISCOVERY_FAILED'>,
    message: string,
    details: { url?: string; issuer?: string; cause?: unknown } = {},
  ) {
    super(code, message, { cause: details.cause })
    this.url = details.url
    this.issuer = details.issuer
  }
}

export function isCloudConnectorError(value: unknown): value is CloudConnectorError {
  return value instanceof CloudConnectorError
}
