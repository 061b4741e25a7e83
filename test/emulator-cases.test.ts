/**
 * The whole gateway case table, sent as HTTP requests to the emulator (real sockets, keys found by
 * OIDC discovery over loopback) and to the msw handlers (discovery through msw too): both must give
 * the same status and the same message, each the one the table expects from the gateway — on the
 * path as written and on Rails' `%2F` form.
 */
import { http, passthrough } from 'msw'
import { setupServer } from 'msw/node'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { DEFAULT_MODEL_REPLY, startEmulator, type Emulator } from '../src/emulator/index.js'
import { createMswGateway, type MswGateway } from '../src/testing/msw.js'
import { loadCaseFixture } from './cases/fixture.js'
import { buildGatewayCases, type GatewayCase } from './cases/gateway-cases.js'

const fx = loadCaseFixture()
const cases = buildGatewayCases(fx)
const MSW_GATEWAY = 'https://aigw.test'
const BODY = JSON.stringify({
  inputs: {},
  stream: false,
  model_metadata: { name: 'mistral', provider: 'openai', endpoint: 'http://model.test:8000/v1', api_key: null, identifier: null },
})

let emu: Emulator
let double: MswGateway
const server = setupServer()

beforeAll(async () => {
  const common = { audience: fx.audience, now: () => new Date(fx.now), gatewayKey: false as const }
  emu = await startEmulator({ ...common, key: fx.key, instance: { instanceId: fx.instanceId, realm: fx.realm } })
  double = await createMswGateway({ ...common, baseUrl: MSW_GATEWAY, instance: { issuerUrl: fx.issuer, key: fx.key } })
  server.use(
    // the emulator is a real server: let requests to it (and its own discovery) go out
    http.all(new RegExp(`^(?:${escape(emu.url)}|${escape(emu.instanceUrl)})/`), () => passthrough()),
    ...double.handlers,
  )
  server.listen({ onUnhandledRequest: 'error' })
})

afterAll(async () => {
  server.close()
  await emu.stop()
})

describe('the gateway case table over HTTP', () => {
  it('has the cases it was written with', () => {
    expect(cases.length).toBeGreaterThanOrEqual(40)
    expect(new Set(cases.map((c) => c.name)).size).toBe(cases.length)
  })

  it.each(cases.map((c) => [c.name, c] as const))('%s', async (_name, c) => {
    const railsPath = c.path.replace(/^(\/v1\/prompts\/)(.+)$/, (_m, prefix: string, id: string) => `${prefix}${id.replace(/\//g, '%2F')}`)
    const answers = []
    for (const base of [emu.url, MSW_GATEWAY]) {
      for (const path of [c.path, railsPath]) answers.push({ where: `${base}${path}`, ...(await send(`${base}${path}`, c)) })
    }
    const expected = expectedAnswer(c)
    for (const a of answers) expect({ where: a.where, status: a.status, message: a.message }).toEqual({ where: a.where, ...expected })
  })

  it('discovered the keys once per double, over the socket and through msw', () => {
    expect(emu.countRequests({ side: 'instance', route: 'openid-configuration' })).toBe(1)
    expect(emu.countRequests({ side: 'instance', route: 'jwks' })).toBe(1)
    expect(double.countRequests({ side: 'instance', route: 'jwks' })).toBe(1)
    expect(emu.countRequests({ side: 'gateway' })).toBe(cases.length * 2)
    expect(double.countRequests({ side: 'gateway' })).toBe(cases.length * 2)
  })
})

/** What the gateway answers, as the table states it: the `error` (401), `detail` (403) or body text (500). */
function expectedAnswer(c: GatewayCase): { status: number; message: string } {
  if (c.expected.status === 200) return { status: 200, message: DEFAULT_MODEL_REPLY }
  if (c.expected.status === 403) return { status: 403, message: c.forbiddenDetail }
  return { status: c.expected.status, message: c.expected.error ?? '' }
}

async function send(url: string, c: GatewayCase): Promise<{ status: number; message: string }> {
  const headers: [string, string][] = Object.entries(c.headers).map(([name, value]) => [name, onTheWire(value)])
  const res = await fetch(url, { method: 'POST', headers, body: BODY })
  const text = await res.text()
  let message = text
  try {
    const body = JSON.parse(text) as unknown
    if (typeof body === 'string') message = body
    else if (body !== null && typeof body === 'object') {
      const b = body as { error?: unknown; detail?: unknown }
      message = String(b.error ?? b.detail ?? text)
    }
  } catch {
    /* a plain-text body (Starlette's 500) is the message itself */
  }
  return { status: res.status, message }
}

/**
 * A client sends a header's characters as UTF-8 bytes; fetch only takes byte-sized characters, so a
 * value with wider ones (the pasted "…") is handed over as those same bytes — identical on the wire.
 */
function onTheWire(value: string): string {
  return /[^\u0000-\u00ff]/.test(value) ? Buffer.from(value, 'utf8').toString('latin1') : value
}

function escape(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')
}
