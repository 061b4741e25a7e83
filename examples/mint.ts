/**
 * Mint the token an offline-license, self-managed GitLab instance sends to the AI Gateway, and
 * print its decoded header and claims.
 *
 *   npm run mint-example
 *   CLOUD_CONNECTOR_KEY_FILE=/path/to/instance-key.pem GITLAB_URL=https://gitlab.example.com \
 *   GITLAB_INSTANCE_ID=<uuid> npx tsx examples/mint.ts
 *
 * The environment variables are the ones the CLI documents. Without CLOUD_CONNECTOR_KEY_FILE the example signs
 * with a key it generates for this run (no gateway trusts it) and says so; it never signs with a key from the
 * source tree. In an application, import from 'cloud-connector-sdk' instead of the source tree.
 */
import { readFile } from 'node:fs/promises'
import { decodeJwt, decodeProtectedHeader } from 'jose'
import { generateSigningKeyPem, loadSigningKey } from '../src/keys/index.js'
import { redact } from '../src/redact.js'
import { createTokenIssuer, createTokenSource } from '../src/token/index.js'

const env = process.env
const keyFile = env.CLOUD_CONNECTOR_KEY_FILE
let pem: string
if (keyFile) {
  pem = await readFile(keyFile, 'utf8').catch((err: NodeJS.ErrnoException) => {
    console.error(`Cannot read the key file ${keyFile} (${err.code ?? err.name}): set CLOUD_CONNECTOR_KEY_FILE to the instance's PEM key.`)
    process.exit(1)
  })
} else {
  pem = generateSigningKeyPem()
  console.error('note: CLOUD_CONNECTOR_KEY_FILE is not set: signing with a key generated for this run, which no gateway trusts.')
}
const key = await loadSigningKey(pem)
const issuerUrl = env.GITLAB_URL || 'https://gitlab.example.com'
const instanceId = env.GITLAB_INSTANCE_ID || 'f798e820-207f-4849-869d-1f753edb3312'
if (!env.GITLAB_URL) console.error(`note: GITLAB_URL is not set: iss is ${issuerUrl}.`)
if (!env.GITLAB_INSTANCE_ID) console.error(`note: GITLAB_INSTANCE_ID is not set: sub is ${instanceId}.`)

const issuer = createTokenIssuer({ issuer: issuerUrl, instanceId, realm: 'self-managed', key, addOns: ['duo_enterprise'] })

// The reported setup: offline license, General Chat on a self-hosted model, Code Completion not.
// GitLab's own rule ('rails') ends with no token for complete_code; the default 'safe' policy self-issues.
const source = createTokenSource({
  license: 'offline-cloud',
  selfHostedFeatures: ['duo_chat'],
  selfHostedGateway: true,
  selfIssued: issuer,
})

const result = await source.getToken({ unitPrimitive: 'complete_code' })
if (!result.token) {
  console.error(`No token: ${result.reason}`)
  process.exit(1)
}

console.log(
  JSON.stringify(
    {
      source: result.source,
      branch: result.branch,
      reason: result.reason,
      header: decodeProtectedHeader(result.token),
      claims: decodeJwt(result.token),
    },
    null,
    2,
  ),
)
console.log(`token: ${redact(result.token)}`)
