/**
 * Load, bounded: the client against the emulator over loopback sockets, each run with a fixed request
 * count and a hard time cap, stopping by itself.
 *
 * 1. Token lifetime under load: 200 concurrent requests, tokens living 3 s and refreshed 1 s before
 *    expiry. The emulator runs in a child process (emulator-process.ts), so that the client and the
 *    gateway each have a core as they would in production; time is the real clock. The assertion on
 *    mints is exact: replaying the cache's refresh rule over the instants tokens were asked for gives
 *    the number of token lifetimes elapsed, and the issuer minted exactly that many (± 1 for an ask
 *    that races a refresh instant) — a handful, not one per request. 20,000 requests, in CI too
 *    (about 30 s on two cores).
 * 2. The emulator stopped and restarted on the same ports in the middle of a run: requests during the
 *    outage fail with NetworkError (ERR_NETWORK), every request started after the restart succeeds,
 *    and no socket, server or timer is left behind.
 */
import { setTimeout as sleep } from 'node:timers/promises'
import { describe, expect, it } from 'vitest'
import {
  CloudConnectorError,
  createGatewayClient,
  createTokenIssuer,
  NetworkError,
  type TokenRequest,
  type TokenSource,
} from '../../src/index.js'
import { builtInCatalog } from '../../src/catalog/index.js'
import { startEmulator } from '../../src/emulator/index.js'
import { loadCaseFixture } from '../cases/fixture.js'
import { budget, FIXTURE_KEY_FILE, HEAVY, INSTANCE_ID } from './config.js'
import { startEmulatorProcess } from './emulator-process.js'

const fx = loadCaseFixture()
const MODEL = { name: 'mistral', endpoint: 'http://model:8000/v1' }
const ALL_ADD_ONS = [...builtInCatalog.addOns.keys()]

const REQUESTS = 20_000
const CONCURRENCY = 200
const TTL_SECONDS = 3
const REFRESH_BEFORE_SECONDS = 1
const HARD_CAP_MS = HEAVY ? 240_000 : 150_000

/** Run `total` jobs on `concurrency` workers; the cap aborts whatever is still running. */
async function pool(total: number, concurrency: number, capMs: number, job: (i: number, signal: AbortSignal) => Promise<void>): Promise<void> {
  const controller = new AbortController()
  const cap = setTimeout(() => controller.abort(new Error(`hard cap of ${capMs} ms reached`)), capMs)
  let next = 0
  try {
    await Promise.all(
      Array.from({ length: concurrency }, async () => {
        while (next < total && !controller.signal.aborted) await job(next++, controller.signal)
      }),
    )
  } finally {
    clearTimeout(cap)
  }
  if (controller.signal.aborted) throw controller.signal.reason
}

/**
 * The token cache's rule, replayed: a token minted at t (iat = floor(t)) serves asks until
 * (iat + ttl − refreshBefore) s; the first ask at or after that mints the next one.
 */
function lifetimesFor(askedAtMs: readonly number[]): number {
  let lifetimes = 0
  let refreshAtMs = Number.NEGATIVE_INFINITY
  for (const t of askedAtMs) {
    if (t >= refreshAtMs) {
      lifetimes++
      refreshAtMs = (Math.floor(t / 1000) + TTL_SECONDS - REFRESH_BEFORE_SECONDS) * 1000
    }
  }
  return lifetimes
}

describe(`load: ${REQUESTS.toLocaleString('en')} requests at concurrency ${CONCURRENCY}, tokens living ${TTL_SECONDS} s`, () => {
  it(
    'zero failures, zero 401s, and one mint per token lifetime, not per request',
    async () => {
      const emulator = await startEmulatorProcess(FIXTURE_KEY_FILE, INSTANCE_ID)
      try {
        const issuer = createTokenIssuer({
          issuer: emulator.instanceUrl,
          instanceId: INSTANCE_ID,
          realm: 'self-managed',
          key: fx.key,
          addOns: ALL_ADD_ONS,
          ttlSeconds: TTL_SECONDS,
          cache: { refreshBeforeSeconds: REFRESH_BEFORE_SECONDS },
        })
        // When tokens were asked for: that alone determines how many lifetimes the run spans.
        const askedAt: number[] = []
        const source: TokenSource = {
          getToken(request: TokenRequest) {
            askedAt.push(Date.now())
            return issuer.getToken(request)
          },
        }
        const client = createGatewayClient({
          baseUrl: emulator.url,
          tokenSource: source,
          headers: { instance: { id: INSTANCE_ID, realm: 'self-managed', hostName: '127.0.0.1' } },
          retry: false,
          timeout: 30_000,
        })
        const failures: unknown[] = []
        let ok = 0
        const started = performance.now()
        await pool(REQUESTS, CONCURRENCY, HARD_CAP_MS, async (_i, signal) => {
          try {
            const r = await client.checkModelConfiguration(MODEL, { signal })
            if (r.status === 200 && r.attempts === 1) ok++
            else failures.push(r)
          } catch (e) {
            failures.push(e)
          }
        })
        const seconds = (performance.now() - started) / 1000

        expect(failures).toEqual([])
        expect(ok).toBe(REQUESTS)
        expect(await emulator.countRequests({ side: 'gateway', status: 401 })).toBe(0)
        expect(await emulator.countRequests({ side: 'gateway', status: 200 })).toBe(REQUESTS)
        expect(await emulator.countRequests({ side: 'gateway' })).toBe(REQUESTS)
        // the gateway discovered the instance's keys once
        expect(await emulator.countRequests({ side: 'instance' })).toBe(2)

        // one token per request: no forced refresh happened
        expect(askedAt).toHaveLength(REQUESTS)
        const lifetimes = lifetimesFor(askedAt)
        expect(Math.abs(issuer.stats.mints - lifetimes)).toBeLessThanOrEqual(1)
        expect(issuer.stats.mints + issuer.stats.cacheHits).toBe(REQUESTS)
        // tokens did expire and get replaced during the run, a handful of times
        const spanSeconds = ((askedAt.at(-1) ?? 0) - (askedAt[0] ?? 0)) / 1000
        expect(lifetimes).toBeGreaterThanOrEqual(2)
        expect(lifetimes).toBeLessThanOrEqual(Math.ceil(spanSeconds) + 1)
        console.info(
          `[load] ${REQUESTS} requests, concurrency ${CONCURRENCY}: ${seconds.toFixed(1)} s, ${(REQUESTS / seconds).toFixed(0)} req/s, ` +
            `${issuer.stats.mints} mints for ${lifetimes} token lifetimes over ${spanSeconds.toFixed(1)} s`,
        )
      } finally {
        await emulator.stop()
      }
    },
    budget(HARD_CAP_MS + 15_000, HARD_CAP_MS + 60_000),
  )
})

describe('load: the emulator stopped and restarted on the same ports in the middle of a run', () => {
  it(
    'outage requests fail with ERR_NETWORK, every request after the restart succeeds, nothing is left open',
    async () => {
      // the baseline once earlier tests' sockets have finished closing
      let before = resources()
      for (let i = 0; i < 100 && (before.TCPServerWrap !== 0 || before.TCPSocketWrap !== 0); i++) {
        await sleep(20)
        before = resources()
      }
      let emulator = await startEmulator({ key: fx.key, instance: { instanceId: INSTANCE_ID } })
      const port = Number(new URL(emulator.url).port)
      const instancePort = Number(new URL(emulator.instanceUrl).port)
      const issuer = createTokenIssuer({ issuer: emulator.instanceUrl, instanceId: INSTANCE_ID, realm: 'self-managed', key: fx.key, addOns: ALL_ADD_ONS })
      const client = createGatewayClient({
        baseUrl: emulator.url,
        tokenSource: issuer,
        headers: { instance: { id: INSTANCE_ID, realm: 'self-managed' } },
        retry: false,
        timeout: 5_000,
      })

      type Outcome = { startedAt: number; ok: boolean; error?: unknown }
      const outcomes: Outcome[] = []
      let phase: 'up' | 'stopping' | 'down' | 'restarting' | 'restarted' = 'up'
      let restartedAt = Number.POSITIVE_INFINITY
      let outageFailures = 0
      const TOTAL = 1_500

      const controller = async () => {
        while (outcomes.filter((o) => o.ok).length < 300) await sleep(5)
        phase = 'stopping'
        await emulator.stop()
        phase = 'down'
        while (outageFailures < 50) await sleep(5)
        phase = 'restarting'
        emulator = await startEmulator({ key: fx.key, instance: { instanceId: INSTANCE_ID }, port, instancePort })
        restartedAt = performance.now()
        phase = 'restarted'
      }
      const load = pool(TOTAL, 20, 60_000, async () => {
        // while the emulator is down, keep the failures coming but do not spin
        if (phase === 'down' || phase === 'restarting') await sleep(2)
        const startedAt = performance.now()
        try {
          await client.checkModelConfiguration(MODEL)
          outcomes.push({ startedAt, ok: true })
        } catch (error) {
          outcomes.push({ startedAt, ok: false, error })
          if (phase === 'down') outageFailures++
        }
      })
      await Promise.all([controller(), load])
      await emulator.stop()

      expect(new URL(emulator.url).port).toBe(String(port))
      expect(new URL(emulator.instanceUrl).port).toBe(String(instancePort))
      const failed = outcomes.filter((o) => !o.ok)
      expect(failed.length).toBeGreaterThanOrEqual(50)
      for (const f of failed) {
        expect(f.error).toBeInstanceOf(NetworkError)
        expect((f.error as CloudConnectorError).code).toBe('ERR_NETWORK')
      }
      // refused connections while down; at most the requests in flight at the stop saw a reset
      const errnos = new Set(failed.map((f) => (f.error as NetworkError & { errno?: string }).errno))
      expect(errnos.has('ECONNREFUSED')).toBe(true)
      const after = outcomes.filter((o) => o.startedAt >= restartedAt)
      expect(after.length).toBeGreaterThan(500)
      expect(after.every((o) => o.ok)).toBe(true)
      expect(outcomes).toHaveLength(TOTAL)
      // the restarted gateway knew nothing: it discovered the keys again, once
      expect(emulator.countRequests({ side: 'instance' })).toBe(2)

      // nothing left open: sockets, servers and timers back to what was there before
      // (timers: none more than before — the runner's own may have finished meanwhile)
      let now = resources()
      for (let i = 0; i < 100 && !settled(before, now); i++) {
        await sleep(20)
        now = resources()
      }
      expect({ sockets: now.TCPSocketWrap, servers: now.TCPServerWrap }).toEqual({ sockets: before.TCPSocketWrap, servers: before.TCPServerWrap })
      expect(now.Timeout).toBeLessThanOrEqual(before.Timeout ?? 0)
    },
    budget(60_000, 120_000),
  )
})

/** The handles that keep the process alive, by kind (only the kinds a server or a client creates). */
function resources(): Record<string, number> {
  const out: Record<string, number> = { TCPSocketWrap: 0, TCPServerWrap: 0, Timeout: 0 }
  for (const kind of process.getActiveResourcesInfo()) if (kind in out) out[kind] = (out[kind] ?? 0) + 1
  return out
}

function settled(before: Record<string, number>, now: Record<string, number>): boolean {
  return now.TCPSocketWrap === before.TCPSocketWrap && now.TCPServerWrap === before.TCPServerWrap && (now.Timeout ?? 0) <= (before.Timeout ?? 0)
}
