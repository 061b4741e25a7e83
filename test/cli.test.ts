/**
 * The CLI in-process: exit codes, one-line errors without stacks, --json shapes, and that no secret
 * (token, key material, api key) reaches its output. The built binary is driven in cli-e2e.test.ts.
 */
import { mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createPrivateKey } from 'node:crypto'
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { describe, expect, it } from 'vitest'
import { inspectToken } from '../src/index.js'
import { KEY_FILE, runCli } from './cli-support.js'

const INSTANCE_ID = 'f798e820-207f-4849-869d-1f753edb3312'
const ISSUER = 'https://gitlab.example.com'
const dir = mkdtempSync(join(tmpdir(), 'cc-cli-'))

const run = runCli

const mintArgs = ['mint', '--key', KEY_FILE, '--issuer', ISSUER, '--instance-id', INSTANCE_ID, '--add-on', 'duo_enterprise']

describe('cloud-connector CLI', () => {
  it('prints an overview with every command, and exit 2 without a command', async () => {
    const r = await run([])
    expect(r.code).toBe(2)
    for (const c of ['keygen', 'jwks', 'mint', 'inspect', 'verify', 'check-model', 'serve']) expect(r.stdout).toContain(c)
    expect((await run(['--help'])).code).toBe(0)
  })

  it('has --help on every command', async () => {
    for (const c of ['keygen', 'jwks', 'mint', 'inspect', 'verify', 'check-model', 'serve']) {
      const r = await run([c, '--help'])
      expect(r.code, c).toBe(0)
      expect(r.stdout, c).toContain(`cloud-connector ${c}`)
    }
  })

  it('answers usage errors with exit 2 and one line, no stack', async () => {
    const cases: [string[], RegExp][] = [
      [['nope'], /unknown command 'nope'/],
      [['mint', '--bogus'], /mint: Unknown option '--bogus'/],
      [['mint', '--key', KEY_FILE], /--issuer is required \(or set GITLAB_URL or "instance.url" in the config file, --config FILE or \.\/cloud-connector\.json\)/],
      [[...mintArgs, '--ttl', 'abc'], /--ttl must be an integer from 1 to 86400/],
      [[...mintArgs, '--realm', 'dedicated'], /--realm must be 'self-managed' or 'saas'/],
      [['jwks'], /at least one --key FILE/],
      [['verify', 'x.y.z'], /--jwks FILE or --issuer-url URL/],
      [['verify', 'x.y.z', '--issuer-url', 'not a url'], /--issuer-url must be an http\(s\) URL without user:password@, query or fragment, e\.g\. https:\/\/gitlab\.example\.com; got 'not a url'/],
      [['check-model', '--endpoint', 'http://m'], /--model is required/],
      [['inspect', 'a', 'b'], /unexpected argument 'b'/],
    ]
    for (const [argv, msg] of cases) {
      const r = await run(argv)
      expect(r.code, argv.join(' ')).toBe(2)
      expect(r.stderr, argv.join(' ')).toMatch(msg)
      expect(r.stderr.trim().split('\n'), argv.join(' ')).toHaveLength(1)
      expect(r.stderr).not.toMatch(/\n\s+at /)
    }
  })

  it('reports a missing key file or a bad key in one line with exit 1', async () => {
    const missing = await run(['mint', '--key', join(dir, 'missing.pem'), '--issuer', ISSUER, '--instance-id', INSTANCE_ID])
    expect(missing.code).toBe(1)
    expect(missing.stderr).toMatch(/cannot read key file '.*missing\.pem': no such file\./)
    const bad = join(dir, 'bad.pem')
    writeFileSync(bad, readFileSync(KEY_FILE, 'utf8').slice(0, 300))
    const truncated = await run(['jwks', '--key', bad])
    expect(truncated.code).toBe(1)
    expect(truncated.stderr).toMatch(/^error: jwks: key file '.*bad\.pem' is truncated: copy the whole PEM, from its BEGIN line to its END line \[ERR_KEY_TRUNCATED\]\n$/)
    expect(truncated.stderr).not.toMatch(/\n\s+at /)
    // --debug adds the stack
    const debug = await run(['jwks', '--key', bad, '--debug'])
    expect(debug.stderr).toMatch(/\n\s+at /)
  })

  it('keygen writes a 0600 PKCS#1 key and never overwrites one', async () => {
    const out = join(dir, 'new.pem')
    const r = await run(['keygen', '--out', out, '--json'])
    expect(r.code).toBe(0)
    const info = JSON.parse(r.stdout) as { kid: string; bits: number; out: string; pem?: string }
    expect(info).toMatchObject({ bits: 2048, out })
    expect(info.pem).toBeUndefined()
    expect(readFileSync(out, 'utf8')).toMatch(/^-----BEGIN RSA PRIVATE KEY-----\n/)
    expect(statSync(out).mode & 0o777).toBe(0o600)
    const again = await run(['keygen', '--out', out])
    expect(again.code).toBe(1)
    expect(again.stderr).toMatch(/already exists; keygen never overwrites a key/)
  })

  it('jwks prints the public key set only', async () => {
    const r = await run(['jwks', '--key', KEY_FILE])
    expect(r.code).toBe(0)
    const jwks = JSON.parse(r.stdout) as { keys: Record<string, string>[] }
    expect(jwks.keys).toHaveLength(1)
    expect(Object.keys(jwks.keys[0]!).sort()).toEqual(['alg', 'e', 'kid', 'kty', 'n', 'use'])
    const d = String(createPrivateKey(readFileSync(KEY_FILE)).export({ format: 'jwk' }).d)
    expect(r.stdout).not.toContain(d.slice(0, 24))
  })

  it('mint --json gives token, header, claims and a header set that agrees with them', async () => {
    const r = await run([...mintArgs, '--scope', 'complete_code', '--user-id', '42', '--json'], { env: { GITLAB_GLOBAL_USER_ID_SALT: 'salt' } })
    expect(r.code).toBe(0)
    const out = JSON.parse(r.stdout) as { token: string; header: Record<string, unknown>; claims: Record<string, unknown>; headers: Record<string, string> }
    expect(Object.keys(out).sort()).toEqual(['claims', 'header', 'headers', 'token'])
    expect(out.header).toMatchObject({ alg: 'RS256', typ: 'JWT' })
    expect(out.claims).toMatchObject({ iss: ISSUER, sub: INSTANCE_ID, gitlab_realm: 'self-managed', scopes: ['complete_code'], aud: ['gitlab-ai-gateway'] })
    expect((out.claims.exp as number) - (out.claims.iat as number)).toBe(3600)
    expect(out.headers.authorization).toBe(`Bearer ${out.token}`)
    expect(out.headers['x-gitlab-instance-id']).toBe(out.claims.sub)
    expect(out.headers['x-gitlab-realm']).toBe(out.claims.gitlab_realm)
    expect(out.headers['x-gitlab-authentication-type']).toBe('oidc')
    expect(out.headers['x-gitlab-user-id']).toBe('42')
    expect(out.headers['x-gitlab-global-user-id']).toMatch(/^[A-Za-z0-9+/]{43}=$/)
    expect(inspectToken(out.token).claims).toEqual(out.claims)
  })

  it('mint without --json prints the token alone on stdout and a redacted summary on stderr', async () => {
    const r = await run(mintArgs)
    expect(r.code).toBe(0)
    const token = r.stdout.trim()
    expect(token.split('.')).toHaveLength(3)
    expect(r.stderr).toContain('minted')
    expect(r.stderr).not.toContain(token.split('.')[2]!)
  })

  it('mint refuses a scope the instance is not entitled to', async () => {
    const r = await run(['mint', '--key', KEY_FILE, '--issuer', ISSUER, '--instance-id', INSTANCE_ID, '--scope', 'duo_chat'])
    expect(r.code).toBe(1)
    expect(r.stderr).toMatch(/duo_chat.*\[ERR_SCOPE_NOT_ENTITLED\]/)
  })

  it("inspect '' explains the empty token and exits 1", async () => {
    const r = await run(['inspect', ''])
    expect(r.code).toBe(1)
    expect(r.stdout).toMatch(/No token at all/)
    expect(r.stdout).toMatch(/Forbidden by auth provider/)
    expect(r.stdout).toMatch(/Not enough segments/)
    expect(r.stdout).toMatch(/offline license/)
    const json = JSON.parse((await run(['inspect', '', '--json'])).stdout) as { kind: string; accepted: boolean }
    expect(json).toMatchObject({ kind: 'empty', accepted: false })
  })

  it('inspect reads a token from stdin and accepts a well-formed one', async () => {
    const token = (await run(mintArgs)).stdout.trim()
    const r = await run(['inspect', '-', '--json'], { stdin: `${token}\n` })
    expect(r.code).toBe(0)
    const report = JSON.parse(r.stdout) as { kind: string; accepted: boolean; claims: { sub: string } }
    expect(report).toMatchObject({ kind: 'jwt', accepted: true, claims: { sub: INSTANCE_ID } })
    expect(r.stdout).not.toContain(token.split('.')[2]!)
  })

  it("verify gives the gateway's verdict: accepted, 403 for a missing scope, 401 for another key", async () => {
    const jwksFile = join(dir, 'jwks.json')
    writeFileSync(jwksFile, (await run(['jwks', '--key', KEY_FILE])).stdout)
    const token = (await run([...mintArgs, '--scope', 'duo_chat'])).stdout.trim()

    const ok = await run(['verify', token, '--jwks', jwksFile, '--scope', 'duo_chat', '--json'])
    expect(ok.code).toBe(0)
    expect(JSON.parse(ok.stdout)).toMatchObject({ accepted: true, status: 200 })

    const forbidden = await run(['verify', token, '--jwks', jwksFile, '--scope', 'complete_code', '--json'])
    expect(forbidden.code).toBe(1)
    expect(JSON.parse(forbidden.stdout)).toMatchObject({ accepted: false, status: 403 })

    const otherJwks = join(dir, 'other.json')
    writeFileSync(otherJwks, (await run(['jwks', '--key', new URL('./fixtures/second-key.pem', import.meta.url).pathname])).stdout)
    const wrongKey = await run(['verify', token, '--jwks', otherJwks])
    expect(wrongKey.code).toBe(1)
    expect(wrongKey.stdout).toMatch(/401 Forbidden by auth provider/)
    expect(wrongKey.stdout).toMatch(/Signature verification failed\./)

    const mismatch = await run(['verify', token, '--jwks', jwksFile, '--header', 'X-Gitlab-Realm: saas', '--json'])
    expect(JSON.parse(mismatch.stdout)).toMatchObject({ status: 401, error: "Header mismatch 'X-Gitlab-Realm'" })

    const noDefaults = await run(['verify', token, '--jwks', jwksFile, '--no-default-headers', '--json'])
    expect(JSON.parse(noDefaults.stdout)).toMatchObject({ status: 401, error: 'Invalid authentication token type - only OIDC is supported' })
  })

  it('check-model on the embedded emulator succeeds and never prints the api key', async () => {
    const apiKey = 'sk-canary-cli-9f8e7d6c5b4a'
    const r = await run(['check-model', '--model', 'mistral', '--endpoint', 'http://model:8000/v1', '--identifier', 'custom_openai/mistral', '--api-key', apiKey])
    expect(r.code).toBe(0)
    expect(r.stdout).toMatch(/verdict\s+200/)
    expect(r.stdout + r.stderr).not.toContain(apiKey)
  })

  it('check-model with policy rails on an offline license is stopped before sending (exit 1)', async () => {
    const r = await run(['check-model', '--model', 'mistral', '--endpoint', 'http://model:8000/v1', '--policy', 'rails', '--json'])
    expect(r.code).toBe(1)
    const out = JSON.parse(r.stdout) as { ok: boolean; code: string; status: number; findings: { code: string }[] }
    expect(out).toMatchObject({ ok: false, code: 'ERR_PREFLIGHT_REJECTED', status: 401 })
    expect(out.findings.map((f) => f.code)).toContain('TOKEN_SOURCE_NONE')
  })

  it('check-model against a gateway URL that redirects: exit 1, ERR_GATEWAY_REDIRECT and a hint naming --gateway', async () => {
    let requests = 0
    const redirecting = createServer((req, res) => {
      requests++
      req.resume()
      res.writeHead(301, { location: 'https://aigw.example.com/' })
      res.end()
    })
    await new Promise<void>((resolve) => redirecting.listen(0, '127.0.0.1', resolve))
    const url = `http://127.0.0.1:${(redirecting.address() as AddressInfo).port}`
    try {
      const args = ['check-model', '--gateway', url, '--model', 'mistral', '--endpoint', 'http://model:8000/v1', '--key', KEY_FILE, '--issuer', ISSUER, '--instance-id', INSTANCE_ID, '--add-on', 'duo_enterprise']
      const r = await run([...args, '--json'])
      expect(r.code).toBe(1)
      const out = JSON.parse(r.stdout) as { ok: boolean; code: string; fix: string; message: string; sent: boolean }
      expect(out).toMatchObject({ ok: false, code: 'ERR_GATEWAY_REDIRECT', sent: true })
      expect(out.fix).toBe(`pass the gateway's final URL with --gateway (curl -sI ${url}/monitoring/healthz shows the Location)`)
      const text = await run(args)
      expect(text.code).toBe(1)
      // the request went out: the verdict is "no answer", not "not sent"
      expect(text.stdout).toContain('verdict  no answer [ERR_GATEWAY_REDIRECT]\n')
      expect(text.stdout).toContain('cause    the gateway answered with a redirect, which the CLI does not follow: neither the token nor the body went elsewhere\n')
      expect(text.stdout).toMatch(/fix\s+pass the gateway's final URL with --gateway/)
      // one request per run: the redirect was neither followed nor retried
      expect(requests).toBe(2)
    } finally {
      await new Promise<void>((resolve) => redirecting.close(() => resolve()))
    }
  })

  it('serve starts the emulator, prints its URLs and stops on a signal', async () => {
    const r = await run(['serve', '--json'])
    expect(r.code).toBe(0)
    const info = JSON.parse(r.stdout) as { gatewayUrl: string; instanceUrl: string; instanceId: string }
    expect(info.gatewayUrl).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/)
    expect(info.instanceUrl).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/)
    expect(r.stderr).toContain('stopped (SIGTERM)')
  })

  it('uses colour only on a TTY', async () => {
    expect((await run(['inspect', ''], { tty: false })).stdout).not.toContain('\u001b[')
    expect((await run(['inspect', ''], { tty: true })).stdout).toContain('\u001b[')
    expect((await run(['inspect', ''], { tty: true, env: { NO_COLOR: '1' } })).stdout).not.toContain('\u001b[')
  })
})
