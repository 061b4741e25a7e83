/**
 * The main job: the self-hosted model check ("test connection"), POST /v1/prompts/model_configuration%2Fcheck.
 *
 *   npm run check-model
 *
 * With no configuration it starts the embedded emulator (a GitLab instance's OIDC discovery + an AI
 * Gateway double, on loopback) and plays the reported case, then the fix:
 *   1. An offline-license instance whose General Chat is on a self-hosted model but whose Code
 *      Completion is not. GitLab's own rule (policy 'rails') ends with no token for complete_code, the
 *      unit primitive the model check needs, and Rails would send "Authorization: Bearer ". Here
 *      preflight stops the request before it leaves and prints the diagnosis.
 *   2. The same instance with policy 'safe': a self-issued JWT, and the gateway's answer.
 *
 * Against a real gateway, set AI_GATEWAY_URL and the instance settings:
 *   AI_GATEWAY_URL=http://aigw:5052 CLOUD_CONNECTOR_KEY_FILE=key.pem GITLAB_URL=https://gitlab.example.com \
 *   GITLAB_INSTANCE_ID=<uuid> MODEL_NAME=mistral MODEL_ENDPOINT=http://model:8000/v1 npm run check-model
 * Optional: MODEL_IDENTIFIER, MODEL_PROVIDER (openai), MODEL_API_KEY, GITLAB_REALM (self-managed),
 * GITLAB_LICENSE (offline-cloud), GITLAB_ADD_ONS (comma-separated, default duo_enterprise).
 *
 * Exit code 0 when the empty token was caught (embedded run) and the model check answered 200.
 */
import { readFile } from 'node:fs/promises'
import {
  CloudConnectorError,
  createGatewayClient,
  createTokenIssuer,
  createTokenSource,
  loadSigningKey,
  PreflightError,
  type Realm,
  type TokenIssuer,
} from '../src/index.js'
import { startEmulator, type Emulator } from '../src/emulator/index.js'

type License = 'online-cloud' | 'offline-cloud' | 'legacy' | 'none'

const env = process.env
const model = {
  name: env.MODEL_NAME ?? 'mistral',
  endpoint: env.MODEL_ENDPOINT ?? 'http://model:8000/v1',
  identifier: env.MODEL_IDENTIFIER ?? 'custom_openai/mistral',
  provider: env.MODEL_PROVIDER ?? 'openai',
  ...(env.MODEL_API_KEY ? { apiKey: env.MODEL_API_KEY } : {}),
}
const license = (env.GITLAB_LICENSE ?? 'offline-cloud') as License
const realm = (env.GITLAB_REALM ?? 'self-managed') as Realm

let emulator: Emulator | undefined
let gatewayUrl: string
let issuer: TokenIssuer
let instance: { id: string; hostName: string; version: string; realm: Realm }

if (env.AI_GATEWAY_URL) {
  gatewayUrl = env.AI_GATEWAY_URL
  const keyFile = required('CLOUD_CONNECTOR_KEY_FILE')
  const issuerUrl = required('GITLAB_URL')
  const id = required('GITLAB_INSTANCE_ID')
  const pem = await readFile(keyFile, 'utf8').catch((err: NodeJS.ErrnoException) => fail(`cannot read ${keyFile}: ${err.code ?? err.message}`))
  const key = await loadSigningKey(pem)
  const addOns = (env.GITLAB_ADD_ONS ?? 'duo_enterprise').split(',').map((s) => s.trim()).filter(Boolean)
  issuer = createTokenIssuer({ issuer: issuerUrl, instanceId: id, realm, key, addOns })
  instance = { id, hostName: new URL(issuerUrl).hostname, version: env.GITLAB_VERSION ?? '18.5.4', realm }
  console.log(`Gateway ${gatewayUrl}, instance ${issuerUrl} (${id}), key ${key.kid}\n`)
} else {
  emulator = await startEmulator()
  gatewayUrl = emulator.gatewayUrl
  issuer = emulator.instance.issuer
  instance = { id: emulator.instance.instanceId, hostName: emulator.instance.hostName, version: emulator.instance.version, realm: emulator.instance.realm }
  console.log(`Embedded emulator: gateway ${emulator.gatewayUrl}, instance ${emulator.instanceUrl}`)
  console.log(`(the gateway finds the instance's keys by OIDC discovery, as the real one does from AIGW_GITLAB_URL)\n`)
}

const situation = { license, selfHostedFeatures: ['duo_chat'], selfIssued: issuer }
let caught = false
let answered = false
try {
  // 1. GitLab's own decision. Only on the embedded emulator do we also try to send: against a real
  //    gateway the decision is shown, and preflight guarantees nothing doomed would leave anyway.
  console.log(`1. Policy 'rails' (GitLab's CloudConnector::Tokens.get), ${license} license, Code Completion not self-hosted`)
  const rails = createTokenSource({ ...situation, policy: 'rails' })
  const decision = rails.decide('complete_code')
  console.log(`   token source for complete_code: ${decision.source} (${decision.branch})`)
  console.log(`   (chat: ${rails.decide('duo_classic_chat').source} — General Chat is on a self-hosted model, so chat works)`)
  const before = emulator?.countRequests({ side: 'gateway' }) ?? 0
  try {
    await createGatewayClient({ baseUrl: gatewayUrl, tokenSource: rails, headers: { instance } }).checkModelConfiguration(model)
    console.log('   sent and accepted: this instance would not hit the reported 401')
  } catch (err) {
    if (!(err instanceof PreflightError)) throw err
    caught = true
    const reached = (emulator?.countRequests({ side: 'gateway' }) ?? 0) - before
    console.log(`   NOT SENT [${err.code}]: the gateway would answer ${err.status} ${JSON.stringify({ error: err.gatewayError })}`)
    for (const f of err.findings) {
      console.log(`   - ${f.code}${f.reason ? ` (gateway log: ${f.reason})` : ''}`)
      console.log(`     ${f.message}`)
    }
    console.log(`   requests that reached the gateway: ${reached}`)
  }

  // 2. The safe policy: a self-issued JWT for every unit primitive an offline instance calls.
  console.log(`\n2. Policy 'safe': self-issue the token`)
  const safe = createTokenSource({ ...situation, policy: 'safe' })
  const chosen = safe.decide('complete_code')
  console.log(`   token source for complete_code: ${chosen.source} (${chosen.branch})`)
  const client = createGatewayClient({ baseUrl: gatewayUrl, tokenSource: safe, headers: { instance } })
  const answer = await client.checkModelConfiguration(model)
  answered = answer.status === 200
  console.log(`   POST /v1/prompts/model_configuration%2Fcheck → ${answer.status} (request id ${answer.requestId})`)
  console.log(`   model says: ${JSON.stringify(answer.data)}`)
} catch (err) {
  if (!(err instanceof CloudConnectorError)) throw err
  console.log(`   FAILED [${err.code}]: ${err.message}`)
} finally {
  await emulator?.stop()
}

const ok = answered && (caught || emulator === undefined)
console.log(`\n${ok ? 'OK' : 'FAILED'}: ${caught ? 'the empty token was caught before sending; ' : ''}model check ${answered ? 'answered 200' : 'did not succeed'}.`)
process.exitCode = ok ? 0 : 1

function required(name: string): string {
  return env[name] || fail(`set ${name} (needed with AI_GATEWAY_URL)`)
}

function fail(message: string): never {
  console.error(`check-model: ${message}`)
  process.exit(2)
}
