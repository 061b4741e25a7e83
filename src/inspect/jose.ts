/**
 * python-jose 3.3 `jwt.decode(token, jwks, audience=..., algorithms=["RS256"])`, step by step, with
 * the reason it raises at each step. The gateway logs that reason and answers 401 "Forbidden by auth
 * provider"; some inputs make python-jose raise something that is not a JWTError (a TypeError from
 * `int(None)`, a RecursionError from json), which escapes the gateway's `except JWTError` and becomes
 * a 500 — those come back as `fatal`.
 *
 * Parse order (jws._load): split at the LAST dot, then the signing input at the FIRST dot; decode the
 * header (a base64 error there is caught by `except ValueError` and reads "Not enough segments"),
 * parse it as JSON, require an object, decode the payload, decode the signature. Then the algorithm,
 * the signature against every key in order, the payload JSON, and the claims in _validate_claims order.
 */
import { verify as cryptoVerify, type KeyObject } from 'node:crypto'
import { TextMemo } from '../memo.js'
import { JOSE_REASONS, missingRequiredClaimReason } from './messages.js'
import { gatewayBytes, isAscii, pyBase64UrlDecode, pyInt, pyJsonLoads, pyTruthy, pyUtf8Decode, type PyDecoded } from './python.js'

export type JoseStage =
  | 'segments'
  | 'header-base64'
  | 'header-json'
  | 'header-object'
  | 'payload-base64'
  | 'signature-base64'
  | 'algorithm'
  | 'signature'
  | 'payload-json'
  | 'payload-object'
  | 'claims'

export interface JwsParts {
  header: Readonly<Record<string, unknown>>
  headerSegment: string
  /**
   * The payload as python-jose's `payload.decode("utf-8")` gives it: its text, or the UnicodeDecodeError's
   * message (python-jose raises it only after the signature check).
   */
  payload: PyDecoded
  /** The signing input as sent; turned into bytes only when a signature is checked. */
  signingInputText: string
  /** The signature segment as sent; decoded only when a signature is checked. */
  signatureSegment: string
  /** True when every segment is plain base64url (no padding, no "+" or "/", nothing skipped): the common case. */
  clean: boolean
  /**
   * The signature's bytes, set by the load when the segment needed the exact decoder; otherwise a check decodes
   * the segment into scratch space (no allocation per verification).
   */
  signature?: Buffer
  /**
   * The signing input's bytes when they are not the text's latin-1 bytes (a non-ASCII token: the gateway's
   * bytes), kept by the first check; otherwise a check writes the text into scratch space.
   */
  signingInputBytes?: Buffer
}

export type JoseFailure = {
  ok: false
  stage: JoseStage
  /** What python-jose raises (and the gateway logs). For a fatal failure, "<ExceptionType>: <message>". */
  reason: string
  /** Set when the exception is not a JWTError: the gateway answers 500 instead of 401. */
  fatal?: boolean
  claim?: string
}

export type JoseLoad = { ok: true; parts: JwsParts } | JoseFailure

/** True when every character is ASCII (one UTF-8 byte per UTF-16 unit); far cheaper than a regex scan. */
export function isAsciiString(value: string): boolean {
  return Buffer.byteLength(value, 'utf8') === value.length
}

/** jws._load. Never throws. `ascii` may be passed when the caller already knows it. */
export function joseLoad(token: string, ascii: boolean = isAsciiString(token)): JoseLoad {
  const lastDot = token.lastIndexOf('.')
  if (lastDot < 0) return fail('segments', JOSE_REASONS.notEnoughSegments)
  const firstDot = token.indexOf('.')
  if (firstDot === lastDot) return fail('segments', JOSE_REASONS.notEnoughSegments)
  const headerSegment = token.slice(0, firstDot)
  const header = joseDecodeHeader(headerSegment)
  if (!header.ok) return header
  const payloadSegment = token.slice(firstDot + 1, lastDot)
  let payload: PyDecoded
  let clean = ascii && header.canonical
  // The payload is decoded into scratch space and only its text kept; the signature is only checked for
  // being base64 here (decoding it again costs less than allocating its bytes for a token that never
  // reaches the check, like every token inspectToken reads).
  const payloadBytes = plainBase64Url(payloadSegment, ascii)
  if (payloadBytes !== undefined) {
    payload = pyUtf8Decode(payloadBytes)
    clean &&= isCanonical(payloadSegment)
  } else {
    const bytes = pyBase64UrlDecode(payloadSegment)
    if (bytes === undefined) return fail('payload-base64', JOSE_REASONS.invalidPayloadPadding)
    payload = pyUtf8Decode(bytes)
    clean = false
  }
  const signatureSegment = token.slice(lastDot + 1)
  let signature: Buffer | undefined
  if (plainBase64Url(signatureSegment, ascii) !== undefined) clean &&= isCanonical(signatureSegment)
  else {
    signature = pyBase64UrlDecode(signatureSegment)
    if (signature === undefined) return fail('signature-base64', JOSE_REASONS.invalidCryptoPadding)
    clean = false
  }
  const parts: JwsParts = { header: header.header, headerSegment, payload, signingInputText: token.slice(0, lastDot), signatureSegment, clean }
  if (signature !== undefined) parts.signature = signature
  return { ok: true, parts }
}

/**
 * python-jose's base64url_decode of a segment that Node's decoder reads the same way, into scratch space
 * (valid until the next call); undefined when the exact emulation is needed. For ASCII text, Node's decoder
 * gives Python's bytes whenever it consumed every character: it accepts the same alphabets and skips anything
 * else, so a result of exactly floor(3n/4) bytes means nothing was skipped or cut at "=".
 */
function plainBase64Url(segment: string, ascii: boolean): Buffer | undefined {
  const n = segment.length
  if (!ascii || n % 4 === 1) return undefined
  const expected = (n * 3) >> 2
  const out = PAYLOAD_SCRATCH.get(expected)
  const written = out.write(segment, 0, 'base64url')
  return written === expected ? out.subarray(0, written) : undefined
}

/** No "+" or "/": what other verifiers accept as base64url. */
function isCanonical(segment: string): boolean {
  return segment.indexOf('+') < 0 && segment.indexOf('/') < 0
}

/**
 * A buffer for bytes that are read and dropped within one synchronous call (nothing else can run meanwhile):
 * grown once up to SCRATCH_MAX; a larger request (only the verifier without strict mode takes such a token) gets
 * a buffer of its own.
 */
class Scratch {
  constructor(private buffer: Buffer) {}

  /** At least `bytes` bytes, valid until the next call. */
  get(bytes: number): Buffer {
    if (bytes <= this.buffer.length) return this.buffer
    if (bytes > SCRATCH_MAX) return Buffer.allocUnsafeSlow(bytes)
    this.buffer = Buffer.allocUnsafeSlow(SCRATCH_MAX)
    return this.buffer
  }
}

const SCRATCH_MAX = 64 * 1024
/** The segments a load decodes (the payload, and the signature only to check it is base64url). */
const PAYLOAD_SCRATCH = new Scratch(Buffer.allocUnsafeSlow(16 * 1024))
// What one signature check reads, apart from the payload's: a stream of distinct tokens then allocates nothing
// per check for the signing input and the signature.
const INPUT_SCRATCH = new Scratch(Buffer.allocUnsafeSlow(8 * 1024))
const SIGNATURE_SCRATCH = new Scratch(Buffer.allocUnsafeSlow(1024))

/** The signature's bytes: kept with the parts when the load needed the exact decoder, else decoded into scratch space. */
function signatureOf(parts: JwsParts): Buffer {
  if (parts.signature !== undefined) return parts.signature
  const segment = parts.signatureSegment
  const out = SIGNATURE_SCRATCH.get((segment.length * 3) >> 2)
  return out.subarray(0, out.write(segment, 0, 'base64url'))
}

/** _verify_signature's first two checks. Returns the reason, or undefined when the alg is RS256. */
export function joseCheckAlgorithm(header: Readonly<Record<string, unknown>>): string | undefined {
  const alg = Object.hasOwn(header, 'alg') ? header.alg : undefined
  if (!pyTruthy(alg)) return JOSE_REASONS.noAlgorithm
  if (alg !== 'RS256') return JOSE_REASONS.algNotAllowed
  return undefined
}

/**
 * A key as python-jose holds it after `jwk.construct(key, "RS256")`: a usable public key, or the
 * exception constructing it raised (which escapes python-jose: the gateway answers 500).
 */
export type TrustedKey = ({ kid?: string; key: KeyObject; error?: undefined } | { kid?: string; key?: undefined; error: string }) & {
  /** The issuer (its configured URL, without trailing "/") whose discovery published the key; none for keys given directly. */
  issuer?: string
}

/**
 * _sig_matches_keys: every key in order until one verifies (kid is not consulted). A key that
 * cannot be constructed raises as soon as the loop reaches it.
 *
 * `kidHint` only changes the order in which keys are tried when that cannot change the outcome: the
 * key whose kid matches is tried first if no unusable key comes before it.
 */
export function joseVerifySignature(
  parts: JwsParts,
  keys: readonly TrustedKey[],
  kidHint?: unknown,
): { ok: true; key: TrustedKey } | JoseFailure {
  let tried = -1
  if (typeof kidHint === 'string') {
    for (let i = 0; i < keys.length; i++) {
      const k = keys[i] as TrustedKey
      if (k.error !== undefined) break
      if (k.kid === kidHint) {
        if (rs256Verify(parts, k.key)) return { ok: true, key: k }
        tried = i
        break
      }
    }
  }
  for (let i = 0; i < keys.length; i++) {
    if (i === tried) continue
    const k = keys[i] as TrustedKey
    if (k.error !== undefined) return { ok: false, stage: 'signature', reason: k.error, fatal: true }
    if (rs256Verify(parts, k.key)) return { ok: true, key: k }
  }
  return fail('signature', JOSE_REASONS.signatureFailed)
}

/** jwt.decode's payload step: UTF-8 (decoded by the load), JSON, must be an object. */
export function joseDecodeClaims(text: PyDecoded): { ok: true; claims: Record<string, unknown> } | JoseFailure {
  if (!text.ok) return fail('payload-json', JOSE_REASONS.invalidPayloadStringPrefix + text.message)
  const parsed = parseClaimsText(text.text)
  if (!parsed.ok) {
    if (parsed.fatal) return { ok: false, stage: 'payload-json', reason: `RecursionError: ${parsed.message}`, fatal: true }
    return fail('payload-json', JOSE_REASONS.invalidPayloadStringPrefix + parsed.message)
  }
  const v = parsed.value
  if (v === null || typeof v !== 'object' || Array.isArray(v)) return fail('payload-object', JOSE_REASONS.payloadNotObject)
  return { ok: true, claims: v as Record<string, unknown> }
}

// The scopes list is most of a Cloud Connector token's payload (about 1.3 of 1.7 KB for Duo Enterprise) and is
// the same text in every token an instance issues for the same entitlements, so a gateway's stream of distinct
// tokens parses the same list again and again. Its parse is remembered by the list's exact text (a pure function
// of that text, frozen, so sharing it between verifiers or reports tells none of them anything about trust).
const SCOPES_MEMBER = '"scopes":['
const SCOPES_MEMO = new TextMemo<readonly unknown[]>(16)
const SCOPES_MEMO_MAX_TEXT = 16 * 1024

/**
 * json.loads of a payload, with its top-level `"scopes":[…]` list parsed once per distinct list text. Only
 * the plain form is taken this way: the member written `"scopes":[` right after `{` or `,`, the name present
 * once in the whole text, the list ending at its first `]` (a `]` inside a string or a nested list leaves a
 * prefix that is not JSON), and the list holding only strings. The rest of the payload is parsed with a `0` in the list's place, and used only
 * when that `0` is what the top-level `scopes` holds (a duplicate written another way, `"scop\u0065s"`, wins
 * as it does in Python, and the whole text is parsed instead). Anything else — and every error, whose message
 * and position must be the ones of the whole text — goes to pyJsonLoads unchanged.
 */
export function parseClaimsText(text: string): ReturnType<typeof pyJsonLoads> {
  const at = text.indexOf(SCOPES_MEMBER)
  const open = at + SCOPES_MEMBER.length - 1
  const before = at > 0 ? text.charCodeAt(at - 1) : -1
  if (before === 0x2c || before === 0x7b) {
    const end = text.indexOf(']', open)
    if (end > 0 && end - open < SCOPES_MEMO_MAX_TEXT && text.indexOf('"scopes"', end) < 0 && text.lastIndexOf('"scopes"', at - 1) < 0) {
      const listText = text.slice(open, end + 1)
      const list = SCOPES_MEMO.get(listText) ?? rememberList(listText)
      if (list !== undefined) {
        const rest = pyJsonLoads(`${text.slice(0, open)}0${text.slice(end + 1)}`)
        const v = rest.ok ? rest.value : undefined
        if (v !== null && typeof v === 'object' && !Array.isArray(v) && (v as Record<string, unknown>).scopes === 0 && Object.hasOwn(v, 'scopes')) {
          ;(v as Record<string, unknown>).scopes = list
          return rest
        }
      }
    }
  }
  return pyJsonLoads(text)
}

function rememberList(listText: string): readonly unknown[] | undefined {
  const parsed = pyJsonLoads(listText)
  // a list of strings only (what an issuer writes): nothing in it nests, so its depth cannot matter
  if (!parsed.ok || !Array.isArray(parsed.value) || !parsed.value.every((x) => typeof x === 'string')) return undefined
  const list = deepFreeze(parsed.value)
  SCOPES_MEMO.set(listText, list)
  return list
}

/** The claims python-jose can be told to require, in the order it checks them. */
export const REQUIRABLE_CLAIMS = ['aud', 'iat', 'exp', 'nbf', 'iss', 'sub', 'jti', 'at_hash'] as const
export type RequirableClaim = (typeof REQUIRABLE_CLAIMS)[number]

export interface ClaimRules {
  /** The gateway's service name; python-jose compares `aud` to it. */
  audience: string
  /** Whole seconds since the epoch (python-jose floors the current time). */
  now: number
  /** 0 at the gateway. */
  leeway?: number
  /** python-jose `require_*` options (the gateway sets none). */
  require?: readonly RequirableClaim[]
  /** python-jose `issuer=` (the gateway passes none, so `iss` is not checked). */
  issuers?: readonly string[]
}

/** jwt._validate_claims. */
export function joseValidateClaims(claims: Record<string, unknown>, rules: ClaimRules): { ok: true } | JoseFailure {
  const leeway = rules.leeway ?? 0
  if (rules.require && rules.require.length > 0) {
    for (const c of REQUIRABLE_CLAIMS) {
      if (rules.require.includes(c) && !Object.hasOwn(claims, c)) return claimFail(c, missingRequiredClaimReason(c))
    }
  }
  if (Object.hasOwn(claims, 'iat')) {
    const r = pyInt(claims.iat)
    if (!r.ok) return intFailure('iat', r, JOSE_REASONS.iatNotInteger)
  }
  if (Object.hasOwn(claims, 'nbf')) {
    const r = pyInt(claims.nbf)
    if (!r.ok) return intFailure('nbf', r, JOSE_REASONS.nbfNotInteger)
    if (r.value > rules.now + leeway) return claimFail('nbf', JOSE_REASONS.notYetValid)
  }
  if (Object.hasOwn(claims, 'exp')) {
    const r = pyInt(claims.exp)
    if (!r.ok) return intFailure('exp', r, JOSE_REASONS.expNotInteger)
    if (r.value < rules.now - leeway) return claimFail('exp', JOSE_REASONS.expired)
  }
  if (Object.hasOwn(claims, 'aud')) {
    const reason = audienceProblem(claims.aud, rules.audience)
    if (reason !== undefined) return claimFail('aud', reason)
  }
  if (rules.issuers !== undefined) {
    const iss = Object.hasOwn(claims, 'iss') ? claims.iss : undefined
    if (typeof iss !== 'string' || !rules.issuers.includes(iss)) return claimFail('iss', JOSE_REASONS.invalidIssuer)
  }
  if (Object.hasOwn(claims, 'sub') && typeof claims.sub !== 'string') return claimFail('sub', JOSE_REASONS.subNotString)
  if (Object.hasOwn(claims, 'jti') && typeof claims.jti !== 'string') return claimFail('jti', JOSE_REASONS.jtiNotString)
  // The gateway passes no access_token, so any at_hash claim fails.
  if (Object.hasOwn(claims, 'at_hash')) return claimFail('at_hash', JOSE_REASONS.atHashWithoutAccessToken)
  return { ok: true }
}

/** _validate_aud's verdict on one `aud` value, or undefined when it passes. */
export function audienceProblem(aud: unknown, audience: string): string | undefined {
  const list = typeof aud === 'string' ? [aud] : aud
  if (!Array.isArray(list)) return JOSE_REASONS.invalidClaimFormat
  for (const c of list) if (typeof c !== 'string') return JOSE_REASONS.invalidClaimFormat
  if (!list.includes(audience)) return JOSE_REASONS.invalidAudience
  return undefined
}

/** Whole seconds, floored, as python-jose computes `now`. */
export function epochSeconds(date: Date): number {
  return Math.floor(date.getTime() / 1000)
}

// ---------------------------------------------------------------------------------------------------

export type HeaderDecode = { ok: true; header: Readonly<Record<string, unknown>>; canonical: boolean } | JoseFailure

// Tokens from one issuer share their header segment; decoding it once saves a base64 + JSON parse
// per request on the hot path. Results are frozen because they are shared.
const HEADER_CACHE = new TextMemo<HeaderDecode>(64)
const HEADER_CACHE_MAX_SEGMENT = 1024

/** Decode a header segment as _load does (cached; the header object is frozen and shared). */
export function joseDecodeHeader(segment: string): HeaderDecode {
  const cached = HEADER_CACHE.get(segment)
  if (cached !== undefined) return cached
  const result = decodeHeaderUncached(segment)
  if (segment.length <= HEADER_CACHE_MAX_SEGMENT) HEADER_CACHE.set(segment, result)
  return result
}

function decodeHeaderUncached(segment: string): HeaderDecode {
  const bytes = pyBase64UrlDecode(segment)
  // binascii.Error is a ValueError: the `except ValueError` around the split catches it first.
  if (bytes === undefined) return fail('header-base64', JOSE_REASONS.notEnoughSegments)
  const text = pyUtf8Decode(bytes)
  if (!text.ok) return fail('header-json', JOSE_REASONS.invalidHeaderStringPrefix + text.message)
  const parsed = pyJsonLoads(text.text)
  if (!parsed.ok) {
    if (parsed.fatal) return Object.freeze({ ok: false, stage: 'header-json', reason: `RecursionError: ${parsed.message}`, fatal: true }) as JoseFailure
    return fail('header-json', JOSE_REASONS.invalidHeaderStringPrefix + parsed.message)
  }
  const v = parsed.value
  if (v === null || typeof v !== 'object' || Array.isArray(v)) return fail('header-object', JOSE_REASONS.headerNotObject)
  const canonical = /^[A-Za-z0-9_-]*$/.test(segment)
  return Object.freeze({ ok: true, header: deepFreeze(v as Record<string, unknown>), canonical }) as HeaderDecode
}

function signingInput(parts: JwsParts): Buffer {
  if (parts.signingInputBytes !== undefined) return parts.signingInputBytes
  const text = parts.signingInputText
  if (!parts.clean && !isAscii(text)) return (parts.signingInputBytes = gatewayBytes(text))
  const out = INPUT_SCRATCH.get(text.length)
  return out.subarray(0, out.write(text, 0, 'latin1'))
}

function rs256Verify(parts: JwsParts, key: KeyObject): boolean {
  try {
    return cryptoVerify('sha256', signingInput(parts), key, signatureOf(parts))
  } catch {
    // cryptography's verify() raises InvalidSignature for anything malformed: python-jose reads False
    return false
  }
}

/** Freeze a decoded JSON value (objects shared between reports must not be changed by one reader). */
export function deepFreeze<T>(value: T): T {
  if (value !== null && typeof value === 'object') freezeTree(value, 0)
  return value
}

// On every decoded token (the scopes list alone holds ~40 strings): arrays walked by index and primitives
// skipped without a call, where Object.keys on an array made a string per element.
function freezeTree(value: object, depth: number): void {
  if (depth >= 32 || Object.isFrozen(value)) return
  Object.freeze(value)
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) {
      const x: unknown = value[i]
      if (x !== null && typeof x === 'object') freezeTree(x, depth + 1)
    }
    return
  }
  const keys = Object.keys(value)
  for (let i = 0; i < keys.length; i++) {
    const x: unknown = (value as Record<string, unknown>)[keys[i] as string]
    if (x !== null && typeof x === 'object') freezeTree(x, depth + 1)
  }
}

function fail(stage: JoseStage, reason: string): JoseFailure {
  return { ok: false, stage, reason }
}

function claimFail(claim: string, reason: string): JoseFailure {
  return { ok: false, stage: 'claims', reason, claim }
}

function intFailure(claim: string, r: { error: string; message: string }, valueErrorReason: string): JoseFailure {
  // python-jose only catches ValueError around int(); TypeError/OverflowError escape to a 500.
  if (r.error === 'ValueError') return claimFail(claim, valueErrorReason)
  return { ok: false, stage: 'claims', reason: `${r.error}: ${r.message}`, fatal: true, claim }
}
