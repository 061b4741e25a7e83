/**
 * A small Node service that calls the AI Gateway on behalf of a GitLab instance through the client:
 * POST /model-check {name, endpoint, identifier?, apiKey?} runs the self-hosted model check, and
 * GET /healthz reports the gateway's health. Errors come back as JSON with the SDK's stable code.
 *
 *   npx tsx examples/service.ts            # against the embedded emulator
 *   AI_GATEWAY_URL=http://aigw:5052 CLOUD_CONNECTOR_KEY_FILE=key.pem GITLAB_URL=https://gitlab.example.com \
 *   GITLAB_INSTANCE_ID=<uuid> PORT=8080 npx tsx examples/service.ts
 *
 * In an application: import from 'cloud-connector-sdk' (and 'cloud-connector-sdk/emulator').
 */
import { createServer, type IncomingMessage } from 'node:http'
import { readFile } from 'node:fs/promises'
import {
  CloudConnectorError,
  createGatewayClient,
  createTokenIssuer,
  createTokenSource,
  isGatewayError,
  loadSigningKey,
  PreflightError,
  type GatewayHeadersContext,
  type Logger,
  type TokenIssuer,
} from '../src/index.js'
import { startEmulator } from '../src/emulator/index.js'

const env = process.env
// Structured, opt-in: the client logs request id, endpoint, status, jti, kid and exp — never a token. Any logger
// with pino's signature works (pino itself, console); this one prints one JSON line per event.
const logger: Logger = {
  info: (fields, msg) => console.log(JSON.stringify({ level: 'info', msg, ...fields })),
  warn: (fields, msg) => console.warn(JSON.stringify({ level: 'warn', msg, ...fields })),
}

let issuer: TokenIssuer
let gatewayUrl: string
let instance: GatewayHeadersContext['instance']
let stopEmulator: (() => Promise<void>) | undefined
if (env.AI_GATEWAY_URL) {
  // a real gateway needs the real instance: no default stands in for its key, URL or UUID
  const key = await loadSigningKey(await readFile(required('CLOUD_CONNECTOR_KEY_FILE'), 'utf8'))
  const issuerUrl = required('GITLAB_URL')
  const id = required('GITLAB_INSTANCE_ID')
  issuer = createTokenIssuer({ issuer: issuerUrl, instanceId: id, realm: 'self-managed', key, addOns: ['duo_enterprise'], logger })
  gatewayUrl = env.AI_GATEWAY_URL
  instance = { id, realm: 'self-managed', hostName: new URL(issuerUrl).hostname }
} else {
  const emulator = await startEmulator()
  stopEmulator = () => emulator.stop()
  issuer = emulator.instance.issuer
  gatewayUrl = emulator.gatewayUrl
  instance = { id: emulator.instance.instanceId, realm: emulator.instance.realm, hostName: emulator.instance.hostName }
}

// One client for the process: tokens are cached and refreshed before they expire.
const client = createGatewayClient({
  baseUrl: gatewayUrl,
  tokenSource: createTokenSource({ license: 'offline-cloud', selfIssued: issuer }),
  headers: { instance },
  timeout: 30_000,
  logger,
})

const server = createServer(async (req, res) => {
  const reply = (status: number, body: unknown) => {
    res.writeHead(status, { 'content-type': 'application/json' })
    res.end(JSON.stringify(body))
  }
  try {
    if (req.method === 'GET' && req.url === '/healthz') {
      const health = await client.health()
      return reply(200, { gateway: health.status })
    }
    if (req.method === 'POST' && req.url === '/model-check') {
      const input = JSON.parse(await readBody(req)) as { name: string; endpoint: string; identifier?: string; apiKey?: string }
      const answer = await client.checkModelConfiguration(input, { signal: AbortSignal.timeout(10_000) })
      return reply(200, { ok: true, reply: answer.data, requestId: answer.requestId })
    }
    return reply(404, { error: 'not found' })
  } catch (err) {
    if (err instanceof PreflightError) return reply(502, { ok: false, code: err.code, wouldBe: err.status, findings: err.findings })
    if (isGatewayError(err)) return reply(502, { ok: false, code: err.code, status: err.status, message: err.message })
    if (err instanceof CloudConnectorError) return reply(400, { ok: false, code: err.code, message: err.message })
    if (err instanceof SyntaxError) return reply(400, { ok: false, message: 'body must be JSON' })
    throw err
  }
})

server.listen(Number(env.PORT ?? 8080), '127.0.0.1', () => {
  console.log(`model-check service on http://127.0.0.1:${Number(env.PORT ?? 8080)} → gateway ${gatewayUrl}`)
})
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    server.close()
    server.closeAllConnections()
    void stopEmulator?.()
  })
}

async function readBody(req: IncomingMessage): Promise<string> {
  let text = ''
  for await (const chunk of req) {
    text += String(chunk)
    if (text.length > 64 * 1024) throw new SyntaxError('body too large')
  }
  return text
}

function required(name: string): string {
  const value = env[name]
  if (value) return value
  console.error(`service: set ${name} (needed with AI_GATEWAY_URL)`)
  process.exit(2)
}
