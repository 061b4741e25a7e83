/**
 * Shared fixtures of the client tests: the fixture instance key, a JWT signer written with node:crypto only
 * (independent of the SDK's issuer, to craft tokens the issuer would never mint), a scripted token source,
 * a recording msw server and a capturing logger.
 */
import { createPrivateKey, createPublicKey, sign as rsaSign, verify as rsaVerify, type KeyObject } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { setupServer } from 'msw/node'
import { afterAll, afterEach, beforeAll } from 'vitest'
import type { Logger, TokenRequest, TokenResult, TokenSource } from '../src/types.js'

export const INSTANCE_ID = '3f2a9d4e-1b7c-4e8f-9a6d-2c5b8e1f0a34'
export const ISSUER = 'https://gitlab.example.com'
export const GATEWAY = 'http://gateway.test'
/** A fixed instant: 2026-03-01T12:00:00Z. */
export const NOW = new Date('2026-03-01T12:00:00.000Z')
export const NOW_S = Math.floor(NOW.getTime() / 1000)
export const now = () => new Date(NOW)

export const KEY_PEM = readFileSync(new URL('./fixtures/instance-key.pem', import.meta.url), 'utf8')
export const PRIVATE_KEY: KeyObject = createPrivateKey(KEY_PEM)
export const PUBLIC_KEY: KeyObject = createPublicKey(PRIVATE_KEY)

export const INSTANCE = { id: INSTANCE_ID, hostName: 'gitlab.example.com', version: '18.5.4', realm: 'self-managed' as const }

const b64u = (s: string | Buffer) => Buffer.from(s).toString('base64url')

/** RS256-sign any header + claims with the fixture key (node:crypto only). */
export function signJwt(claims: Record<string, unknown>, header: Record<string, unknown> = { alg: 'RS256', typ: 'JWT', kid: 'test-kid' }): string {
  const input = `${b64u(JSON.stringify(header))}.${b64u(JSON.stringify(claims))}`
  return `${input}.${rsaSign('RSA-SHA256', Buffer.from(input), PRIVATE_KEY).toString('base64url')}`
}

/** Decode a JWT and check its RS256 signature against the fixture key. */
export function decodeJwt(token: string): { header: Record<string, unknown>; claims: Record<string, unknown>; signatureValid: boolean } {
  const [h, p, s] = token.split('.')
  return {
    header: JSON.parse(Buffer.from(h!, 'base64url').toString('utf8')) as Record<string, unknown>,
    claims: JSON.parse(Buffer.from(p!, 'base64url').toString('utf8')) as Record<string, unknown>,
    signatureValid: rsaVerify('RSA-SHA256', Buffer.from(`${h}.${p}`), PUBLIC_KEY, Buffer.from(s!, 'base64url')),
  }
}

/** Claims as the instance mints them (domain.md §3) at NOW, with overrides. */
export function claims(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    iss: ISSUER,
    sub: INSTANCE_ID,
    aud: ['gitlab-ai-gateway'],
    iat: NOW_S,
    nbf: NOW_S - 5,
    exp: NOW_S + 3600,
    jti: 'b7f3c1a2-0d4e-4f5a-9b8c-7d6e5f4a3b2c',
    gitlab_realm: 'self-managed',
    scopes: ['complete_code', 'generate_code', 'duo_chat'],
    ...overrides,
  }
}

/**
 * A token source that returns what a script says, counting calls and forced refreshes, with a one-entry
 * single-flight cache like a real one.
 */
export function scriptedSource(next: (n: number, request: TokenRequest) => TokenResult | Promise<TokenResult>) {
  let calls = 0
  let mints = 0
  let forced = 0
  let cached: TokenResult | undefined
  let pending: Promise<TokenResult> | undefined
  const source: TokenSource & { readonly calls: number; readonly mints: number; readonly forced: number; requests: TokenRequest[] } = {
    requests: [],
    get calls() {
      return calls
    },
    get mints() {
      return mints
    },
    get forced() {
      return forced
    },
    async getToken(request) {
      calls++
      source.requests.push(request)
      if (request.forceRefresh) forced++
      if (!request.forceRefresh && cached) return cached
      if (!request.forceRefresh && pending) return pending
      pending = (async () => {
        await Promise.resolve()
        const result = await next(mints++, request)
        cached = result.token === undefined ? undefined : result
        return result
      })()
      try {
        return await pending
      } finally {
        pending = undefined
      }
    },
    invalidate() {
      cached = undefined
    },
  }
  return source
}

/** A source that always serves the same token. */
export function fixedSource(token: string | undefined, source: TokenResult['source'] = 'self-issued', reason = 'test token') {
  return scriptedSource(() => ({ ...(token === undefined ? {} : { token }), source, reason }))
}

export interface Received {
  method: string
  url: string
  headers: Record<string, string>
  body: string
}

/** An msw server that records every request it handles. */
export function recordingServer() {
  const received: Received[] = []
  const pending: Promise<void>[] = []
  const server = setupServer()
  server.events.on('request:start', ({ request }) => {
    // recorded synchronously, so that the count is exact when the call that sent it settles
    const headers: Record<string, string> = {}
    request.headers.forEach((v, k) => {
      headers[k] = v
    })
    const entry: Received = { method: request.method, url: request.url, headers, body: '' }
    received.push(entry)
    pending.push(
      request
        .clone()
        .text()
        .then((text) => {
          entry.body = text
        }),
    )
  })
  /** Wait until the bodies of all recorded requests have been read. */
  const settled = async () => {
    await Promise.all(pending)
    return received
  }
  return { server, received, settled }
}

/**
 * `recordingServer()` registered for the current test file: listening with `onUnhandledRequest: 'error'`,
 * handlers and the record reset after each test, closed at the end.
 */
export function useRecordingServer(): ReturnType<typeof recordingServer> {
  const recording = recordingServer()
  beforeAll(() => recording.server.listen({ onUnhandledRequest: 'error' }))
  afterEach(() => {
    recording.server.resetHandlers()
    recording.received.length = 0
  })
  afterAll(() => recording.server.close())
  return recording
}

export interface LogLine {
  level: 'debug' | 'info' | 'warn' | 'error'
  event: string
  fields: Record<string, unknown>
}

export function captureLogger(): Logger & { lines: LogLine[]; text(): string } {
  const lines: LogLine[] = []
  const at = (level: LogLine['level']) => asEvent((event, fields) => lines.push({ level, event, fields }))
  return { lines, debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error'), text: () => JSON.stringify(lines) }
}

/**
 * A logger method of pino's shape `(obj, msg)` that hands `record` the SDK's event and fields as the SDK logged
 * them: the event is `obj.event`, the fields the rest of `obj`, and a `message` field travels as `msg`.
 */
export function asEvent(record: (event: string, fields: Record<string, unknown>) => unknown): (obj: Record<string, unknown>, msg?: string) => void {
  return (obj, msg) => {
    const { event, ...fields } = obj
    record(String(event), msg === undefined || msg === event ? fields : { ...fields, message: msg })
  }
}
