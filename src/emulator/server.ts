/**
 * The emulator over real sockets: a GitLab instance (OIDC discovery + JWKS) and an AI Gateway
 * double, each its own node:http server on loopback. The gateway finds the instance's keys the way
 * the real one finds them from `AIGW_GITLAB_URL`: over HTTP, by OIDC discovery.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { CloudConnectorError } from '../errors.js'
import type { SigningKeyInput } from '../keys/import.js'
import type { Jwks } from '../keys/jwks.js'
import { createTestInstance, type TestInstance, type TestInstanceOptions } from '../testing/instance.js'
import type { Clock, PublicRsaJwk, SigningKey } from '../types.js'
import { createGatewayCore, type GatewayCoreOptions, type GatewayKnobs } from './core.js'
import { internalServerError, jsonResponse, type EmulatorRequest, type EmulatorResponse } from './http.js'
import { createInstanceCore, type InstanceCore } from './instance.js'
import { RequestLog, type RecordedRequest, type RequestFilter, type RequestLogLimits } from './record.js'

export interface EmulatorOptions extends GatewayKnobs {
  /** Interface both servers listen on. Default `127.0.0.1`. */
  host?: string
  /** Gateway port; 0 (default) picks a free one. */
  port?: number
  /** Instance port; 0 (default) picks a free one. */
  instancePort?: number
  /** The instance's signing key (PEM, JWK, KeyObject or loaded key). Default: a new RSA-2048 key. */
  key?: SigningKey | SigningKeyInput
  /** The rest of the instance's identity (UUID, realm, add-ons, version…); its URL is the emulator's. */
  instance?: Omit<TestInstanceOptions, 'key' | 'issuerUrl' | 'now'>
  /**
   * The whole key set the instance publishes at `/oauth/discovery/keys` (a GitLab instance also
   * publishes its OIDC and CI job-token keys there). Default: the instance key alone.
   */
  publishedKeys?: ReadonlyArray<SigningKey | PublicRsaJwk>
  /**
   * Use an instance that already runs (a real GitLab) instead of the built-in one: the gateway
   * discovers keys from it and no instance server is started. `emulator.instance` then mints with
   * `key`, which that instance must publish.
   */
  instanceUrl?: string
  /** `AIGW_CUSTOMER_PORTAL_URL`: a second issuer, skipped (as by the gateway) when it cannot be reached. */
  customersDotUrl?: string
  /** Per-issuer discovery timeout in ms (the gateway: 10 000). */
  discoveryTimeoutMs?: number
  /** See `GatewayCoreOptions.gatewayKey`. */
  gatewayKey?: SigningKey | false
  /** Largest request body accepted, in bytes (default 10 MiB); more is answered 413. */
  maxBodyBytes?: number
  /**
   * How much of the traffic `requests` keeps (both sides): the newest `maxEntries` requests within
   * `maxBytes`, each body up to `maxBodyBytes` (a larger one is recorded as a placeholder). Defaults 50,000
   * requests, 32 MiB, 1 MiB; `countRequests` counts the requests kept.
   */
  requestLog?: RequestLogLimits
  logger?: GatewayCoreOptions['logger']
}

export interface Emulator {
  /** The gateway's base URL (what `AI_GATEWAY_URL` would be), e.g. `http://127.0.0.1:53124`. */
  readonly url: string
  /** Same as `url`. */
  readonly gatewayUrl: string
  /** The instance's URL: the `iss` of its tokens and where the gateway discovers keys. */
  readonly instanceUrl: string
  /** The URLs the gateway discovers keys from, in order. */
  readonly issuerUrls: readonly string[]
  /** The emulated instance: key, UUID, a ready token issuer (on the emulator's clock) and headers. */
  readonly instance: TestInstance
  /** The key set the instance currently publishes (empty with an external `instanceUrl`). */
  readonly jwks: Jwks
  /** Every request received so far, both sides, oldest first (a snapshot). */
  readonly requests: RecordedRequest[]
  countRequests(filter?: RequestFilter): number
  /** Change gateway knobs while running (see `GatewayKnobs`); `now` also moves the instance's clock. */
  configure(patch: GatewayKnobs): void
  /**
   * Publish another key set (rotation). The gateway keeps its cached keys until the cache TTL
   * passes on its clock or `refreshGatewayKeys()` is called, as the real one does.
   */
  publishKeys(keys: ReadonlyArray<SigningKey | PublicRsaJwk>): void
  refreshGatewayKeys(): Promise<void>
  /** Forget requests and cached keys; restore the start knobs and the start key set. */
  reset(): void
  /** Close both servers and every connection, idle or active. Safe to call twice. */
  stop(): Promise<void>
}

/** The emulator could not start (port taken, interface missing…). */
export class EmulatorError extends CloudConnectorError {
  static override readonly codes = ['ERR_EMULATOR_START'] as const
  declare readonly code: (typeof EmulatorError.codes)[number]
  readonly port: number | undefined
  readonly host: string | undefined
  constructor(message: string, details: { host?: string; port?: number; cause?: unknown } = {}) {
    super('ERR_EMULATOR_START', message, { cause: details.cause })
    this.host = details.host
    this.port = details.port
  }
}

const DEFAULT_MAX_BODY = 10 * 1024 * 1024
/** Node's default (16 KiB) would turn a large token into a 431 before the gateway logic sees it; uvicorn's h11 is more lenient. */
const MAX_HEADER_BYTES = 256 * 1024

export async function startEmulator(options: EmulatorOptions = {}): Promise<Emulator> {
  const host = options.host ?? '127.0.0.1'
  const maxBody = options.maxBodyBytes ?? DEFAULT_MAX_BODY
  const startNow: Clock = options.now ?? (() => new Date())
  // One clock and one log for both sides, so that `seq` orders discovery against the requests that caused it.
  let clock: Clock = startNow
  const now: Clock = () => clock()
  const log = new RequestLog(now, options.requestLog)
  const servers: Server[] = []
  let stopped = false
  // Which listen failed, for the error message.
  let starting: { side: 'instance' | 'gateway'; port: number } = { side: 'instance', port: options.instancePort ?? 0 }
  const stopServers = () => Promise.all(servers.map((srv) => closeServer(srv))).then(() => undefined)

  try {
    let instanceCore: InstanceCore | undefined
    let instanceUrl: string
    if (options.instanceUrl === undefined) {
      const srv = createHttpServer(
        maxBody,
        (req) => Promise.resolve(instanceCore === undefined ? jsonResponse(503, { message: 'starting' }) : instanceCore.handle(req)),
        now,
      )
      servers.push(srv)
      instanceUrl = originOf(host, await listen(srv, host, options.instancePort ?? 0))
    } else {
      instanceUrl = options.instanceUrl.replace(/\/+$/, '')
    }
    const instance = await createTestInstance({
      ...(options.instance ?? {}),
      ...(options.key === undefined ? {} : { key: options.key }),
      issuerUrl: instanceUrl,
      now,
    })
    const startKeys = options.publishedKeys ?? [instance.key]
    if (options.instanceUrl === undefined) {
      instanceCore = createInstanceCore({ url: instanceUrl, keys: startKeys, now, log })
    }

    const issuerUrls = [instanceUrl, ...(options.customersDotUrl === undefined ? [] : [options.customersDotUrl])]
    const gateway = createGatewayCore({
      ...pickKnobs(options),
      issuerUrls,
      ...(options.discoveryTimeoutMs === undefined ? {} : { discoveryTimeoutMs: options.discoveryTimeoutMs }),
      ...(options.gatewayKey === undefined ? {} : { gatewayKey: options.gatewayKey }),
      ...(options.logger === undefined ? {} : { logger: options.logger }),
      log,
    })
    const gwServer = createHttpServer(maxBody, (req) => gateway.handle(req), now)
    servers.push(gwServer)
    starting = { side: 'gateway', port: options.port ?? 0 }
    const gatewayUrl = originOf(host, await listen(gwServer, host, options.port ?? 0))

    return {
      url: gatewayUrl,
      gatewayUrl,
      instanceUrl,
      issuerUrls,
      instance,
      get jwks() {
        return instanceCore?.jwks ?? { keys: [] }
      },
      get requests() {
        return log.list()
      },
      countRequests: (filter) => log.count(filter),
      configure(patch) {
        gateway.configure(patch)
        if (patch.now !== undefined) clock = patch.now
      },
      publishKeys(keys) {
        instanceCore?.setKeys(keys)
      },
      refreshGatewayKeys: () => gateway.refreshKeys(),
      reset() {
        gateway.reset()
        clock = startNow
        instanceCore?.setKeys(startKeys)
      },
      async stop() {
        if (stopped) return
        stopped = true
        await stopServers()
      },
    }
  } catch (err) {
    await stopServers()
    if (err instanceof CloudConnectorError) throw err
    const code = (err as NodeJS.ErrnoException | undefined)?.code
    const option = starting.side === 'gateway' ? 'port' : 'instancePort'
    const detail =
      code === 'EADDRINUSE'
        ? `the ${starting.side} port ${starting.port} is already in use: pass ${option}: 0 (the default) to get a free one`
        : code === 'EADDRNOTAVAIL'
          ? `the address ${host} is not available on this machine: use 127.0.0.1`
          : (code ?? 'unknown error')
    throw new EmulatorError(`The cloud-connector emulator could not start on ${host}: ${detail}.`, { host, port: starting.port, cause: err })
  }
}

function pickKnobs(o: EmulatorOptions): GatewayKnobs {
  const out: GatewayKnobs = {}
  if (o.audience !== undefined) out.audience = o.audience
  if (o.jwksCacheTtlSeconds !== undefined) out.jwksCacheTtlSeconds = o.jwksCacheTtlSeconds
  if (o.now !== undefined) out.now = o.now
  if (o.bypassAuth !== undefined) out.bypassAuth = o.bypassAuth
  if (o.failingModels !== undefined) out.failingModels = o.failingModels
  if (o.modelReply !== undefined) out.modelReply = o.modelReply
  if (o.prompts !== undefined) out.prompts = o.prompts
  return out
}

function createHttpServer(maxBody: number, handle: (req: EmulatorRequest) => Promise<EmulatorResponse>, now: Clock): Server {
  const srv = createServer({ maxHeaderSize: MAX_HEADER_BYTES }, (req, res) => {
    void serve(req, res, maxBody, handle, now)
  })
  // Node's default. undici (fetch) reuses a connection only for the server's keep-alive hint minus
  // 1 s: a 1 s timeout made every request open a new connection. Idle sockets cannot outlive the
  // emulator either way: stop() closes them.
  srv.keepAliveTimeout = 5_000
  return srv
}

async function serve(
  req: IncomingMessage,
  res: ServerResponse,
  maxBody: number,
  handle: (req: EmulatorRequest) => Promise<EmulatorResponse>,
  now: Clock,
): Promise<void> {
  let out: EmulatorResponse
  try {
    const chunks: Buffer[] = []
    let size = 0
    for await (const chunk of req as AsyncIterable<Buffer>) {
      size += chunk.length
      if (size > maxBody) {
        write(res, jsonResponse(413, { detail: `Request body larger than ${maxBody} bytes` }), true, now)
        return
      }
      chunks.push(chunk)
    }
    out = await handle({
      method: req.method ?? 'GET',
      url: req.url ?? '/',
      headers: req.headers,
      body: chunks.length === 0 ? null : Buffer.concat(chunks),
    })
  } catch {
    // The client went away mid-body, or a handler bug: answer if the socket is still there.
    out = internalServerError()
  }
  write(res, out, false, now)
}

function write(res: ServerResponse, out: EmulatorResponse, close: boolean, now: Clock): void {
  if (res.destroyed || res.headersSent) return
  // The Date header follows the emulator's clock, as a real server's follows its own: a client that
  // detects clock skew from it (createGatewayClient does) sees the skew the `now` knob sets up.
  const date = safeNow(now)
  const headers: Record<string, string | number> = {
    ...(date === undefined ? {} : { date: date.toUTCString() }),
    ...out.headers,
    'content-length': Buffer.byteLength(out.body),
  }
  if (close) headers['connection'] = 'close'
  res.writeHead(out.status, headers)
  res.end(out.body)
}

/** The clock's reading, or undefined when a user-supplied clock throws or gives no valid Date. */
function safeNow(now: Clock): Date | undefined {
  try {
    const d = now()
    return d instanceof Date && !Number.isNaN(d.getTime()) ? d : undefined
  } catch {
    return undefined
  }
}

function listen(srv: Server, host: string, port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const onError = (err: Error) => reject(err)
    srv.once('error', onError)
    srv.listen(port, host, () => {
      srv.off('error', onError)
      resolve((srv.address() as AddressInfo).port)
    })
  })
}

function closeServer(srv: Server): Promise<void> {
  return new Promise((resolve) => {
    if (!srv.listening) {
      resolve()
      return
    }
    srv.close(() => resolve())
    // close() only stops accepting; these end keep-alive and in-flight connections now.
    srv.closeIdleConnections()
    srv.closeAllConnections()
  })
}

function originOf(host: string, port: number): string {
  return `http://${host.includes(':') ? `[${host}]` : host}:${port}`
}


