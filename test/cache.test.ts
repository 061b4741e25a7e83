import { readFileSync } from 'node:fs'
import { describe, expect, it, vi } from 'vitest'
import { createCatalog } from '../src/catalog/index.js'
import { InvalidOptionsError } from '../src/errors.js'
import { loadSigningKey } from '../src/keys/index.js'
import { createTokenCache, createTokenIssuer, createTokenSource, type ExternalTokenStore, type TokenIssuer, type TokenIssuerOptions } from '../src/token/index.js'

const PEM = readFileSync(new URL('./fixtures/instance-key.pem', import.meta.url), 'utf8')
const T0 = Date.parse('2026-02-01T12:00:00.000Z')

const CATALOG = createCatalog({
  unitPrimitives: [
    { name: 'complete_code', description: 'x', group: 'g', feature_category: 'c', backend_services: ['ai_gateway'], add_ons: ['duo_enterprise'], cut_off_date: '2024-02-15T00:00:00Z' },
    { name: 'documentation_search', description: 'x', group: 'g', feature_category: 'c', backend_services: ['ai_gateway'] },
  ],
  backendServices: [{ name: 'ai_gateway', jwt_aud: 'gitlab-ai-gateway' }],
  addOns: [{ name: 'duo_enterprise' }],
})

/** A clock the test moves by hand. */
function manualClock(start = T0) {
  let t = start
  return { now: () => new Date(t), set: (ms: number) => void (t = ms), advance: (ms: number) => void (t += ms) }
}

async function issuerWith(clock: { now: () => Date }, over: Partial<TokenIssuerOptions> = {}) {
  let n = 0
  return createTokenIssuer({
    issuer: 'https://gitlab.example.com',
    instanceId: 'f798e820-207f-4849-869d-1f753edb3312',
    realm: 'self-managed',
    key: await loadSigningKey(PEM),
    catalog: CATALOG,
    addOns: ['duo_enterprise'],
    now: clock.now,
    jti: () => `00000000-0000-4000-8000-${String(++n).padStart(12, '0')}`,
    ...over,
  })
}

const jtiOf = (token: string | undefined) => JSON.parse(Buffer.from((token ?? '').split('.')[1] ?? '', 'base64url').toString()).jti as string

describe('issuer cache: eager refresh under the injected clock', () => {
  it('serves the cached token until one tick before exp - 300 s, and mints a new one at that instant', async () => {
    const clock = manualClock()
    const issuer = await issuerWith(clock)
    const first = await issuer.getToken({ unitPrimitive: 'complete_code' })
    expect(first.expiresAt?.toISOString()).toBe('2026-02-01T13:00:00.000Z')
    const boundary = Date.parse('2026-02-01T12:55:00.000Z') // exp - 300 s

    clock.set(boundary - 1)
    const before = await issuer.getToken({ unitPrimitive: 'complete_code' })
    expect(before.token).toBe(first.token)
    expect(issuer.stats).toEqual({ mints: 1, cacheHits: 1 })

    clock.set(boundary)
    const at = await issuer.getToken({ unitPrimitive: 'complete_code' })
    expect(at.token).not.toBe(first.token)
    expect(jtiOf(at.token)).toBe('00000000-0000-4000-8000-000000000002')
    expect(at.expiresAt?.toISOString()).toBe('2026-02-01T13:55:00.000Z')
    expect(issuer.stats).toEqual({ mints: 2, cacheHits: 1 })
  })

  it('honours a custom refreshBeforeSeconds', async () => {
    const clock = manualClock()
    const issuer = await issuerWith(clock, { cache: { refreshBeforeSeconds: 60 } })
    await issuer.getToken({ unitPrimitive: 'complete_code' })
    clock.set(Date.parse('2026-02-01T12:58:59.999Z'))
    await issuer.getToken({ unitPrimitive: 'complete_code' })
    expect(issuer.stats.mints).toBe(1)
    clock.set(Date.parse('2026-02-01T12:59:00.000Z'))
    await issuer.getToken({ unitPrimitive: 'complete_code' })
    expect(issuer.stats.mints).toBe(2)
  })

  it('if an eager refresh fails while the old token is still valid, the old token is served and the failure logged', async () => {
    const clock = manualClock()
    let fail = false
    const warn = vi.fn()
    const issuer = await issuerWith(clock, {
      logger: { warn },
      jti: () => {
        if (fail) throw Object.assign(new Error('entropy source down'), { code: 'EAGAIN' })
        return '00000000-0000-4000-8000-000000000001'
      },
    })
    const first = await issuer.getToken({ unitPrimitive: 'complete_code' })
    fail = true
    clock.set(Date.parse('2026-02-01T12:56:00.000Z'))
    const served = await issuer.getToken({ unitPrimitive: 'complete_code' })
    expect(served.token).toBe(first.token)
    expect(warn).toHaveBeenCalledWith({ event: 'cloud_connector.token_cache.refresh_failed', error: 'EAGAIN', servingUntil: '2026-02-01T13:00:00.000Z' }, 'cloud_connector.token_cache.refresh_failed')
    // once really expired, the failure surfaces
    clock.set(Date.parse('2026-02-01T13:00:00.000Z'))
    await expect(issuer.getToken({ unitPrimitive: 'complete_code' })).rejects.toThrow('entropy source down')
  })
})

describe('issuer cache: single flight', () => {
  it('100 concurrent callers on a cold cache cause exactly one mint', async () => {
    const clock = manualClock()
    const issuer = await issuerWith(clock)
    const results = await Promise.all(Array.from({ length: 100 }, () => issuer.getToken({ unitPrimitive: 'complete_code' })))
    expect(new Set(results.map((r) => r.token)).size).toBe(1)
    expect(issuer.stats).toEqual({ mints: 1, cacheHits: 99 })
  })

  it('a refresh in flight is shared by everyone who arrives meanwhile', async () => {
    const clock = manualClock()
    let release: (() => void) | undefined
    let signing = 0
    const { createPrivateKey, sign } = await import('node:crypto')
    const privateKey = createPrivateKey(PEM)
    const signer = vi.fn(async (input: Uint8Array) => {
      signing++
      if (signing === 2) await new Promise<void>((r) => (release = r))
      return new Uint8Array(sign('sha256', input, privateKey))
    })
    const issuer = await issuerWith(clock, { signer })
    await issuer.getToken({ unitPrimitive: 'complete_code' })
    clock.set(Date.parse('2026-02-01T12:57:00.000Z'))
    const waiting = Array.from({ length: 10 }, () => issuer.getToken({ unitPrimitive: 'complete_code' }))
    await vi.waitFor(() => expect(release).toBeDefined())
    release?.()
    const tokens = new Set((await Promise.all(waiting)).map((r) => r.token))
    expect(tokens.size).toBe(1)
    expect(signer).toHaveBeenCalledTimes(2)
    expect(issuer.stats).toEqual({ mints: 2, cacheHits: 9 })
  })

  it('a failed mint is not cached and the next caller tries again', async () => {
    const clock = manualClock()
    let calls = 0
    const cache = createTokenCache<{ expiresAt: Date; v: number }>({ now: clock.now })
    const mint = async () => {
      calls++
      if (calls === 1) throw new Error('first fails')
      return { expiresAt: new Date(T0 + 3_600_000), v: calls }
    }
    const all = await Promise.allSettled(Array.from({ length: 5 }, () => cache.get('k', mint)))
    expect(all.every((r) => r.status === 'rejected')).toBe(true)
    expect(calls).toBe(1)
    expect(await cache.get('k', mint)).toEqual({ expiresAt: new Date(T0 + 3_600_000), v: 2 })
    expect(cache.stats).toEqual({ mints: 2, cacheHits: 4, refreshes: 0, evictions: 0, refreshFailures: 0 })
  })
})

describe('issuer cache: forceRefresh and invalidate', () => {
  it('forceRefresh mints a new token even when the cached one is fresh', async () => {
    const issuer = await issuerWith(manualClock())
    const a = await issuer.getToken({ unitPrimitive: 'complete_code' })
    const b = await issuer.getToken({ unitPrimitive: 'complete_code', forceRefresh: true })
    const c = await issuer.getToken({ unitPrimitive: 'complete_code' })
    expect(b.token).not.toBe(a.token)
    expect(c.token).toBe(b.token)
    expect(issuer.stats).toEqual({ mints: 2, cacheHits: 1 })
  })

  it('invalidate() drops every cached token', async () => {
    const issuer = await issuerWith(manualClock())
    const a = await issuer.getToken({ unitPrimitive: 'complete_code' })
    issuer.invalidate()
    const b = await issuer.getToken({ unitPrimitive: 'complete_code' })
    expect(b.token).not.toBe(a.token)
    expect(issuer.stats).toEqual({ mints: 2, cacheHits: 0 })
  })

  it('a mint in flight during invalidate() answers its callers but is not stored', async () => {
    const clock = manualClock()
    const cache = createTokenCache<{ expiresAt: Date; v: number }>({ now: clock.now })
    let release: (() => void) | undefined
    let n = 0
    const mint = async () => {
      const v = ++n
      if (v === 1) await new Promise<void>((r) => (release = r))
      return { expiresAt: new Date(T0 + 3_600_000), v }
    }
    const pending = cache.get('k', mint)
    await vi.waitFor(() => expect(release).toBeDefined())
    cache.invalidate()
    release?.()
    expect((await pending).v).toBe(1)
    expect(cache.size).toBe(0)
    expect((await cache.get('k', mint)).v).toBe(2)
  })

  it('a forced refresh does not join a non-forced flight (which could return the rejected token)', async () => {
    const clock = manualClock()
    const gets: string[] = []
    const store: ExternalTokenStore = {
      get: async (key) => {
        gets.push(key)
        return undefined
      },
      set: () => undefined,
    }
    const cache = createTokenCache<{ expiresAt: Date; v: number }>({
      now: clock.now,
      store,
      codec: { encode: (v) => String(v.v), decode: (raw) => ({ expiresAt: new Date(T0 + 3_600_000), v: Number(raw) }) },
    })
    let n = 0
    const mint = async () => ({ expiresAt: new Date(T0 + 3_600_000), v: ++n })
    const [a, b] = await Promise.all([cache.get('k', mint), cache.get('k', mint, { forceRefresh: true })])
    expect([a.v, b.v].sort()).toEqual([1, 2])
    expect(gets).toEqual(['k'])
  })
})

describe('token cache: bounded, least recently used first', () => {
  it('keeps at most maxEntries and evicts the least recently used', async () => {
    const clock = manualClock()
    const cache = createTokenCache<{ expiresAt: Date; key: string }>({ now: clock.now, maxEntries: 2 })
    const mint = (key: string) => async () => ({ expiresAt: new Date(T0 + 3_600_000), key })
    await cache.get('a', mint('a'))
    await cache.get('b', mint('b'))
    await cache.get('a', mint('a')) // a is now the most recently used
    await cache.get('c', mint('c')) // evicts b
    expect(cache.size).toBe(2)
    expect(cache.peek('a')?.key).toBe('a')
    expect(cache.peek('b')).toBeUndefined()
    expect(cache.peek('c')?.key).toBe('c')
    expect(cache.stats).toEqual({ mints: 3, cacheHits: 1, refreshes: 0, evictions: 1, refreshFailures: 0 })
  })

  it('lookup() answers what get() would without minting: fresh entries only, counted and marked recently used', async () => {
    const clock = manualClock()
    const cache = createTokenCache<{ expiresAt: Date; key: string }>({ now: clock.now, maxEntries: 2, refreshBeforeSeconds: 300 })
    expect(cache.lookup('a')).toBeUndefined()
    await cache.get('a', async () => ({ expiresAt: new Date(T0 + 3_600_000), key: 'a' }))
    await cache.get('b', async () => ({ expiresAt: new Date(T0 + 3_600_000), key: 'b' }))
    // methods work detached from the cache object, as before lookup() existed
    const { get, lookup } = cache
    expect(lookup('a')?.key).toBe('a') // a is now the most recently used
    expect((await get('a', async () => ({ expiresAt: new Date(T0 + 3_600_000), key: 'x' }))).key).toBe('a')
    await cache.get('c', async () => ({ expiresAt: new Date(T0 + 3_600_000), key: 'c' })) // evicts b
    expect(cache.peek('b')).toBeUndefined()
    expect(cache.stats).toEqual({ mints: 3, cacheHits: 2, refreshes: 0, evictions: 1, refreshFailures: 0 })
    // from exp - 300 s on, get() would mint: lookup() says so and counts nothing
    clock.set(T0 + 3_300_000)
    expect(cache.lookup('a')).toBeUndefined()
    expect(cache.stats.cacheHits).toBe(2)
  })

  it('drops expired entries before evicting live ones', async () => {
    const clock = manualClock()
    const cache = createTokenCache<{ expiresAt: Date; key: string }>({ now: clock.now, maxEntries: 2 })
    await cache.get('short', async () => ({ expiresAt: new Date(T0 + 1000), key: 'short' }))
    await cache.get('long', async () => ({ expiresAt: new Date(T0 + 3_600_000), key: 'long' }))
    clock.advance(2000)
    await cache.get('new', async () => ({ expiresAt: new Date(T0 + 3_600_000), key: 'new' }))
    expect(cache.peek('long')?.key).toBe('long')
    expect(cache.peek('new')?.key).toBe('new')
    expect(cache.stats.evictions).toBe(0)
  })

  it('the issuer keys its cache by everything that changes the token', async () => {
    const clock = manualClock()
    const issuer = await issuerWith(clock, { cache: { maxEntries: 1 } })
    await issuer.getToken({ unitPrimitive: 'complete_code' })
    await issuer.getToken({ unitPrimitive: 'documentation_search' }) // same token: all entitled scopes
    expect(issuer.stats).toEqual({ mints: 1, cacheHits: 1 })
  })

  it('validates its own options', () => {
    expect(() => createTokenCache({ maxEntries: 0 })).toThrow(InvalidOptionsError)
    expect(() => createTokenCache({ maxEntries: 0 })).toThrow('token cache: options.cache.maxEntries must be an integer >= 1.')
    expect(() => createTokenCache({ refreshBeforeSeconds: -1 })).toThrow('token cache: options.cache.refreshBeforeSeconds must be an integer >= 0.')
  })
})

describe('issuer cache: external store { get, set }', () => {
  it('shares tokens across issuers (e.g. processes) through the store, verified on the way back', async () => {
    const clock = manualClock()
    const map = new Map<string, string>()
    const set = vi.fn((k: string, v: string, _ttlSeconds: number) => void map.set(k, v))
    const store: ExternalTokenStore = { get: async (k) => map.get(k), set }
    const one = await issuerWith(clock, { cache: { store } })
    const two = await issuerWith(clock, { cache: { store } })
    const a = await one.getToken({ unitPrimitive: 'complete_code' })
    expect(set).toHaveBeenCalledTimes(1)
    expect(set.mock.calls[0]?.[2]).toBe(3300) // until the refresh moment
    const b = await two.getToken({ unitPrimitive: 'complete_code' })
    expect(b.token).toBe(a.token)
    expect(b.expiresAt?.toISOString()).toBe('2026-02-01T13:00:00.000Z')
    expect(two.stats).toEqual({ mints: 0, cacheHits: 1 })
  })

  it('ignores a tampered or foreign value in the store and mints', async () => {
    const clock = manualClock()
    let stored = ''
    const store: ExternalTokenStore = { get: () => stored, set: (_k, v) => void (stored = v) }
    const one = await issuerWith(clock, { cache: { store } })
    const a = await one.getToken({ unitPrimitive: 'complete_code' })
    const [h, p, s] = (a.token ?? '').split('.') as [string, string, string]
    const claims = JSON.parse(Buffer.from(p, 'base64url').toString())
    const tampered = `${h}.${Buffer.from(JSON.stringify({ ...claims, scopes: ['everything'] })).toString('base64url')}.${s}`
    stored = tampered
    const two = await issuerWith(clock, { cache: { store } })
    const b = await two.getToken({ unitPrimitive: 'complete_code' })
    expect(b.token).not.toBe(tampered)
    expect(stored).toBe(b.token)
    expect(two.stats).toEqual({ mints: 1, cacheHits: 0 })
  })

  it('a failing store is logged and never fails the request', async () => {
    const warn = vi.fn()
    const store: ExternalTokenStore = {
      get: async () => {
        throw Object.assign(new Error('ECONNREFUSED redis://:password@redis'), { code: 'ECONNREFUSED' })
      },
      set: async () => {
        throw new Error('down')
      },
    }
    const issuer = await issuerWith(manualClock(), { cache: { store }, logger: { warn } })
    const r = await issuer.getToken({ unitPrimitive: 'complete_code' })
    expect(r.source).toBe('self-issued')
    expect(warn.mock.calls).toEqual([
      [{ event: 'cloud_connector.token_cache.store_get_failed', error: 'ECONNREFUSED' }, 'cloud_connector.token_cache.store_get_failed'],
      [{ event: 'cloud_connector.token_cache.store_set_failed', error: 'Error' }, 'cloud_connector.token_cache.store_set_failed'],
    ])
  })
})

describe('getToken() across a cut-off date (memoised entitlements)', () => {
  const CUT = Date.parse('2026-03-01T00:00:00.000Z')
  const FREE_UNTIL_CUT = createCatalog({
    unitPrimitives: [
      { name: 'complete_code', description: 'x', group: 'g', feature_category: 'c', backend_services: ['ai_gateway'], add_ons: ['duo_pro'], cut_off_date: '2026-03-01T00:00:00Z' },
      { name: 'documentation_search', description: 'x', group: 'g', feature_category: 'c', backend_services: ['ai_gateway'] },
    ],
    backendServices: [{ name: 'ai_gateway', jwt_aud: 'gitlab-ai-gateway' }],
    addOns: [{ name: 'duo_pro' }],
  })

  it('keeps serving the cached token inside a window and re-resolves scopes the instant the cut-off passes', async () => {
    const clock = manualClock(CUT - 60_000)
    const issuer = await issuerWith(clock, { catalog: FREE_UNTIL_CUT, addOns: [], cache: { refreshBeforeSeconds: 300 } })
    const before = await issuer.getToken({ unitPrimitive: 'complete_code' })
    clock.set(CUT - 1)
    expect((await issuer.getToken({ unitPrimitive: 'complete_code' })).token).toBe(before.token)
    expect(issuer.stats.mints).toBe(1)

    clock.set(CUT)
    // free access ended at the cut-off: no longer entitled, and no new token was minted for it
    await expect(issuer.getToken({ unitPrimitive: 'complete_code' })).rejects.toMatchObject({ code: 'ERR_SCOPE_NOT_ENTITLED' })
    const after = await issuer.getToken({ unitPrimitive: 'documentation_search' })
    expect(after.token).not.toBe(before.token)
    expect(issuer.stats.mints).toBe(2)
    const scopes = (JSON.parse(Buffer.from(after.token!.split('.')[1]!, 'base64url').toString()) as { scopes: string[] }).scopes
    expect(scopes).toEqual(['documentation_search'])

    // an injected clock that goes back is honoured too
    clock.set(CUT - 1)
    expect((await issuer.getToken({ unitPrimitive: 'complete_code' })).token).toBe(before.token)
  })

  it('grants a free scope until the instant of its cut-off, refuses it from then on, and follows a clock that goes back', async () => {
    const clock = manualClock(CUT - 1)
    const issuer = await issuerWith(clock, { catalog: FREE_UNTIL_CUT, addOns: [] })
    expect((await issuer.issue({ scopes: ['complete_code'] })).claims.scopes).toEqual(['complete_code'])
    expect(issuer.entitlements().scopes).toEqual(['complete_code', 'documentation_search'])
    clock.set(CUT)
    await expect(issuer.issue({ scopes: ['complete_code'] })).rejects.toMatchObject({ code: 'ERR_SCOPE_NOT_ENTITLED', message: expect.stringContaining('Its free access ended on 2026-03-01T00:00:00Z') })
    expect((await issuer.issue({ scopes: ['documentation_search', 'documentation_search'] })).claims.scopes).toEqual(['documentation_search'])
    expect(issuer.entitlements().scopes).toEqual(['documentation_search'])
    clock.set(CUT - 1)
    expect((await issuer.issue({ scopes: ['documentation_search', 'complete_code'] })).claims.scopes).toEqual(['complete_code', 'documentation_search'])
  })
})

describe('peekToken(): what getToken() would answer now, without waiting', () => {
  it('issuer: nothing before the first mint, then the cached answer, and nothing again once a refresh is due', async () => {
    const clock = manualClock()
    const issuer = await issuerWith(clock)
    expect(issuer.peekToken({ unitPrimitive: 'complete_code' })).toBeUndefined()
    expect(issuer.stats.mints).toBe(0) // peeking never mints
    const got = await issuer.getToken({ unitPrimitive: 'complete_code' })
    const peeked = issuer.peekToken({ unitPrimitive: 'complete_code' })
    expect(peeked).toEqual(got)
    expect(peeked).not.toBe(got)
    expect(peeked?.expiresAt).not.toBe(got.expiresAt)
    expect(issuer.peekToken({ unitPrimitive: 'complete_code', forceRefresh: true })).toBeUndefined()
    // not entitled, or no unit primitive: getToken() explains; peek just says "ask"
    expect(issuer.peekToken({ unitPrimitive: 'duo_chat' })).toBeUndefined()
    expect(issuer.peekToken({} as never)).toBeUndefined()
    // exp - 300 s: getToken() would mint, so peek answers nothing
    clock.advance(3_300_000)
    expect(issuer.peekToken({ unitPrimitive: 'complete_code' })).toBeUndefined()
    expect(issuer.stats.mints).toBe(1)
    await issuer.getToken({ unitPrimitive: 'complete_code' })
    expect(issuer.stats.mints).toBe(2)
    expect(issuer.peekToken({ unitPrimitive: 'complete_code' })?.token).toBe((await issuer.getToken({ unitPrimitive: 'complete_code' })).token)
  })

  it('issuer without a cache: always undefined (every getToken() mints)', async () => {
    const issuer = await issuerWith(manualClock(), { cache: false })
    await issuer.getToken({ unitPrimitive: 'complete_code' })
    expect(issuer.peekToken({ unitPrimitive: 'complete_code' })).toBeUndefined()
  })

  it('issuer with a clock that fails: undefined, and getToken() reports the clock', async () => {
    let broken = false
    const clock = manualClock()
    const issuer = await issuerWith({ now: () => (broken ? new Date(Number.NaN) : clock.now()) })
    await issuer.getToken({ unitPrimitive: 'complete_code' })
    broken = true
    expect(issuer.peekToken({ unitPrimitive: 'complete_code' })).toBeUndefined()
    await expect(issuer.getToken({ unitPrimitive: 'complete_code' })).rejects.toThrow(InvalidOptionsError)
  })

  it("policy source: the self-issued answer when it is cached; a synced or 'none' answer is left to getToken()", async () => {
    const clock = manualClock()
    const issuer = await issuerWith(clock)
    const offline = createTokenSource({ license: 'offline-cloud', selfIssued: issuer, now: clock.now })
    expect(offline.peekToken?.({ unitPrimitive: 'complete_code' })).toBeUndefined()
    const got = await offline.getToken({ unitPrimitive: 'complete_code' })
    expect(offline.peekToken?.({ unitPrimitive: 'complete_code' })).toEqual(got)
    expect(offline.peekToken?.({ unitPrimitive: 'complete_code', forceRefresh: true })).toBeUndefined()
    const synced = createTokenSource({ license: 'online-cloud', synced: { token: 'cdot.synced-token-0123456789', expiresAt: new Date(T0 + 3_600_000) }, now: clock.now })
    expect((await synced.getToken({ unitPrimitive: 'complete_code' })).source).toBe('synced')
    expect(synced.peekToken?.({ unitPrimitive: 'complete_code' })).toBeUndefined()
    const nothing = createTokenSource({ license: 'offline-cloud', now: clock.now })
    expect((await nothing.getToken({ unitPrimitive: 'complete_code' })).source).toBe('none')
    expect(nothing.peekToken?.({ unitPrimitive: 'complete_code' })).toBeUndefined()
  })

  it("policy source getToken(): a cached token from the issuer's peek, else the issuer's getToken() (also when its peek throws or a refresh is forced)", async () => {
    const answer = (token: string) => ({ token, source: 'self-issued' as const, reason: 'r', branch: 'self-issued' as const, expiresAt: new Date(T0 + 3_600_000) })
    const calls: string[] = []
    let peek: () => ReturnType<typeof answer> | undefined = () => answer('peeked.jwt.sig')
    const issuer = {
      getToken: async (r: { forceRefresh?: boolean }) => (calls.push(`get${r.forceRefresh ? ' forced' : ''}`), answer('got.jwt.sig')),
      peekToken: () => (calls.push('peek'), peek()),
      invalidate: () => undefined,
    } as unknown as TokenIssuer
    const source = createTokenSource({ license: 'offline-cloud', selfIssued: issuer, now: manualClock().now })
    const first = await source.getToken({ unitPrimitive: 'complete_code' })
    expect([first.token, first.branch, first.expiresAt?.getTime()]).toEqual(['peeked.jwt.sig', 'offline-license', T0 + 3_600_000])
    expect(calls).toEqual(['peek'])
    expect((await source.getToken({ unitPrimitive: 'complete_code', forceRefresh: true })).token).toBe('got.jwt.sig')
    peek = () => undefined
    expect((await source.getToken({ unitPrimitive: 'complete_code' })).token).toBe('got.jwt.sig')
    peek = () => {
      throw new Error('broken peek')
    }
    expect((await source.getToken({ unitPrimitive: 'complete_code' })).token).toBe('got.jwt.sig')
    expect(calls).toEqual(['peek', 'get forced', 'peek', 'get', 'peek', 'get'])
  })
})


describe('hot path: a cache hit reads the clock once and moves nothing it need not move', () => {
  const mint = (key: string, expiresAt = T0 + 3_600_000) => async () => ({ expiresAt: new Date(expiresAt), key })

  it('keeps the least-recently-used order when the most recent entry is used again (no move) and when another is', async () => {
    const cache = createTokenCache<{ expiresAt: Date; key: string }>({ now: manualClock().now, maxEntries: 3 })
    for (const k of ['a', 'b', 'c']) await cache.get(k, mint(k))
    for (let i = 0; i < 3; i++) expect(cache.lookup('c')?.key).toBe('c') // already the most recent
    expect(cache.lookup('a')?.key).toBe('a') // order now b, c, a
    expect(cache.lookup('a')?.key).toBe('a')
    await cache.get('d', mint('d')) // evicts b
    expect(cache.peek('b')).toBeUndefined()
    await cache.get('e', mint('e')) // evicts c
    expect(cache.peek('c')).toBeUndefined()
    expect(['a', 'd', 'e'].map((k) => cache.peek(k)?.key)).toEqual(['a', 'd', 'e'])
    expect(cache.stats).toEqual({ mints: 5, cacheHits: 5, refreshes: 0, evictions: 2, refreshFailures: 0 })
  })

  it('an entry that was the most recent and is no longer is moved again when it is used', async () => {
    const cache = createTokenCache<{ expiresAt: Date; key: string }>({ now: manualClock().now, maxEntries: 3 })
    for (const k of ['a', 'b', 'c']) await cache.get(k, mint(k))
    expect(cache.lookup('a')?.key).toBe('a') // order b, c, a
    expect(cache.lookup('c')?.key).toBe('c') // order b, a, c
    await cache.get('d', mint('d')) // evicts b
    await cache.get('e', mint('e')) // evicts a
    expect(['a', 'b', 'c', 'd', 'e'].map((k) => cache.peek(k)?.key)).toEqual([undefined, undefined, 'c', 'd', 'e'])
  })

  it('keeps the order after the most recent entry is invalidated, stored again, or dropped as expired on arrival', async () => {
    const clock = manualClock()
    const cache = createTokenCache<{ expiresAt: Date; key: string }>({ now: clock.now, maxEntries: 2 })
    await cache.get('a', mint('a'))
    await cache.get('b', mint('b'))
    cache.invalidate('b')
    expect(cache.lookup('a')?.key).toBe('a')
    await cache.get('b', mint('b')) // order a, b
    expect(cache.lookup('b')?.key).toBe('b')
    await cache.get('c', mint('c')) // evicts a
    expect([cache.peek('a'), cache.peek('b')?.key, cache.peek('c')?.key]).toEqual([undefined, 'b', 'c'])
    // a token already expired when it arrives is served to its caller but not kept
    expect((await cache.get('old', mint('old', T0 - 1))).key).toBe('old')
    expect(cache.size).toBe(2)
    expect(cache.lookup('b')?.key).toBe('b') // order c, b
    await cache.get('d', mint('d')) // evicts c
    expect([cache.peek('b')?.key, cache.peek('c'), cache.peek('d')?.key]).toEqual(['b', undefined, 'd'])
  })

  it('judges freshness at the instant given, to the millisecond: fresh until refreshBeforeSeconds before expiry', async () => {
    const clock = manualClock()
    const cache = createTokenCache<{ expiresAt: Date; key: string }>({ now: clock.now, refreshBeforeSeconds: 300 })
    await cache.get('a', mint('a'))
    const refreshAt = T0 + 3_600_000 - 300_000
    expect(cache.lookup('a', refreshAt - 1)?.key).toBe('a')
    expect(cache.lookup('a', refreshAt)).toBeUndefined()
    // without an instant, the clock decides
    clock.set(refreshAt - 1)
    expect(cache.lookup('a')?.key).toBe('a')
    expect(cache.peek('a')?.key).toBe('a')
    clock.set(refreshAt)
    expect(cache.lookup('a')).toBeUndefined()
    expect(cache.peek('a')).toBeUndefined()
    expect(cache.stats.cacheHits).toBe(2)
  })

  it('an issuer without an injected clock follows the system clock to the millisecond', async () => {
    vi.useFakeTimers({ toFake: ['Date'], now: T0 })
    try {
      const issuer = await issuerWith(manualClock(), { now: undefined })
      const first = await issuer.getToken({ unitPrimitive: 'complete_code' })
      expect(first.expiresAt?.getTime()).toBe(T0 + 3_600_000)
      vi.setSystemTime(T0 + 3_300_000 - 1)
      expect((await issuer.getToken({ unitPrimitive: 'complete_code' })).token).toBe(first.token)
      expect(issuer.peekToken({ unitPrimitive: 'complete_code' })?.token).toBe(first.token)
      vi.setSystemTime(T0 + 3_300_000)
      expect(issuer.peekToken({ unitPrimitive: 'complete_code' })).toBeUndefined()
      const second = await issuer.getToken({ unitPrimitive: 'complete_code' })
      expect(second.token).not.toBe(first.token)
      expect(second.expiresAt?.getTime()).toBe(T0 + 3_300_000 + 3_600_000)
      expect(issuer.stats.mints).toBe(2)
    } finally {
      vi.useRealTimers()
    }
  })

  it('each answer names its own unit primitive and carries a Date of its own, however the calls alternate', async () => {
    const issuer = await issuerWith(manualClock())
    const ask = (unitPrimitive: string) => issuer.getToken({ unitPrimitive })
    const answers = [await ask('complete_code'), await ask('documentation_search'), await ask('complete_code'), await ask('complete_code')]
    expect(answers.map((a) => / including (\w+);/.exec(a.reason)?.[1])).toEqual(['complete_code', 'documentation_search', 'complete_code', 'complete_code'])
    expect(new Set(answers.map((a) => a.token)).size).toBe(1)
    answers[2]?.expiresAt?.setTime(0)
    expect(answers[3]?.expiresAt?.getTime()).toBe(T0 + 3_600_000)
    expect((await ask('complete_code')).expiresAt?.getTime()).toBe(T0 + 3_600_000)
  })
})

describe('policy source: the memoised decision follows the question', () => {
  it('answers each unit primitive, feature setting and synced-token state with its own decision, however they alternate', async () => {
    const clock = manualClock()
    const source = createTokenSource({
      policy: 'rails',
      license: 'online-cloud',
      synced: { token: 'cdot.synced-token-0123456789', expiresAt: new Date(T0 + 60_000) },
      selfHostedFeatures: ['duo_chat'],
      now: clock.now,
    })
    const branch = async (unitPrimitive: string, featureSetting?: string) => {
      try {
        return (await source.getToken({ unitPrimitive, ...(featureSetting ? { featureSetting } : {}) })).branch
      } catch (e) {
        return (e as { code: string }).code
      }
    }
    expect(await branch('complete_code')).toBe('synced')
    expect(await branch('self_hosted_models')).toBe('ERR_NO_TOKEN')
    expect(await branch('complete_code')).toBe('synced')
    expect(await branch('complete_code', 'duo_chat')).toBe('ERR_NO_TOKEN')
    expect(await branch('complete_code')).toBe('synced')
    clock.set(T0 + 60_000) // the synced token expires
    expect(await branch('complete_code')).toBe('synced-token-expired')
    clock.set(T0)
    expect(await branch('complete_code')).toBe('synced')
  })
})
