/**
 * Every request the emulator (or the msw double) received, for tests to count and inspect.
 * Secrets are never kept: the Authorization value and any api key are stored in `redact()`ed form,
 * which still tells two values apart (`redact(x) === recorded` is how a test checks what was sent).
 */
import { redact } from '../redact.js'
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

export class RequestLog {
  #entries: RecordedRequest[] = []
  #seq = 0
  readonly #now: Clock

  constructor(now: Clock) {
    this.#now = now
  }

  add(entry: Omit<RecordedRequest, 'seq' | 'at'>): RecordedRequest {
    const full: RecordedRequest = Object.freeze({ seq: ++this.#seq, at: this.#now(), ...entry })
    this.#entries.push(full)
    return full
  }

  /** A snapshot, oldest first. */
  list(filter?: RequestFilter): RecordedRequest[] {
    return filter === undefined ? [...this.#entries] : this.#entries.filter((r) => matches(r, filter))
  }

  count(filter?: RequestFilter): number {
    return filter === undefined ? this.#entries.length : this.#entries.filter((r) => matches(r, filter)).length
  }

  clear(): void {
    this.#entries = []
  }
}

const CREDENTIAL_HEADER = /^(?:authorization|proxy-authorization|cookie|private-token|job-token|x-api-key|api-key)$/

/** Headers as recorded: credentials replaced by their redacted form, the auth scheme kept. */
export function redactHeaders(headers: Record<string, string>): Record<string, string> {
  const out: Record<string, string> = {}
  for (const [name, value] of Object.entries(headers)) {
    out[name] = CREDENTIAL_HEADER.test(name) ? redactCredential(value) : value
  }
  return out
}

/** `Bearer eyJ…` → `Bearer <redacted …>`; a bare scheme (`Bearer`) is kept, anything else redacted whole. */
export function redactCredential(value: string): string {
  const space = value.indexOf(' ')
  if (space === -1) return /^(?:bearer|basic|token|digest)$/i.test(value) ? value : redact(value)
  return `${value.slice(0, space)} ${redact(value.slice(space + 1))}`
}

const SECRET_KEY = /(?:api_?key|token|secret|password)$/i

/** A copy of a JSON body with every member named like a credential (`api_key`, `model_api_key`, …) redacted. */
export function redactBody(value: unknown, depth = 0): unknown {
  if (depth > 32) return '<too deep>'
  if (Array.isArray(value)) return value.map((v) => redactBody(v, depth + 1))
  if (typeof value === 'object' && value !== null) {
    const out: Record<string, unknown> = {}
    for (const [k, v] of Object.entries(value)) {
      out[k] = SECRET_KEY.test(k) && v !== null && v !== undefined ? redact(typeof v === 'string' ? v : JSON.stringify(v)) : redactBody(v, depth + 1)
    }
    return out
  }
  return value
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
