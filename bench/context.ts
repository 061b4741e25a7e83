/**
 * What every figure shares: the fixture instance key, a Duo Enterprise self-managed instance (42
 * scopes, as a real token carries), its gateway headers, and the result shape each figure returns.
 */
import { readFileSync } from 'node:fs'
import { sign } from 'node:crypto'
import { buildGatewayHeaders, createTokenIssuer, loadSigningKeySync, type SigningKey, type TokenIssuer, type TokenIssuerOptions } from '../src/index.js'
import type { Counts } from './config.js'
import type { Summary } from './harness.js'

export interface BenchContext {
  key: SigningKey
  counts: Counts
  rounds: number
  /** Progress lines (stderr in `npm run bench`, silent in the smoke test). */
  log: (line: string) => void
}

/** One row of the table and one entry of results.json. */
export interface FigureResult {
  /** '1'…'7'; informational variants are '3b', '4b'. */
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
  /** null for an informational row (no target in the issue). */
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
