/** The key fixture and pinned clock the gateway case table is built from. */
import { readFileSync } from 'node:fs'
import { loadSigningKeySync } from '../../src/keys/index.js'
import type { SigningKey } from '../../src/types.js'

export interface CaseFixture {
  /** The instance key: its public half is what the verifier trusts. */
  key: SigningKey
  /** Another RSA key, trusted by nobody. */
  otherKey: SigningKey
  /** The pinned clock of every case. */
  now: Date
  instanceId: string
  issuer: string
  realm: 'self-managed' | 'saas'
  audience: string
}

/** Pinned: 2026-02-01T12:00:00Z. */
export const CASE_NOW = new Date('2026-02-01T12:00:00Z')

export function loadCaseFixture(now: Date = CASE_NOW): CaseFixture {
  const read = (name: string) => readFileSync(new URL(`../fixtures/${name}`, import.meta.url), 'utf8')
  return {
    key: loadSigningKeySync(read('instance-key.pem')),
    otherKey: loadSigningKeySync(read('second-key.pem')),
    now,
    instanceId: 'f798e820-207f-4849-869d-1f753edb3312',
    issuer: 'https://gitlab.example.com',
    realm: 'self-managed',
    audience: 'gitlab-ai-gateway',
  }
}

/** The claims of a good self-issued token at the fixture's clock (domain.md §3), scopes complete_code and duo_chat. */
export function caseClaims(fx: CaseFixture): Record<string, unknown> {
  const now = Math.floor(fx.now.getTime() / 1000)
  return {
    iss: fx.issuer,
    sub: fx.instanceId,
    aud: [fx.audience],
    iat: now,
    nbf: now - 5,
    exp: now + 3600,
    jti: '0b8c4f3e-7d2a-4c55-9e0f-5a8d1c2b3e4f',
    gitlab_realm: fx.realm,
    scopes: ['complete_code', 'duo_chat'],
  }
}
