// A consumer of every entry but /testing/msw, as the README shows them (no top-level await: also compiled as CommonJS).
import {
  createCloudConnector,
  createGatewayClient,
  createTokenIssuer,
  createTokenSource,
  inspectToken,
  isCloudConnectorError,
  loadSigningKey,
  toJwks,
  LIMITS,
  type AnyCloudConnectorError,
  type CloudConnector,
  type CloudConnectorOptions,
  type Problem,
} from 'cloud-connector-sdk'
import { startEmulator, type Emulator } from 'cloud-connector-sdk/emulator'
import { builtInCatalog, loadCatalogDir, resolveEntitlements } from 'cloud-connector-sdk/catalog'
import { createTestInstance, expectTokenShape } from 'cloud-connector-sdk/testing'

export async function main(pem: string): Promise<void> {
  const key = await loadSigningKey(pem)
  const issuer = createTokenIssuer({ issuer: 'https://gitlab.example.com', instanceId: 'f798e820-207f-4849-869d-1f753edb3312', realm: 'self-managed', key })
  const tokenSource = createTokenSource({ license: 'offline-cloud', selfIssued: issuer })
  const emulator: Emulator = await startEmulator({ key })
  const client = createGatewayClient({ baseUrl: emulator.url, tokenSource, headers: { instance: { id: issuer.instanceId, realm: 'self-managed' } } })
  try {
    const answer = await client.checkModelConfiguration({ name: 'mistral', endpoint: 'http://model:8000/v1', provider: 'openai' })
    console.log(answer.status, toJwks([key]).keys[0]?.kid, LIMITS.maxTokenBytes, inspectToken('').kind)
  } catch (e) {
    console.log(describe(e))
  } finally {
    await emulator.stop()
  }
  // the README's Quick start: one factory, the rest from the environment
  const options: CloudConnectorOptions = { instance: { url: 'https://gitlab.example.com', version: '18.5.4' }, keyFile: 'instance-key.pem', addOns: ['duo_enterprise'], gateway: emulator.url }
  const cc: CloudConnector = createCloudConnector(options)
  console.log((await cc.client.checkModelConfiguration({ name: 'mistral', endpoint: 'http://model:8000/v1' })).status, cc.tokenSource.policy, cc.issuer.instanceId)
  const catalog = await loadCatalogDir('./config')
  console.log(resolveEntitlements(catalog, { addOns: [], now: new Date() }).scopes, builtInCatalog.addOns.size)
  const instance = await createTestInstance()
  expectTokenShape(await instance.token({ scopes: ['complete_code'] }), { scopes: ['complete_code'] })
}

function describe(e: unknown): string {
  if (!isCloudConnectorError(e)) return 'unexpected'
  const known: AnyCloudConnectorError = e
  switch (known.code) {
    case 'ERR_PREFLIGHT_REJECTED': {
      const findings: Problem[] = known.findings
      return `${known.status ?? ''} ${findings.length}`
    }
    case 'ERR_GATEWAY_FORBIDDEN':
      return known.unitPrimitive ?? ''
    case 'ERR_NETWORK':
      // @ts-expect-error a NetworkError has no findings
      return String(known.findings)
    default:
      return known.code
  }
}
