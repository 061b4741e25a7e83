/**
 * The GitLab instance side of the emulator: the two documents the gateway reads to find the keys
 * that sign the instance's tokens (`/.well-known/openid-configuration` → `jwks_uri` →
 * `/oauth/discovery/keys`), as GitLab serves them (`jwks_controller.rb`, Doorkeeper's discovery).
 */
import { toJwks, type Jwks } from '../keys/jwks.js'
import type { Clock, PublicRsaJwk, SigningKey } from '../types.js'
import {
  jsonResponse,
  normaliseHeaders,
  pyUnquote,
  splitTarget,
  textResponse,
  type EmulatorRequest,
  type EmulatorResponse,
} from './http.js'
import { redactHeaders, RequestLog } from './record.js'

/** How long the gateway (and any cache) may keep the key set: GitLab sends 24 h. */
export const JWKS_MAX_AGE_SECONDS = 86_400

export interface InstanceCoreOptions {
  /** The instance's external URL (`Gitlab.config.gitlab.url`): the issuer and the base of every link. */
  url: string
  /** Published keys: the cloud-connector key(s) and any other key the instance publishes (OIDC, CI job token). */
  keys: ReadonlyArray<SigningKey | PublicRsaJwk>
  now?: Clock
  log?: RequestLog
}

export interface InstanceCore {
  readonly url: string
  /** The key set as currently published. */
  readonly jwks: Jwks
  /** Publish a different key set (key rotation); the gateway sees it when its cache expires or is refreshed. */
  setKeys(keys: ReadonlyArray<SigningKey | PublicRsaJwk>): void
  handle(request: EmulatorRequest): EmulatorResponse
  readonly log: RequestLog
}

export function createInstanceCore(options: InstanceCoreOptions): InstanceCore {
  const url = options.url.replace(/\/+$/, '')
  // GitLab under a relative URL root (`https://host/gitlab`) serves both documents below that path.
  // The gateway asks the origin's root instead (urljoin drops the path), as the real one does.
  const root = urlPath(url)
  const now = options.now ?? (() => new Date())
  const log = options.log ?? new RequestLog(now)
  let jwks = toJwks(options.keys)

  return {
    url,
    get jwks() {
      return jwks
    },
    log,
    setKeys(keys) {
      jwks = toJwks(keys)
    },
    handle(request) {
      const method = request.method.toUpperCase()
      const { rawPath, query } = splitTarget(request.url)
      const decodedPath = pyUnquote(rawPath)
      let route: string | undefined
      let response: EmulatorResponse
      const readable = method === 'GET' || method === 'HEAD'
      if (readable && decodedPath === `${root}/.well-known/openid-configuration`) {
        route = 'openid-configuration'
        response = jsonResponse(200, openIdConfiguration(url))
      } else if (readable && decodedPath === `${root}/oauth/discovery/keys`) {
        route = 'jwks'
        response = jsonResponse(200, jwks, { 'cache-control': `max-age=${JWKS_MAX_AGE_SECONDS}, public` })
      } else {
        // Rails answers an unknown route, or a known one with another method, with a 404.
        response = textResponse(404, 'Not Found')
      }
      log.add({
        side: 'instance',
        method,
        path: rawPath,
        decodedPath,
        query,
        ...(route === undefined ? {} : { route }),
        headers: redactHeaders(normaliseHeaders(request.headers)),
        status: response.status,
      })
      return method === 'HEAD' ? { ...response, body: '' } : response
    },
  }
}

function urlPath(url: string): string {
  try {
    return new URL(url).pathname.replace(/\/+$/, '')
  } catch {
    return ''
  }
}

/**
 * GitLab's discovery document (Doorkeeper::OpenidConnect plus GitLab's additions), trimmed to the
 * members that describe the instance as an issuer; the gateway only reads `jwks_uri`.
 */
export function openIdConfiguration(instanceUrl: string): Record<string, unknown> {
  const u = instanceUrl.replace(/\/+$/, '')
  return {
    issuer: u,
    authorization_endpoint: `${u}/oauth/authorize`,
    token_endpoint: `${u}/oauth/token`,
    revocation_endpoint: `${u}/oauth/revoke`,
    introspection_endpoint: `${u}/oauth/introspect`,
    userinfo_endpoint: `${u}/oauth/userinfo`,
    jwks_uri: `${u}/oauth/discovery/keys`,
    scopes_supported: ['api', 'read_api', 'read_user', 'read_repository', 'write_repository', 'ai_features', 'openid', 'profile', 'email'],
    response_types_supported: ['code'],
    response_modes_supported: ['query', 'fragment', 'form_post'],
    grant_types_supported: ['authorization_code', 'password', 'client_credentials', 'device_code', 'refresh_token'],
    token_endpoint_auth_methods_supported: ['client_secret_basic', 'client_secret_post'],
    subject_types_supported: ['public'],
    id_token_signing_alg_values_supported: ['RS256'],
    claim_types_supported: ['normal'],
    claims_supported: ['iss', 'sub', 'aud', 'exp', 'iat', 'sub_legacy', 'name', 'nickname', 'preferred_username', 'email', 'email_verified', 'website', 'profile', 'picture', 'groups', 'groups_direct'],
    code_challenge_methods_supported: ['plain', 'S256'],
  }
}
