/**
 * The CLI speaks its own language: on every failure path below, what it prints names its flags and commands,
 * never the library's API (createTokenIssuer, addOns: [...], toJwks(), ...); an error is one line, the cause
 * first, at most about 200 characters; "not sent" only when nothing was sent.
 */
import { createPublicKey } from 'node:crypto'
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startEmulator, type Emulator } from '../src/emulator/index.js'
import { claims, NOW_S, signJwt } from './client-support.js'
import { KEY_FILE, runCli, SECOND_KEY_FILE, type CliRun } from './cli-support.js'
import { startServer, type TestServer } from './reliability/servers.js'

/** Names of the library's API that a CLI user cannot type. */
const LIBRARY_API =
  /\b(create[A-Z]\w*|load[A-Z]\w*|toJwks|buildGatewayHeaders|inspectToken|preflight(OrThrow)?\(|getToken|issue\(|selfIssued|addOns|issuerUrls|baseUrl|maxResponseBytes|globalUserId|KeyObject|options\.\w+|redirect: 'follow')/
const INSTANCE_ID = 'f798e820-207f-4849-869d-1f753edb3312'
const ISSUER = 'https://gitlab.example.com'
const dir = mkdtempSync(join(tmpdir(), 'cc-words-'))
const file = (name: string, text: string) => {
  const path = join(dir, name)
  writeFileSync(path, text)
  return path
}
const now = Math.floor(Date.now() / 1000)
const b64 = (o: unknown) => Buffer.from(JSON.stringify(o)).toString('base64url')

describe('what the CLI prints on failure', () => {
  let emulator: Emulator
  let closed: TestServer
  let closedUrl: string
  const outputs: { label: string; run: CliRun }[] = []
  const cli = async (label: string, argv: string[], env: NodeJS.ProcessEnv = {}) => {
    const run = await runCli(argv, { env })
    outputs.push({ label, run })
    return run
  }

  beforeAll(async () => {
    emulator = await startEmulator({ key: readFileSync(SECOND_KEY_FILE, 'utf8') })
    closed = await startServer()
    closedUrl = closed.url
    await closed.close()
  })
  afterAll(() => emulator.stop())

  it('names flags and commands, never the library API; one line of at most ~200 characters', async () => {
    const publicPem = file('public.pem', createPublicKey(readFileSync(KEY_FILE)).export({ type: 'spki', format: 'pem' }).toString())
    const truncated = file('truncated.pem', readFileSync(KEY_FILE, 'utf8').slice(0, 300))
    const garbage = file('garbage.pem', 'not a key\n')
    const empty = file('empty.pem', '')
    const mint = ['mint', '--key', KEY_FILE, '--issuer', ISSUER, '--instance-id', INSTANCE_ID]
    const gw = (url: string) => ['check-model', '--gateway', url, '--key', KEY_FILE, '--issuer', ISSUER, '--instance-id', INSTANCE_ID, '--model', 'm', '--endpoint', 'http://m/v1']
    const expired = signJwt(claims({ iat: NOW_S, exp: NOW_S + 3600 }))
    const valid = signJwt(claims({ iat: now, nbf: now - 5, exp: now + 3600 }))
    const jwks = file('jwks.json', (await runCli(['jwks', '--key', KEY_FILE])).stdout)

    for (const key of [publicPem, truncated, garbage, empty, join(dir, 'missing.pem')]) await cli(`mint --key ${key}`, ['mint', '--key', key, '--issuer', ISSUER, '--instance-id', INSTANCE_ID, '--add-on', 'duo_pro'])
    await cli('mint, no add-on', mint)
    await cli('mint, scope not entitled', [...mint, '--scope', 'duo_chat'])
    await cli('mint, unknown scope', [...mint, '--add-on', 'duo_pro', '--scope', 'nope'])
    await cli('mint, unknown add-on', [...mint, '--add-on', 'duo_nope'])
    await cli('mint, user id not a number', [...mint, '--add-on', 'duo_pro', '--user-id', 'abc'], { GITLAB_GLOBAL_USER_ID_SALT: 's' })
    await cli('mint, user id without a salt', [...mint, '--add-on', 'duo_pro', '--user-id', '42'])
    await cli('mint, host name with a line break', [...mint, '--add-on', 'duo_pro', '--host-name', 'a\nb'])
    await cli('mint, a bad issuer', ['mint', '--key', KEY_FILE, '--issuer', 'gitlab.example.com', '--instance-id', INSTANCE_ID])
    await cli('mint, a bad instance id', ['mint', '--key', KEY_FILE, '--issuer', ISSUER, '--instance-id', '42'])
    for (const value of ['', 'glpat-abcdefghijklmnopqrst', 'eyJkYXRhIjoiYWJjIn0=', 'Bearer x.y.z', 'a.b', expired, `${b64({ alg: 'none' })}.${b64({ sub: 'x' })}.`, `${b64({ alg: 'HS256' })}.${b64({ sub: 'x' })}.c2ln`]) {
      await cli(`inspect ${value.slice(0, 20)}`, ['inspect', '--', value])
    }
    await cli('verify, no auth type', ['verify', valid, '--jwks', jwks, '--no-default-headers'])
    await cli('verify, realm header', ['verify', valid, '--jwks', jwks, '--header', 'X-Gitlab-Realm: saas'])
    await cli('verify, expired', ['verify', expired, '--jwks', jwks])
    await cli('verify, empty', ['verify', '', '--jwks', jwks])
    await cli('check-model, policy rails', ['check-model', '--model', 'm', '--endpoint', 'http://m/v1', '--policy', 'rails'])
    await cli('check-model, preflight 403', ['check-model', '--model', 'm', '--endpoint', 'http://m/v1', '--scope', 'duo_chat'])
    await cli('check-model, 401', [...gw(emulator.gatewayUrl), '--issuer', emulator.instanceUrl, '--add-on', 'duo_enterprise'])
    await cli('check-model, no add-on', gw(emulator.gatewayUrl))
    await cli('check-model, unreachable', [...gw(closedUrl), '--add-on', 'duo_pro'])
    await cli('check-model, credentials in --gateway', [...gw('http://user:pw@127.0.0.1:9'), '--add-on', 'duo_pro'])
    await cli('serve, truncated key', ['serve', '--key', truncated])
    await cli('keygen, existing file', ['keygen', '--out', garbage])

    const problems: string[] = []
    for (const { label, run } of outputs) {
      const text = run.stdout + run.stderr
      if (run.code === 0) problems.push(`${label}: exit 0`)
      const api = LIBRARY_API.exec(text)
      if (api) problems.push(`${label}: names ${api[0]}: ${text.slice(Math.max(0, api.index - 80), api.index + 40)}`)
      const errors = run.stderr.split('\n').filter((l) => l.startsWith('error: '))
      if (errors.length > 1) problems.push(`${label}: ${errors.length} error lines`)
      // "error: <command>: " + the message (≤ 200) + " [ERR_…]"
      for (const line of errors) if (line.length > 260) problems.push(`${label}: a ${line.length}-character error line: ${line}`)
      if (/[\u0000-\u0008\u000b-\u001f\u007f-\u009f]/.test(text)) problems.push(`${label}: a raw control character`)
      if (/unexpected failure/.test(text)) problems.push(`${label}: crashed: ${text}`)
    }
    if (process.env.CC_SHOW_CLI_OUTPUT) for (const { label, run } of outputs) console.log(`--- ${label} (exit ${run.code})\n${run.stdout}${run.stderr}`)
    expect(problems).toEqual([])
    expect(outputs.length).toBeGreaterThan(30)
  })
})
