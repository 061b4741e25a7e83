/**
 * Shared settings of the reliability suite (test/reliability/*.test.ts).
 *
 * ONE environment variable switches the heavy mode used for release checks:
 *
 *   CC_HEAVY=1 npx vitest run test/reliability
 *
 * CI mode (default): every property runs at least 1,000 times and the whole suite stays well under a
 * minute on 2 cores; the load test sends 5,000 requests. Heavy mode: 100,000 runs per property and
 * the full 20,000-request load test. Nothing else changes between the modes.
 */
import { readFileSync } from 'node:fs'
import { inspect } from 'node:util'
import { expect } from 'vitest'
import { CloudConnectorError } from '../../src/errors.js'

export const HEAVY = process.env.CC_HEAVY === '1'

/** fast-check runs: the CI count (≥ 1,000) or 100,000 in heavy mode. */
export function runs(ci: number): number {
  if (ci < 1000) throw new Error(`runs(${ci}): CI mode runs every property at least 1,000 times`)
  return HEAVY ? 100_000 : ci
}

/** A per-test timeout that grows with the mode (vitest's default here is 20 s). */
export function budget(ciMs: number, heavyMs = 3_600_000): number {
  return HEAVY ? heavyMs : ciMs
}

/**
 * The one assertion of every fuzz target: whatever was thrown is a CloudConnectorError with a code
 * and a one-line-or-more message — never a TypeError, a RangeError, a zod error or a string.
 */
export function expectTyped(err: unknown, where: string): asserts err is CloudConnectorError {
  if (!(err instanceof CloudConnectorError)) {
    throw new Error(`${where}: threw a non-typed error: ${inspect(err, { depth: 2 }).slice(0, 600)}`)
  }
  expect(typeof err.code).toBe('string')
  expect(err.message.length).toBeGreaterThan(0)
}

/** Run `fn`; on a throw, check that it is typed and return it. */
export function typedOutcome<T>(fn: () => T, where: string): { ok: true; value: T } | { ok: false; error: CloudConnectorError } {
  try {
    return { ok: true, value: fn() }
  } catch (e) {
    expectTyped(e, where)
    return { ok: false, error: e }
  }
}

export async function typedOutcomeAsync<T>(fn: () => Promise<T>, where: string): Promise<{ ok: true; value: T } | { ok: false; error: CloudConnectorError }> {
  try {
    return { ok: true, value: await fn() }
  } catch (e) {
    expectTyped(e, where)
    return { ok: false, error: e }
  }
}

/** Names that must never show up on Object.prototype (checked after every prototype-pollution attempt). */
export const POLLUTION_MARKERS = ['polluted', 'isAdmin', 'cc_polluted', 'alg', 'kid', 'scopes', 'sub'] as const

export function expectPrototypesClean(): void {
  for (const name of POLLUTION_MARKERS) {
    expect(Object.prototype.hasOwnProperty.call(Object.prototype, name), `Object.prototype.${name}`).toBe(false)
    expect(({} as Record<string, unknown>)[name], `({}).${name}`).toBeUndefined()
  }
  expect(Object.getPrototypeOf({})).toBe(Object.prototype)
  expect(Object.keys(Object.prototype)).toEqual([])
}

export const FIXTURE_KEY_FILE = new URL('../fixtures/instance-key.pem', import.meta.url).pathname
export const SECOND_KEY_FILE = new URL('../fixtures/second-key.pem', import.meta.url).pathname
export const FIXTURE_PEM = readFileSync(FIXTURE_KEY_FILE, 'utf8')
export const INSTANCE_ID = 'f798e820-207f-4849-869d-1f753edb3312'
export const ISSUER_URL = 'https://gitlab.example.com'

/** A clock the test moves by hand. */
export function manualClock(start: Date | number) {
  let t = typeof start === 'number' ? start : start.getTime()
  return {
    now: (): Date => new Date(t),
    advanceMs(ms: number): void {
      t += ms
    },
    advance(seconds: number): void {
      t += seconds * 1000
    },
    set(at: Date | number): void {
      t = typeof at === 'number' ? at : at.getTime()
    },
    get ms(): number {
      return t
    },
  }
}

/** What a function threw; fails the test when it returns. */
export function thrownBy(f: () => unknown): unknown {
  try {
    f()
  } catch (e) {
    return e
  }
  throw new Error('expected a throw')
}

/** The reason a promise rejected with; fails the test when it resolves. */
export async function rejection(p: Promise<unknown>): Promise<unknown> {
  try {
    await p
  } catch (e) {
    return e
  }
  throw new Error('expected a rejection')
}
