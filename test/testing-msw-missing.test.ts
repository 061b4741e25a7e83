/**
 * msw is an optional peer dependency: without it `cloud-connector-sdk/testing` loads and works, and the msw
 * handlers of `cloud-connector-sdk/testing/msw` fail with an error that says what to install. (That the
 * declarations of `/testing` compile without msw is checked on the packed package: scripts/check-consumers.mjs.)
 */
import { describe, expect, it, vi } from 'vitest'

describe('without msw installed', () => {
  it('loads the toolkit, and the handler factories fail with ERR_MSW_MISSING', async () => {
    vi.resetModules()
    vi.doMock('msw', () => {
      throw Object.assign(new Error("Cannot find package 'msw'"), { code: 'ERR_MODULE_NOT_FOUND' })
    })
    try {
      const testing = await import('../src/testing/index.js')
      const instance = await testing.createTestInstance()
      expect(testing.checkTokenShape(await instance.token({ scopes: ['complete_code'] })).ok).toBe(true)
      const handlers = await import('../src/testing/msw.js')
      const err = await handlers.gatewayHandlers({ baseUrl: 'https://aigw.test', instance }).catch((e: unknown) => e)
      expect(err).toBeInstanceOf(handlers.MswMissingError)
      expect(err).toMatchObject({
        code: 'ERR_MSW_MISSING',
        message:
          'cloud-connector-sdk/testing/msw: the msw handlers need msw 2 installed in your project (npm install --save-dev msw@2); cloud-connector-sdk/testing works without it.',
      })
      await expect(handlers.instanceHandlers({ url: 'https://gitlab.example.com', keys: [instance.key] })).rejects.toMatchObject({ code: 'ERR_MSW_MISSING' })
    } finally {
      vi.doUnmock('msw')
      vi.resetModules()
    }
  })
})
