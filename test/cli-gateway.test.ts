/**
 * check-model against gateways on real loopback sockets — the emulator, or a plain node:http server that
 * misbehaves on purpose — one test per exit path: the 401 diagnosis of the reported case, 403, 421, 422, a
 * timeout, a refusal before sending, a usage error and an unexpected failure.
 */
import { readFileSync } from 'node:fs'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { loadSigningKeySync } from '../src/index.js'
import { startEmulator, type Emulator } from '../src/emulator/index.js'
import { KEY_FILE, oneJson, runCli, SECOND_KEY_FILE } from './cli-support.js'
import { json, startServer, type TestServer } from './reliability/servers.js'

const INSTANCE_KID = loadSigningKeySync(readFileSync(KEY_FILE, 'utf8')).kid
const MODEL = ['--model', 'm', '--endpoint', 'http://m/v1']
const INSTANCE_ID = 'f798e820-207f-4849-869d-1f753edb3312'

interface CheckJson {
  ok: boolean
  code: string
  status?: number
  gatewayError?: string
  sent: boolean
  message: string
  fix?: string
  findings: Record<string, unknown>[]
  token?: Record<string, unknown>
}

describe('check-model: the reported case, a gateway that trusts another key', () => {
  let emulator: Emulator
  const args = () => ['check-model', '--gateway', emulator.gatewayUrl, '--key', KEY_FILE, '--issuer', emulator.instanceUrl, '--instance-id', emulator.instance.instanceId, '--add-on', 'duo_enterprise', ...MODEL]

  beforeAll(async () => {
    // the gateway discovers the instance's keys, which hold only the second key: it trusts another key
    emulator = await startEmulator({ key: readFileSync(SECOND_KEY_FILE, 'utf8') })
  })
  afterAll(() => emulator.stop())

  it('prints the 401, the gateway message, the likely cause and its fix; exit 1', async () => {
    const before = emulator.countRequests({ side: 'gateway', path: /model_configuration/ })
    const r = await runCli(args())
    expect(r.code).toBe(1)
    expect(r.stderr).toBe('')
    const lines = r.stdout.split('\n')
    expect(lines[1]).toBe('verdict  401 "Forbidden by auth provider" [ERR_GATEWAY_UNAUTHORIZED]')
    expect(lines[2]).toBe(`cause    the gateway does not trust the key that signed the token (kid ${INSTANCE_KID}): the token passed every other check, but not the signature check`)
    expect(lines[3]).toBe(
      `fix      publish the instance JWKS ('cloud-connector jwks --key FILE') at ${emulator.instanceUrl}/oauth/discovery/keys, or check the gateway's issuer URLs (AIGW_GITLAB_URL); it keeps keys 24 h`,
    )
    expect(r.stdout).toMatch(/request id [0-9a-f-]{36}/)
    expect(r.stdout).not.toMatch(/unexpected/)
    // sent, refused, refreshed once and sent again: two requests reached the gateway
    expect(emulator.countRequests({ side: 'gateway', path: /model_configuration/ }) - before).toBe(2)
  })

  it('--json: one JSON document with a flat findings array', async () => {
    const r = await runCli([...args(), '--json'])
    expect(r.code).toBe(1)
    const out = oneJson<CheckJson>(r)
    expect(out).toMatchObject({ ok: false, code: 'ERR_GATEWAY_UNAUTHORIZED', status: 401, gatewayError: 'Forbidden by auth provider', sent: true })
    expect(Array.isArray(out.findings)).toBe(true)
    expect(out.findings[0]).toMatchObject({ code: 'KEY_NOT_TRUSTED', severity: 'error', status: 401, gatewayError: 'Forbidden by auth provider' })
    expect(out.findings[0]!.fix).toContain("'cloud-connector jwks --key FILE'")
    // flat: no finding holds findings, and the token facts hold none either
    for (const f of out.findings) expect(Object.values(f).some((v) => typeof v === 'object' && v !== null)).toBe(false)
    expect(out.token).toMatchObject({ kid: INSTANCE_KID, source: 'self-issued', kind: 'jwt' })
    expect(out.token).not.toHaveProperty('findings')
    expect(JSON.stringify(out)).not.toMatch(/\.[A-Za-z0-9_-]{40,}\.[A-Za-z0-9_-]{40,}/) // no whole token
  })
})

describe('check-model: the gateway answers', () => {
  let emulator: Emulator
  const args = (model: string) => [
    'check-model', '--gateway', emulator.gatewayUrl, '--key', KEY_FILE, '--issuer', emulator.instanceUrl, '--instance-id', emulator.instance.instanceId,
    '--add-on', 'duo_enterprise', '--model', model, '--endpoint', 'http://model:8000/v1',
  ]
  beforeAll(async () => {
    emulator = await startEmulator({ key: readFileSync(KEY_FILE, 'utf8'), failingModels: { failing: { status: 503, reason: 'Service Unavailable' } } })
  })
  afterAll(() => emulator.stop())

  it('421: the model server failed; exit 1, one request', async () => {
    const before = emulator.countRequests({ side: 'gateway', path: /model_configuration/ })
    const r = await runCli(args('failing'))
    expect(r.code).toBe(1)
    expect(r.stdout.split('\n').slice(1, 4)).toEqual([
      'verdict  421 "503: Service Unavailable" [ERR_MODEL_UNREACHABLE]',
      'cause    the gateway reached the model server, which answered with an error (503 Service Unavailable)',
      'fix      check --endpoint as the gateway reaches it, --model / --identifier, and --api-key',
    ])
    expect(emulator.countRequests({ side: 'gateway', path: /model_configuration/ }) - before).toBe(1)
    const json = oneJson<CheckJson>(await runCli([...args('failing'), '--json']))
    expect(json).toMatchObject({ ok: false, code: 'ERR_MODEL_UNREACHABLE', status: 421, gatewayError: '503: Service Unavailable', sent: true, findings: [] })
  })

  it('a warning the gateway lets through goes to stderr (here: the instance UUID is "uuid-not-set"), exit 0', async () => {
    const argv = args('mistral').map((a, i, all) => (all[i - 1] === '--instance-id' ? 'uuid-not-set' : a))
    const r = await runCli(argv)
    expect(r.code).toBe(0)
    expect(r.stderr).toBe(
      'warning: --instance-id uuid-not-set is what GitLab sends when the instance UUID is missing: the gateway matches it literally and cannot attribute usage to the instance; pass the instance UUID\n',
    )
    expect(r.stdout).toContain('verdict  200 the gateway reached the model')
    // with --json too: stdout stays one JSON document
    const json = await runCli([...argv, '--json'])
    expect(oneJson(json)).toMatchObject({ ok: true, status: 200 })
    expect(json.stderr).toMatch(/^warning: --instance-id uuid-not-set/)
  })

  it('200: the gateway reached the model; exit 0', async () => {
    const r = await runCli([...args('mistral'), '--json'])
    expect(r.code).toBe(0)
    expect(oneJson(r)).toMatchObject({ ok: true, status: 200, embedded: false })
  })
})

describe('check-model: a gateway that misbehaves on purpose (plain node:http)', () => {
  let server: TestServer
  beforeAll(async () => {
    server = await startServer()
  })
  afterAll(() => server.close())
  const args = () => ['check-model', '--gateway', server.url, '--key', KEY_FILE, '--issuer', 'https://gitlab.example.com', '--instance-id', INSTANCE_ID, '--add-on', 'duo_enterprise', ...MODEL]

  it('timeout: headers then a stalled body ends after --timeout, exit 1', async () => {
    server.handle((req, res) => {
      req.resume()
      res.writeHead(200, { 'content-type': 'application/json' })
      res.write('"Hel')
    })
    const started = performance.now()
    const r = await runCli([...args(), '--timeout', '2000'])
    const took = performance.now() - started
    expect(r.code).toBe(1)
    expect(r.stdout.split('\n').slice(1, 4)).toEqual([
      'verdict  timed out [ERR_GATEWAY_TIMEOUT]',
      'cause    no complete answer from the gateway within 2000 ms',
      'fix      raise --timeout, or check the load and reachability of the gateway',
    ])
    expect(took).toBeGreaterThanOrEqual(1900)
    expect(took).toBeLessThan(10_000)
  })

  it('403: the gateway refused although the token has the unit primitive; exit 1, the gateway message shown', async () => {
    server.handle((req, res) => {
      req.resume()
      json(res, 403, { detail: "Unauthorized to access 'model_configuration/check'" })
    })
    const r = await runCli(args())
    expect(r.code).toBe(1)
    expect(r.stdout.split('\n').slice(1, 4)).toEqual([
      `verdict  403 "Unauthorized to access 'model_configuration/check'" [ERR_GATEWAY_FORBIDDEN]`,
      "cause    the gateway refused although the token has 'complete_code': Unauthorized to access 'model_configuration/check'",
      "fix      see the gateway's message: it needs something more for this request than the unit primitive",
    ])
    expect(server.count('/v1/prompts/model_configuration%2Fcheck')).toBeGreaterThan(0)
    expect(oneJson<CheckJson>(await runCli([...args(), '--json']))).toMatchObject({ code: 'ERR_GATEWAY_FORBIDDEN', status: 403, sent: true })
  })

  it('refused before sending (preflight): exit 1, "not sent" with what the gateway would answer, nothing reached it', async () => {
    const before = server.count()
    const r = await runCli([...args(), '--policy', 'rails'])
    expect(r.code).toBe(1)
    const lines = r.stdout.split('\n')
    expect(lines[1]).toBe('verdict  not sent (the gateway would answer 401 "Forbidden by auth provider") [ERR_PREFLIGHT_REJECTED]')
    expect(lines[2]).toMatch(/^cause {4}No token at all: GitLab would send no token for complete_code/)
    expect(lines[3]).toMatch(/^fix {6}GitLab sends an empty token when it falls back to the synced token, which an offline license never has: self-issue a JWT/)
    expect(server.count()).toBe(before)
  })

  it('422: the gateway rejected the body; the fields are named by their flags, exit 1', async () => {
    server.handle(async (req, res) => {
      req.resume()
      json(res, 422, { detail: [{ type: 'missing', loc: ['body', 'model_metadata', 'provider'], msg: 'Field required', input: null }] })
    })
    const r = await runCli(args())
    expect(r.code).toBe(1)
    expect(r.stdout.split('\n').slice(1, 4)).toEqual([
      'verdict  422 [ERR_GATEWAY_VALIDATION]',
      'cause    the gateway rejected the request body (--provider: Field required)',
      'fix      fix the flags named; the gateway may be a newer version than this CLI',
    ])
    expect(oneJson<CheckJson>(await runCli([...args(), '--json']))).toMatchObject({ code: 'ERR_GATEWAY_VALIDATION', status: 422, sent: true })
  })
})

describe('the CLI exit codes', () => {
  it('an unexpected failure exits 3 with one line that says so, never 1', async () => {
    const r = await runCli(['jwks', '--key', KEY_FILE], {
      stdoutWrite: () => {
        throw new TypeError('stdout is gone')
      },
    })
    expect(r.code).toBe(3)
    expect(r.stderr).toBe('error: jwks: unexpected failure (a bug in cloud-connector; rerun with --debug and report it): TypeError: stdout is gone\n')
  })
})
