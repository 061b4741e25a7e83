/**
 * A key ring with GitLab's semantics (`ee/app/models/cloud_connector/keys.rb`):
 *
 * - keys are kept in creation order (`ordered_by_date`: `created_at` ascending) and the current
 *   signing key is the *first*, i.e. the oldest one (`current`);
 * - rotation is four steps: `add` a new key (`create_new_key!`: it becomes the newest) →
 *   publish it (serve `jwks()`, which lists every key, then `markPublished`) → `rotate`
 *   (`rotate!`: needs exactly two keys and swaps them, so the new key becomes current and the
 *   old one moves to the end) → `trim` (`trim!`: removes the last key, refusing to remove the
 *   only one). Until trimmed, the old key stays in `jwks()`, so tokens it signed still verify.
 *
 * On top of GitLab: each key carries the time it was first published. The AI Gateway caches the
 * instance's JWKS for 24 h (domain.md §5), so a key published less than `publishDelaySeconds` ago
 * may be unknown to it. Signing with such a key warns (logger + `warnings`) by default and throws
 * `KeyError` `ERR_KEY_NOT_PUBLISHED` in strict mode.
 *
 * A key given without `publishedAt` counts as published when it was created: GitLab's JWKS
 * endpoint serves every valid key from the moment it exists. Pass `publishedAt: null` for a key
 * that is not served yet, and call `markPublished` once it is.
 */
import { KeyObject } from 'node:crypto'
import type { z } from 'zod'
import { lazy } from '../zod.js'
import { CloudConnectorError, InvalidOptionsError, KeyError } from '../errors.js'
import { toLog, type Logger } from '../log.js'
import type { Clock, SigningKey } from '../types.js'
import { toJwks, type Jwks } from './jwks.js'

/** How long the AI Gateway caches an issuer's JWKS: 24 h. */
export const DEFAULT_PUBLISH_DELAY_SECONDS = 86_400

export interface KeyRingKeyInput {
  key: SigningKey
  /** The key's `created_at`: orders the ring (oldest first = current). */
  createdAt: Date
  /** When the public key was first served in the JWKS. Absent: `createdAt`. `null`: not yet. */
  publishedAt?: Date | null
}

export interface KeyRingOptions {
  keys?: KeyRingKeyInput[]
  now?: Clock
  /** Refuse (throw) instead of warn when signing with a key published too recently. Default false. */
  strict?: boolean
  /** How long a key must have been published before it signs. Default 86 400 (24 h). */
  publishDelaySeconds?: number
  logger?: Logger
}

export interface KeyRingEntry {
  readonly kid: string
  readonly key: SigningKey
  readonly createdAt: Date
  /** `null` while the key has not been published. */
  readonly publishedAt: Date | null
  /** `publishedAt + publishDelaySeconds`: from then on the gateway knows the key. `null` while unpublished. */
  readonly readyAt: Date | null
  /** Whether this is the current signing key (the first in ring order). */
  readonly current: boolean
}

export interface KeyRingWarning {
  code: 'KEY_NOT_PUBLISHED' | 'KEY_PUBLISHED_RECENTLY'
  kid: string
  /** What is wrong and what to do. Holds the kid (a public thumbprint), never key material. */
  message: string
  /** When it was observed (the ring's clock). */
  at: Date
  publishedAt: Date | null
  readyAt: Date | null
}

export interface SigningStatus {
  key: SigningKey
  kid: string
  /** True when the key has been published for at least `publishDelaySeconds`. */
  ready: boolean
  publishedAt: Date | null
  readyAt: Date | null
  /** Present when `ready` is false. */
  warning?: KeyRingWarning
}

export interface KeyRing {
  /** The current key: the first in ring order (the oldest, until a rotation swaps it). Throws `ERR_KEYRING_EMPTY`. */
  current(): SigningKey
  /**
   * The current key, checked for publish age: if it was published less than
   * `publishDelaySeconds` ago (or never), logs `keyring.key_not_ready` once per key and records a
   * warning (default), or throws `KeyError` `ERR_KEY_NOT_PUBLISHED` (strict). Use this to sign.
   */
  signingKey(): SigningKey
  /** The publish-age check of `signingKey()`, with no logging, recording or throwing. */
  signingStatus(): SigningStatus
  /** Add a key as the newest (GitLab `create_new_key!`). Rejects a duplicate kid and a public-only key. */
  add(key: SigningKey, options?: { createdAt?: Date; publishedAt?: Date | null }): KeyRingEntry
  /** Record that `kid` is served in the JWKS since `at` (default now). Keeps the earliest time. */
  markPublished(kid: string, at?: Date): KeyRingEntry
  /**
   * GitLab `rotate!`: needs exactly two keys and swaps them, so the newer key becomes current.
   * Strict mode refuses to rotate to a key not yet published for `publishDelaySeconds`.
   * Returns the new current entry.
   */
  rotate(): KeyRingEntry
  /**
   * GitLab `trim!`: remove the last key in ring order (after `rotate`, the old key). Refuses to
   * remove the only key; a no-op on an empty ring. Returns the removed entry.
   */
  trim(): KeyRingEntry | undefined
  /** The keys in ring order (current first). */
  list(): KeyRingEntry[]
  /** Every key of the ring, in ring order, as the instance publishes it at /oauth/discovery/keys. */
  jwks(): Jwks
  readonly size: number
  /** Publish-age warnings seen by `signingKey()`, one per key and kind, oldest first (at most 50). */
  readonly warnings: readonly KeyRingWarning[]
  readonly strict: boolean
  readonly publishDelaySeconds: number
}

/** The ring cannot do what was asked in its current state (rotation count, unknown or duplicate kid, last key). */
export class KeyRingError extends CloudConnectorError {
  static override readonly codes = ['ERR_KEYRING_STATE'] as const
  declare readonly code: (typeof KeyRingError.codes)[number]
  readonly kid: string | undefined
  readonly keyCount: number
  constructor(message: string, details: { kid?: string; keyCount: number }) {
    super('ERR_KEYRING_STATE', message)
    this.kid = details.kid
    this.keyCount = details.keyCount
  }
}

export function createKeyRing(options: KeyRingOptions = {}): KeyRing {
  const parsed = optionsSchema().safeParse(options)
  if (!parsed.success) {
    const issues = parsed.error.issues.map((i) => ({ path: i.path.map(String).join('.') || '(root)', message: i.message.replace(/^Invalid input: /, '') }))
    throw new InvalidOptionsError(`createKeyRing: ${issues.map((i) => `${i.path}: ${i.message}`).join('; ')}`, issues)
  }
  const clock: Clock = options.now ?? (() => new Date())
  const strict = options.strict ?? false
  const publishDelaySeconds = options.publishDelaySeconds ?? DEFAULT_PUBLISH_DELAY_SECONDS
  const logger = toLog(options.logger)
  const delayMs = publishDelaySeconds * 1000

  const slots: Slot[] = []
  const initial = (options.keys ?? []).map((k, i) => ({ ...k, i }))
  // Stable sort: keys created at the same instant keep the order given, as rows with equal
  // created_at would come back in insertion order.
  initial.sort((a, b) => a.createdAt.getTime() - b.createdAt.getTime() || a.i - b.i)
  for (const k of initial) {
    requirePrivate(k.key)
    if (slots.some((s) => s.key.kid === k.key.kid)) {
      throw new InvalidOptionsError(`createKeyRing: keys[${k.i}]: key ${k.key.kid} is given twice; give each key once.`, [
        { path: `keys.${k.i}.key`, message: 'duplicate kid' },
      ])
    }
    slots.push(newSlot(k.key, k.createdAt, k.publishedAt))
  }

  const warnings: KeyRingWarning[] = []
  const warned = new Set<string>()

  const now = (): Date => {
    const d = clock()
    if (!(d instanceof Date) || Number.isNaN(d.getTime())) {
      throw new InvalidOptionsError('createKeyRing: options.now() must return a valid Date.', [{ path: 'now', message: 'returned an invalid Date' }])
    }
    return d
  }
  // Clamped to the last instant a Date can hold: a huge delay (or a publish time near the end of the
  // Date range) must read as "not for a very long time", not as an Invalid Date that breaks toISOString().
  const readyAtOf = (s: Slot): Date | null => (s.publishedAt === null ? null : new Date(Math.min(s.publishedAt.getTime() + delayMs, MAX_DATE_MS)))
  const entry = (s: Slot, index: number): KeyRingEntry =>
    Object.freeze({
      kid: s.key.kid,
      key: s.key,
      createdAt: new Date(s.createdAt),
      publishedAt: s.publishedAt === null ? null : new Date(s.publishedAt),
      readyAt: readyAtOf(s),
      current: index === 0,
    })
  const first = (): Slot => {
    const s = slots[0]
    if (!s) {
      throw new KeyError('ERR_KEYRING_EMPTY', 'The key ring holds no keys: add the instance key first (ring.add(await loadSigningKey(pem))).')
    }
    return s
  }
  const statusOf = (s: Slot, at: Date): SigningStatus => {
    const readyAt = readyAtOf(s)
    const publishedAt = s.publishedAt === null ? null : new Date(s.publishedAt)
    const ready = readyAt !== null && at.getTime() >= readyAt.getTime()
    const base = { key: s.key, kid: s.key.kid, ready, publishedAt, readyAt }
    if (ready) return base
    const warning: KeyRingWarning =
      publishedAt === null
        ? {
            code: 'KEY_NOT_PUBLISHED',
            kid: s.key.kid,
            at,
            publishedAt,
            readyAt,
            message: `Key ${s.key.kid} signs but has not been published: the AI Gateway cannot verify its tokens. Serve ring.jwks() at /oauth/discovery/keys, call ring.markPublished("${s.key.kid}"), and sign with it only ${duration(publishDelaySeconds)} later.`,
          }
        : {
            code: 'KEY_PUBLISHED_RECENTLY',
            kid: s.key.kid,
            at,
            publishedAt,
            readyAt,
            message: `Key ${s.key.kid} was published at ${publishedAt.toISOString()}, ${duration(Math.max(0, Math.floor((at.getTime() - publishedAt.getTime()) / 1000)))} ago: the AI Gateway caches the instance JWKS for up to ${duration(publishDelaySeconds)}, so it may reject tokens signed with this key until ${readyAt?.toISOString()}. Keep the previous key current until then (ring.rotate() swaps back while both keys are in the ring).`,
          }
    return { ...base, warning }
  }

  const ring: KeyRing = {
    current: () => first().key,

    signingKey() {
      const status = statusOf(first(), now())
      const warning = status.warning
      if (!warning) return status.key
      if (strict) throw new KeyError('ERR_KEY_NOT_PUBLISHED', `${warning.message} Strict mode refuses to sign with it.`, { kid: warning.kid })
      const once = `${warning.kid}:${warning.code}`
      if (!warned.has(once)) {
        warned.add(once)
        warnings.push(warning)
        if (warnings.length > MAX_WARNINGS) warnings.shift()
        logger?.warn?.('keyring.key_not_ready', {
          code: warning.code,
          kid: warning.kid,
          publishedAt: warning.publishedAt?.toISOString() ?? null,
          readyAt: warning.readyAt?.toISOString() ?? null,
          publishDelaySeconds,
        })
      }
      return status.key
    },

    signingStatus: () => statusOf(first(), now()),

    add(key, opts = {}) {
      requirePrivate(key)
      if (slots.some((s) => s.key.kid === key.kid)) {
        throw new KeyRingError(`Key ${key.kid} is already in the ring; a key is added once (rotate() and trim() move and remove keys).`, {
          kid: key.kid,
          keyCount: slots.length,
        })
      }
      const createdAt = opts.createdAt ?? now()
      assertDate(createdAt, 'add(key, { createdAt })')
      if (opts.publishedAt) assertDate(opts.publishedAt, 'add(key, { publishedAt })')
      const slot = newSlot(key, createdAt, opts.publishedAt)
      slots.push(slot)
      return entry(slot, slots.length - 1)
    },

    markPublished(kid, at) {
      const index = slots.findIndex((s) => s.key.kid === kid)
      const slot = slots[index]
      if (!slot) {
        throw new KeyRingError(`No key ${JSON.stringify(String(kid).slice(0, 64))} in the ring: markPublished takes the kid of a key added with add().`, {
          keyCount: slots.length,
        })
      }
      const when = at ?? now()
      assertDate(when, 'markPublished(kid, at)')
      // "First published": a later call (e.g. on every JWKS request) must not push readiness back.
      if (slot.publishedAt === null || when.getTime() < slot.publishedAt.getTime()) slot.publishedAt = new Date(when)
      return entry(slot, index)
    },

    rotate() {
      if (slots.length !== 2) {
        throw new KeyRingError(
          `Key rotation requires exactly 2 keys, found ${slots.length}: ${slots.length < 2 ? 'add() the new key and publish it first' : 'trim() the ring down to the current key and its successor first'}.`,
          { keyCount: slots.length },
        )
      }
      const [oldKey, newKey] = slots as [Slot, Slot]
      if (strict) {
        const status = statusOf(newKey, now())
        if (status.warning) {
          throw new KeyError('ERR_KEY_NOT_PUBLISHED', `Not rotating: ${status.warning.message} Strict mode refuses to rotate to it.`, { kid: status.kid })
        }
      }
      slots[0] = newKey
      slots[1] = oldKey
      return entry(newKey, 0)
    },

    trim() {
      if (slots.length === 0) return undefined
      if (slots.length === 1) {
        throw new KeyRingError('Refusing to remove the only key, as it is in use: add() and rotate() to a new key before trimming.', {
          kid: slots[0]?.key.kid,
          keyCount: 1,
        })
      }
      const index = slots.length - 1
      const removed = entry(slots[index] as Slot, index)
      slots.pop()
      return removed
    },

    list: () => slots.map(entry),
    jwks: () => toJwks(slots.map((s) => s.key)),
    get size() {
      return slots.length
    },
    get warnings() {
      return [...warnings]
    },
    strict,
    publishDelaySeconds,
  }
  return Object.freeze(ring)
}

// ---------------------------------------------------------------------------------------------

interface Slot {
  readonly key: SigningKey
  readonly createdAt: Date
  publishedAt: Date | null
}

const MAX_WARNINGS = 50
/** The largest time value a Date holds (ECMAScript: ±8.64e15 ms). */
const MAX_DATE_MS = 8.64e15

function newSlot(key: SigningKey, createdAt: Date, publishedAt: Date | null | undefined): Slot {
  return {
    key,
    createdAt: new Date(createdAt),
    publishedAt: publishedAt === null ? null : new Date(publishedAt ?? createdAt),
  }
}

const signingKeySchema = lazy((z) => z.custom<SigningKey>(
  (v) =>
    typeof v === 'object' &&
    v !== null &&
    typeof (v as SigningKey).kid === 'string' &&
    typeof (v as SigningKey).publicJwk === 'object' &&
    (v as SigningKey).publicKey instanceof KeyObject,
  { error: 'expected a key from loadSigningKey()' },
))
const validDate = lazy((z) => z.date({ error: 'expected a valid Date' }))

const optionsSchema = lazy((z) => z.strictObject({
  keys: z
    .array(
      z.strictObject({
        key: signingKeySchema(),
        createdAt: validDate(),
        publishedAt: validDate().nullable().optional(),
      }),
    )
    .optional(),
  now: z.custom<Clock>((v) => typeof v === 'function', { error: 'expected a function returning a Date' }).optional(),
  strict: z.boolean().optional(),
  publishDelaySeconds: z.number().int({ error: 'expected an integer number of seconds' }).min(0, { error: 'must not be negative' }).optional(),
  logger: z.custom<Logger>((v) => typeof v === 'object' && v !== null, { error: 'expected a logger object' }).optional(),
}))

function requirePrivate(key: SigningKey): void {
  if (!(key.privateKey instanceof KeyObject)) {
    throw new KeyError(
      'ERR_KEY_PUBLIC_ONLY',
      `Key ${key.kid} has no private half: a key ring signs, so add keys loaded with loadSigningKey(). Publish a verification-only key with toJwks() instead.`,
      { kid: key.kid },
    )
  }
}

function assertDate(d: unknown, where: string): void {
  if (!(d instanceof Date) || Number.isNaN(d.getTime())) {
    throw new InvalidOptionsError(`KeyRing.${where}: expected a valid Date.`, [{ path: where, message: 'expected a valid Date' }])
  }
}

/** 86400 → "24 h", 5400 → "1 h 30 min", 42 → "42 s". */
function duration(seconds: number): string {
  const h = Math.floor(seconds / 3600)
  const m = Math.floor((seconds % 3600) / 60)
  const s = seconds % 60
  const parts: string[] = []
  if (h) parts.push(`${h} h`)
  if (m) parts.push(`${m} min`)
  if (s || parts.length === 0) parts.push(`${s} s`)
  return parts.join(' ')
}
