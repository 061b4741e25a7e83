/**
 * A GitLab instance for tests: its key, UUID, URL and published JWKS, a token issuer that mints
 * exactly what the instance would, and the header set that agrees with its tokens.
 *
 * No msw here: the emulator (main entry) builds its instance with this too.
 */
import { randomUUID } from 'node:crypto'
import { builtInCatalog } from '../catalog/builtin.js'
import type { Catalog } from '../catalog/catalog.js'
import { InvalidOptionsError } from '../errors.js'
import { buildGatewayHeaders, type GatewayFeatureContext, type GatewayUserContext } from '../headers.js'
import { loadSigningKeySync, type SigningKeyInput } from '../keys/import.js'
import { toJwks, type Jwks } from '../keys/jwks.js'
import { createTokenIssuer, type IssueRequest, type TokenIssuer } from '../token/index.js'
import type { Clock, Realm, SigningKey } from '../types.js'
import { generateSigningKeyAsync } from '../emulator/keygen.js'

export interface TestInstanceOptions {
  /** The instance key: a loaded key, a PEM (PKCS#1 as GitLab stores it, or PKCS#8), a JWK or a KeyObject. Default: a new RSA-2048 key. */
  key?: SigningKey | SigningKeyInput
  /** `Gitlab::CurrentSettings.uuid`. Default: a random UUID v4. */
  instanceId?: string
  /** The instance URL, also the tokens' `iss`. Default `https://gitlab.example.com`. */
  issuerUrl?: string
  /** Default `self-managed`. */
  realm?: Realm
  /** `x-gitlab-host-name`. Default: the host of `issuerUrl`. */
  hostName?: string
  /** `x-gitlab-version`. Default `18.5.4`. */
  version?: string
  /** Active add-ons. Default: every add-on of the catalog, so that any unit primitive can be asked for. */
  addOns?: string[]
  catalog?: Catalog
  ttlSeconds?: number
  now?: Clock
  jti?: () => string
}

/** What `headers()` adds to the instance's own context. */
export interface TestHeadersOptions {
  /** Sent as `Authorization: Bearer <token>`; no Authorization header without it. */
  token?: string
  user?: GatewayUserContext
  feature?: GatewayFeatureContext
  requestId?: string
  extra?: Record<string, string>
}

export interface TestInstance {
  readonly instanceId: string
  readonly issuerUrl: string
  readonly realm: Realm
  readonly hostName: string
  readonly version: string
  readonly key: SigningKey
  readonly kid: string
  /** What the instance publishes at `/oauth/discovery/keys`. */
  readonly jwks: Jwks
  /** `createTokenIssuer` for this instance: `issue()` mints per call, `getToken()` caches. */
  readonly issuer: TokenIssuer
  /** A freshly minted token (all entitled scopes unless `scopes` says otherwise). */
  token(request?: IssueRequest): Promise<string>
  /** The request headers GitLab would send with `token` (lower-case names, as Rails sends them). */
  headers(options?: TestHeadersOptions | string): Record<string, string>
  /** Mint a token and return the whole header set carrying it. */
  authHeaders(request?: IssueRequest, options?: Omit<TestHeadersOptions, 'token'>): Promise<Record<string, string>>
}

export const DEFAULT_TEST_ISSUER_URL = 'https://gitlab.example.com'
export const DEFAULT_TEST_VERSION = '18.5.4'

export async function createTestInstance(options: TestInstanceOptions = {}): Promise<TestInstance> {
  const key = options.key === undefined ? await generateSigningKeyAsync() : toSigningKey(options.key)
  const issuerUrl = (options.issuerUrl ?? DEFAULT_TEST_ISSUER_URL).replace(/\/+$/, '')
  let hostName = options.hostName
  if (hostName === undefined) {
    try {
      hostName = new URL(issuerUrl).hostname
    } catch {
      throw new InvalidOptionsError(`createTestInstance: options.issuerUrl ${JSON.stringify(issuerUrl.slice(0, 200))} is not a URL; give the instance URL, e.g. ${DEFAULT_TEST_ISSUER_URL}.`, [
        { path: 'options.issuerUrl', message: 'is not a URL' },
      ])
    }
  }
  const catalog = options.catalog ?? builtInCatalog
  const instanceId = options.instanceId ?? randomUUID()
  const realm = options.realm ?? 'self-managed'
  const version = options.version ?? DEFAULT_TEST_VERSION
  const issuer = createTokenIssuer({
    issuer: issuerUrl,
    instanceId,
    realm,
    key,
    catalog,
    addOns: options.addOns ?? [...catalog.addOns.keys()],
    ...(options.ttlSeconds === undefined ? {} : { ttlSeconds: options.ttlSeconds }),
    ...(options.now === undefined ? {} : { now: options.now }),
    ...(options.jti === undefined ? {} : { jti: options.jti }),
  })

  function headers(opts: TestHeadersOptions | string = {}): Record<string, string> {
    const o: TestHeadersOptions = typeof opts === 'string' ? { token: opts } : opts
    const out = buildGatewayHeaders({
      instance: { id: instanceId, hostName, version, realm },
      ...(o.user === undefined ? {} : { user: o.user }),
      ...(o.feature === undefined ? {} : { feature: o.feature }),
      ...(o.requestId === undefined ? {} : { requestId: o.requestId }),
      ...(o.extra === undefined ? {} : { extra: o.extra }),
    })
    // Rails interpolates the token without a check; a test may want exactly that (`Bearer `).
    if (o.token !== undefined) out['authorization'] = `Bearer ${o.token}`
    return out
  }

  return Object.freeze({
    instanceId,
    issuerUrl,
    realm,
    hostName,
    version,
    key,
    kid: key.kid,
    jwks: toJwks([key]),
    issuer,
    async token(request?: IssueRequest) {
      return (await issuer.issue(request)).token
    },
    headers,
    async authHeaders(request?: IssueRequest, opts: Omit<TestHeadersOptions, 'token'> = {}) {
      return headers({ ...opts, token: (await issuer.issue(request)).token })
    },
  })
}

function toSigningKey(input: SigningKey | SigningKeyInput): SigningKey {
  if (typeof input === 'object' && input !== null && 'publicJwk' in input && 'kid' in input) return input as SigningKey
  return loadSigningKeySync(input as SigningKeyInput)
}
