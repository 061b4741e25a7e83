/**
 * msw handlers for the gateway double and the instance's OIDC discovery, built on the same core as
 * the node:http emulator (`createGatewayCore` / `createInstanceCore`), so a unit test under msw
 * gets the very statuses and bodies an end-to-end test gets over sockets.
 *
 * msw is an optional peer dependency: it is imported on first use, not when
 * `cloud-connector-sdk/testing` is loaded, so the rest of the toolkit (and the emulator) works
 * without it. That is why the factories here are async.
 */
import type { HttpHandler } from 'msw'
import { InvalidOptionsError } from '../errors.js'
import { MswMissingError } from './msw-missing.js'
import { createGatewayCore, type GatewayCore, type GatewayCoreOptions, type GatewayKnobs } from '../emulator/core.js'
import type { EmulatorRequest, EmulatorResponse } from '../emulator/http.js'
import { createInstanceCore, type InstanceCore } from '../emulator/instance.js'
import type { RecordedRequest, RequestFilter, RequestLog } from '../emulator/record.js'
import type { PublicRsaJwk, SigningKey } from '../types.js'
import type { TestInstance } from './instance.js'

export { MswMissingError }

export interface MswGatewayOptions extends Omit<GatewayCoreOptions, 'basePath' | 'log'> {
  /** Where the double answers, e.g. `https://aigw.test` or `https://cloud.gitlab.com/ai`. */
  baseUrl: string
  /**
   * A test instance to trust: its OIDC discovery is served by these handlers too (at its
   * `issuerUrl`), and the gateway discovers its keys from there, as the real one does.
   */
  instance?: Pick<TestInstance, 'issuerUrl' | 'key'> & { publishedKeys?: ReadonlyArray<SigningKey | PublicRsaJwk> }
}

export interface MswGateway {
  /** Pass to `setupServer(...gateway.handlers)`. Instance handlers first when `instance` was given. */
  readonly handlers: HttpHandler[]
  /** Every request the handlers answered (gateway and instance), oldest first. */
  readonly requests: RecordedRequest[]
  countRequests(filter?: RequestFilter): number
  configure(patch: GatewayKnobs): void
  refreshKeys(): Promise<void>
  /** Forget requests and cached keys; restore the start knobs. */
  reset(): void
  readonly core: GatewayCore
  readonly instance: InstanceCore | undefined
}

export interface MswInstanceOptions {
  /** The instance URL (the issuer); discovery is served at its origin. */
  url: string
  keys: ReadonlyArray<SigningKey | PublicRsaJwk>
  log?: RequestLog
}

/** The gateway double (plus the instance's discovery when `instance` is given), with its request log. */
export async function createMswGateway(options: MswGatewayOptions): Promise<MswGateway> {
  const msw = await loadMsw()
  const base = parseBase(options.baseUrl, 'baseUrl')
  const { baseUrl: _baseUrl, instance: given, ...coreOptions } = options
  const instanceBase = given === undefined ? undefined : parseBase(given.issuerUrl, 'instance.issuerUrl')
  const issuerUrls = [...(options.issuerUrls ?? [])]
  if (given !== undefined) {
    const url = given.issuerUrl.replace(/\/+$/, '')
    if (!issuerUrls.includes(url)) issuerUrls.unshift(url)
  }
  // The core owns the log (on its clock, which `configure({ now })` moves); the instance side shares it.
  const core = createGatewayCore({ ...coreOptions, issuerUrls, basePath: base.path })
  const handlers: HttpHandler[] = []
  let instance: InstanceCore | undefined
  if (given !== undefined && instanceBase !== undefined) {
    const inst = createInstanceCore({ url: given.issuerUrl, keys: given.publishedKeys ?? [given.key], log: core.log })
    instance = inst
    handlers.push(...handlersFor(msw, instanceBase.origin, '', (req) => Promise.resolve(inst.handle(req))))
  }
  handlers.push(...handlersFor(msw, base.origin, base.path, (req) => core.handle(req)))
  return {
    handlers,
    get requests() {
      return core.log.list()
    },
    countRequests: (filter) => core.log.count(filter),
    configure: (patch) => core.configure(patch),
    refreshKeys: () => core.refreshKeys(),
    reset: () => core.reset(),
    core,
    instance,
  }
}

/** `setupServer(...await gatewayHandlers({ baseUrl, instance }))`. */
export async function gatewayHandlers(options: MswGatewayOptions): Promise<HttpHandler[]> {
  return (await createMswGateway(options)).handlers
}

/** Only an instance's `/.well-known/openid-configuration` and `/oauth/discovery/keys`. */
export async function instanceHandlers(options: MswInstanceOptions): Promise<HttpHandler[]> {
  const msw = await loadMsw()
  const core = createInstanceCore({ url: options.url, keys: options.keys, ...(options.log ? { log: options.log } : {}) })
  return handlersFor(msw, parseBase(options.url, 'url').origin, '', (req) => Promise.resolve(core.handle(req)))
}

type Msw = typeof import('msw')

let mswModule: Promise<Msw> | undefined

function loadMsw(): Promise<Msw> {
  mswModule ??= import('msw').catch((err: unknown) => {
    mswModule = undefined
    throw new MswMissingError(err)
  })
  return mswModule
}

/**
 * One catch-all handler per origin. The route table lives in the core, so every path under the
 * base (unknown ones included, which the gateway authenticates before it 404s) reaches it. A
 * RegExp without capture groups: msw then has no parameter to percent-decode, so `%2F` and even a
 * malformed escape reach the core as sent.
 */
function handlersFor(
  msw: Msw,
  origin: string,
  basePath: string,
  handle: (req: EmulatorRequest) => Promise<EmulatorResponse>,
): HttpHandler[] {
  const pattern = new RegExp(`^${escapeRegExp(origin + basePath)}(?:/.*)?$`)
  return [
    msw.http.all(pattern, async ({ request }) => {
      const body = request.method === 'GET' || request.method === 'HEAD' ? null : new Uint8Array(await request.arrayBuffer())
      const out = await handle({ method: request.method, url: request.url, headers: request.headers, body })
      return new Response(out.status === 204 || request.method === 'HEAD' ? null : out.body, { status: out.status, headers: out.headers })
    }),
  ]
}

function parseBase(url: string, name: string): { origin: string; path: string } {
  let u: URL
  try {
    u = new URL(url)
  } catch {
    throw new InvalidOptionsError(`msw handlers: options.${name} must be an absolute http(s) URL, e.g. https://aigw.test.`, [
      { path: `options.${name}`, message: 'is not a URL' },
    ])
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') {
    throw new InvalidOptionsError(`msw handlers: options.${name} must use http or https.`, [{ path: `options.${name}`, message: 'not http(s)' }])
  }
  return { origin: u.origin, path: u.pathname.replace(/\/+$/, '') }
}

function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')
}
