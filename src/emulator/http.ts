/**
 * HTTP details of the Python stack the real gateway runs on (uvicorn, Starlette, FastAPI, Python
 * 3.12), reproduced where a client can see them: path decoding, reason phrases, body parsing and
 * the shape of error bodies.
 */
import type { HeadersInput } from '../types.js'
import type { ValidationIssue } from './schema.js'

/** What both front ends (node:http and msw) hand to the shared core. */
export interface EmulatorRequest {
  method: string
  /** An absolute URL or an origin-form request target (`/path?query`), percent-encoding as sent. */
  url: string
  headers: HeadersInput
  body?: Uint8Array | string | null
}

/** What the core answers; the front end writes it out unchanged. */
export interface EmulatorResponse {
  status: number
  headers: Record<string, string>
  body: string
}

/**
 * Python's `urllib.parse.unquote`, which uvicorn applies to the raw path: `%XX` sequences are
 * decoded as UTF-8 (invalid bytes become U+FFFD), malformed escapes are kept as they are. This is
 * why `/v1/prompts/model_configuration%2Fcheck` (what Rails sends) reaches the same route as
 * `/v1/prompts/model_configuration/check`.
 */
export function pyUnquote(path: string): string {
  if (!path.includes('%')) return path
  return path.replace(/(?:%[0-9A-Fa-f]{2})+/g, (run) => {
    const bytes = Buffer.from(run.replace(/%/g, ''), 'hex')
    return new TextDecoder('utf-8', { fatal: false }).decode(bytes)
  })
}

/** Split a request target into its raw path and query, whatever form it came in. */
export function splitTarget(url: string): { rawPath: string; query: string } {
  let target = url
  if (!target.startsWith('/')) {
    try {
      const u = new URL(target)
      target = `${u.pathname}${u.search}`
    } catch {
      return { rawPath: target, query: '' }
    }
  }
  const q = target.indexOf('?')
  const withoutHash = (q === -1 ? target : target.slice(0, q)).split('#')[0] ?? ''
  return { rawPath: withoutHash, query: q === -1 ? '' : target.slice(q + 1) }
}

/** Lower-case names, one string value each (repeated headers joined the way fetch joins them). */
export function normaliseHeaders(input: HeadersInput | undefined): Record<string, string> {
  const out: Record<string, string> = {}
  if (input === undefined || input === null) return out
  const add = (name: string, value: string) => {
    const key = name.toLowerCase()
    out[key] = key in out ? `${out[key]}, ${value}` : value
  }
  if (typeof (input as Headers).forEach === 'function' && !Array.isArray(input)) {
    ;(input as Headers).forEach((value, name) => add(name, value))
  } else if (Array.isArray(input)) {
    for (const pair of input) if (Array.isArray(pair) && pair.length >= 2) add(String(pair[0]), String(pair[1]))
  } else {
    for (const [name, value] of Object.entries(input)) {
      if (value === undefined) continue
      if (Array.isArray(value)) value.forEach((v) => add(name, String(v)))
      else add(name, String(value))
    }
  }
  return out
}

/** Python 3.12's `http.client.responses`: what the gateway puts after the status in a 421 detail. */
export function pythonReasonPhrase(status: number): string {
  return PY312_REASONS[status] ?? 'Unknown'
}

const PY312_REASONS: Record<number, string> = {
  100: 'Continue', 101: 'Switching Protocols', 102: 'Processing', 103: 'Early Hints',
  200: 'OK', 201: 'Created', 202: 'Accepted', 203: 'Non-Authoritative Information', 204: 'No Content',
  205: 'Reset Content', 206: 'Partial Content', 207: 'Multi-Status', 208: 'Already Reported', 226: 'IM Used',
  300: 'Multiple Choices', 301: 'Moved Permanently', 302: 'Found', 303: 'See Other', 304: 'Not Modified',
  305: 'Use Proxy', 307: 'Temporary Redirect', 308: 'Permanent Redirect',
  400: 'Bad Request', 401: 'Unauthorized', 402: 'Payment Required', 403: 'Forbidden', 404: 'Not Found',
  405: 'Method Not Allowed', 406: 'Not Acceptable', 407: 'Proxy Authentication Required', 408: 'Request Timeout',
  409: 'Conflict', 410: 'Gone', 411: 'Length Required', 412: 'Precondition Failed', 413: 'Request Entity Too Large',
  414: 'Request-URI Too Long', 415: 'Unsupported Media Type', 416: 'Requested Range Not Satisfiable',
  417: 'Expectation Failed', 418: "I'm a Teapot", 421: 'Misdirected Request', 422: 'Unprocessable Entity',
  423: 'Locked', 424: 'Failed Dependency', 425: 'Too Early', 426: 'Upgrade Required', 428: 'Precondition Required',
  429: 'Too Many Requests', 431: 'Request Header Fields Too Large', 451: 'Unavailable For Legal Reasons',
  500: 'Internal Server Error', 501: 'Not Implemented', 502: 'Bad Gateway', 503: 'Service Unavailable',
  504: 'Gateway Timeout', 505: 'HTTP Version Not Supported', 506: 'Variant Also Negotiates',
  507: 'Insufficient Storage', 508: 'Loop Detected', 510: 'Not Extended', 511: 'Network Authentication Required',
}

export type ParsedBody = { ok: true; value: unknown; text: string } | { ok: false; issue: ValidationIssue; text: string }

/**
 * FastAPI's reading of a JSON body parameter: parsed as JSON when there is no Content-Type or an
 * `application/json` / `application/*+json` one; otherwise handed over as the raw text (which then
 * fails model validation); an empty body is "missing".
 */
export function parseJsonBody(body: EmulatorRequest['body'], contentType: string | undefined): ParsedBody {
  const text = body === undefined || body === null ? '' : typeof body === 'string' ? body : Buffer.from(body).toString('utf8')
  if (text.length === 0) {
    return { ok: false, text, issue: { type: 'missing', loc: ['body'], msg: 'Field required', input: null } }
  }
  const mime = (contentType ?? '').split(';')[0]?.trim().toLowerCase() ?? ''
  const isJson = mime === '' || /^application\/(?:json|[^/]*\+json)$/.test(mime)
  if (!isJson) return { ok: true, value: text, text }
  try {
    return { ok: true, value: JSON.parse(text) as unknown, text }
  } catch (err) {
    return {
      ok: false,
      text,
      issue: {
        type: 'json_invalid',
        loc: ['body', jsonErrorPosition(err, text)],
        msg: 'JSON decode error',
        input: {},
        ctx: { error: pythonJsonError(text, jsonErrorPosition(err, text)) },
      },
    }
  }
}

export function jsonResponse(status: number, value: unknown, extra: Record<string, string> = {}): EmulatorResponse {
  return { status, headers: { 'content-type': 'application/json', ...extra }, body: JSON.stringify(value) }
}

export function textResponse(status: number, text: string, contentType = 'text/plain; charset=utf-8'): EmulatorResponse {
  return { status, headers: { 'content-type': contentType }, body: text }
}

/** Starlette's answer to an exception nobody handled. */
export function internalServerError(): EmulatorResponse {
  return textResponse(500, 'Internal Server Error')
}

function jsonErrorPosition(err: unknown, text: string): number {
  const m = /position (\d+)/.exec(err instanceof Error ? err.message : '')
  if (m?.[1] !== undefined) return Number(m[1])
  // V8 says "Unexpected end of JSON input" without a position: Python points at the end.
  return text.length
}

/** The most common `json.JSONDecodeError` messages, chosen from where the error is. */
function pythonJsonError(text: string, pos: number): string {
  // Inside an object, right after `{` or `,`, Python wants a key; anywhere else a value.
  const stack: string[] = []
  let inString = false
  for (let i = 0; i < pos && i < text.length; i++) {
    const c = text[i]
    if (inString) {
      if (c === '\\') i++
      else if (c === '"') inString = false
    } else if (c === '"') inString = true
    else if (c === '{' || c === '[') stack.push(c)
    else if (c === '}' || c === ']') stack.pop()
  }
  const last = text.slice(0, pos).trimEnd().at(-1)
  return stack.at(-1) === '{' && (last === '{' || last === ',')
    ? 'Expecting property name enclosed in double quotes'
    : 'Expecting value'
}
