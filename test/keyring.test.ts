import { readFileSync } from 'node:fs'
import { inspect } from 'node:util'
import { describe, expect, it } from 'vitest'
import { asEvent } from './client-support.js'
import { InvalidOptionsError, KeyError } from '../src/errors.js'
import { createKeyRing, generateSigningKeyPem, KeyRingError, loadSigningKeySync, loadVerificationKey, toJwks } from '../src/keys/index.js'
import type { Logger, SigningKey } from '../src/types.js'

const PEM_A = readFileSync(new URL('./fixtures/instance-key.pem', import.meta.url), 'utf8')
const PEM_B = readFileSync(new URL('./fixtures/second-key.pem', import.meta.url), 'utf8')
const A = loadSigningKeySync(PEM_A)
const B = loadSigningKeySync(PEM_B)

const T0 = new Date('2026-02-01T00:00:00.000Z')
const at = (hours: number) => new Date(T0.getTime() + hours * 3_600_000)

/** A settable clock, so each step of a rotation happens at a known time. */
function clock(start: Date) {
  let current = new Date(start)
  return {
    now: () => new Date(current),
    set: (d: Date) => {
      current = new Date(d)
    },
  }
}

function recordingLogger() {
  const events: { event: string; fields: Record<string, unknown> }[] = []
  const logger: Logger = { warn: asEvent((event, fields) => events.push({ event, fields })) }
  return { logger, events }
}

function catchError(fn: () => unknown): unknown {
  try {
    fn()
  } catch (e) {
    return e
  }
  throw new Error('expected a throw')
}

const ageOld = at(-24 * 30) // a key created and published a month before T0

describe('createKeyRing: order and current key', () => {
  it('the current key is the oldest valid one, whatever order the keys are given in', () => {
    const ring = createKeyRing({ keys: [{ key: B, createdAt: at(-1) }, { key: A, createdAt: ageOld }], now: () => T0 })
    expect(ring.current().kid).toBe(A.kid)
    expect(ring.list().map((e) => [e.kid, e.current])).toEqual([
      [A.kid, true],
      [B.kid, false],
    ])
  })

  it('an empty ring has no current key', () => {
    const e = catchError(() => createKeyRing().current()) as KeyError
    expect(e).toBeInstanceOf(KeyError)
    expect(e.code).toBe('ERR_KEYRING_EMPTY')
    expect(e.message).toBe('The key ring holds no keys: add the instance key first (ring.add(await loadSigningKey(pem))).')
  })

  it('a key without publishedAt counts as published when it was created', () => {
    const ring = createKeyRing({ keys: [{ key: A, createdAt: ageOld }], now: () => T0 })
    expect(ring.list()[0]).toMatchObject({ createdAt: ageOld, publishedAt: ageOld, readyAt: new Date(ageOld.getTime() + 86_400_000) })
    expect(ring.signingStatus()).toMatchObject({ kid: A.kid, ready: true })
  })
})

describe('rotation: add → publish → rotate → trim (GitLab keys.rb)', () => {
  it('runs the whole sequence under a pinned clock', () => {
    const c = clock(T0)
    const { logger, events } = recordingLogger()
    const ring = createKeyRing({ keys: [{ key: A, createdAt: ageOld }], now: c.now, logger })
    expect(ring.jwks()).toEqual(toJwks([A]))

    // 1. add: the new key is the newest; the old one stays current and signs without a warning
    const added = ring.add(B, { publishedAt: null })
    expect(added).toMatchObject({ kid: B.kid, createdAt: T0, publishedAt: null, readyAt: null, current: false })
    expect(ring.signingKey().kid).toBe(A.kid)
    expect(ring.warnings).toEqual([])

    // 2. publish: both keys are in the JWKS the instance serves
    expect(ring.jwks()).toEqual(toJwks([A, B]))
    c.set(at(1))
    expect(ring.markPublished(B.kid)).toMatchObject({ publishedAt: at(1), readyAt: at(25) })

    // 3. rotate after the 24 h the gateway caches the JWKS: B signs, A is still published
    c.set(at(25))
    expect(ring.rotate()).toMatchObject({ kid: B.kid, current: true })
    expect(ring.current().kid).toBe(B.kid)
    expect(ring.signingKey().kid).toBe(B.kid)
    expect(ring.list().map((e) => e.kid)).toEqual([B.kid, A.kid])
    expect(ring.jwks()).toEqual(toJwks([B, A]))

    // 4. trim: the old key (now last) leaves the ring and the JWKS
    const removed = ring.trim()
    expect(removed?.kid).toBe(A.kid)
    expect(ring.list().map((e) => e.kid)).toEqual([B.kid])
    expect(ring.jwks()).toEqual(toJwks([B]))
    expect(ring.warnings).toEqual([])
    expect(events).toEqual([])
  })

  it('rotate needs exactly two keys', () => {
    const one = createKeyRing({ keys: [{ key: A, createdAt: ageOld }], now: () => T0 })
    const e = catchError(() => one.rotate()) as KeyRingError
    expect(e).toBeInstanceOf(KeyRingError)
    expect(e.code).toBe('ERR_KEYRING_STATE')
    expect(e.keyCount).toBe(1)
    expect(e.message).toBe('Key rotation requires exactly 2 keys, found 1: add() the new key and publish it first.')

  })

  it('rotate refuses three keys, and rotating twice swaps back', () => {
    const ring = createKeyRing({ keys: [{ key: A, createdAt: ageOld }, { key: B, createdAt: ageOld }], now: () => T0 })
    ring.rotate()
    expect(ring.current().kid).toBe(B.kid)
    ring.rotate()
    expect(ring.current().kid).toBe(A.kid)
    ring.add(loadSigningKeySync(generateSigningKeyPem()))
    const e = catchError(() => ring.rotate()) as KeyRingError
    expect(e.keyCount).toBe(3)
    expect(e.message).toBe('Key rotation requires exactly 2 keys, found 3: trim() the ring down to the current key and its successor first.')
  })

  it('trim refuses to remove the only key and is a no-op on an empty ring', () => {
    const ring = createKeyRing({ keys: [{ key: A, createdAt: ageOld }], now: () => T0 })
    const e = catchError(() => ring.trim()) as KeyRingError
    expect(e.code).toBe('ERR_KEYRING_STATE')
    expect(e.kid).toBe(A.kid)
    expect(e.message).toBe('Refusing to remove the only key, as it is in use: add() and rotate() to a new key before trimming.')
    expect(createKeyRing().trim()).toBeUndefined()
  })

  it('trim before rotate removes the newest key, as GitLab does', () => {
    const ring = createKeyRing({ keys: [{ key: A, createdAt: ageOld }], now: () => T0 })
    ring.add(B)
    expect(ring.trim()?.kid).toBe(B.kid)
    expect(ring.current().kid).toBe(A.kid)
  })

  it('add refuses a duplicate kid and a public-only key', () => {
    const ring = createKeyRing({ keys: [{ key: A, createdAt: ageOld }], now: () => T0 })
    const dup = catchError(() => ring.add(A)) as KeyRingError
    expect(dup.code).toBe('ERR_KEYRING_STATE')
    expect(dup.message).toBe(`Key ${A.kid} is already in the ring; a key is added once (rotate() and trim() move and remove keys).`)
    const pub = catchError(() => ring.add(loadVerificationKey(A.publicJwk))) as KeyError
    expect(pub.code).toBe('ERR_KEY_PUBLIC_ONLY')
    expect(pub.kid).toBe(A.kid)
  })

  it('markPublished keeps the first publication time and refuses an unknown kid', () => {
    const c = clock(T0)
    const ring = createKeyRing({ keys: [{ key: A, createdAt: ageOld }], now: c.now })
    ring.add(B, { publishedAt: null })
    ring.markPublished(B.kid, at(2))
    ring.markPublished(B.kid, at(5))
    expect(ring.list()[1]?.publishedAt).toEqual(at(2))
    ring.markPublished(B.kid, at(1))
    expect(ring.list()[1]?.publishedAt).toEqual(at(1))
    const e = catchError(() => ring.markPublished('nope')) as KeyRingError
    expect(e.message).toBe('No key "nope" in the ring: markPublished takes the kid of a key added with add().')
  })

  it('list() hands out copies', () => {
    const ring = createKeyRing({ keys: [{ key: A, createdAt: ageOld }], now: () => T0 })
    const entry = ring.list()[0]
    entry?.createdAt.setTime(0)
    expect(ring.list()[0]?.createdAt).toEqual(ageOld)
  })
})

describe('the 24 h publish rule', () => {
  /** A ring that has just rotated to B, published one hour before T0. */
  function rotatedRing(strict: boolean) {
    const c = clock(T0)
    const { logger, events } = recordingLogger()
    const ring = createKeyRing({
      keys: [
        { key: A, createdAt: ageOld },
        { key: B, createdAt: at(-2), publishedAt: at(-1) },
      ],
      now: c.now,
      strict,
      logger,
    })
    return { ring, c, events }
  }

  const recentMessage =
    `Key ${B.kid} was published at 2026-01-31T23:00:00.000Z, 1 h ago: the AI Gateway caches the instance JWKS for up to 24 h, ` +
    'so it may reject tokens signed with this key until 2026-02-01T23:00:00.000Z. Keep the previous key current until then ' +
    '(ring.rotate() swaps back while both keys are in the ring).'

  it('default: warns once per key (logger + warnings), signs anyway, and stops warning after 24 h', () => {
    const { ring, c, events } = rotatedRing(false)
    ring.rotate()
    expect(ring.signingKey().kid).toBe(B.kid)
    expect(ring.signingKey().kid).toBe(B.kid)
    expect(ring.warnings).toEqual([
      { code: 'KEY_PUBLISHED_RECENTLY', kid: B.kid, at: T0, publishedAt: at(-1), readyAt: at(23), message: recentMessage },
    ])
    expect(events).toEqual([
      {
        event: 'keyring.key_not_ready',
        fields: {
          code: 'KEY_PUBLISHED_RECENTLY',
          kid: B.kid,
          publishedAt: '2026-01-31T23:00:00.000Z',
          readyAt: '2026-02-01T23:00:00.000Z',
          publishDelaySeconds: 86_400,
        },
      },
    ])
    // one millisecond before 24 h: still not ready; at exactly 24 h: ready
    c.set(new Date(at(23).getTime() - 1))
    expect(ring.signingStatus().ready).toBe(false)
    c.set(at(23))
    expect(ring.signingStatus()).toEqual({ key: B, kid: B.kid, ready: true, publishedAt: at(-1), readyAt: at(23) })
    ring.signingKey()
    expect(events).toHaveLength(1)
  })

  it('strict: signing with a key published less than 24 h ago throws ERR_KEY_NOT_PUBLISHED', () => {
    const { ring, c, events } = rotatedRing(true)
    // strict mode refuses to rotate to it in the first place
    const refused = catchError(() => ring.rotate()) as KeyError
    expect(refused).toBeInstanceOf(KeyError)
    expect(refused.code).toBe('ERR_KEY_NOT_PUBLISHED')
    expect(refused.kid).toBe(B.kid)
    expect(refused.message).toBe(`Not rotating: ${recentMessage} Strict mode refuses to rotate to it.`)
    expect(ring.current().kid).toBe(A.kid)

    // a ring loaded already rotated (B current) refuses to sign until B is 24 h published
    const loaded = createKeyRing({ keys: [{ key: B, createdAt: ageOld, publishedAt: at(-1) }], now: c.now, strict: true })
    const e = catchError(() => loaded.signingKey()) as KeyError
    expect(e.code).toBe('ERR_KEY_NOT_PUBLISHED')
    expect(e.message).toBe(`${recentMessage} Strict mode refuses to sign with it.`)
    expect(loaded.warnings).toEqual([])
    expect(events).toEqual([])

    c.set(at(23))
    expect(ring.rotate().kid).toBe(B.kid)
    expect(ring.signingKey().kid).toBe(B.kid)
    expect(loaded.signingKey().kid).toBe(B.kid)
  })

  it('a key never published: warns by default, throws in strict mode', () => {
    const message =
      `Key ${B.kid} signs but has not been published: the AI Gateway cannot verify its tokens. ` +
      `Serve ring.jwks() at /oauth/discovery/keys, call ring.markPublished("${B.kid}"), and sign with it only 24 h later.`
    const lax = createKeyRing({ keys: [{ key: B, createdAt: ageOld, publishedAt: null }], now: () => T0 })
    lax.signingKey()
    expect(lax.warnings).toEqual([{ code: 'KEY_NOT_PUBLISHED', kid: B.kid, at: T0, publishedAt: null, readyAt: null, message }])
    const strict = createKeyRing({ keys: [{ key: B, createdAt: ageOld, publishedAt: null }], now: () => T0, strict: true })
    const e = catchError(() => strict.signingKey()) as KeyError
    expect(e.code).toBe('ERR_KEY_NOT_PUBLISHED')
    expect(e.message).toBe(`${message} Strict mode refuses to sign with it.`)
  })

  it('publishDelaySeconds changes the wait, and 0 turns the rule off', () => {
    const short = createKeyRing({ keys: [{ key: B, createdAt: at(-2), publishedAt: at(-1) }], now: () => T0, publishDelaySeconds: 5400, strict: true })
    expect(short.signingStatus().readyAt).toEqual(new Date(at(-1).getTime() + 5_400_000))
    expect(() => short.signingKey()).toThrow(/caches the instance JWKS for up to 1 h 30 min/)
    const off = createKeyRing({ keys: [{ key: B, createdAt: T0 }], now: () => T0, publishDelaySeconds: 0, strict: true })
    expect(off.signingKey().kid).toBe(B.kid)
  })

  it('a key added now (no publishedAt) is young: rotating to it at once warns', () => {
    const c = clock(T0)
    const ring = createKeyRing({ keys: [{ key: A, createdAt: ageOld }], now: c.now })
    ring.add(B)
    ring.rotate()
    ring.signingKey()
    expect(ring.warnings.map((w) => [w.code, w.kid, w.readyAt])).toEqual([['KEY_PUBLISHED_RECENTLY', B.kid, at(24)]])
  })
})

describe('options and secrets', () => {
  it('validates options up front', () => {
    const e = catchError(() => createKeyRing({ publishDelaySeconds: -1, strict: 'yes' as unknown as boolean })) as InvalidOptionsError
    expect(e).toBeInstanceOf(InvalidOptionsError)
    expect(e.message).toBe('createKeyRing: strict: expected boolean, received string; publishDelaySeconds: must not be negative')
    const bad = catchError(() => createKeyRing({ keys: [{ key: A, createdAt: new Date('x') }] })) as InvalidOptionsError
    expect(bad.issues).toEqual([{ path: 'keys.0.createdAt', message: 'expected a valid Date' }])
    const typo = catchError(() => createKeyRing({ publishDelay: 5 } as never)) as InvalidOptionsError
    expect(typo.message).toBe('createKeyRing: (root): Unrecognized key: "publishDelay"')
    const dup = catchError(() => createKeyRing({ keys: [{ key: A, createdAt: T0 }, { key: A, createdAt: T0 }] })) as InvalidOptionsError
    expect(dup.message).toBe(`createKeyRing: keys[1]: key ${A.kid} is given twice; give each key once.`)
  })

  it('never shows key material in errors, warnings or inspect()', () => {
    const ring = createKeyRing({ keys: [{ key: B, createdAt: ageOld, publishedAt: null }], now: () => T0 })
    ring.signingKey()
    const err = catchError(() => createKeyRing({ keys: [{ key: B, createdAt: ageOld, publishedAt: null }], now: () => T0, strict: true }).signingKey())
    const shown = `${inspect(ring, { depth: 5 })}\n${JSON.stringify(ring.warnings)}\n${inspect(err)}\n${JSON.stringify(err)}`
    const jwk = (B as SigningKey).privateKey?.export({ format: 'jwk' }) as { d: string; p: string }
    expect(shown).not.toContain(jwk.d.slice(0, 40))
    expect(shown).not.toContain(jwk.p.slice(0, 40))
    expect(shown).not.toContain(PEM_B.split('\n')[5])
  })
})
