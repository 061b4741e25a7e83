/**
 * Header lookup as the gateway does it: names case-insensitive, values stripped of surrounding
 * spaces and tabs (the HTTP server strips optional whitespace), and when a name repeats the last
 * value wins (the gateway builds `{k.lower(): v for k, v in headers.items()}`).
 */
import type { HeadersInput } from '../types.js'
import { isOws, stripWhere } from './text.js'

/**
 * The only headers the gateway's authentication reads (lower case): the verifier and preflight keep just these
 * of the ~16 a request carries.
 */
export const GATEWAY_AUTH_HEADERS: ReadonlySet<string> = new Set([
  'authorization',
  'x-gitlab-authentication-type',
  'x-gitlab-realm',
  'x-gitlab-instance-id',
  'x-gitlab-global-user-id',
])

/**
 * The lengths of GATEWAY_AUTH_HEADERS' names. Lower-casing never changes the length of a name that can match one
 * of these ASCII names: only U+0130 lengthens (to "i" + U+0307), and the result is then not ASCII.
 */
const AUTH_HEADER_LENGTHS: ReadonlySet<number> = new Set([...GATEWAY_AUTH_HEADERS].map((n) => n.length))

/**
 * The headers as the gateway's authentication sees them: lower-case name → value. Never throws.
 * `only` (lower-case names) keeps just those (e.g. GATEWAY_AUTH_HEADERS).
 */
export function headersToMap(headers: HeadersInput | undefined | null, only?: ReadonlySet<string>): Map<string, string> {
  const out = new Map<string, string>()
  if (headers === undefined || headers === null) return out
  try {
    const proto: unknown = Array.isArray(headers) ? undefined : Object.getPrototypeOf(headers)
    if (proto === Object.prototype || proto === null) {
      addRecord(out, headers as Record<string, unknown>, only) // a plain record: the common case, checked first
    } else if (isHeadersLike(headers)) {
      // A fetch Headers object already joins repeated names with ", ": that is what goes on the wire.
      headers.forEach((value, name) => add(out, name, value, only))
    } else if (Array.isArray(headers)) {
      for (const entry of headers as unknown[]) {
        if (Array.isArray(entry) && entry.length >= 2) add(out, entry[0], entry[1], only)
      }
    } else if (typeof headers === 'object') {
      addRecord(out, headers as Record<string, unknown>, only)
    }
  } catch {
    // a hostile getter or iterator: keep what was read so far
  }
  return out
}

/** One header, case-insensitively, as the gateway would read it; undefined when absent. */
export function getHeader(headers: HeadersInput | undefined | null, name: string): string | undefined {
  return headersToMap(headers).get(name.toLowerCase())
}

/** Split an Authorization value as the gateway does: `scheme, _, token = value.partition(" ")`. */
export function parseAuthorization(value: string): { scheme: string; token: string; hasSeparator: boolean } {
  const sp = value.indexOf(' ')
  if (sp < 0) return { scheme: value, token: '', hasSeparator: false }
  return { scheme: value.slice(0, sp), token: value.slice(sp + 1), hasSeparator: true }
}

function isHeadersLike(h: unknown): h is Headers {
  if (typeof Headers !== 'undefined' && h instanceof Headers) return true
  // Headers from another realm or a polyfill
  return typeof h === 'object' && h !== null && !Array.isArray(h) && typeof (h as Headers).forEach === 'function' && typeof (h as Headers).get === 'function'
}

function addRecord(out: Map<string, string>, record: Record<string, unknown>, only: ReadonlySet<string> | undefined): void {
  for (const name of Object.keys(record)) {
    const value = record[name]
    // An array is sent as one header line per value (node:http); the gateway keeps the last.
    if (Array.isArray(value)) {
      if (value.length > 0) add(out, name, value[value.length - 1], only)
    } else add(out, name, value, only)
  }
}

function add(out: Map<string, string>, name: unknown, value: unknown, only: ReadonlySet<string> | undefined): void {
  if (value === undefined || value === null) return
  const raw = typeof name === 'string' ? name : String(name)
  // Most of a request's ~16 headers are not kept: their length alone says so, without lower-casing them.
  if (only === GATEWAY_AUTH_HEADERS && !AUTH_HEADER_LENGTHS.has(raw.length)) return
  const n = raw.toLowerCase()
  if (only !== undefined && !only.has(n)) return
  const v = typeof value === 'string' ? value : String(value)
  out.set(n, stripWhere(v, isOws))
}
