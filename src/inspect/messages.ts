/**
 * The gateway's exact strings (domain.md §5, confirmed in the gateway's auth code and its
 * tests/code_suggestions/test_authentication.py) and the reasons python-jose logs. Tests, the
 * emulator and users' alerting match on these, so each lives here once.
 */

/** The header names the gateway uses in `Header mismatch '<Header-Name>'`, spelled as it spells them. */
export type GatewayHeaderName = 'X-Gitlab-Realm' | 'X-Gitlab-Instance-Id' | 'X-Gitlab-Global-User-Id'

export const GATEWAY_MESSAGES = {
  /** 401 `{"error": ...}`: no Authorization header at all. */
  noAuthorizationHeader: 'No authorization header presented',
  /** 401: the scheme before the first space, lower-cased, is not `bearer`. */
  invalidAuthorizationHeader: 'Invalid authorization header',
  /** 401: `X-Gitlab-Authentication-Type` is not exactly `oidc`. */
  invalidAuthenticationType: 'Invalid authentication token type - only OIDC is supported',
  /** 401: python-jose's `jwt.decode` raised; the reason is only in the gateway's log. */
  forbiddenByAuthProvider: 'Forbidden by auth provider',
  /** 401: a claim disagrees with its header. */
  headerMismatchRealm: "Header mismatch 'X-Gitlab-Realm'",
  headerMismatchInstanceId: "Header mismatch 'X-Gitlab-Instance-Id'",
  headerMismatchGlobalUserId: "Header mismatch 'X-Gitlab-Global-User-Id'",
  /** 500: `CompositeProvider.CriticalAuthError` when no key at all could be loaded (sic: "founds"). */
  noKeys: 'No keys founds in JWKS; are OIDC providers up?',
  /** 500 for any other exception that escapes authentication (Starlette's plain-text body). */
  internalServerError: 'Internal Server Error',
  /** 403 `{"detail": ...}` of POST /v1/prompts/model_configuration/check. */
  forbiddenModelConfigurationCheck: "Unauthorized to access 'model_configuration/check'",
  /** 403 of POST /v2/code/completions. */
  forbiddenCodeCompletions: 'Unauthorized to access code completions',
  /** 403 of POST /v2/code/generations. */
  forbiddenCodeGenerations: 'Unauthorized to access code generations',
  /** 403 of POST /v2/chat/agent: neither duo_classic_chat nor duo_chat (ai_gateway/api/v2/chat/agent.py @ eee38f6f). */
  forbiddenDuoChat: 'Unauthorized to access duo chat',
  /** 403 of POST /v2/chat/agent: duo_chat without duo_classic_chat and no @GitLabDuo mention (agent.py @ eee38f6f). */
  duoCoreClassicChatCutOff: 'Duo Core no longer authorized to access Duo Classic Chat',
  /** 403 of POST /v1/code/user_access_token (ai_gateway/api/v1/code/user_access_token.py @ eee38f6f). */
  forbiddenUserAccessToken: 'Unauthorized to create user access token',
} as const

/** `Header mismatch '<Header-Name>'`. */
export function headerMismatchMessage(header: GatewayHeaderName): string {
  return `Header mismatch '${header}'`
}

/** The 403 detail of the prompt, agent and chain endpoints: `Unauthorized to access '<id>'`. */
export function forbiddenMessage(resource: string): string {
  return `Unauthorized to access '${resource}'`
}

/**
 * What python-jose logs (the gateway logs `str(JWTError)`), in the order its checks run.
 * `Invalid header padding` is listed for completeness: on Python 3 a header segment that is not
 * base64 raises binascii.Error, a ValueError subclass, which python-jose's first `except ValueError`
 * catches as `Not enough segments` — so the gateway never logs it.
 */
export const JOSE_REASONS = {
  notEnoughSegments: 'Not enough segments',
  invalidHeaderPadding: 'Invalid header padding',
  /** followed by Python's json or UTF-8 error message */
  invalidHeaderStringPrefix: 'Invalid header string: ',
  headerNotObject: 'Invalid header string: must be a json object',
  invalidPayloadPadding: 'Invalid payload padding',
  invalidCryptoPadding: 'Invalid crypto padding',
  noAlgorithm: 'No algorithm was specified in the JWS header.',
  algNotAllowed: 'The specified alg value is not allowed',
  signatureFailed: 'Signature verification failed.',
  /** followed by Python's json or UTF-8 error message */
  invalidPayloadStringPrefix: 'Invalid payload string: ',
  payloadNotObject: 'Invalid payload string: must be a json object',
  iatNotInteger: 'Issued At claim (iat) must be an integer.',
  nbfNotInteger: 'Not Before claim (nbf) must be an integer.',
  expNotInteger: 'Expiration Time claim (exp) must be an integer.',
  notYetValid: 'The token is not yet valid (nbf)',
  expired: 'Signature has expired.',
  invalidClaimFormat: 'Invalid claim format in token',
  invalidAudience: 'Invalid audience',
  invalidIssuer: 'Invalid issuer',
  subNotString: 'Subject must be a string.',
  jtiNotString: 'JWT ID must be a string.',
  atHashWithoutAccessToken: 'No access_token provided to compare against at_hash claim.',
} as const

/** python-jose's message for a claim required by options but absent. */
export function missingRequiredClaimReason(claim: string): string {
  return `missing required key "${claim}" among claims`
}

/** The audience (and service name) of the AI Gateway; the Duo Workflow Service uses its own. */
export const DEFAULT_AUDIENCE = 'gitlab-ai-gateway'
export const DUO_WORKFLOW_AUDIENCE = 'gitlab-duo-workflow-service'
