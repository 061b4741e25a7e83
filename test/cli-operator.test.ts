/**
 * What an operator sees while running the CLI against real sockets: a busy port named as such, a failing issuer
 * named with its cause and bounded by --timeout, and on a TTY a line saying what a long wait is for (nothing
 * extra without a TTY or with --json).
 */
import { createServer, type Server } from 'node:net'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { claims, signJwt } from './client-support.js'
import { KEY_FILE, oneJson, runCli } from './cli-support.js'
import { json, startServer, type TestServer } from './reliability/servers.js'

const INSTANCE_ID = 'f798e820-207f-4849-869d-1f753edb3312'
const now = Math.floor(Date.now() / 1000)
const TOKEN = signJwt(claims({ iat: now, nbf: now - 5, exp: now + 3600 }))
const ERASE = '\r\u001b[2K'

describe('serve on a busy port', () => {
  let busy: Server
  let port: number
  beforeAll(async () => {
    busy = createServer()
    await new Promise<void>((r) => busy.listen(0, '127.0.0.1', r))
    port = (busy.address() as { port: number }).port
  })
  afterAll(() => new Promise<void>((r) => busy.close(() => r())))

  it('says EADDRINUSE and what to do; exit 1', async () => {
    const r = await runCli(['serve', '--port', String(port)])
    expect(r.code).toBe(1)
    expect(r.stderr).toBe(`error: serve: port ${port} is already in use (EADDRINUSE): stop what listens there, or choose another --port (0 picks a free one) [ERR_EMULATOR_START]\n`)
    expect(oneJson(await runCli(['serve', '--port', String(port), '--json']))).toMatchObject({ ok: false, code: 'ERR_EMULATOR_START' })
  })
})

describe('verify --issuer-url against an issuer that hangs', () => {
  let hanging: TestServer
  beforeAll(async () => {
    hanging = await startServer((req) => {
      req.resume() // and never answer
    })
  })
  afterAll(() => hanging.close())

  it('names the issuer and why it failed, within --timeout', async () => {
    const started = performance.now()
    const r = await runCli(['verify', TOKEN, '--issuer-url', hanging.url, '--timeout', '500'])
    const took = performance.now() - started
    expect(r.code).toBe(1)
    expect(r.stdout).toContain('verdict  500 No keys founds in JWKS; are OIDC providers up?\n')
    expect(r.stdout).toContain(`issuer   ${hanging.url}/ failed: GET ${hanging.url}/.well-known/openid-configuration: no answer within 500 ms. [ERR_DISCOVERY_FAILED]\n`)
    expect(r.stdout).toContain("fix      make each issuer's /.well-known/openid-configuration and jwks_uri reachable from the gateway")
    expect(r.stderr).toBe('') // no TTY: no progress line
    expect(took).toBeGreaterThanOrEqual(450)
    expect(took).toBeLessThan(5000)
    const out = oneJson<{ status: number; failedIssuers: { issuer: string; code: string; reason: string }[] }>(await runCli(['verify', TOKEN, '--issuer-url', hanging.url, '--timeout', '300', '--json']))
    expect(out.status).toBe(500)
    expect(out.failedIssuers).toEqual([{ issuer: `${hanging.url}/`, code: 'ERR_DISCOVERY_FAILED', reason: `GET ${hanging.url}/.well-known/openid-configuration: no answer within 300 ms.` }])
  })

  it('on a TTY, a wait over a second shows what is awaited on stderr, then clears it; not with --json', async () => {
    const tty = await runCli(['verify', TOKEN, '--issuer-url', hanging.url, '--timeout', '1500'], { tty: true })
    expect(tty.stderr).toBe(`${ERASE}\u001b[2m… fetching the keys of ${hanging.url} by OIDC discovery (--timeout 1500 ms per request)\u001b[22m${ERASE}`)
    const quiet = await runCli(['verify', TOKEN, '--issuer-url', hanging.url, '--timeout', '1500', '--json'], { tty: true })
    expect(quiet.stderr).toBe('')
  })
})

describe('check-model against a slow gateway', () => {
  let slow: TestServer
  beforeAll(async () => {
    slow = await startServer(async (req, res) => {
      req.resume()
      await new Promise((r) => setTimeout(r, 1500))
      json(res, 200, 'Hello!')
    })
  })
  afterAll(() => slow.close())
  const args = () => ['check-model', '--gateway', slow.url, '--key', KEY_FILE, '--issuer', 'https://gitlab.example.com', '--instance-id', INSTANCE_ID, '--add-on', 'duo_pro', '--model', 'm', '--endpoint', 'http://m/v1']

  it('on a TTY says what it waits for after a second; without a TTY or with --json nothing extra', async () => {
    const tty = await runCli(args(), { tty: true })
    expect(tty.code).toBe(0)
    expect(tty.stderr).toBe(`${ERASE}\u001b[2m… waiting for the gateway at ${slow.url} (--timeout 30000 ms)\u001b[22m${ERASE}`)
    const pipe = await runCli(args())
    expect(pipe.code).toBe(0)
    expect(pipe.stderr).toBe('')
    const scripted = await runCli([...args(), '--json'], { tty: true })
    expect(oneJson(scripted)).toMatchObject({ ok: true, status: 200 })
    expect(scripted.stderr).toBe('')
  })
})
