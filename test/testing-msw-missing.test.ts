/**
 * msw is an optional peer dependency of `cloud-connector-sdk/testing`: without it the toolkit still
 * loads and works, and only the msw handlers fail, with an error that says what to install.
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
      const err = await testing.gatewayHandlers({ baseUrl: 'https://aigw.test', instance }).catch((e: unknown) => e)
      expect(err).toBeInstanceOf(testing.MswMissingError)
      expect(err).toMatchObject({
        code: 'ERR_MSW_MISSING',
        message:
          'cloud-connector-sdk/testing: the msw handlers need msw 2 installed in your project (npm install --save-dev msw@2); the rest of the toolkit works without it.',
      })
      await expect(testing.instanceHandlers({ url: 'https://gitlab.example.com', keys: [instance.key] })).rejects.toMatchObject({ code: 'ERR_MSW_MISSING' })
    } finally {
      vi.doUnmock('msw')
      vi.resetModules()
    }
  })
})
