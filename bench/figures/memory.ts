/**
 * Figure 6 — memory over one million token attachments through the client's hot path, without
 * sockets. The hot path is `Authorizer.authorize()` (src/client/auth.ts), which both
 * `createGatewayClient` and `createAuthenticatedFetch` run once per request: token from the source and
 * its cache, preflight (memoised per clock second), the header object with Authorization. Each call
 * gets a fresh header set with a new X-Request-ID, as the client builds it. 6b runs fewer requests
 * through the whole public fetch adapter (Request objects, body buffering) with a `fetch` that answers
 * at once.
 *
 * The injected clock advances on every request (about 2.8 hours per run), so tokens are refreshed
 * several times on the way, as in a long-running service. Baseline: the heap after GC once warm.
 *
 * The token cache's bound: the issuer keeps one entry per token identity, which the run proves by the
 * distinct tokens attached equalling the mints; and `createTokenCache` (the cache the issuer uses) is
 * driven with as many gets over ten times more keys than its `maxEntries`, sampling its size.
 */
import { randomUUID } from 'node:crypto'
import type { TokenIssuer } from '../../src/index.js'
// The pieces of the bench taken from the sources, not the build: the per-request step the client and the
// fetch adapter share, and the issuer's token cache, are not exported. They run here over the build's
// issuer, and only memory is measured.
import { Authorizer } from '../../src/client/auth.js'
import { createTokenCache } from '../../src/token/cache.js'
import { collectGarbage, heapAfterGc, summarize } from '../harness.js'
import { GATEWAY_HEADERS, INSTANCE, makeIssuer, measure, proof, UNIT_PRIMITIVE, type Figure, type FigureResult, type Proof } from '../context.js'
import { sdk } from '../sdk.js'

const { createAuthenticatedFetch, DEFAULT_AUDIENCE, LIMITS } = sdk
const DEFAULT_REFRESH_BEFORE_SECONDS = LIMITS.refreshBeforeSeconds
const DEFAULT_TTL_SECONDS = LIMITS.tokenTtlSeconds

const CHECKPOINTS = 10
const MAX_GROWTH_MB = 10
const CACHE_BOUND = 100
const MB = 1024 * 1024
/** Clock time that passes per run, so that tokens rotate the same number of times at any scale. */
const CLOCK_SPAN_MS = 10_000_000

export const memoryFigure: Figure = async (ctx) => {
  const { key, counts, log } = ctx

  // 6: the million, through the hot path itself.
  const n = counts.attachments
  const hot = clocked(n)
  const hotIssuer = makeIssuer(key, { now: hot.now })
  const authorizer = new Authorizer({ tokenSource: hotIssuer, audience: DEFAULT_AUDIENCE, now: hot.now, leewaySeconds: undefined, logger: undefined })
  const hotSeen = new TokenTally()
  const hotRun = await heapRun(n, async () => {
    hot.advance()
    const base = { ...GATEWAY_HEADERS, 'x-request-id': randomUUID() }
    const auth = await authorizer.authorize({ unitPrimitive: UNIT_PRIMITIVE, base, signal: undefined, requestTimeoutMs: 60_000, endpoint: 'codeCompletions' })
    hotSeen.add(auth.headers['authorization'])
  })
  log(`  6: ${n} attachments in ${hotRun.seconds.toFixed(1)} s`)

  // createTokenCache under key churn: every get misses and evicts.
  const cache = createTokenCache<{ token: string; expiresAt: Date }>({ maxEntries: CACHE_BOUND, now: hot.now })
  const keys = Array.from({ length: CACHE_BOUND * 10 }, (_, i) => `tenant-${i}`)
  const value = { token: 'x', expiresAt: new Date(hot.now().getTime() + 3_600_000) }
  const mint = () => Promise.resolve(value)
  let maxSize = 0
  const cacheRun = await heapRun(n, async (i) => {
    await cache.get(keys[i % keys.length] as string, mint)
    if (cache.size > maxSize) maxSize = cache.size
  })

  // 6b: the whole public fetch adapter.
  const m = Math.max(1_000, Math.round(n / 10))
  const full = clocked(m)
  const fullIssuer = makeIssuer(key, { now: full.now })
  const fullSeen = new TokenTally()
  const answer = new Response(null, { status: 200 })
  const authFetch = createAuthenticatedFetch({
    baseUrl: 'http://gateway.bench.invalid',
    tokenSource: fullIssuer,
    headers: { instance: INSTANCE },
    now: full.now,
    fetch: (async (input: Request) => {
      fullSeen.add(input.headers.get('authorization') ?? undefined)
      return answer
    }) as unknown as typeof fetch,
  })
  const url = 'http://gateway.bench.invalid/v2/code/completions'
  const init = { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"current_file":{"file_name":"app.py","content_above_cursor":"def "}}' }
  const fullRun = await heapRun(m, async () => {
    full.advance()
    await authFetch(url, init)
  })
  log(`  6b: ${m} requests in ${fullRun.seconds.toFixed(1)} s`)

  const gcOk = collectGarbage !== undefined
  const cacheProof = proof(`createTokenCache size, ${n} gets over ${keys.length} keys`, `≤ ${CACHE_BOUND}`, maxSize, maxSize <= CACHE_BOUND)
  const row = (id: string, title: string, work: string, run: HeapRun, issuer: TokenIssuer, seen: TokenTally, count: number, extra: Proof[], details: Record<string, unknown>): FigureResult => {
    const mints = issuer.stats.mints
    const maxMints = 1 + Math.ceil(CLOCK_SPAN_MS * 1.02 / 1000 / (DEFAULT_TTL_SECONDS - DEFAULT_REFRESH_BEFORE_SECONDS))
    const proofs = [
      proof('GC available (heap figures are after a full GC)', true, gcOk),
      proof('attachments that carried a Bearer JWT', count + run.warmup, seen.attached),
      proof('distinct tokens attached = mints (refreshes replace the cache entry)', mints, seen.distinct),
      proof(`mints over ${(CLOCK_SPAN_MS / 3_600_000).toFixed(1)} h of clock`, `1..${maxMints}`, mints, mints >= 1 && mints <= maxMints),
      ...extra,
    ]
    return {
      id,
      title,
      runs: CHECKPOINTS,
      work,
      candidate: measure('heap after GC at each checkpoint', 'MB', summarize(run.heaps)),
      baseline: measure('heap after GC before the run (warm)', 'MB', summarize([run.before / MB])),
      comparison: { kind: 'growth', unit: 'MB', description: 'heap growth after GC (lower is better)', ...summarize(run.growth) },
      target: { text: `< ${MAX_GROWTH_MB} MB${extra.length > 0 ? ', cache ≤ bound' : ''}`, met: proofs.every((p) => p.ok) && run.worst < MAX_GROWTH_MB },
      proofs,
      details: { ...details, seconds: run.seconds, perSecond: count / run.seconds, worstGrowthMB: run.worst, warmup: run.warmup, mints },
    }
  }
  return [
    row('6', 'Memory, token attachments (no sockets)', `${n} Authorizer.authorize() calls, heap after GC every ${Math.round(n / CHECKPOINTS)}`, hotRun, hotIssuer, hotSeen, n, [cacheProof], {
      attachments: n,
      cacheGets: n,
      cacheMaxEntries: CACHE_BOUND,
      cacheMaxSizeSeen: maxSize,
      cacheEvictions: cache.stats.evictions,
      cacheWorstGrowthMB: cacheRun.worst,
    }),
    row('6b', 'Memory, whole fetch adapter (no sockets)', `${m} createAuthenticatedFetch POSTs, heap after GC every ${Math.round(m / CHECKPOINTS)}`, fullRun, fullIssuer, fullSeen, m, [], { requests: m }),
  ]
}

// ---------------------------------------------------------------------------------------------

interface HeapRun {
  before: number
  heaps: number[]
  growth: number[]
  worst: number
  seconds: number
  warmup: number
}

/** Warm up, then run `n` operations in CHECKPOINTS slices, taking the heap after GC after each. */
async function heapRun(n: number, op: (i: number) => Promise<void>): Promise<HeapRun> {
  const warmup = Math.min(10_000, Math.max(100, Math.round(n / 100)))
  for (let i = 0; i < warmup; i++) await op(i)
  const before = await heapAfterGc()
  const heaps: number[] = []
  const growth: number[] = []
  let busy = 0
  let done = 0
  for (let c = 0; c < CHECKPOINTS; c++) {
    const until = Math.round((n * (c + 1)) / CHECKPOINTS)
    const start = performance.now()
    for (; done < until; done++) await op(warmup + done)
    busy += performance.now() - start
    const heap = await heapAfterGc()
    heaps.push(heap / MB)
    growth.push((heap - before) / MB)
  }
  return { before, heaps, growth, worst: Math.max(...growth), seconds: busy / 1000, warmup }
}

/** A clock that moves CLOCK_SPAN_MS over `n` requests (plus warm-up), one step per request. */
function clocked(n: number): { now: () => Date; advance: () => void } {
  let ms = Date.parse('2026-03-01T12:00:00.000Z')
  const step = CLOCK_SPAN_MS / n
  return { now: () => new Date(ms), advance: () => void (ms += step) }
}

/** Counts Bearer JWTs attached and keeps the distinct ones (a handful: one per mint). */
class TokenTally {
  attached = 0
  readonly #distinct = new Set<string>()
  add(authorization: string | undefined): void {
    if (authorization === undefined || !authorization.startsWith('Bearer ey')) return
    this.attached++
    if (!this.#distinct.has(authorization)) this.#distinct.add(authorization)
  }
  get distinct(): number {
    return this.#distinct.size
  }
}
