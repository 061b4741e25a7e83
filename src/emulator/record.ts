/**
 * Every request the emulator (or the msw double) received, for tests to count and inspect.
 * Secrets are never kept: credentials are stored in `redact()`ed form, which still tells two values apart
 * (`redact(x) === recorded` is how a test checks what was sent) — found by name (the Authorization header,
 * an `api_key` member…) and by shape wherever they are (a JWT in any header, a key in any body field, the
 * query or the path). The log is bounded: by count, by bytes, and per body.
 */
import { InvalidOptionsError } from '../errors.js'
import { redact, redactShapes } from '../redact.js'
import type { Clock } from '../types.js'

export type EmulatorSide = 'gateway' | 'instance'

/** The gateway's judgement of the request, as its auth middleware reached it. */
export interface RecordedVerdict {
  status: number
  error?: string
  reason?: string
  claims?: Record<string, unknown>
}

export interface RecordedRequest {
  /** 1, 2, 3… in arrival order, across both sides. */
  seq: number
  /** From the emulator's clock. */
  at: Date
  side: EmulatorSide
  method: string
  /** The path as sent, percent-encoding kept (`/v1/prompts/model_configuration%2Fcheck`). */
  path: string
  /** The path the router saw, decoded as uvicorn decodes it (`/v1/prompts/model_configuration/check`). */
  decodedPath: string
  query: string
  /** Name of the route that answered (`model_check`, `code_completions`, `jwks`, …), absent for a 404. */
  route?: string
  /** Lower-case names; `authorization` and other credentials redacted. */
  headers: Record<string, string>
  /** Parsed JSON (credentials redacted) or the raw text; undefined for an empty body. */
  body?: unknown
  status: number
  /** What authentication concluded; absent where no authentication runs (public paths, bypass, the instance side). */
  verdict?: RecordedVerdict
  /** The unit primitive the endpoint required, when it checked one. */
  unitPrimitive?: string
}

/** Which requests to count or list; every given member must match. */
export interface RequestFilter {
  side?: EmulatorSide
  method?: string
  /** Matches the raw or the decoded path. */
  path?: string | RegExp
  route?: string
  status?: number
}

/** How much a request log keeps; the oldest requests are dropped first. */
export interface RequestLogLimits {
  /** Requests kept. Default `DEFAULT_REQUEST_LOG_MAX_ENTRIES`. */
  maxEntries?: number
  /** Bytes kept over all requests (headers, path, query, body, counted as characters). Default `DEFAULT_REQUEST_LOG_MAX_BYTES`. */
  maxBytes?: number
  /** A larger body is recorded as a placeholder saying its size. Default `DEFAULT_REQUEST_LOG_MAX_BODY_BYTES`. */
  maxBodyBytes?: number
}

export const DEFAULT_REQUEST_LOG_MAX_ENTRIES = 50_000
export const DEFAULT_REQUEST_LOG_MAX_BYTES = 32 * 1024 * 1024
export const DEFAULT_REQUEST_LOG_MAX_BODY_BYTES = 1024 * 1024

export class RequestLog {
  // A ring of entries with their weights: `#head` is the oldest kept, so dropping it costs nothing.
  #entries: RecordedRequest[] = []
  #weights: number[] = []
  #head = 0
  #bytes = 0
  #seq = 0
  readonly #now: Clock
  readonly #maxEntries: number
  readonly #maxBytes: number
  readonly #maxBodyBytes: number

  constructor(now: Clock, limits: RequestLogLimits = {}) {
    this.#now = now
    this.#maxEntries = limit(limits, 'maxEntries', DEFAULT_REQUEST_LOG_MAX_ENTRIES)
    this.#maxBytes = limit(limits, 'maxBytes', DEFAULT_REQUEST_LOG_MAX_BYTES)
    this.#maxBodyBytes = limit(limits, 'maxBodyBytes', DEFAULT_REQUEST_LOG_MAX_BODY_BYTES)
  }

  /** Record a request; its path, query and header values are redacted here (see `redactHeaders`), its body by the caller. */
  add(entry: Omit<RecordedRequest, 'seq' | 'at'>): RecordedRequest {
    let body = entry.body
    let bodyWeight = body === undefined ? 0 : weightOf(body, 0)
    if (bodyWeight > this.#maxBodyBytes) {
      const placeholder = `<body of about ${bodyWeight} bytes not kept: over the request log's maxBodyBytes (${this.#maxBodyBytes})>`
      body = placeholder
      bodyWeight = placeholder.length
    }
    // the raw path is percent-encoded ("%22sk-…"): judged in its decoded form, and replaced by it when redacted
    const decodedPath = redactShapes(entry.decodedPath)
    const kept: Omit<RecordedRequest, 'seq' | 'at'> = {
      ...entry,
      path: decodedPath === entry.decodedPath ? redactShapes(entry.path) : decodedPath,
      decodedPath,
      query: redactQuery(entry.query),
      headers: redactHeaders(entry.headers),
      ...(body === undefined ? {} : { body }),
    }
    const full: RecordedRequest = Object.freeze({ seq: ++this.#seq, at: this.#now(), ...kept })
    const weight = ENTRY_OVERHEAD + kept.path.length + kept.decodedPath.length + kept.query.length + weightOf(kept.headers, 0) + bodyWeight
    this.#entries.push(full)
    this.#weights.push(weight)
    this.#bytes += weight
    while (this.#entries.length - this.#head > this.#maxEntries || (this.#bytes > this.#maxBytes && this.#entries.length - this.#head > 1)) {
      this.#bytes -= this.#weights[this.#head] as number
      this.#head++
    }
    if (this.#head > 1024 && this.#head * 2 > this.#entries.length) {
      this.#entries = this.#entries.slice(this.#head)
      this.#weights = this.#weights.slice(this.#head)
      this.#head = 0
    }
    return full
  }

  /** A snapshot, oldest first. */
  list(filter?: RequestFilter): RecordedRequest[] {
    const kept = this.#entries.slice(this.#head)
    return filter === undefined ? kept : kept.filter((r) => matches(r, filter))
  }

  count(filter?: RequestFilter): number {
    if (filter === undefined) return this.#entries.length - this.#head
    let n = 0
    for (let i = this.#head; i < this.#entries.length; i++) if (matches(this.#entries[i] as RecordedRequest, filter)) n++
    return n
  }

  clear(): void {
    this.#entries = []
    this.#weights = []
    this.#head = 0
    this.#bytes = 0
  }
}

/** Per entry, besides its strings: the object, its seq, date and status. */
const ENTRY_OVERHEAD = 128

const CREDENTIAL_HEADER = /^(?:authorization|proxy-authorization|cookie|set-cookie|private-token|job-token|deploy-token|x-api-key|api-key)$/
/** A header value that is a credential whatever the header's name (`x-forwarded-authorization: Bearer …`). */
const CREDENTIAL_VALUE = /^(?:bearer|basic|token|digest|negotiate)[ \t]/i

/**
 * Headers as recorded: credential headers replaced by their redacted form (the auth scheme kept), a
 * credential value under any other name too, and every other value stripped of token- and key-shaped parts.
 */
export function redactHeaders(headers: Record<string, string>): Record<string, string> {
  const out: Record<string, string> = {}
  for (const [name, value] of Object.entries(headers)) {
    out[name] = CREDENTIAL_HEADER.test(name) || CREDENTIAL_VALUE.test(value) ? redactCredential(value) : redactShapes(value)
  }
  return out
}

/** `Bearer eyJ…` → `Bearer <redacted …>`; a bare scheme (`Bearer`) is kept, anything else redacted whole. */
export function redactCredential(value: string): string {
  if (isRedacted(value)) return value
  const space = value.indexOf(' ')
  if (space === -1) return /^(?:bearer|basic|token|digest)$/i.test(value) ? value : redact(value)
  const credential = value.slice(space + 1)
  return isRedacted(credential) ? value : `${value.slice(0, space)} ${redact(credential)}`
}

/** Already `redact()`ed (the log redacts what it is given, and the emulator hands it redacted headers). */
function isRedacted(value: string): boolean {
  return value.startsWith('<redacted ') || (value.startsWith('eyJ') && value.includes('….<redacted '))
}

/** Member and query-parameter names that hold credentials (`api_key`, `model_api_key`, `credentials`, `private_key`…). */
const SECRET_KEY = /(?:api_?key|token|secret|password|passwd|credentials?|private_?key|authorization|cookie)$/i
/** JWK members that hold private key material. */
const PRIVATE_JWK_MEMBERS: ReadonlySet<string> = new Set(['d', 'p', 'q', 'dp', 'dq', 'qi', 'oth', 'k'])
/** Public JWK members, kept as they are (a modulus is as long as a signature, but public). */
const PUBLIC_JWK_MEMBERS: ReadonlySet<string> = new Set(['kty', 'kid', 'use', 'alg', 'key_ops', 'n', 'e', 'crv', 'x', 'y'])

/**
 * A copy of a JSON body with every member named like a credential redacted, the private members of a JWK
 * redacted, and every other string (member names included) stripped of token- and key-shaped parts.
 */
export function redactBody(value: unknown, depth = 0): unknown {
  if (depth > 32) return '<too deep>'
  if (typeof value === 'string') return redactShapes(value)
  if (Array.isArray(value)) return value.map((v) => redactBody(v, depth + 1))
  if (typeof value === 'object' && value !== null) {
    const jwk = Object.hasOwn(value, 'kty')
    const out: Record<string, unknown> = {}
    for (const [k, v] of Object.entries(value)) {
      const secret = SECRET_KEY.test(k) || (jwk && PRIVATE_JWK_MEMBERS.has(k))
      if (jwk && PUBLIC_JWK_MEMBERS.has(k) && typeof v === 'string' && !v.includes('.')) out[k] = v
      else out[redactShapes(k)] = secret && v !== null && v !== undefined ? redact(typeof v === 'string' ? v : JSON.stringify(v)) : redactBody(v, depth + 1)
    }
    return out
  }
  return value
}

/** A query string with credential-named parameters redacted and every value stripped of token- and key-shaped parts. */
export function redactQuery(query: string): string {
  if (query === '') return query
  return query
    .split('&')
    .map((pair) => {
      const eq = pair.indexOf('=')
      if (eq < 0) return redactShapes(pair)
      const name = pair.slice(0, eq)
      const value = pair.slice(eq + 1)
      if (SECRET_KEY.test(formDecode(name)) && value !== '') return `${redactShapes(name)}=${redact(value)}`
      // judged decoded ("%22sk-…" hides the key's prefix); re-encoded only when something was redacted
      const decoded = formDecode(value)
      const redacted = redactShapes(decoded)
      return `${redactShapes(name)}=${redacted === decoded ? redactShapes(value) : encodeURIComponent(redacted)}`
    })
    .join('&')
}

/** `application/x-www-form-urlencoded` decoding; malformed escapes are judged as sent. */
function formDecode(text: string): string {
  try {
    return decodeURIComponent(text.replace(/\+/g, ' '))
  } catch {
    return text
  }
}

/** The characters a recorded value holds, roughly its bytes: strings by length, depth-bounded like `redactBody`. */
function weightOf(value: unknown, depth: number): number {
  if (typeof value === 'string') return value.length
  if (value === null || typeof value !== 'object' || depth > 33) return 8
  let n = 2
  if (Array.isArray(value)) for (const v of value) n += 1 + weightOf(v, depth + 1)
  else for (const [k, v] of Object.entries(value)) n += k.length + 4 + weightOf(v, depth + 1)
  return n
}

function limit(limits: RequestLogLimits, name: keyof RequestLogLimits, fallback: number): number {
  const v = limits[name]
  if (v === undefined) return fallback
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 1) {
    throw new InvalidOptionsError(`RequestLog: ${name} must be a positive integer (got ${typeof v === 'number' ? v : typeof v}).`, [{ path: `requestLog.${name}`, message: 'must be a positive integer' }])
  }
  return v
}

function matches(r: RecordedRequest, f: RequestFilter): boolean {
  if (f.side !== undefined && r.side !== f.side) return false
  if (f.method !== undefined && r.method !== f.method.toUpperCase()) return false
  if (f.route !== undefined && r.route !== f.route) return false
  if (f.status !== undefined && r.status !== f.status) return false
  if (f.path !== undefined) {
    if (typeof f.path === 'string') return r.path === f.path || r.decodedPath === f.path
    return f.path.test(r.path) || f.path.test(r.decodedPath)
  }
  return true
}
