/**
 * `inspect` judges a token's time claims with the current clock, or the one `--at` pins, as the gateway does
 * (no leeway), and exits non-zero for a token the gateway would refuse as expired or not yet valid.
 */
import { describe, expect, it } from 'vitest'
import { inspectToken } from '../src/index.js'
import { claims, NOW, NOW_S, signJwt } from './client-support.js'
import { oneJson, runCli } from './cli-support.js'

// issued at NOW (2026-03-01T12:00:00Z), valid from NOW - 5 s to NOW + 3600 s
const TOKEN = signJwt(claims())

interface InspectJson {
  kind: string
  accepted: boolean
  at: string
  problems: { code: string; severity: string; status?: number; gatewayError?: string; reason?: string; claim?: string }[]
}

describe('cloud-connector inspect: time', () => {
  it('an expired token (the current clock, long after NOW): the gateway would refuse it, exit 1', async () => {
    const r = await runCli(['inspect', TOKEN])
    expect(r.code).toBe(1)
    expect(r.stdout).toMatch(/^401 {2}The token expired at 2026-03-01T13:00:00\.000Z, \d+ s ago by this host's clock\.$/m)
    expect(r.stdout).toContain('     gateway: {"error":"Forbidden by auth provider"}\n     reason:  Signature has expired.\n')
    expect(r.stdout).toContain('verdict  the gateway would refuse this value')
  })

  it('--at within the lifetime (ISO 8601): valid, exit 0', async () => {
    const r = await runCli(['inspect', TOKEN, '--at', '2026-03-01T12:30:00Z'])
    expect(r.code).toBe(0)
    expect(r.stdout).toContain('at 2026-03-01T12:30:00.000Z')
    expect(r.stdout).toContain('verdict  well-formed and valid now')
  })

  it('--at one second past exp (epoch seconds): EXPIRED with the gateway reason, exit 1', async () => {
    const r = await runCli(['inspect', TOKEN, '--at', String(NOW_S + 3601), '--json'])
    expect(r.code).toBe(1)
    const out = oneJson<InspectJson>(r)
    expect(out).toMatchObject({ kind: 'jwt', accepted: false, at: '2026-03-01T13:00:01.000Z' })
    expect(out.problems).toEqual([
      expect.objectContaining({ code: 'EXPIRED', severity: 'error', status: 401, gatewayError: 'Forbidden by auth provider', reason: 'Signature has expired.', claim: 'exp' }),
    ])
  })

  it('--at exactly exp: still valid (the gateway refuses only when exp < now)', async () => {
    expect((await runCli(['inspect', TOKEN, '--at', String(NOW_S + 3600)])).code).toBe(0)
  })

  it('--at before nbf: NOT_YET_VALID with the gateway reason, exit 1', async () => {
    const r = await runCli(['inspect', TOKEN, '--at', String(NOW_S - 6), '--json'])
    expect(r.code).toBe(1)
    expect(oneJson<InspectJson>(r).problems).toEqual([
      expect.objectContaining({ code: 'NOT_YET_VALID', status: 401, reason: 'The token is not yet valid (nbf)', claim: 'nbf' }),
    ])
  })

  it('--at that is not a time: a usage error (exit 2) echoing at most 12 characters', async () => {
    const r = await runCli(['inspect', TOKEN, '--at', 'yesterday-at-noon-please'])
    expect(r.code).toBe(2)
    expect(r.stderr).toBe("error: inspect: --at must be an ISO 8601 date/time (2026-03-01T12:00:00Z) or epoch seconds, got 'yesterday-at…'.\n")
  })
})

describe('inspectToken(value, { now })', () => {
  it('is clock-free without a clock and judges exp/nbf with one', () => {
    expect(inspectToken(TOKEN).problems).toEqual([])
    expect(inspectToken(TOKEN, { now: () => NOW }).problems).toEqual([])
    expect(inspectToken(TOKEN, { now: () => new Date((NOW_S + 3601) * 1000) }).problems.map((p) => p.code)).toEqual(['EXPIRED'])
    // the cached report of the token is not changed by a judged copy
    expect(inspectToken(TOKEN).problems).toEqual([])
  })
})
