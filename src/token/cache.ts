import { InvalidOptionsError } from '../errors.js'
import type { Log } from '../log.js'
import type { Clock } from '../types.js'

/**
 * A small token cache in the manner of google-auth-library's jwtaccess and octokit/auth-app:
 *
 * - eager refresh: an entry is served until `refreshBeforeSeconds` before it expires (under the
 *   injected clock); from that instant on the next caller mints a new one;
 * - single flight: concurrent callers for the same key share one pending mint (100 callers on a cold
 *   cache → one mint), and a refresh in flight is shared too;
 * - bounded: at most `maxEntries`, least recently used evicted first;
 * - `invalidate()` drops everything (mints already in flight still answer their callers, but are
 *   not stored); `forceRefresh` skips the cache (used after a 401);
 * - an optional external store `{ get, set }` (sync or async, e.g. Redis) behind the in-memory map,
 *   holding strings only; its failures are logged and never fail a request.
 *
 * If an eager refresh fails while the cached token is still valid, the cached token is served and
 * the failure logged: a signer outage then costs nothing until the token really expires.
 */
export function createTokenCache<T extends { expiresAt: Date }>(options: TokenCacheOptions<T> = {}): TokenCache<T> {
  const refreshBeforeMs = checkInt(options.refreshBeforeSeconds ?? DEFAULT_REFRESH_BEFORE_SECONDS, 'refreshBeforeSeconds', 0) * 1000
  const maxEntries = checkInt(options.maxEntries ?? DEFAULT_MAX_ENTRIES, 'maxEntries', 1)
  const now = options.now
  const { store, codec, logger } = options
  if (store && !codec) {
    throw new InvalidOptionsError('createTokenCache: options.codec is required with options.store (the store holds strings).', [
      { path: 'options.codec', message: 'is required with options.store' },
    ])
  }

  // Least recently used first: the Map's insertion order, an entry moved to the end when it is used.
  // Each value is held with its instants as numbers, read on every lookup.
  const entries = new Map<string, Entry<T>>()
  // The key of the last entry of `entries` (when it is still there): using it again needs no move. A
  // service asks for one token over and over, and moving it costs more than the rest of a hit.
  let newest: string | undefined
  const inflight = new Map<string, { promise: Promise<T>; forced: boolean }>()
  const stats = { mints: 0, cacheHits: 0, refreshes: 0, evictions: 0, refreshFailures: 0 }
  let generation = 0

  // Without an injected clock, the time is read as a number: no Date is made per lookup.
  const nowMs =
    now === undefined
      ? Date.now
      : (): number => {
          const t = now().getTime()
          if (!Number.isFinite(t)) throw new InvalidOptionsError('The injected clock (options.now) returned an invalid Date.')
          return t
        }
  const isFresh = (value: T, at: number): boolean => at < value.expiresAt.getTime() - refreshBeforeMs

  function remember(key: string, value: T): void {
    const expiresAt = value.expiresAt.getTime()
    entries.delete(key)
    entries.set(key, { value, expiresAt, refreshAt: expiresAt - refreshBeforeMs })
    newest = key
    if (entries.size <= maxEntries) return
    const at = nowMs()
    for (const [k, v] of entries) {
      if (entries.size <= maxEntries) break
      if (v.expiresAt <= at) entries.delete(k)
    }
    for (const k of entries.keys()) {
      if (entries.size <= maxEntries) break
      entries.delete(k)
      stats.evictions++
    }
  }

  async function fromStore(key: string, at: number): Promise<T | undefined> {
    if (!store || !codec) return undefined
    try {
      const raw = await store.get(key)
      if (typeof raw !== 'string' || raw.length === 0) return undefined
      const value = codec.decode(raw)
      return value && isFresh(value, at) ? value : undefined
    } catch (err) {
      logger?.warn?.('cloud_connector.token_cache.store_get_failed', { error: errorName(err) })
      return undefined
    }
  }

  async function toStore(key: string, value: T): Promise<void> {
    if (!store || !codec) return
    const ttlSeconds = Math.floor((value.expiresAt.getTime() - refreshBeforeMs - nowMs()) / 1000)
    if (ttlSeconds <= 0) return
    try {
      await store.set(key, codec.encode(value), ttlSeconds)
    } catch (err) {
      logger?.warn?.('cloud_connector.token_cache.store_set_failed', { error: errorName(err) })
    }
  }

  function startFlight(key: string, mint: () => Promise<T>, forced: boolean): Promise<T> {
    const gen = generation
    const promise = (async (): Promise<T> => {
      const at = nowMs()
      const previous = entries.get(key)?.value
      if (!forced) {
        const stored = await fromStore(key, at)
        if (stored) {
          if (gen === generation) remember(key, stored)
          stats.cacheHits++
          return stored
        }
      }
      stats.mints++
      if (previous) stats.refreshes++
      let value: T
      try {
        value = await mint()
      } catch (err) {
        if (!forced && previous && nowMs() < previous.expiresAt.getTime()) {
          stats.refreshFailures++
          logger?.warn?.('cloud_connector.token_cache.refresh_failed', {
            error: errorName(err),
            servingUntil: previous.expiresAt.toISOString(),
          })
          return previous
        }
        throw err
      }
      if (gen === generation) remember(key, value)
      await toStore(key, value)
      return value
    })()
    const flight = { promise, forced }
    inflight.set(key, flight)
    const done = (): void => {
      if (inflight.get(key) === flight) inflight.delete(key)
    }
    promise.then(done, done)
    return promise
  }

  /** A fresh in-memory entry, marked recently used and counted as a hit. */
  function lookup(key: string, at?: number): T | undefined {
    const hit = entries.get(key)
    if (hit === undefined || (at ?? nowMs()) >= hit.refreshAt) return undefined
    if (key !== newest) {
      entries.delete(key)
      entries.set(key, hit)
      newest = key
    }
    stats.cacheHits++
    return hit.value
  }

  return {
    get(key, mint, opts) {
      const forced = opts?.forceRefresh === true
      if (!forced) {
        const hit = lookup(key)
        if (hit) return Promise.resolve(hit)
      }
      const pending = inflight.get(key)
      // A forced refresh must not be answered by a flight that may return the old token.
      if (pending && (pending.forced || !forced)) {
        stats.cacheHits++
        return pending.promise
      }
      return startFlight(key, mint, forced)
    },
    lookup,
    peek(key) {
      const hit = entries.get(key)
      return hit !== undefined && nowMs() < hit.refreshAt ? hit.value : undefined
    },
    invalidate(key) {
      // A mint already in flight still answers its callers but is not stored afterwards.
      generation++
      if (key === undefined) {
        entries.clear()
        inflight.clear()
        newest = undefined
      } else {
        entries.delete(key)
        inflight.delete(key)
      }
    },
    get size() {
      return entries.size
    },
    get stats() {
      return { ...stats }
    },
  }
}

/** A cached value with its expiry and its refresh instant, in ms since the epoch. */
interface Entry<T> {
  value: T
  expiresAt: number
  refreshAt: number
}

export const DEFAULT_REFRESH_BEFORE_SECONDS = 300
export const DEFAULT_MAX_ENTRIES = 100

export interface TokenCacheOptions<T> {
  /** Refresh this many seconds before `expiresAt` (default 300). */
  refreshBeforeSeconds?: number
  /** Most entries kept in memory (default 100); the least recently used go first. */
  maxEntries?: number
  now?: Clock
  /** Optional shared cache (Redis, memcached, ...), consulted on a memory miss. */
  store?: ExternalTokenStore
  /** How values go to and from `store`; `decode` returns undefined for anything unusable. */
  codec?: { encode(value: T): string; decode(raw: string): T | undefined }
  logger?: Log | undefined
}

/** The pluggable cache interface (as in octokit/auth-app): sync or async, strings only. */
export interface ExternalTokenStore {
  get(key: string): string | undefined | null | Promise<string | undefined | null>
  /** `ttlSeconds`: when the entry stops being useful (its refresh moment). */
  set(key: string, value: string, ttlSeconds: number): unknown
}

export interface TokenCacheStats {
  /** Calls that ran the mint function. */
  mints: number
  /** Calls answered without minting (memory, store, or a shared in-flight mint). */
  cacheHits: number
  /** Mints that replaced an entry nearing expiry. */
  refreshes: number
  evictions: number
  /** Eager refreshes that failed while the old token was still served. */
  refreshFailures: number
}

export interface TokenCache<T extends { expiresAt: Date }> {
  /** The cached value for `key`, or the result of `mint()` (shared by concurrent callers). */
  get(key: string, mint: () => Promise<T>, options?: { forceRefresh?: boolean }): Promise<T>
  /**
   * What `get()` answers without minting: the fresh in-memory value, marked recently used and counted
   * as a hit; `undefined` when `get()` would have to mint (or ask the store). `at`: the current time in ms
   * since the epoch, when the caller has just read it from the cache's clock (default: the clock is read).
   */
  lookup(key: string, at?: number): T | undefined
  /** The fresh in-memory value, without minting or counting. */
  peek(key: string): T | undefined
  /** Drop one key, or everything. */
  invalidate(key?: string): void
  readonly size: number
  readonly stats: TokenCacheStats
}

function checkInt(value: unknown, name: string, min: number): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min) {
    throw new InvalidOptionsError(`token cache: options.cache.${name} must be an integer >= ${min}.`, [
      { path: `options.cache.${name}`, message: `must be an integer >= ${min}` },
    ])
  }
  return value
}

function errorName(err: unknown): string {
  if (err && typeof err === 'object') {
    const code = (err as { code?: unknown }).code
    if (typeof code === 'string') return code
    const name = (err as { name?: unknown }).name
    if (typeof name === 'string') return name
  }
  return typeof err
}
