/**
 * Loggers users already have, as they are: pino (captured JSON output), console, any object with pino's
 * `(obj, msg)`; every field of an event reaches them. `DEBUG=cloud-connector` logs to stderr without a logger;
 * the CLI's `--verbose` prints the same lines. No token ever appears in any of them.
 */
import { spawnSync } from 'node:child_process'
import { Console } from 'node:console'
import { Writable } from 'node:stream'
import { fileURLToPath } from 'node:url'
import pino from 'pino'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createGatewayClient, createTokenIssuer, createTokenSource, loadSigningKeySync, type Logger } from '../src/index.js'
import { startEmulator, type Emulator } from '../src/emulator/index.js'
import { INSTANCE_ID, ISSUER, KEY_PEM, now } from './client-support.js'
import { KEY_FILE, runCli } from './cli-support.js'

const ROOT = fileURLToPath(new URL('..', import.meta.url))
const KEY = loadSigningKeySync(KEY_PEM)
const MODEL = { name: 'mistral', endpoint: 'http://model:8000/v1', provider: 'openai' }

/** A stream that keeps what is written to it, as text. */
function sink(): Writable & { text(): string } {
  const chunks: string[] = []
  const stream = new Writable({
    write(chunk: Buffer | string, _enc, done) {
      chunks.push(String(chunk))
      done()
    },
  })
  return Object.assign(stream, { text: () => chunks.join('') })
}

/** pino writing JSON lines synchronously into memory. */
function capturedPino(level: pino.Level = 'debug') {
  const out = sink()
  const logger = pino({ level, base: undefined, timestamp: false }, out)
  return { logger, lines: () => out.text().split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>) }
}

let emulator: Emulator
beforeAll(async () => {
  emulator = await startEmulator({ key: KEY })
})
afterAll(async () => {
  await emulator.stop()
})

describe('pino, as it is', () => {
  it('keeps every field of an event: the event name in `event`, its message as `msg`, pino\'s own level', () => {
    const { logger, lines } = capturedPino()
    const issuer = createTokenIssuer({ issuer: ISSUER, instanceId: INSTANCE_ID, realm: 'self-managed', key: KEY, addOns: ['duo_enterprise', 'not_an_add_on'], now, logger })
    expect(lines()).toEqual([
      {
        level: 40,
        event: 'cloud_connector.unknown_add_on',
        addOns: ['not_an_add_on'],
        msg: issuer.warnings[0],
      },
    ])
  })

  it('a whole request over a real socket: the policy, the mint, the request and the answer, never the token', async () => {
    const { logger, lines } = capturedPino()
    const issuer = createTokenIssuer({ issuer: emulator.instanceUrl, instanceId: INSTANCE_ID, realm: 'self-managed', key: KEY, addOns: ['duo_enterprise'], logger })
    const tokenSource = createTokenSource({ license: 'offline-cloud', selfIssued: issuer, logger })
    const client = createGatewayClient({ baseUrl: emulator.url, tokenSource, headers: { instance: { id: INSTANCE_ID, realm: 'self-managed' } }, logger })
    const answer = await client.checkModelConfiguration(MODEL)
    expect(answer.status).toBe(200)
    const events = lines()
    expect(events.map((e) => `${String(e.level)} ${String(e.event)}`)).toEqual([
      '20 cloud_connector.token_source',
      '20 cloud_connector.token_minted',
      '20 gateway.request',
      '30 gateway.response',
    ])
    const token = (await issuer.getToken({ unitPrimitive: 'complete_code' })).token as string
    expect(events[0]).toMatchObject({ unitPrimitive: 'complete_code', policy: 'safe', source: 'self-issued', branch: 'offline-license', msg: 'cloud_connector.token_source' })
    expect(events[1]).toMatchObject({ kid: KEY.kid, exp: expect.any(Number), scopes: expect.any(Number), jti: expect.any(String) })
    expect(events[3]).toMatchObject({ endpoint: 'checkModelConfiguration', requestId: answer.requestId, status: 200, attempts: 1, kid: KEY.kid, tokenSha: expect.any(String) })
    const text = JSON.stringify(events)
    expect(text).not.toContain(token)
    expect(text).not.toContain(token.split('.')[2])
  })

  it('pino at its default level (info) drops the debug events itself; the SDK still sends the rest', async () => {
    const { logger, lines } = capturedPino('info')
    const issuer = createTokenIssuer({ issuer: emulator.instanceUrl, instanceId: INSTANCE_ID, realm: 'self-managed', key: KEY, addOns: ['duo_enterprise'] })
    const client = createGatewayClient({ baseUrl: emulator.url, tokenSource: issuer, headers: { instance: { id: INSTANCE_ID, realm: 'self-managed' } }, logger })
    await client.checkModelConfiguration(MODEL)
    expect(lines().map((e) => e.event)).toEqual(['gateway.response'])
  })
})

describe('console and other loggers of pino\'s shape', () => {
  it('console prints the fields object, then the message', () => {
    const out = sink()
    const logger = new Console({ stdout: out, stderr: out })
    createTokenIssuer({ issuer: ISSUER, instanceId: INSTANCE_ID, realm: 'self-managed', key: KEY, addOns: ['duo_enterprise', 'not_an_add_on'], logger })
    expect(out.text()).toMatch(/^\{\n  event: 'cloud_connector\.unknown_add_on',\n  addOns: \[ 'not_an_add_on' \]\n\} addOns: "not_an_add_on" is not an add-on of the catalog .*\n$/)
  })

  it('an object with only some levels gets only those; a logger that throws changes nothing', async () => {
    const seen: unknown[][] = []
    const logger: Logger = {
      warn: (obj, msg) => seen.push([obj, msg]),
      info: () => {
        throw new Error('logger down')
      },
    }
    const issuer = createTokenIssuer({ issuer: emulator.instanceUrl, instanceId: INSTANCE_ID, realm: 'self-managed', key: KEY, addOns: ['duo_enterprise', 'nope'], logger })
    const client = createGatewayClient({ baseUrl: emulator.url, tokenSource: issuer, headers: { instance: { id: INSTANCE_ID, realm: 'self-managed' } }, logger })
    expect((await client.checkModelConfiguration(MODEL)).status).toBe(200)
    expect(seen).toEqual([[{ event: 'cloud_connector.unknown_add_on', addOns: ['nope'] }, issuer.warnings[0]]])
  })
})

describe('DEBUG=cloud-connector', () => {
  // a child process: the variable is read from its environment, and the lines go to its stderr
  const script = [
    "import { createTokenIssuer, loadSigningKeySync } from 'cloud-connector-sdk'",
    "import { readFileSync } from 'node:fs'",
    `const key = loadSigningKeySync(readFileSync(${JSON.stringify(KEY_FILE)}))`,
    `const issuer = createTokenIssuer({ issuer: ${JSON.stringify(ISSUER)}, instanceId: ${JSON.stringify(INSTANCE_ID)}, realm: 'self-managed', key, addOns: ['duo_enterprise', 'nope'] })`,
    "const { token } = await issuer.issue()",
    'process.stdout.write(token)',
  ].join('\n')
  const run = (env: NodeJS.ProcessEnv) => spawnSync(process.execPath, ['--input-type=module', '-e', script], { cwd: ROOT, env: { PATH: process.env.PATH, ...env }, encoding: 'utf8' })

  it('logs every event, debug included, as one line each on stderr (never the token)', () => {
    const r = run({ DEBUG: 'other,cloud-connector' })
    expect(r.status).toBe(0)
    const lines = r.stderr.trimEnd().split('\n')
    expect(lines).toHaveLength(2)
    expect(lines[0]).toMatch(/^cloud-connector warn cloud_connector\.unknown_add_on addOns: "nope" is not an add-on of the catalog .* \{"addOns":\["nope"\]\}$/)
    expect(lines[1]).toMatch(new RegExp(`^cloud-connector debug cloud_connector\\.token_minted \\{"kid":"${KEY.kid}","jti":"[0-9a-f-]{36}","exp":\\d+,"scopes":\\d+\\}$`))
    expect(r.stderr).not.toContain(r.stdout)
  })

  it('is silent without it, or when DEBUG names something else', () => {
    for (const env of [{}, { DEBUG: 'express:*' }]) {
      const r = run(env)
      expect(r.status).toBe(0)
      expect(r.stderr).toBe('')
    }
  })
})

describe('the CLI: --verbose (and DEBUG=cloud-connector) print the SDK\'s log lines on stderr', () => {
  it('check-model --verbose: the decision, the request and the answer; stdout unchanged', async () => {
    const quiet = await runCli(['check-model', '--model', 'mistral', '--endpoint', 'http://model:8000/v1'])
    const verbose = await runCli(['check-model', '--model', 'mistral', '--endpoint', 'http://model:8000/v1', '--verbose'])
    expect(quiet.code).toBe(0)
    expect(verbose.code).toBe(0)
    expect(quiet.stderr).toBe('')
    const events = verbose.stderr.trimEnd().split('\n').map((l) => l.split(' ').slice(0, 3).join(' '))
    expect(events).toEqual(expect.arrayContaining([
      'cloud-connector debug cloud_connector.token_source',
      'cloud-connector debug gateway.request',
      'cloud-connector info gateway.response',
    ]))
    expect(verbose.stdout.replace(/request id \S+/, '')).toBe(quiet.stdout.replace(/request id \S+/, ''))
  })

  it('mint with DEBUG=cloud-connector: the mint is logged, the token alone on stdout and never on stderr', async () => {
    const env = { DEBUG: 'cloud-connector', CLOUD_CONNECTOR_KEY_FILE: KEY_FILE, GITLAB_URL: ISSUER, GITLAB_INSTANCE_ID: INSTANCE_ID }
    const r = await runCli(['mint', '--add-on', 'duo_enterprise'], { env })
    expect(r.code).toBe(0)
    expect(r.stderr).toMatch(/^cloud-connector debug cloud_connector\.token_minted \{"kid":/m)
    expect(r.stderr).not.toContain(r.stdout.trim())
  })
})
