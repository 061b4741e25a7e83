/**
 * Secret hygiene, in ONE test: every error path, every logger call and the CLI's failures run with
 * canary values for the token, the private key (PEM body fragments, JWK d/p/q/dp/dq/qi), the model
 * API key and the global-user-id salt; not one canary may appear in any message, util.inspect or
 * JSON.stringify of an error, log line, result object the SDK returns for display, emulator record,
 * or CLI output.
 *
 * Some paths are made to echo the secrets on purpose: a fake gateway answers with the Authorization
 * header and the API key in its error bodies (as a 422 echoes its input), a signer fails with the
 * key in its message, a synced-token loader throws with the token in its message.
 */
import { generateKeyPairSync, type JsonWebKey } from 'node:crypto'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import type { IncomingMessage } from 'node:http'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Readable } from 'node:stream'
import { inspect } from 'node:util'
import { describe, expect, it } from 'vitest'
import { main } from '../../src/cli/main.js'
import type { CliIo } from '../../src/cli/io.js'
import {
  buildGatewayHeaders,
  computeGlobalUserId,
  createAuthenticatedFetch,
  createGatewayClient,
  createGatewayVerifier,
  createKeyRing,
  createTokenIssuer,
  createTokenSource,
  inspectToken,
  loadSigningKey,
  loadSigningKeySync,
  loadVerificationKey,
  preflight,
  preflightOrThrow,
  toJwks,
  type Logger,
  type TokenIssuer,
} from '../../src/index.js'
import { builtInCatalog } from '../../src/catalog/index.js'
import { startEmulator } from '../../src/emulator/index.js'
import { INSTANCE_ID } from './config.js'
import { json, startServer } from './servers.js'

// --- the canaries ----------------------------------------------------------------------------------

const PEM = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ type: 'pkcs1', format: 'pem' }).toString()
const KEY = loadSigningKeySync(PEM)
const JWK = KEY.privateKey!.export({ format: 'jwk' }) as JsonWebKey
const PEM_BODY_LINES = PEM.split('\n').filter((l) => l.length > 0 && !l.startsWith('-----'))
const API_KEY = 'sk-canary-api-key-7f3c9e1d2b4a6c8e'
const SALT = 'salt-canary-5e8d1c0b9a7f3e2d'

const canaries: Record<string, string> = { apiKey: API_KEY, salt: SALT }
// 24-character windows of the key's base64 body, at line starts and middles: a leaked fragment of any
// length that matters contains one of them. The body starts with the public modulus, which is public
// (it is in the JWKS): windows that are also in its encodings are not canaries.
const PUBLIC_FORMS = [KEY.publicJwk.n, Buffer.from(KEY.publicJwk.n, 'base64url').toString('base64')]
const isPublic = (w: string) => PUBLIC_FORMS.some((f) => f.includes(w) || f.includes(w.replace(/\+/g, '-').replace(/\//g, '_')))
PEM_BODY_LINES.forEach((line, i) => {
  for (const [suffix, w] of [['', line.slice(0, 24)], ['.mid', line.slice(24, 48)]] as const) {
    if (w.length === 24 && !isPublic(w)) canaries[`pem.line${i}${suffix}`] = w
  }
})
for (const member of ['d', 'p', 'q', 'dp', 'dq', 'qi'] as const) {
  const v = JWK[member] as string
  canaries[`jwk.${member}`] = v.slice(0, 24)
  canaries[`jwk.${member}.end`] = v.slice(-24)
}

function addTokenCanaries(name: string, token: string): void {
  canaries[`${name}.whole`] = token
  const signature = token.slice(token.lastIndexOf('.') + 1)
  canaries[`${name}.signature`] = signature.slice(0, 32)
  canaries[`${name}.signatureEnd`] = signature.slice(-32)
}

// --- what is seen ----------------------------------------------------------------------------------

const seen: { label: string; text: string }[] = []
function see(label: string, value: unknown): void {
  if (typeof value === 'string') {
    seen.push({ label, text: value })
    return
  }
  seen.push({ label: `${label} (inspect)`, text: inspect(value, { depth: Number.POSITIVE_INFINITY, showHidden: false, maxArrayLength: Number.POSITIVE_INFINITY, maxStringLength: Number.POSITIVE_INFINITY }) })
  try {
    seen.push({ label: `${label} (JSON)`, text: JSON.stringify(value) ?? '' })
  } catch {
    /* cyclic: inspect has it */
  }
  if (value instanceof Error) {
    seen.push({ label: `${label} (message)`, text: value.message })
    seen.push({ label: `${label} (stack)`, text: value.stack ?? '' })
    seen.push({ label: `${label} (String)`, text: String(value) })
  }
}

/** Run a path that must fail; record the error (and that it did fail). */
async function fails(label: string, fn: () => unknown): Promise<void> {
  try {
    await fn()
  } catch (e) {
    see(label, e)
    return
  }
  throw new Error(`${label}: expected a failure`)
}

const logLines: string[] = []
const logger: Logger = {
  debug: (event, fields) => logLines.push(inspect({ level: 'debug', event, fields }, { depth: Number.POSITIVE_INFINITY })),
  info: (event, fields) => logLines.push(inspect({ level: 'info', event, fields }, { depth: Number.POSITIVE_INFINITY })),
  warn: (event, fields) => logLines.push(inspect({ level: 'warn', event, fields }, { depth: Number.POSITIVE_INFINITY })),
  error: (event, fields) => logLines.push(inspect({ level: 'error', event, fields }, { depth: Number.POSITIVE_INFINITY })),
}

async function cli(label: string, argv: string[], env: NodeJS.ProcessEnv = {}, expectedCode = 1): Promise<void> {
  let stdout = ''
  let stderr = ''
  const io: CliIo = {
    stdout: { write: (s: string) => (stdout += s) },
    stderr: { write: (s: string) => (stderr += s) },
    stdin: Readable.from([]) as unknown as CliIo['stdin'],
    env,
    untilSignal: () => Promise.resolve('SIGTERM'),
  }
  // --debug (stack traces) right after the command, so that a "--" later keeps working
  const code = await main([argv[0] as string, '--debug', ...argv.slice(1)], io)
  // a crash has its own exit code (3), so an expected refusal (1) can no longer hide one
  expect(code, `${label}: ${stderr}`).toBe(expectedCode)
  expect(stderr, label).not.toMatch(/unexpected failure/)
  see(`cli ${label} stdout`, stdout)
  see(`cli ${label} stderr`, stderr)
}

const MODEL = { name: 'mistral', endpoint: 'http://model:8000/v1', apiKey: API_KEY }

describe('secret hygiene', () => {
  it(
    'no canary (token, key material, API key, salt) in any error, log line, record or CLI output',
    async () => {
      const dir = mkdtempSync(join(tmpdir(), 'cc-secrets-'))
      const write = (name: string, text: string) => {
        const path = join(dir, name)
        writeFileSync(path, text)
        return path
      }
      const keyFile = write('key.pem', PEM)
      const lines = PEM.split('\n')
      const truncatedFile = write('truncated.pem', lines.slice(0, 12).join('\n'))
      const corruptedPem = PEM.replace(PEM_BODY_LINES[5] as string, (PEM_BODY_LINES[5] as string).replace(/./g, (c, i) => (i === 10 ? (c === 'A' ? 'B' : 'A') : c)).slice(0, 50))
      const corruptedFile = write('corrupted.pem', corruptedPem)

      const now = new Date()
      const issuerUrl = 'https://gitlab.example.com'
      let canaryToken = ''

      // --- keys ----------------------------------------------------------------------------------
      await fails('key: truncated PEM', () => loadSigningKey(lines.slice(0, 12).join('\n')))
      await fails('key: corrupted PEM body', () => loadSigningKey(corruptedPem))
      await fails('key: PEM with escaped newlines, corrupted', () => loadSigningKey(corruptedPem.replace(/\n/g, '\\n')))
      await fails('key: EC label around an RSA body', () => loadSigningKey(PEM.replace(/RSA PRIVATE KEY/g, 'EC PRIVATE KEY')))
      await fails('key: encrypted marker', () => loadSigningKey(PEM.replace('-----BEGIN RSA PRIVATE KEY-----\n', '-----BEGIN RSA PRIVATE KEY-----\nProc-Type: 4,ENCRYPTED\n')))
      await fails('key: unknown label', () => loadSigningKey(PEM.replace(/RSA PRIVATE KEY/g, 'SECRET STUFF')))
      await fails('key: JWK with kty EC', () => loadSigningKey({ ...JWK, kty: 'EC' }))
      await fails('key: JWK with a broken modulus', () => loadSigningKey({ ...JWK, n: 'AAAA' }))
      await fails('key: JWK text cut short', () => loadSigningKey(JSON.stringify(JWK).slice(0, -20)))
      await fails('key: verification key from a corrupted private PEM', () => loadVerificationKey(corruptedPem))
      await fails('key: verification key from a private JWK without n', () => loadVerificationKey({ ...JWK, n: undefined } as JsonWebKey))
      await fails('keyring: bad option', () => createKeyRing({ keys: [{ key: KEY, createdAt: 'yesterday' as never }], logger }))
      const ring = createKeyRing({ keys: [{ key: KEY, createdAt: now, publishedAt: null }], strict: true, logger })
      await fails('keyring: duplicate key', () => ring.add(KEY))
      await fails('keyring: unpublished key, strict', () => ring.signingKey())
      await fails('keyring: rotate with one key', () => ring.rotate())
      createKeyRing({ keys: [{ key: KEY, createdAt: now, publishedAt: null }], logger }).signingKey() // warns
      see('keyring warnings', createKeyRing({ keys: [{ key: KEY, createdAt: now, publishedAt: null }] }).signingStatus())

      // --- tokens --------------------------------------------------------------------------------
      const issuer: TokenIssuer = createTokenIssuer({ issuer: issuerUrl, instanceId: INSTANCE_ID, realm: 'self-managed', key: KEY, addOns: [...builtInCatalog.addOns.keys()], logger })
      canaryToken = (await issuer.issue()).token
      addTokenCanaries('token', canaryToken)
      const expired = await createTokenIssuer({ issuer: issuerUrl, instanceId: INSTANCE_ID, realm: 'self-managed', key: KEY, addOns: [...builtInCatalog.addOns.keys()], now: () => new Date(Date.now() - 7200_000) }).issue()
      addTokenCanaries('expiredToken', expired.token)
      see('issued token warnings', (await issuer.issue()).warnings)
      await fails('issuer: bad options with the key', () => createTokenIssuer({ issuer: 'not a url', instanceId: 'x', realm: 'self-managed', key: KEY, extraClaims: { secret: 1n } as never }))
      await fails('issuer: reserved claim', () => createTokenIssuer({ issuer: issuerUrl, instanceId: INSTANCE_ID, realm: 'self-managed', key: KEY, extraClaims: { exp: 1 } }))
      await fails('issuer: not entitled', () => issuer.getToken({ unitPrimitive: 'no_such_primitive' }))
      await fails('issuer: signer throwing with the key in its message', () =>
        createTokenIssuer({
          issuer: issuerUrl,
          instanceId: INSTANCE_ID,
          realm: 'self-managed',
          key: loadVerificationKey(KEY.publicJwk),
          signer: async () => {
            throw Object.assign(new Error(`HSM refused: ${PEM} / ${JSON.stringify(JWK)}`), { code: 'HSM_DENIED' })
          },
          logger,
        }).issue(),
      )
      await fails('issuer: signer returning garbage', () =>
        createTokenIssuer({ issuer: issuerUrl, instanceId: INSTANCE_ID, realm: 'self-managed', key: loadVerificationKey(KEY.publicJwk), signer: async () => new Uint8Array(256) }).issue(),
      )
      await fails('issuer: cache store failing with the token', async () => {
        const withStore = createTokenIssuer({
          issuer: issuerUrl,
          instanceId: INSTANCE_ID,
          realm: 'self-managed',
          key: KEY,
          addOns: [...builtInCatalog.addOns.keys()],
          logger,
          cache: {
            store: {
              get: () => {
                throw new Error(`redis down; last value ${canaryToken}`)
              },
              set: () => {
                throw new Error(`redis down; value ${canaryToken}`)
              },
            },
          },
        })
        see('token from an issuer with a failing store (reason only)', (await withStore.getToken({ unitPrimitive: 'complete_code' })).reason)
        throw new Error('the store failures are logged, not thrown: recorded above')
      }).catch(() => undefined)
      seen.pop() // the sentinel error above is the test's own, not the SDK's
      await fails('token source: synced token with whitespace', () => createTokenSource({ license: 'online-cloud', synced: { token: `${canaryToken} ${canaryToken}`, expiresAt: new Date(Date.now() + 3600_000) } }))
      await fails('token source: loader throwing with the token', () =>
        createTokenSource({
          license: 'online-cloud',
          synced: async () => {
            throw new Error(`vault: ${canaryToken}`)
          },
          logger,
        }).getToken({ unitPrimitive: 'duo_chat' }),
      )
      await fails('token source: loader returning an invalid value', () =>
        createTokenSource({ license: 'online-cloud', synced: async () => ({ token: canaryToken, expiresAt: 'soon' }) as never, logger }).getToken({ unitPrimitive: 'duo_chat' }),
      )
      see('token source: none', await createTokenSource({ policy: 'rails', license: 'offline-cloud', logger }).getToken({ unitPrimitive: 'complete_code' }))

      // --- inspection, preflight, verification --------------------------------------------------
      const headers = buildGatewayHeaders({ instance: { id: INSTANCE_ID, realm: 'self-managed' }, user: { id: 42, salt: SALT } })
      expect(headers['x-gitlab-global-user-id']).toBe(computeGlobalUserId(INSTANCE_ID, 42, SALT))
      see('gateway headers built with the salt', headers)
      await fails('headers: bad user id next to the salt', () => buildGatewayHeaders({ instance: { id: INSTANCE_ID, realm: 'self-managed' }, user: { id: 'not-a-number', salt: SALT } }))
      await fails('headers: bad value next to the salt', () => buildGatewayHeaders({ instance: { id: INSTANCE_ID, realm: 'self-managed', hostName: 'a\r\nb' }, user: { id: 1, salt: SALT } }))
      for (const value of [canaryToken, `${canaryToken} `, `Bearer ${canaryToken}`, expired.token, PEM, JSON.stringify(JWK), API_KEY, SALT, `${canaryToken}.${canaryToken}`]) {
        see('inspectToken report', inspectToken(value))
        see('preflight result', preflight({ token: value, headers, unitPrimitive: 'complete_code', verificationKeys: toJwks([KEY]) }))
      }
      await fails('preflightOrThrow: expired token', () => preflightOrThrow({ token: expired.token, headers, unitPrimitive: 'complete_code' }))
      await fails('preflightOrThrow: key as token', () => preflightOrThrow({ token: PEM, headers, unitPrimitive: 'complete_code' }))
      const verifier = createGatewayVerifier({ jwks: toJwks([loadSigningKeySync(generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey)]), logger })
      const strict = createGatewayVerifier({ jwks: toJwks([KEY]), strict: true, logger })
      for (const token of [canaryToken, expired.token, `${canaryToken}x`]) {
        for (const v of [verifier, strict]) see('verdict', await v.authenticate({ authorization: `Bearer ${token}`, 'x-gitlab-authentication-type': 'oidc', 'x-gitlab-instance-id': INSTANCE_ID }))
      }
      await fails('verifier: a private JWK of the wrong type as a trusted key', () => createGatewayVerifier({ jwks: { keys: [{ ...JWK, kty: 'EC' } as never] } }))
      see('verifier: a private JWK given as a trusted key (its public half is used)', await createGatewayVerifier({ jwks: { keys: [JWK as never] }, logger }).keySet())
      const down = createGatewayVerifier({ issuerUrls: ['http://127.0.0.1:9'], logger, fetch: async () => {
        throw new TypeError('fetch failed', { cause: new Error(`connect ECONNREFUSED, token ${canaryToken}`) })
      } })
      see('verdict, issuer down', await down.authenticate({ authorization: `Bearer ${canaryToken}`, 'x-gitlab-authentication-type': 'oidc' }))

      // --- the client, against a gateway that echoes secrets ---------------------------------------
      const echo = (req: IncomingMessage) => `${req.headers.authorization ?? ''} ${API_KEY}`
      const gateway = await startServer(async (req, res, url) => {
        let body = ''
        for await (const chunk of req) body += String(chunk)
        // the client picks a scenario by header; the CLI, which sets no header, by the model's name
        const scenario = String(req.headers['x-scenario'] ?? /"name":"scenario-([\w-]+)"/.exec(body)?.[1] ?? '422')
        const secret = `${echo(req)} ${body}`
        if (url.pathname === '/monitoring/healthz') return json(res, 200, { status: 'ok' })
        switch (scenario) {
          case '200':
            return json(res, 200, 'model says hi')
          case '401':
            return json(res, 401, { error: `rejected ${secret}` })
          case '403':
            return json(res, 403, { detail: `Unauthorized to access 'complete_code' ${secret}` })
          case '421':
            return json(res, 421, { detail: `503: model failed with key ${API_KEY} and ${secret}` })
          case '500':
            return void res.writeHead(500, { 'content-type': 'text/plain' }).end(`Traceback: ${secret}`)
          case '502':
            return json(res, 502, { message: secret }, { 'retry-after': '0' })
          case 'not-json':
            return void res.writeHead(200, { 'content-type': 'text/html' }).end(`<html>${secret}</html>`)
          case 'bad-shape':
            return json(res, 200, { id: secret, choices: 'x' })
          case 'hang':
            return // never answered; closed with the server
          default:
            return json(res, 422, { detail: [{ loc: ['body', 'model_metadata', 'api_key'], msg: `bad value ${secret}`, input: API_KEY, ctx: { authorization: req.headers.authorization } }] })
        }
      })
      const client = createGatewayClient({
        baseUrl: gateway.url,
        tokenSource: issuer,
        headers: { instance: { id: INSTANCE_ID, realm: 'self-managed' }, user: { id: 42, salt: SALT } },
        retry: { limit: 1, backoffLimitMs: 0 },
        timeout: 300,
        logger,
      })
      const at = (scenario: string) => ({ context: { extra: { 'x-scenario': scenario } } })
      see('client: success', await client.checkModelConfiguration(MODEL, at('200')))
      for (const scenario of ['401', '403', '421', '422', '500', '502', 'not-json', 'hang']) {
        await fails(`client: ${scenario}`, () => client.checkModelConfiguration(MODEL, at(scenario)))
      }
      await fails('client: completions, bad shape', () => client.codeCompletions({ current_file: { file_name: 'a', content_above_cursor: '', content_below_cursor: '' }, model_api_key: API_KEY }, at('bad-shape')))
      await fails('client: streamed chat, 500', async () => (await client.chat({ messages: [{ role: 'user', content: 'hi' }], model_metadata: { name: 'm', provider: 'openai', api_key: API_KEY } }, at('500'))).text())
      await fails('client: invalid body with the key', () => client.checkModelConfiguration({ ...MODEL, endpoint: 'not a url' }))
      await fails('client: aborted', () => client.checkModelConfiguration(MODEL, { ...at('hang'), signal: AbortSignal.abort(new Error(`stop ${canaryToken}`)) }))
      await fails('client: credentials in the base URL', () => createGatewayClient({ baseUrl: `http://user:${API_KEY}@127.0.0.1:9`, tokenSource: issuer, headers: { instance: { id: INSTANCE_ID, realm: 'self-managed' } } }))
      await fails('client: bad user next to the salt', () => createGatewayClient({ baseUrl: gateway.url, tokenSource: issuer, headers: { instance: { id: INSTANCE_ID, realm: 'self-managed' }, user: { id: -1, salt: SALT } } }))
      const expiredSource = { getToken: async () => ({ token: expired.token, source: 'synced' as const, reason: 'synced' }) }
      await fails('client: preflight refuses an expired token', () =>
        createGatewayClient({ baseUrl: gateway.url, tokenSource: expiredSource, headers: { instance: { id: INSTANCE_ID, realm: 'self-managed' } }, logger }).checkModelConfiguration(MODEL),
      )
      const closed = await startServer()
      const closedUrl = closed.url
      await closed.close()
      await fails('client: network error', () => createGatewayClient({ baseUrl: closedUrl, tokenSource: issuer, headers: { instance: { id: INSTANCE_ID, realm: 'self-managed' } }, retry: false, logger }).checkModelConfiguration(MODEL))
      const authFetch = createAuthenticatedFetch({ baseUrl: gateway.url, tokenSource: issuer, headers: { instance: { id: INSTANCE_ID, realm: 'self-managed' } }, logger, throwOnAuthFailure: true })
      await fails('authenticated fetch: 401', () => authFetch(`${gateway.url}/v2/code/completions`, { method: 'POST', headers: { 'x-scenario': '401' }, body: JSON.stringify({ model_api_key: API_KEY }) }))
      see('authenticated fetch: 422 response', await (await authFetch(`${gateway.url}/v2/code/completions`, { method: 'POST', body: '{}' })).status)

      // --- the emulator ------------------------------------------------------------------------------
      const emulator = await startEmulator({ key: PEM, instance: { instanceId: INSTANCE_ID }, failingModels: { failing: { status: 503, reason: `down ${API_KEY}` } }, logger })
      try {
        const emulatorIssuer = createTokenIssuer({ issuer: emulator.instanceUrl, instanceId: INSTANCE_ID, realm: 'self-managed', key: KEY, addOns: [...builtInCatalog.addOns.keys()], logger })
        addTokenCanaries('emulatorToken', (await emulatorIssuer.issue()).token)
        const onEmulator = createGatewayClient({ baseUrl: emulator.url, tokenSource: emulatorIssuer, headers: { instance: { id: INSTANCE_ID, realm: 'self-managed' }, user: { id: 42, salt: SALT } }, logger, retry: false })
        addTokenCanaries('emulatorCachedToken', (await emulatorIssuer.getToken({ unitPrimitive: 'complete_code' })).token as string)
        see('emulator: success', await onEmulator.checkModelConfiguration(MODEL))
        await fails('emulator: failing model (421)', () => onEmulator.checkModelConfiguration({ ...MODEL, name: 'failing' }))
        const stranger = createTokenIssuer({ issuer: emulator.instanceUrl, instanceId: INSTANCE_ID, realm: 'self-managed', key: loadSigningKeySync(generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey), addOns: [...builtInCatalog.addOns.keys()], logger })
        addTokenCanaries('strangerToken', (await stranger.getToken({ unitPrimitive: 'complete_code' })).token as string)
        await fails('emulator: 401 with a token it does not know', () =>
          createGatewayClient({ baseUrl: emulator.url, tokenSource: stranger, headers: { instance: { id: INSTANCE_ID, realm: 'self-managed' } }, logger, retry: false }).checkModelConfiguration(MODEL),
        )
        see('emulator: recorded requests', emulator.requests)
      } finally {
        await emulator.stop()
      }

      // --- the CLI's failures ------------------------------------------------------------------------
      const jwksFile = write('jwks.json', JSON.stringify(toJwks([KEY])))
      const mintArgs = ['--issuer', issuerUrl, '--instance-id', INSTANCE_ID]
      await cli('mint, truncated key', ['mint', '--key', truncatedFile, ...mintArgs])
      await cli('mint, corrupted key', ['mint', '--key', corruptedFile, ...mintArgs])
      await cli('mint, bad issuer (a usage error)', ['mint', '--key', keyFile, '--issuer', 'not a url', '--instance-id', INSTANCE_ID], {}, 2)
      await cli('mint, bad user id with the salt (a usage error)', ['mint', '--key', keyFile, ...mintArgs, '--user-id', 'abc'], { GITLAB_GLOBAL_USER_ID_SALT: SALT }, 2)
      await cli('mint, unknown scope', ['mint', '--key', keyFile, ...mintArgs, '--scope', 'nope'])
      await cli('jwks, corrupted key', ['jwks', '--key', corruptedFile])
      await cli('inspect, the key as a token (read as a flag)', ['inspect', PEM], {}, 2)
      await cli('inspect, the key as a token', ['inspect', '--', PEM])
      await cli('a token as a command', [canaryToken], {}, 2)
      await cli('the API key as a command', [API_KEY], {}, 2)
      await cli('mint, the API key as an extra argument', ['mint', API_KEY], {}, 2)
      await cli('inspect, the API key', ['inspect', API_KEY])
      await cli('inspect, an expired token (judged with the current clock: exit 1)', ['inspect', expired.token, '--json'])
      await cli('verify, an expired token', ['verify', expired.token, '--jwks', jwksFile])
      await cli('verify, a forged token', ['verify', `${canaryToken.slice(0, -4)}AAAA`, '--jwks', jwksFile, '--json'])
      await cli('check-model, gateway echoing secrets', ['check-model', '--gateway', gateway.url, '--key', keyFile, ...mintArgs, '--model', 'm', '--endpoint', 'http://model:8000/v1', '--api-key', API_KEY])
      for (const scenario of ['401', '403', '421', '500', 'not-json', 'bad-shape']) {
        await cli(`check-model, gateway echoing secrets, ${scenario}`, ['check-model', '--gateway', gateway.url, '--key', keyFile, ...mintArgs, '--model', `scenario-${scenario}`, '--endpoint', 'http://model:8000/v1', '--api-key', API_KEY, '--verbose'])
        await cli(`check-model --json, gateway echoing secrets, ${scenario}`, ['check-model', '--gateway', gateway.url, '--key', keyFile, ...mintArgs, '--model', `scenario-${scenario}`, '--endpoint', 'http://model:8000/v1', '--json', '--verbose'], { MODEL_API_KEY: API_KEY })
      }
      await cli('check-model, json, key from the environment', ['check-model', '--gateway', gateway.url, '--key', keyFile, ...mintArgs, '--model', 'm', '--endpoint', 'http://model:8000/v1', '--json'], { MODEL_API_KEY: API_KEY })
      await cli('check-model, embedded emulator, failing model', ['check-model', '--model', 'failing', '--endpoint', 'http://model:8000/v1', '--api-key', API_KEY, '--scope', 'duo_chat'])
      await cli('serve, truncated key', ['serve', '--key', truncatedFile])
      // a success that handles the salt: the salt itself never shows
      await cli('mint with a user (success)', ['mint', '--key', keyFile, ...mintArgs, '--add-on', 'duo_pro', '--user-id', '42', '--json'], { GITLAB_GLOBAL_USER_ID_SALT: SALT }, 0)
      const mintOut = seen.at(-2)?.text ?? ''
      expect(mintOut).toContain('x-gitlab-global-user-id')
      seen.splice(-2, 1) // its stdout carries the minted token by design; the salt is checked on the JSON below
      expect(mintOut).not.toContain(SALT)

      await gateway.close()
      rmSync(dir, { recursive: true, force: true })

      // --- the verdict -------------------------------------------------------------------------------
      for (const line of logLines) see('log line', line)
      expect(logLines.length).toBeGreaterThan(20)
      expect(Object.keys(canaries).filter((k) => k.startsWith('pem.')).length).toBeGreaterThan(20)
      expect(seen.length).toBeGreaterThan(300)
      const leaks: string[] = []
      for (const [name, canary] of Object.entries(canaries)) {
        for (const { label, text } of seen) {
          if (text.includes(canary)) leaks.push(`${name} in ${label}: …${text.slice(Math.max(0, text.indexOf(canary) - 60), text.indexOf(canary) + canary.length + 20)}…`)
        }
      }
      expect(leaks).toEqual([])
    },
    60_000,
  )
})
