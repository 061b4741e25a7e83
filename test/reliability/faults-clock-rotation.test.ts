/**
 * Time faults, end to end through the emulator (its `now` knob is the gateway's clock, and its Date
 * header follows that clock) and the client (whose clock is the instance's):
 *
 * Clock skew. The gateway allows no leeway. GitLab sets nbf = iat − 5 s, which absorbs up to 5 s of
 * an instance clock running ahead; beyond that every token is "not yet valid" until the clocks agree.
 * An instance clock running behind is harmless until the skew reaches the token's lifetime (3600 s),
 * except at the end of each token's life: the cache refreshes `refreshBeforeSeconds` (300) before exp by
 * the instance's clock, so a clock more than that behind sends each token past its expiry once, gets
 * a 401, and recovers with one forced refresh. When a 401 survives the refresh, the client compares
 * the gateway's Date header with its clock and throws ClockSkewError (ERR_CLOCK_SKEW) with the skew.
 *
 * Key rotation. A key must be published 24 h (the gateway's JWKS cache) before it signs: a strict
 * ring refuses to rotate to (or sign with) a younger key, a default ring warns — and the gateway
 * indeed refuses the tokens until its cache expires. After rotation the old key keeps verifying
 * until it is trimmed from the published set.
 */
import { afterEach, describe, expect, it } from 'vitest'
import { asEvent } from '../client-support.js'
import {
  ClockSkewError,
  createGatewayClient,
  createKeyRing,
  createTokenIssuer,
  GatewayAuthError,
  KeyError,
  type GatewayClient,
  type KeyRing,
  type Logger,
  type SigningKey,
} from '../../src/index.js'
import { builtInCatalog } from '../../src/catalog/index.js'
import { startEmulator, type Emulator } from '../../src/emulator/index.js'
import { loadCaseFixture } from '../cases/fixture.js'
import { INSTANCE_ID, manualClock, rejection } from './config.js'

const fx = loadCaseFixture()
const A = fx.key
const B = fx.otherKey
const MODEL = { name: 'mistral', endpoint: 'http://model:8000/v1' }
const ALL_ADD_ONS = [...builtInCatalog.addOns.keys()]
/** The gateway's clock starts on a whole second, so its Date header carries it exactly. */
const START = Date.UTC(2026, 1, 1, 12, 0, 0)

let emulator: Emulator | undefined
afterEach(async () => {
  await emulator?.stop()
  emulator = undefined
})

/** An emulator on the gateway clock, and a client + issuer on the instance clock. */
async function setup(options: { gateway: () => Date; instance: () => Date; ttlSeconds?: number; key?: SigningKey | KeyRing; logger?: Logger; refreshBeforeSeconds?: number }) {
  emulator = await startEmulator({ key: A, now: options.gateway, instance: { instanceId: INSTANCE_ID } })
  const issuer = createTokenIssuer({
    issuer: emulator.instanceUrl,
    instanceId: INSTANCE_ID,
    realm: 'self-managed',
    key: options.key ?? A,
    addOns: ALL_ADD_ONS,
    now: options.instance,
    ...(options.ttlSeconds === undefined ? {} : { ttlSeconds: options.ttlSeconds }),
    ...(options.refreshBeforeSeconds === undefined ? {} : { cache: { refreshBeforeSeconds: options.refreshBeforeSeconds } }),
    ...(options.logger === undefined ? {} : { logger: options.logger }),
  })
  const client: GatewayClient = createGatewayClient({
    baseUrl: emulator.url,
    tokenSource: issuer,
    headers: { instance: { id: INSTANCE_ID, realm: 'self-managed' } },
    now: options.instance,
    retry: false,
    ...(options.logger === undefined ? {} : { logger: options.logger }),
  })
  return { emulator, issuer, client }
}

const reasons = (e: Emulator) => e.requests.filter((r) => r.side === 'gateway').map((r) => `${r.status} ${r.verdict?.reason ?? ''}`.trim())

describe('clock skew between the instance and the gateway', () => {
  it('instance 5 minutes ahead: every token is not yet valid; after the refresh-and-retry the client reports ERR_CLOCK_SKEW', async () => {
    const gw = manualClock(START)
    const { client, emulator: e } = await setup({ gateway: gw.now, instance: () => new Date(gw.ms + 300_000) })
    const err = await rejection(client.checkModelConfiguration(MODEL, { requestId: 'rid-ahead' }))
    expect(err).toBeInstanceOf(ClockSkewError)
    const skew = err as ClockSkewError
    expect(skew.code).toBe('ERR_CLOCK_SKEW')
    expect(skew.attempts).toBe(2)
    expect(skew.gatewayError).toBe('Forbidden by auth provider')
    expect(skew.clockSkew).toEqual({ skewSeconds: -300, gatewayDate: '2026-02-01T12:00:00.000Z', localDate: '2026-02-01T12:05:00.000Z', effect: 'not-yet-valid' })
    expect(skew.message).toContain("The gateway's clock is 300 s behind this host's (its Date header says 2026-02-01T12:00:00.000Z, local time 2026-02-01T12:05:00.000Z) and it allows no leeway, so it finds the token not yet valid")
    expect(reasons(e)).toEqual(['401 The token is not yet valid (nbf)', '401 The token is not yet valid (nbf)'])
  })

  it('GitLab\'s nbf = iat − 5 s absorbs an instance up to 5 s ahead; 6 s is refused and reported', async () => {
    const gw = manualClock(START)
    const ok = await setup({ gateway: gw.now, instance: () => new Date(gw.ms + 5_000) })
    expect((await ok.client.checkModelConfiguration(MODEL)).status).toBe(200)
    await emulator?.stop()
    const bad = await setup({ gateway: gw.now, instance: () => new Date(gw.ms + 6_000) })
    const err = await rejection(bad.client.checkModelConfiguration(MODEL))
    expect(err).toBeInstanceOf(ClockSkewError)
    expect((err as ClockSkewError).clockSkew).toMatchObject({ skewSeconds: -6, effect: 'not-yet-valid' })
  })

  it('instance 5 minutes behind: accepted (the token still has 55 min at the gateway)', async () => {
    const gw = manualClock(START)
    const { client, emulator: e } = await setup({ gateway: gw.now, instance: () => new Date(gw.ms - 300_000) })
    const r = await client.checkModelConfiguration(MODEL)
    expect(r.status).toBe(200)
    expect(r.attempts).toBe(1)
    expect(reasons(e)).toEqual(['200'])
  })

  it('instance 5 minutes behind with tokens living less than that: expired on arrival, reported as ERR_CLOCK_SKEW', async () => {
    const gw = manualClock(START)
    const { client, emulator: e } = await setup({ gateway: gw.now, instance: () => new Date(gw.ms - 300_000), ttlSeconds: 240, refreshBeforeSeconds: 60 })
    const err = await rejection(client.checkModelConfiguration(MODEL))
    expect(err).toBeInstanceOf(ClockSkewError)
    expect((err as ClockSkewError).clockSkew).toEqual({ skewSeconds: 300, gatewayDate: '2026-02-01T12:00:00.000Z', localDate: '2026-02-01T11:55:00.000Z', effect: 'expired' })
    expect(reasons(e)).toEqual(['401 Signature has expired.', '401 Signature has expired.'])
  })

  it('at the second of its exp the gateway still accepts a token; a refusal at that second is not blamed on the clock', async () => {
    const gw = manualClock(START)
    // the instance 240 s behind and tokens living 240 s: each token reaches the gateway at the second of its exp
    const instance = () => new Date(gw.ms - 240_000)
    const accepted = await setup({ gateway: gw.now, instance, ttlSeconds: 240, refreshBeforeSeconds: 60 })
    expect((await accepted.client.checkModelConfiguration(MODEL)).attempts).toBe(1)
    expect(reasons(accepted.emulator)).toEqual(['200'])
    await emulator?.stop()
    // the same timing with a key the gateway does not trust: the 401 is the signature's, the skew only a note
    const refused = await setup({ gateway: gw.now, instance, ttlSeconds: 240, refreshBeforeSeconds: 60, key: B })
    const err = await rejection(refused.client.checkModelConfiguration(MODEL))
    expect(err).toBeInstanceOf(GatewayAuthError)
    expect(err).not.toBeInstanceOf(ClockSkewError)
    expect((err as GatewayAuthError).code).toBe('ERR_GATEWAY_UNAUTHORIZED')
    expect((err as GatewayAuthError).clockSkew).toEqual({ skewSeconds: 240, gatewayDate: '2026-02-01T12:00:00.000Z', localDate: '2026-02-01T11:56:00.000Z', effect: 'none' })
    expect((err as GatewayAuthError).message).toContain('and it allows no leeway, which did not by itself invalidate this token.')
    expect(reasons(refused.emulator)).toEqual(['401 Signature verification failed.', '401 Signature verification failed.'])
  })

  it('instance more than refreshBeforeSeconds behind: once per token lifetime, one 401 and a forced refresh that succeeds', async () => {
    const gw = manualClock(START)
    const instance = () => new Date(gw.ms - 310_000)
    const { client, issuer, emulator: e } = await setup({ gateway: gw.now, instance })
    expect((await client.checkModelConfiguration(MODEL)).attempts).toBe(1)
    // 3299 s later by both clocks: the instance still serves its cached token (refresh at exp − 300 s by
    // its clock), but at the gateway that token expired 9 s ago.
    gw.advance(3299)
    const r = await client.checkModelConfiguration(MODEL)
    expect(r.status).toBe(200)
    expect(r.attempts).toBe(2)
    expect(issuer.stats.mints).toBe(2)
    expect(reasons(e)).toEqual(['200', '401 Signature has expired.', '200'])
  })
})

describe('key rotation, end to end', () => {
  function ringLogger() {
    const events: { event: string; fields: Record<string, unknown> }[] = []
    return { events, logger: { warn: asEvent((event, fields) => events.push({ event, fields })) } as Logger }
  }

  it('strict: a key published less than 24 h ago is refused for signing; after 24 h it signs, the old key verifies until trimmed', async () => {
    const clock = manualClock(START)
    const ring = createKeyRing({ keys: [{ key: A, createdAt: new Date(START - 30 * 86_400_000) }], now: clock.now, strict: true })
    const { client, issuer, emulator: e } = await setup({ gateway: clock.now, instance: clock.now, key: ring })
    expect((await client.checkModelConfiguration(MODEL)).status).toBe(200)
    expect(issuer.kid).toBe(A.kid)

    // create B, publish it (the instance serves both keys), record when
    ring.add(B, { publishedAt: null })
    e.publishKeys(ring.list().map((k) => k.key))
    ring.markPublished(B.kid)
    expect(e.jwks.keys.map((k) => k.kid)).toEqual([A.kid, B.kid])

    // strict refuses to rotate before the gateway's cache can know B
    clock.advance(23 * 3600)
    expect(() => ring.rotate()).toThrow(expect.objectContaining({ code: 'ERR_KEY_NOT_PUBLISHED', kid: B.kid }))
    expect((await client.checkModelConfiguration(MODEL)).status).toBe(200)
    expect(issuer.kid).toBe(A.kid)
    // a token A signed shortly before the rotation
    const oldToken = await issuer.issue()
    expect(oldToken.header.kid).toBe(A.kid)

    clock.advance(3600)
    expect(ring.rotate().kid).toBe(B.kid)
    // the gateway's cache (loaded at START) has expired: it discovers [A, B] again
    const r = await client.checkModelConfiguration(MODEL)
    expect(r.status).toBe(200)
    expect(issuer.kid).toBe(B.kid)

    const send = (token: string) =>
      fetch(`${e.url}/v1/prompts/model_configuration%2Fcheck`, {
        method: 'POST',
        headers: { authorization: `Bearer ${token}`, 'x-gitlab-authentication-type': 'oidc', 'x-gitlab-instance-id': INSTANCE_ID, 'x-gitlab-realm': 'self-managed', 'content-type': 'application/json' },
        body: JSON.stringify({ inputs: {}, stream: false, model_metadata: { name: 'm', provider: 'openai', endpoint: 'http://model:8000/v1', api_key: null, identifier: null } }),
      }).then((res) => res.status)
    // the old key keeps verifying while it is published...
    expect(await send(oldToken.token)).toBe(200)
    // ...until trimmed and the gateway reloads
    expect(ring.trim()?.kid).toBe(A.kid)
    e.publishKeys(ring.list().map((k) => k.key))
    await e.refreshGatewayKeys()
    expect(await send(oldToken.token)).toBe(401)
    expect(e.requests.at(-1)?.verdict?.reason).toBe('Signature verification failed.')
    expect((await client.checkModelConfiguration(MODEL)).status).toBe(200)
  })

  it('strict: a current key that is not published yet signs nothing, and nothing is sent', async () => {
    const clock = manualClock(START)
    const ring = createKeyRing({ keys: [{ key: B, createdAt: new Date(START), publishedAt: null }], now: clock.now, strict: true })
    const { client, emulator: e } = await setup({ gateway: clock.now, instance: clock.now, key: ring })
    const err = await rejection(client.checkModelConfiguration(MODEL))
    expect(err).toBeInstanceOf(KeyError)
    expect((err as KeyError).code).toBe('ERR_KEY_NOT_PUBLISHED')
    expect(e.countRequests({ side: 'gateway' })).toBe(0)
  })

  it('default: rotating early warns, and the gateway indeed refuses the new key until its cache expires', async () => {
    const clock = manualClock(START)
    const { events, logger } = ringLogger()
    const ring = createKeyRing({ keys: [{ key: A, createdAt: new Date(START - 30 * 86_400_000) }], now: clock.now, logger })
    const { client, emulator: e } = await setup({ gateway: clock.now, instance: clock.now, key: ring })
    expect((await client.checkModelConfiguration(MODEL)).status).toBe(200)

    ring.add(B, { publishedAt: null })
    e.publishKeys(ring.list().map((k) => k.key))
    ring.markPublished(B.kid)
    clock.advance(3600)
    expect(ring.rotate().kid).toBe(B.kid)

    const err = await rejection(client.checkModelConfiguration(MODEL))
    expect(err).toBeInstanceOf(GatewayAuthError)
    expect((err as GatewayAuthError).code).toBe('ERR_GATEWAY_UNAUTHORIZED')
    expect((err as GatewayAuthError).message).toContain('the key was published at least 24 h ago')
    expect(ring.warnings.map((w) => [w.code, w.kid])).toEqual([['KEY_PUBLISHED_RECENTLY', B.kid]])
    expect(events.map((x) => [x.event, x.fields.code, x.fields.kid])).toEqual([['keyring.key_not_ready', 'KEY_PUBLISHED_RECENTLY', B.kid]])
    expect(reasons(e).slice(-2)).toEqual(['401 Signature verification failed.', '401 Signature verification failed.'])

    // 24 h after the gateway loaded its keys it fetches them again and knows B
    clock.advance(23 * 3600)
    expect((await client.checkModelConfiguration(MODEL)).status).toBe(200)
    expect(ring.signingStatus().ready).toBe(true)
  })
})
