/**
 * `createCloudConnector`: the common path in one call. A service describes its instance once (URL, UUID,
 * realm, version), gives the key, the license and the gateway, and gets the issuer, the token policy and the
 * client wired to each other — instead of `loadSigningKey` → `createTokenIssuer` → `createTokenSource` →
 * `createGatewayClient` with the instance id and realm given twice. Every option it is not given is read from
 * the environment variables the CLI documents, so `createCloudConnector()` works from the environment alone;
 * what neither gives is one `InvalidOptionsError` naming each option and its variable.
 */
import { readFileSync } from 'node:fs'
import type { z } from 'zod'
import { lazy } from './zod.js'
import { createGatewayClient, type GatewayClient } from './client/client.js'
import { createAuthenticatedFetch } from './client/fetch.js'
import { baseUrlSchema, type GatewayClientOptions } from './client/options.js'
import type { GatewayHeadersContext } from './headers.js'
import { loadSigningKeySync, loadVerificationKey, type SigningKeyInput } from './keys/import.js'
import type { Logger } from './log.js'
import { createTokenIssuer, isKeyRing, isSigningKey, issuerOptionsSchema, type SigningKeyProvider, type TokenIssuer } from './token/issuer.js'
import type { JwtSigner } from './token/jwt.js'
import { fn, invalidOptions, parseOptions, type OptionIssue } from './token/options.js'
import { createTokenSource, sourceOptionsSchema, type LicenseKind, type PolicyTokenSource, type SyncedToken, type SyncedTokenLoader, type TokenPolicy } from './token/policy.js'
import type { Catalog } from './catalog/catalog.js'
import type { Clock, PublicRsaJwk, Realm, SigningKey } from './types.js'

/** The instance, described once: it gives the token's `iss`, `sub` and `gitlab_realm` and the `X-Gitlab-*` headers. */
export interface CloudConnectorInstance {
  /** `GITLAB_URL`: the instance URL (`Gitlab.config.gitlab.url`), the token's `iss`. */
  url?: string
  /** `GITLAB_INSTANCE_ID`: the instance UUID (`Gitlab::CurrentSettings.uuid`), the token's `sub`. */
  id?: string
  /** `GITLAB_REALM`; default `self-managed`. */
  realm?: Realm
  /** `GITLAB_VERSION`: `Gitlab.version_info`, sent as `X-Gitlab-Version`; none when unset. */
  version?: string
  /** `X-Gitlab-Host-Name`; default: the host of `url`. */
  hostName?: string
}

export interface CloudConnectorOptions {
  instance?: CloudConnectorInstance
  /**
   * The instance's signing key: a PEM (PKCS#1 or PKCS#8), a private JWK, a `KeyObject`, a key from
   * `loadSigningKey()` or a key ring from `createKeyRing()`. With `signer`, the public half is enough.
   * Or `keyFile`, or `CLOUD_CONNECTOR_KEY_FILE`.
   */
  key?: SigningKeyInput | PublicRsaJwk | SigningKey | SigningKeyProvider
  /** `CLOUD_CONNECTOR_KEY_FILE`: the path of the key's PEM, read once, at the call. */
  keyFile?: string
  /** Sign with a KMS/HSM: gets the JWS signing input, returns the RS256 signature. */
  signer?: JwtSigner
  /** `GITLAB_LICENSE`; default `offline-cloud` (as the CLI). */
  license?: LicenseKind
  /** `GITLAB_ADD_ONS` (comma-separated): the active add-ons, e.g. `['duo_enterprise']`; default none. */
  addOns?: readonly string[]
  /** The catalog of unit primitives and add-ons; default the built-in one (`cloud-connector-sdk/catalog`). */
  catalog?: Catalog
  /** Feature settings assigned to a self-hosted model, e.g. `['duo_chat']`. */
  selfHostedFeatures?: readonly string[]
  /** `AI_GATEWAY_URL`: the AI Gateway's base URL. */
  gateway?: string | URL
  /** Default `safe`; `rails` is GitLab's own decision (see `createTokenSource`). */
  policy?: TokenPolicy
  /** The token the instance holds under an online license (or its loader). */
  synced?: SyncedToken | SyncedTokenLoader
  /** pino, console, or any logger with pino's signature; never receives a token. */
  logger?: Logger
  /** The fetch the client and `fetch` call through; default the global one. */
  fetch?: typeof fetch
  now?: Clock
  /** The client's other options (timeout, retry, redirect, ...). */
  client?: Pick<GatewayClientOptions, 'timeout' | 'retry' | 'maxResponseBytes' | 'redirect' | 'audience' | 'leewaySeconds' | 'clockSkewToleranceSeconds'>
  /** Where missing options are read from; default `process.env`. Pass `{}` to read none. */
  env?: Readonly<Record<string, string | undefined>>
}

export interface CloudConnector {
  /** The gateway client: attaches the token and headers, preflights, maps the gateway's errors. */
  readonly client: GatewayClient
  /** The token policy: which token each request gets (`getToken`, `decide`). */
  readonly tokenSource: PolicyTokenSource
  /** The instance's issuer: `issue()` mints a token. */
  readonly issuer: TokenIssuer
  /** A `fetch` that does what `client` does for any other HTTP client (`createAuthenticatedFetch`). */
  readonly fetch: typeof fetch
  /** The instance as resolved from the options and the environment. */
  readonly instance: Readonly<{ url: string; id: string; realm: Realm; version?: string; hostName: string }>
  /** The gateway's base URL. */
  readonly gateway: string
}

/**
 * The environment variables that stand in for missing options: the ones the CLI reads (README "Configuration
 * by environment variable"); `cloud-connector` and this factory share them.
 */
export const CONNECTOR_ENV = {
  url: 'GITLAB_URL',
  id: 'GITLAB_INSTANCE_ID',
  realm: 'GITLAB_REALM',
  version: 'GITLAB_VERSION',
  keyFile: 'CLOUD_CONNECTOR_KEY_FILE',
  license: 'GITLAB_LICENSE',
  addOns: 'GITLAB_ADD_ONS',
  gateway: 'AI_GATEWAY_URL',
} as const

export function createCloudConnector(options: CloudConnectorOptions = {}): CloudConnector {
  const opts = parseOptions('createCloudConnector', connectorSchema(), options, OPTION_NAMES)
  const env = opts.env ?? process.env
  const issues: OptionIssue[] = []
  const read = readSetting(env, issues)
  const given = opts.instance ?? {}

  const url = read(given.url, 'instance.url', CONNECTOR_ENV.url, issuerOptionsSchema().shape.issuer)
  const id = read(given.id, 'instance.id', CONNECTOR_ENV.id, issuerOptionsSchema().shape.instanceId)
  const realm = read(given.realm, 'instance.realm', CONNECTOR_ENV.realm, issuerOptionsSchema().shape.realm) ?? 'self-managed'
  const version = read(given.version, 'instance.version', CONNECTOR_ENV.version, nonEmpty())
  const license = read(opts.license, 'license', CONNECTOR_ENV.license, sourceOptionsSchema().shape.license) ?? 'offline-cloud'
  const addOns = read(opts.addOns, 'addOns', CONNECTOR_ENV.addOns, addOnsSchema(), (text) => text.split(',').map((a) => a.trim()).filter((a) => a !== ''))
  const gateway = read(opts.gateway, 'gateway', CONNECTOR_ENV.gateway, baseUrlSchema())
  const keyText = keyFileText(opts, env, issues)

  if (url === undefined) missing(issues, 'instance.url', CONNECTOR_ENV.url, 'the instance URL, e.g. "https://gitlab.example.com"')
  if (id === undefined) missing(issues, 'instance.id', CONNECTOR_ENV.id, 'the instance UUID (Gitlab::CurrentSettings.uuid)')
  if (gateway === undefined) missing(issues, 'gateway', CONNECTOR_ENV.gateway, 'the AI Gateway base URL, e.g. "http://127.0.0.1:5052"')
  if (opts.key === undefined && opts.keyFile === undefined && keyText === undefined && !issues.some((i) => i.path === 'options.keyFile')) {
    issues.push({
      path: 'options.key',
      variable: CONNECTOR_ENV.keyFile,
      message: `is missing: pass options.key (the instance's private key: PEM, JWK, KeyObject or a key ring) or options.keyFile, or set ${CONNECTOR_ENV.keyFile} to the PEM file's path`,
    })
  }
  if (issues.length > 0 || url === undefined || id === undefined || gateway === undefined) throw invalidOptions('createCloudConnector', issues)

  const keyInput = opts.key ?? (keyText as string)
  // a public JWK given without a signer is refused by loadSigningKeySync (ERR_KEY_PUBLIC_ONLY)
  const key = isSigningKey(keyInput) || isKeyRing(keyInput) ? keyInput : opts.signer ? loadVerificationKey(keyInput) : loadSigningKeySync(keyInput as SigningKeyInput)
  const common = { ...(opts.logger ? { logger: opts.logger } : {}), ...(opts.now ? { now: opts.now } : {}) }
  const issuer = createTokenIssuer({
    issuer: url,
    instanceId: id,
    realm,
    key,
    ...(addOns ? { addOns } : {}),
    ...(opts.catalog ? { catalog: opts.catalog } : {}),
    ...(opts.signer ? { signer: opts.signer } : {}),
    ...common,
  })
  const tokenSource = createTokenSource({
    license,
    selfIssued: issuer,
    ...(opts.policy ? { policy: opts.policy } : {}),
    ...(opts.selfHostedFeatures ? { selfHostedFeatures: opts.selfHostedFeatures } : {}),
    ...(opts.synced ? { synced: opts.synced } : {}),
    ...common,
  })
  const hostName = given.hostName ?? new URL(url).hostname
  const headers: GatewayHeadersContext = { instance: { id, realm, hostName, ...(version ? { version } : {}) } }
  const wiring = { baseUrl: gateway, tokenSource, headers, ...common, ...(opts.fetch ? { fetch: opts.fetch } : {}) }
  const { timeout, retry, maxResponseBytes, ...shared } = opts.client ?? {}
  const client = createGatewayClient({ ...wiring, ...shared, ...definedOnly({ timeout, retry, maxResponseBytes }) })
  const authenticatedFetch = createAuthenticatedFetch({ ...wiring, ...shared })
  return Object.freeze({
    client,
    tokenSource,
    issuer,
    fetch: authenticatedFetch,
    instance: Object.freeze({ url, id, realm, hostName, ...(version ? { version } : {}) }),
    gateway: gateway.href,
  })
}

const nonEmpty = lazy((z) => z.string({ error: 'must be a non-empty string' }).min(1, { error: 'must be a non-empty string' }))
const addOnsSchema = lazy(() => issuerOptionsSchema().shape.addOns.unwrap())

const OPTION_NAMES = ['instance', 'key', 'keyFile', 'signer', 'license', 'addOns', 'catalog', 'selfHostedFeatures', 'gateway', 'policy', 'synced', 'logger', 'fetch', 'now', 'client', 'env'] as const

// Each rule is the one of the factory the value goes to (issuer, policy, client), so a value is judged the same
// whether it came from here, from the environment, or was given to that factory directly.
const connectorSchema = lazy((z) => z.strictObject({
  instance: z
    .strictObject({
      url: issuerOptionsSchema().shape.issuer.optional(),
      id: issuerOptionsSchema().shape.instanceId.optional(),
      realm: issuerOptionsSchema().shape.realm.optional(),
      version: nonEmpty().optional(),
      hostName: nonEmpty().optional(),
    })
    .optional(),
  key: z.custom<NonNullable<CloudConnectorOptions['key']>>((v) => v !== undefined && v !== null && v !== '', {
    error: 'must be the private key: a PEM string, a JWK, a KeyObject, a key from loadSigningKey() or a key ring',
  }).optional(),
  keyFile: nonEmpty().optional(),
  signer: issuerOptionsSchema().shape.signer,
  license: sourceOptionsSchema().shape.license.optional(),
  addOns: issuerOptionsSchema().shape.addOns,
  catalog: issuerOptionsSchema().shape.catalog,
  selfHostedFeatures: sourceOptionsSchema().shape.selfHostedFeatures,
  gateway: baseUrlSchema().optional(),
  policy: sourceOptionsSchema().shape.policy,
  synced: sourceOptionsSchema().shape.synced,
  logger: z.custom<Logger>((v) => typeof v === 'object' && v !== null, { error: 'must be a logger: pino, console, or an object with info/warn/... methods' }).optional(),
  fetch: fn<typeof fetch>('must be a fetch function').optional(),
  now: issuerOptionsSchema().shape.now,
  client: z.custom<NonNullable<CloudConnectorOptions['client']>>((v) => typeof v === 'object' && v !== null, { error: 'must be an object of client options (timeout, retry, ...)' }).optional(),
  env: z.custom<Readonly<Record<string, string | undefined>>>((v) => typeof v === 'object' && v !== null, { error: 'must be an object of environment variables, e.g. process.env' }).optional(),
}))

/**
 * An option's value: the one given, else its variable's text judged by the same rule (an empty variable counts
 * as unset); a bad variable is an issue that names it.
 */
function readSetting(env: Readonly<Record<string, string | undefined>>, issues: OptionIssue[]) {
  return <T>(given: T | undefined, path: string, variable: string, schema: z.ZodType<T | undefined, unknown>, fromText: (text: string) => unknown = (t) => t.trim()): T | undefined => {
    if (given !== undefined) return given
    const text = env[variable]
    if (text === undefined || text.trim() === '') return undefined
    const result = schema.safeParse(fromText(text))
    if (result.success) return result.data
    issues.push({ path: `options.${path}`, variable, message: result.error.issues[0]?.message ?? 'is invalid' })
    return undefined
  }
}

/** A required option neither given nor in its variable (a bad variable is already an issue of its own). */
function missing(issues: OptionIssue[], path: string, variable: string, what: string): void {
  if (issues.some((i) => i.path === `options.${path}`)) return
  issues.push({ path: `options.${path}`, variable, message: `is missing: pass it, or set ${variable} (${what})` })
}

/** The key file's text, from `keyFile` or its variable when no `key` is given; an unreadable file is an issue. */
function keyFileText(opts: { key?: unknown; keyFile?: string | undefined }, env: Readonly<Record<string, string | undefined>>, issues: OptionIssue[]): string | undefined {
  if (opts.key !== undefined && opts.keyFile !== undefined) {
    issues.push({ path: 'options.keyFile', message: 'is given with options.key: pass one of them' })
    return undefined
  }
  if (opts.key !== undefined) return undefined
  const fromEnv = opts.keyFile === undefined
  const file = opts.keyFile ?? env[CONNECTOR_ENV.keyFile]?.trim()
  if (file === undefined || file === '') return undefined
  try {
    return readFileSync(file, 'utf8')
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? 'unreadable'
    issues.push({
      path: 'options.keyFile',
      ...(fromEnv ? { variable: CONNECTOR_ENV.keyFile } : {}),
      message: `cannot be read (${code}): give the path of the instance's private key (PEM)`,
    })
    return undefined
  }
}

function definedOnly<T extends Record<string, unknown>>(values: T): Partial<T> {
  return Object.fromEntries(Object.entries(values).filter(([, v]) => v !== undefined)) as Partial<T>
}
