/**
 * Mint the token an offline-license, self-managed GitLab instance sends to the AI Gateway, and
 * print its decoded header and claims.
 *
 *   npx tsx examples/mint.ts
 *   KEY_FILE=/path/to/instance-key.pem GITLAB_URL=https://gitlab.example.com INSTANCE_ID=<uuid> npx tsx examples/mint.ts
 *
 * The key defaults to the test fixture (a PKCS#1 PEM, as GitLab stores `cloud_connector_keys`).
 * In an application, import from 'cloud-connector-sdk' instead of the source tree.
 */
import { readFile } from 'node:fs/promises'
import { decodeJwt, decodeProtectedHeader } from 'jose'
import { loadSigningKey } from '../src/keys/index.js'
import { redact } from '../src/redact.js'
import { createTokenIssuer, createTokenSource } from '../src/token/index.js'

const keyFile = process.env.KEY_FILE ?? new URL('../test/fixtures/instance-key.pem', import.meta.url)
const pem = await readFile(keyFile, 'utf8').catch((err: NodeJS.ErrnoException) => {
  console.error(`Cannot read the key file ${String(keyFile)} (${err.code ?? err.name}): set KEY_FILE to the instance's PEM key.`)
  process.exit(1)
})
const key = await loadSigningKey(pem)

const issuer = createTokenIssuer({
  issuer: process.env.GITLAB_URL ?? 'https://gitlab.example.com',
  instanceId: process.env.INSTANCE_ID ?? 'f798e820-207f-4849-869d-1f753edb3312',
  realm: 'self-managed',
  key,
  addOns: ['duo_enterprise'],
})

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
