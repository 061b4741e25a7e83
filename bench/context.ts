/**
 * What every figure shares: the fixture instance key, a Duo Enterprise self-managed instance (42
 * scopes, as a real token carries), its gateway headers, and the result shape each figure returns.
 */
import { readFileSync } from 'node:fs'
import { sign } from 'node:crypto'
import type { SigningKey, TokenIssuer, TokenIssuerOptions } from '../src/index.js'
import type { Counts } from './config.js'
import type { Summary, Throughput } from './harness.js'
import { sdk } from './sdk.js'

const { buildGatewayHeaders, createTokenIssuer, loadSigningKeySync } = sdk

export interface BenchContext {
  key: SigningKey
  counts: Counts
  rounds: number
  /** Progress lines (stderr in `npm run bench`, silent in the smoke test). */
  log: (line: string) => void
}

/** One row of the table and one entry of results.json. */
export interface FigureResult {
  /** '1'…'8'; the variants of a figure are '1b', '1c', ... */
  id: string
  title: string
  /** Rounds (or checkpoints) each median is taken over. */
  runs: number
  /** What one run does, e.g. "300 mints". */
  work: string
  candidate: Measure
  baseline: Measure
  /** Candidate against baseline, per round. */
  comparison: Summary & { kind: 'ratio' | 'overhead' | 'growth'; unit: string; description: string }
  /** The issue's goal for this row, met or not; null for an informational row (no goal in the issues). */
  target: { text: string; met: boolean } | null
  /** Correctness facts the figure relies on (the smoke test asserts them). */
  proofs: Proof[]
  details: Record<string, unknown>
}

export interface Measure extends Summary {
  label: string
  unit: string
}

export interface Proof {
  name: string
  expected: number | string | boolean
  actual: number | string | boolean
  ok: boolean
}

export type Figure = (ctx: BenchContext) => Promise<FigureResult[]>

export const INSTANCE_ID = '3f2a9d4e-1b7c-4e8f-9a6d-2c5b8e1f0a34'
export const ISSUER_URL = 'https://gitlab.example.com'
export const INSTANCE = { id: INSTANCE_ID, hostName: 'gitlab.example.com', version: '18.5.4', realm: 'self-managed' as const }
export const UNIT_PRIMITIVE = 'complete_code'

/** The gateway header set GitLab sends (no Authorization). */
export const GATEWAY_HEADERS: Readonly<Record<string, string>> = Object.freeze(buildGatewayHeaders({ instance: INSTANCE }))

export function loadFixtureKey(): SigningKey {
  return loadSigningKeySync(readFileSync(new URL('../test/fixtures/instance-key.pem', import.meta.url)))
}

export function makeIssuer(key: SigningKey, overrides: Partial<TokenIssuerOptions> = {}): TokenIssuer {
  return createTokenIssuer({ issuer: ISSUER_URL, instanceId: INSTANCE_ID, realm: 'self-managed', key, addOns: ['duo_enterprise'], ...overrides })
}

/**
 * An external signer that signs with node:crypto and counts: the proof that a code path computed no
 * signature is this count not moving, independent of the issuer's own bookkeeping.
 */
export function countingSigner(key: SigningKey): { signer: NonNullable<TokenIssuerOptions['signer']>; readonly signs: number } {
  const privateKey = key.privateKey
  if (privateKey === undefined) throw new Error('bench: the fixture key has no private half')
  let signs = 0
  return {
    signer: async (input) => {
      signs++
      return sign('sha256', input, privateKey)
    },
    get signs() {
      return signs
    },
  }
}

export function proof(name: string, expected: number | string | boolean, actual: number | string | boolean, ok = expected === actual): Proof {
  return { name, expected, actual, ok }
}

export function measure(label: string, unit: string, s: Summary): Measure {
  return { label, unit, ...s }
}

/** A goal on the median ratio: at least `min` (higher is better) or at most `max` (lower is better). */
export function ratioGoal(median: number, goal: { min: number } | { max: number }): { text: string; met: boolean } {
  return 'min' in goal ? { text: `≥ ${goal.min.toFixed(2)}×`, met: median >= goal.min } : { text: `≤ ${goal.max.toFixed(2)}×`, met: median <= goal.max }
}

/** Operations per second of CPU time of the bench process (see bench/harness.ts). */
export const THROUGHPUT_UNIT = 'ops/s (CPU)'

/** One throughput comparison as a table row: candidate ÷ baseline per round, higher is better. */
export function throughputRow(row: {
  id: string
  title: string
  work: string
  runs: number
  candidate: string
  baseline: string
  r: Throughput
  description?: string
  target?: FigureResult['target']
  proofs?: Proof[]
  details?: Record<string, unknown>
}): FigureResult {
  return {
    id: row.id,
    title: row.title,
    runs: row.runs,
    work: row.work,
    candidate: measure(row.candidate, THROUGHPUT_UNIT, row.r.candidate),
    baseline: measure(row.baseline, THROUGHPUT_UNIT, row.r.baseline),
    comparison: { kind: 'ratio', unit: '×', description: row.description ?? 'candidate ops/s ÷ baseline ops/s (higher is better)', ...row.r.ratio },
    target: row.target ?? null,
    proofs: row.proofs ?? [],
    // the same ratio in elapsed time, which other load on the machine distorts (see bench/harness.ts)
    details: { ...row.details, wallRatio: { median: row.r.wallRatio.median, min: row.r.wallRatio.min, max: row.r.wallRatio.max } },
  }
}

/**
 * Tokens the SDK minted, all different (each its own jti), shared by the figures of one run: more of them
 * than any memo of the SDK holds (inspect keeps 128 reports, the verifier 256 parses and 256 claim sets), so
 * walking them in a ring means every operation meets a token it has not seen since long ago.
 */
export function distinctTokens(ctx: BenchContext): Promise<readonly string[]> {
  let ring = RINGS.get(ctx)
  if (ring === undefined) {
    ring = (async () => {
      const issuer = makeIssuer(ctx.key)
      const out: string[] = []
      for (let i = 0; i < ctx.counts.distinctTokens; i++) out.push((await issuer.issue()).token)
      return out
    })()
    RINGS.set(ctx, ring)
  }
  return ring
}

const RINGS = new WeakMap<BenchContext, Promise<readonly string[]>>()

/** A walk around a ring: each call returns the next item, so a side keeps its place across blocks. */
export function walker<T>(ring: readonly T[]): () => T {
  let next = 0
  return () => ring[next++ % ring.length] as T
}
