/**
 * Type-level test (checked by `npm run typecheck`, never run): `isCloudConnectorError(e)` narrows to a union
 * discriminated by `code`, so each `case` sees its own class's fields, and a field of another class does not
 * compile. The `default` branch proves the switch covers every code.
 */
import { isCloudConnectorError, type AnyCloudConnectorError, type CloudConnectorErrorCode, type Problem } from '../../src/index.js'

export function describeFailure(e: unknown): string {
  if (!isCloudConnectorError(e)) return 'not ours'
  switch (e.code) {
    case 'ERR_INVALID_OPTIONS':
      return e.issues.map((i) => i.path).join()
    case 'ERR_KEY_PUBLIC_ONLY':
    case 'ERR_KEY_NOT_RSA':
    case 'ERR_KEY_TOO_SMALL':
    case 'ERR_KEY_ENCRYPTED':
    case 'ERR_KEY_TRUNCATED':
    case 'ERR_KEY_INVALID':
    case 'ERR_KEYRING_EMPTY':
    case 'ERR_KEY_NOT_PUBLISHED':
      return e.kid ?? ''
    case 'ERR_KEYRING_STATE':
      return String(e.keyCount)
    case 'ERR_CATALOG_INVALID':
    case 'ERR_CATALOG_UNKNOWN_PRIMITIVE':
      return e.file ?? e.path ?? ''
    case 'ERR_SCOPE_NOT_ENTITLED':
      return (e.grantedBy ?? []).join()
    case 'ERR_RESERVED_CLAIM':
    case 'ERR_SIGNER_FAILED':
    case 'ERR_NO_TOKEN':
    case 'ERR_SYNCED_TOKEN_INVALID':
      return e.claim ?? e.unitPrimitive ?? ''
    case 'ERR_PREFLIGHT_REJECTED': {
      const findings: Problem[] = e.findings
      return `${e.status ?? ''} ${e.gatewayError ?? ''} ${findings.length}`
    }
    case 'ERR_INVALID_HEADER':
      return e.header
    case 'ERR_JWKS_UNAVAILABLE':
    case 'ERR_JWKS_INVALID':
    case 'ERR_DISCOVERY_FAILED':
      return e.url ?? e.issuer ?? ''
    case 'ERR_GATEWAY_UNAUTHORIZED':
      return `${e.likelyCause ?? ''} ${e.diagnosis?.kind ?? ''}`
    case 'ERR_CLOCK_SKEW':
      return String(e.clockSkew?.skewSeconds)
    case 'ERR_GATEWAY_FORBIDDEN':
      return `${e.unitPrimitive ?? ''} ${e.missingScope}`
    case 'ERR_MODEL_UNREACHABLE':
      return `${e.modelStatus ?? ''} ${e.modelReason ?? ''}`
    case 'ERR_GATEWAY_VALIDATION':
      return `${e.sent} ${e.issues.length}`
    case 'ERR_GATEWAY_HTTP':
      return String(e.retryAfterSeconds)
    case 'ERR_GATEWAY_RESPONSE_INVALID':
      return String(e.issues.length)
    case 'ERR_GATEWAY_TIMEOUT':
      return String(e.timeoutMs)
    case 'ERR_NETWORK':
      return e.errno ?? ''
    case 'ERR_GATEWAY_REDIRECT':
    case 'ERR_ABORTED':
      return e.requestId ?? ''
    case 'ERR_USAGE_QUOTA_EXCEEDED':
    case 'ERR_USAGE_QUOTA_NOT_ENTITLED':
      return e.errorCode ?? ''
    case 'ERR_GATEWAY_RESPONSE_TOO_LARGE':
      return String(e.limitBytes)
    case 'ERR_EMULATOR_START':
      return String(e.port)
    case 'ERR_TOKEN_SHAPE':
      return e.failures.join()
    case 'ERR_MSW_MISSING':
      return e.message
    default: {
      // every code has its case: a new code without one makes `e` something other than never here
      const unhandled: never = e
      return unhandled
    }
  }
}

export function wrongFields(e: unknown): void {
  if (!isCloudConnectorError(e)) return
  switch (e.code) {
    case 'ERR_KEY_INVALID':
      // @ts-expect-error a KeyError has no findings
      void e.findings
      break
    case 'ERR_PREFLIGHT_REJECTED':
      // @ts-expect-error a PreflightError has no kid
      void e.kid
      break
    case 'ERR_GATEWAY_UNAUTHORIZED':
      // @ts-expect-error a GatewayAuthError is not a ClockSkewError by code: clockSkew is optional, not narrowed away,
      // but the 403's fields are not there
      void e.missingScope
      break
    case 'ERR_NETWORK':
      // @ts-expect-error a NetworkError has no timeoutMs
      void e.timeoutMs
      break
  }
  // @ts-expect-error not a code
  if (e.code === 'ERR_NOT_A_CODE') return
  // without narrowing by code, only the fields every class has
  // @ts-expect-error findings exist on one member of the union only
  void e.findings
}

// The union's codes are exactly the codes.
type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false
export const codesCovered: Same<AnyCloudConnectorError['code'], CloudConnectorErrorCode> = true
