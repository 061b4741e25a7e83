/**
 * Every error the SDK throws is a `CloudConnectorError` with a stable `code`. `isCloudConnectorError(e)`
 * narrows `e` to {@link AnyCloudConnectorError}, a union discriminated by `code`, so that in
 * `switch (e.code)` each case sees its own class's fields. Messages say what to do; they never carry a
 * whole token, a signature, an API key or key material (see `redact.ts`).
 */
import type { ClockSkewError, GatewayAuthError, GatewayForbiddenError, GatewayHttpError, GatewayRedirectError, GatewayResponseError, GatewayResponseTooLargeError, GatewayTimeoutError, GatewayValidationError, AbortedError, ModelUnreachableError, NetworkError, UsageQuotaError } from './client/errors.js'
import type { EmulatorError } from './emulator/server.js'
import type { PreflightError } from './inspect/preflight.js'
import type { KeyRingError } from './keys/ring.js'
import type { TokenShapeError } from './testing/assertions.js'
import type { MswMissingError } from './testing/msw-missing.js'

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
  /** The codes this class itself is thrown with (a subclass lists its own): each code belongs to exactly one class. */
  static readonly codes: readonly CloudConnectorErrorCode[] = []
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
  static override readonly codes = ['ERR_INVALID_OPTIONS'] as const
  declare readonly code: (typeof InvalidOptionsError.codes)[number]
  /** `variable`: the environment variable that stood in for the option (`createCloudConnector`). */
  readonly issues: readonly { path: string; message: string; variable?: string }[]
  constructor(message: string, issues: readonly { path: string; message: string; variable?: string }[] = []) {
    super('ERR_INVALID_OPTIONS', message)
    this.issues = issues
  }
}

const KEY_ERROR_CODES = [
  'ERR_KEY_PUBLIC_ONLY',
  'ERR_KEY_NOT_RSA',
  'ERR_KEY_TOO_SMALL',
  'ERR_KEY_ENCRYPTED',
  'ERR_KEY_TRUNCATED',
  'ERR_KEY_INVALID',
  'ERR_KEYRING_EMPTY',
  'ERR_KEY_NOT_PUBLISHED',
] as const satisfies readonly CloudConnectorErrorCode[]
export type KeyErrorCode = (typeof KEY_ERROR_CODES)[number]

/** A signing key could not be loaded or used. Never carries key material. */
export class KeyError extends CloudConnectorError {
  static override readonly codes = KEY_ERROR_CODES
  declare readonly code: KeyErrorCode
  readonly kid: string | undefined
  constructor(code: KeyErrorCode, message: string, details: { kid?: string } = {}) {
    super(code, message)
    this.kid = details.kid
  }
}

/** A catalog file or object is invalid, or names an unknown unit primitive. */
export class CatalogError extends CloudConnectorError {
  static override readonly codes = ['ERR_CATALOG_INVALID', 'ERR_CATALOG_UNKNOWN_PRIMITIVE'] as const
  declare readonly code: (typeof CatalogError.codes)[number]
  readonly file: string | undefined
  readonly path: string | undefined
  constructor(
    code: (typeof CatalogError.codes)[number],
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
  static override readonly codes = ['ERR_SCOPE_NOT_ENTITLED', 'ERR_RESERVED_CLAIM', 'ERR_SIGNER_FAILED', 'ERR_NO_TOKEN', 'ERR_SYNCED_TOKEN_INVALID'] as const
  declare readonly code: (typeof TokenError.codes)[number]
  readonly unitPrimitive: string | undefined
  readonly claim: string | undefined
  /** `ERR_SCOPE_NOT_ENTITLED`: the catalog's add-ons that would grant what was asked (most granting first). */
  readonly grantedBy: readonly string[] | undefined
  constructor(
    code: (typeof TokenError.codes)[number],
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
  static override readonly codes = ['ERR_INVALID_HEADER'] as const
  declare readonly code: (typeof HeaderError.codes)[number]
  readonly header: string
  constructor(header: string, message: string) {
    super('ERR_INVALID_HEADER', message)
    this.header = header
  }
}

/** Key discovery for verification failed (OIDC discovery, JWKS fetch or contents). */
export class JwksError extends CloudConnectorError {
  static override readonly codes = ['ERR_JWKS_UNAVAILABLE', 'ERR_JWKS_INVALID', 'ERR_DISCOVERY_FAILED'] as const
  declare readonly code: (typeof JwksError.codes)[number]
  /** The URL that failed (credentials removed). */
  readonly url: string | undefined
  /** The issuer URL whose discovery failed (credentials removed). */
  readonly issuer: string | undefined
  constructor(
    code: (typeof JwksError.codes)[number],
    message: string,
    details: { url?: string; issuer?: string; cause?: unknown } = {},
  ) {
    super(code, message, { cause: details.cause })
    this.url = details.url
    this.issuer = details.issuer
  }
}

/**
 * The class of each code. A code missing here, a key that is not a code, or a class whose static `codes` does
 * not list its key fails to compile; `test/errors-union.test.ts` checks at run time that each code is listed by
 * exactly one class.
 */
export type CloudConnectorErrorClasses = EveryCodeOnce<{
  ERR_INVALID_OPTIONS: typeof InvalidOptionsError
  ERR_KEY_PUBLIC_ONLY: typeof KeyError
  ERR_KEY_NOT_RSA: typeof KeyError
  ERR_KEY_TOO_SMALL: typeof KeyError
  ERR_KEY_ENCRYPTED: typeof KeyError
  ERR_KEY_TRUNCATED: typeof KeyError
  ERR_KEY_INVALID: typeof KeyError
  ERR_KEYRING_EMPTY: typeof KeyError
  ERR_KEY_NOT_PUBLISHED: typeof KeyError
  ERR_KEYRING_STATE: typeof KeyRingError
  ERR_CATALOG_INVALID: typeof CatalogError
  ERR_CATALOG_UNKNOWN_PRIMITIVE: typeof CatalogError
  ERR_SCOPE_NOT_ENTITLED: typeof TokenError
  ERR_RESERVED_CLAIM: typeof TokenError
  ERR_SIGNER_FAILED: typeof TokenError
  ERR_NO_TOKEN: typeof TokenError
  ERR_SYNCED_TOKEN_INVALID: typeof TokenError
  ERR_PREFLIGHT_REJECTED: typeof PreflightError
  ERR_INVALID_HEADER: typeof HeaderError
  ERR_JWKS_UNAVAILABLE: typeof JwksError
  ERR_JWKS_INVALID: typeof JwksError
  ERR_DISCOVERY_FAILED: typeof JwksError
  ERR_GATEWAY_UNAUTHORIZED: typeof GatewayAuthError
  ERR_GATEWAY_FORBIDDEN: typeof GatewayForbiddenError
  ERR_MODEL_UNREACHABLE: typeof ModelUnreachableError
  ERR_GATEWAY_VALIDATION: typeof GatewayValidationError
  ERR_GATEWAY_HTTP: typeof GatewayHttpError
  ERR_GATEWAY_RESPONSE_INVALID: typeof GatewayResponseError
  ERR_GATEWAY_TIMEOUT: typeof GatewayTimeoutError
  ERR_NETWORK: typeof NetworkError
  ERR_GATEWAY_REDIRECT: typeof GatewayRedirectError
  ERR_ABORTED: typeof AbortedError
  ERR_CLOCK_SKEW: typeof ClockSkewError
  ERR_USAGE_QUOTA_EXCEEDED: typeof UsageQuotaError
  ERR_USAGE_QUOTA_NOT_ENTITLED: typeof UsageQuotaError
  ERR_GATEWAY_RESPONSE_TOO_LARGE: typeof GatewayResponseTooLargeError
  ERR_EMULATOR_START: typeof EmulatorError
  ERR_TOKEN_SHAPE: typeof TokenShapeError
  ERR_MSW_MISSING: typeof MswMissingError
}>

/** Every error the SDK throws, discriminated by `code`: `switch (e.code)` narrows to the class of that code. */
export type AnyCloudConnectorError = {
  [C in CloudConnectorErrorCode]: InstanceType<CloudConnectorErrorClasses[C]> & { readonly code: C }
}[CloudConnectorErrorCode]

/** Narrows to {@link AnyCloudConnectorError}: then `switch (e.code)` gives each case its class's fields. */
export function isCloudConnectorError(value: unknown): value is AnyCloudConnectorError {
  return value instanceof CloudConnectorError
}

/** Each code, and nothing else, mapped to a class whose own `codes` list it. */
type EveryCodeOnce<
  T extends { [C in CloudConnectorErrorCode]: C extends T[C]['codes'][number] ? abstract new (...args: never[]) => CloudConnectorError : never } & {
    [K in Exclude<keyof T, CloudConnectorErrorCode>]: never
  },
> = T
