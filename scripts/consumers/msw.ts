// A consumer of /testing/msw (msw installed).
import { createMswGateway, gatewayHandlers, type MswGateway } from 'cloud-connector-sdk/testing/msw'
import { createTestInstance } from 'cloud-connector-sdk/testing'

export async function handlers(): Promise<MswGateway> {
  const instance = await createTestInstance()
  console.log((await gatewayHandlers({ baseUrl: 'https://aigw.test', instance })).length)
  return createMswGateway({ baseUrl: 'https://aigw.test', instance })
}
