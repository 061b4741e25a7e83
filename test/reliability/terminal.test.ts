/**
 * The CLI and the terminal (SECURITY.md "A safe terminal"): untrusted text — a token's header, a gateway's or a
 * model's answer, an error body, what the user typed — reaches stdout and stderr with its control characters
 * made visible, so it cannot drive the terminal (OSC title, screen clear, 8-bit CSI, bidirectional overrides);
 * an argument the CLI refuses is echoed by at most 12 characters; a URL is printed without userinfo and query
 * values. Over real loopback sockets where a gateway is involved.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { KEY_FILE, runCli, type CliRun } from '../cli-support.js'
import { json, startServer, type TestServer } from './servers.js'

/** What a hostile party wants the terminal to obey: set the title, clear the screen, an 8-bit CSI, a bidi override, a line separator. */
const HOSTILE = 'x\u001b]0;pwned\u0007\u001b[2J\u009b31m\u202eevil\u2028y'
/** Control characters the CLI itself never prints outside its own styling (colour, erase line). */
const RAW_CONTROL = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]/
const ownStyling = (text: string) => text.replace(/\u001b\[\d+m/g, '').replace(/\r\u001b\[2K/g, '')

function expectSafe(r: CliRun, where: string): void {
  expect(ownStyling(r.stdout), `${where} stdout`).not.toMatch(RAW_CONTROL)
  expect(ownStyling(r.stderr), `${where} stderr`).not.toMatch(RAW_CONTROL)
}

const b64 = (o: unknown) => Buffer.from(JSON.stringify(o)).toString('base64url')
const INSTANCE_ID = 'f798e820-207f-4849-869d-1f753edb3312'

describe('untrusted text is printed with its control characters visible', () => {
  let gateway: TestServer
  beforeAll(async () => {
    gateway = await startServer(async (req, res) => {
      let body = ''
      for await (const chunk of req) body += String(chunk)
      const scenario = /"name":"([\w-]+)"/.exec(body)?.[1]
      if (scenario === 'reply') return json(res, 200, `model says ${HOSTILE}`)
      if (scenario === 'model-error') return json(res, 421, { detail: `503: ${HOSTILE}` })
      if (scenario === 'auth') return json(res, 401, { error: `denied ${HOSTILE}` })
      if (scenario === 'forbidden') return json(res, 403, { detail: `no ${HOSTILE}` })
      if (scenario === 'broken') return void res.writeHead(502, { 'content-type': 'text/plain' }).end(`proxy ${HOSTILE}`)
      return json(res, 404, { detail: 'Not Found' })
    })
  })
  afterAll(() => gateway.close())
  const check = (model: string, ...extra: string[]) =>
    runCli(['check-model', '--gateway', gateway.url, '--key', KEY_FILE, '--issuer', 'https://gitlab.example.com', '--instance-id', INSTANCE_ID, '--add-on', 'duo_enterprise', '--model', model, '--endpoint', 'http://m/v1', ...extra], { tty: true })

  it("a token's header (alg with escapes): inspect and verify", async () => {
    const token = `${b64({ alg: HOSTILE, typ: 'JWT' })}.${b64({ sub: HOSTILE })}.c2ln`
    const inspected = await runCli(['inspect', token], { tty: true })
    expect(inspected.code).toBe(1)
    expectSafe(inspected, 'inspect')
    expect(inspected.stdout).toContain('\\u001b]0;pwned\\u0007\\u001b[2J\\u009b31m\\u202eevil\\u2028y')
    expectSafe(await runCli(['inspect', token, '--json'], { tty: true }), 'inspect --json')
    const verified = await runCli(['verify', token, '--jwks', '/nonexistent.json', '--issuer-url', gateway.url, '--timeout', '500', '--verbose'], { tty: true })
    expectSafe(verified, 'verify')
  })

  for (const scenario of ['reply', 'model-error', 'auth', 'forbidden', 'broken']) {
    it(`a gateway's or model's answer (${scenario}), as text, --verbose and --json`, async () => {
      for (const extra of [[], ['--verbose'], ['--json']]) {
        const r = await check(scenario, ...extra)
        expectSafe(r, `${scenario} ${extra.join(' ')}`)
        if (extra.length === 0) expect(r.stdout).toContain('\\u001b]0;pwned')
      }
    })
  }

  it('what the user typed: an unknown command, a flag value, a model name', async () => {
    expectSafe(await runCli([HOSTILE], { tty: true }), 'command')
    expectSafe(await runCli(['mint', `--${HOSTILE}`], { tty: true }), 'flag')
    expectSafe(await runCli(['inspect', '--at', HOSTILE], { tty: true }), '--at')
    expectSafe(await runCli(['check-model', '--model', HOSTILE, '--endpoint', 'http://m/v1'], { tty: true }), 'model name')
    expectSafe(await runCli(['jwks', '--key', `/tmp/${HOSTILE}`], { tty: true }), 'file name')
    expectSafe(await runCli(['jwks', '--key', `/tmp/${HOSTILE}`, '--debug'], { tty: true }), 'file name, --debug')
  })
})

describe('an argument the CLI refuses is echoed by at most 12 characters', () => {
  // a value nobody should see whole: each case puts it where the CLI refuses it
  const SECRET = 'glpat-SECRETSECRETSECRET0123456789'
  const cases: [string, string[]][] = [
    ['--issuer', ['mint', '--key', KEY_FILE, '--issuer', SECRET, '--instance-id', INSTANCE_ID]],
    ['--instance-id', ['mint', '--key', KEY_FILE, '--issuer', 'https://gitlab.example.com', '--instance-id', SECRET]],
    ['--issuer-url', ['verify', 'x', '--issuer-url', SECRET]],
    ['--endpoint', ['check-model', '--model', 'm', '--endpoint', SECRET]],
    ['--gateway', ['check-model', '--model', 'm', '--endpoint', 'http://m', '--gateway', SECRET]],
    ['--header', ['verify', 'x', '--jwks', 'j.json', '--header', SECRET]],
    ['--header name', ['verify', 'x', '--jwks', 'j.json', '--header', `${SECRET} x: y`]],
    ['--realm', ['mint', '--key', KEY_FILE, '--issuer', 'https://gitlab.example.com', '--instance-id', INSTANCE_ID, '--realm', SECRET]],
    ['--ttl', ['mint', '--key', KEY_FILE, '--issuer', 'https://gitlab.example.com', '--instance-id', INSTANCE_ID, '--ttl', SECRET]],
    ['--timeout', ['check-model', '--model', 'm', '--endpoint', 'http://m', '--timeout', SECRET]],
    ['--port', ['serve', '--port', SECRET]],
    ['--at', ['inspect', 'x', '--at', SECRET]],
    ['--user-id', ['mint', '--key', KEY_FILE, '--issuer', 'https://gitlab.example.com', '--instance-id', INSTANCE_ID, '--add-on', 'duo_pro', '--user-id', SECRET]],
    ['--add-on', ['mint', '--key', KEY_FILE, '--issuer', 'https://gitlab.example.com', '--instance-id', INSTANCE_ID, '--add-on', SECRET]],
    ['--policy', ['check-model', '--model', 'm', '--endpoint', 'http://m', '--policy', SECRET]],
    ['an unknown flag', ['mint', `--${SECRET}`]],
    ['an extra argument', ['inspect', 'a', SECRET]],
    ['a command', [SECRET]],
    ['a key file', ['jwks', '--key', `eyJhbGciOiJSUzI1NiJ9.${SECRET}.${SECRET}`]],
  ]
  for (const [what, argv] of cases) {
    it(what, async () => {
      for (const r of [await runCli(argv), await runCli([...argv, '--json'])]) {
        expect(r.code, r.stderr).toBeGreaterThan(0)
        expect(r.stdout + r.stderr).not.toContain(SECRET.slice(0, 13))
      }
    })
  }
})

describe('URLs are printed without userinfo and query values', () => {
  it('check-model --endpoint with credentials and an api key in the query (embedded emulator)', async () => {
    const endpoint = 'http://modeluser:PASSWORD-1@model:8000/v1?api_key=QUERY-SECRET&x=1'
    for (const extra of [[], ['--json']]) {
      const r = await runCli(['check-model', '--model', 'mistral', '--endpoint', endpoint, ...extra])
      expect(r.code).toBe(0)
      expect(r.stdout + r.stderr).not.toMatch(/modeluser|PASSWORD-1|QUERY-SECRET/)
      if (extra.length === 0) expect(r.stdout).toContain("checked  model 'mistral' at http://model:8000/v1?api_key=…&x=… through the embedded gateway emulator")
    }
  })

  it('a refused --gateway or --issuer-url with credentials', async () => {
    const r = await runCli(['check-model', '--model', 'm', '--endpoint', 'http://m', '--gateway', 'http://admin:hunter2@aigw:5052/?token=abc'])
    expect(r.code).toBe(2)
    expect(r.stderr).not.toMatch(/admin|hunter2|abc/)
    const v = await runCli(['verify', 'x', '--issuer-url', 'https://u:p4ssw0rd@gitlab.example.com/?t=zzz'])
    expect(v.code).toBe(2)
    expect(v.stderr).not.toMatch(/p4ssw0rd|zzz/)
  })
})
