/**
 * `inspectToken(value)`: what a bearer value is and why the gateway would refuse it, before anything
 * is sent. Clock-free and key-free (preflight adds time, audience, headers, scopes and, given keys,
 * the signature). Never throws, never quotes the token.
 */
import { TextMemo } from '../memo.js'
import type { Clock, Problem } from '../types.js'
import { GATEWAY_MESSAGES, JOSE_REASONS } from './messages.js'
import { deepFreeze, isAsciiString, joseCheckAlgorithm, joseDecodeClaims, joseDecodeHeader, joseLoad, type JoseFailure, type JoseLoad, type JwsParts } from './jose.js'
import { pyBase64UrlDecode, pyInt, pyUtf8Decode, type PyDecoded } from './python.js'
import { isOws, stripEndWhere } from './text.js'
import { timeProblems } from './time.js'

export interface TokenReport {
  /** empty: nothing to send; opaque: no dots; malformed: not a usable compact JWS; jwt: header and claims decoded. */
  kind: 'empty' | 'opaque' | 'malformed' | 'jwt'
  /** Errors first in the order the gateway checks, then warnings. */
  problems: Problem[]
  /** Decoded JOSE header (read-only; shared between reports of tokens with the same header). */
  header?: Record<string, unknown>
  /** Decoded claims, unverified. */
  claims?: Record<string, unknown>
  /** For a value that is not a JWT: what it looks like (see RESEMBLANCES). */
  resembles?: string
  /** Length of the value in UTF-16 code units (0 for a non-string). */
  length: number
  /** Number of dot-separated segments. */
  segments?: number
}

/** Values are refused above this size before any decoding (GitLab's tokens are under 2 KiB). */
export const MAX_TOKEN_BYTES = 64 * 1024

/** The stable problem codes inspectToken and preflight report. */
export const PROBLEM_CODES = [
  'AUTHORIZATION_MISSING',
  'AUTHORIZATION_SCHEME',
  'AUTH_TYPE',
  'TOKEN_SOURCE_NONE',
  'TOKEN_MISSING',
  'TOKEN_NOT_STRING',
  'TOKEN_TOO_LARGE',
  'TOKEN_EMPTY',
  'TOKEN_BEARER_PREFIX',
  'TOKEN_WHITESPACE',
  'TOKEN_NON_ASCII',
  'TOKEN_OPAQUE',
  'TOKEN_SEGMENTS',
  'TOKEN_JWE',
  'HEADER_NOT_BASE64URL',
  'HEADER_NOT_JSON',
  'HEADER_NOT_OBJECT',
  'PAYLOAD_NOT_BASE64URL',
  'SIGNATURE_NOT_BASE64URL',
  'SEGMENT_NOT_CANONICAL',
  'ALG_MISSING',
  'ALG_NOT_ALLOWED',
  'SIGNATURE_INVALID',
  'PAYLOAD_NOT_JSON',
  'PAYLOAD_NOT_OBJECT',
  'IAT_NOT_INTEGER',
  'NBF_NOT_INTEGER',
  'EXP_NOT_INTEGER',
  'TIME_CLAIM_NOT_INTEGER',
  'NOT_YET_VALID',
  'NBF_CLOCK_SKEW',
  'EXPIRED',
  'EXPIRES_WITHIN_LEEWAY',
  'EXPIRES_DURING_REQUEST',
  'AUD_FORMAT',
  'AUD_MISMATCH',
  'AUD_MISSING',
  'SUB_NOT_STRING',
  'JTI_NOT_STRING',
  'AT_HASH_PRESENT',
  'CRIT_HEADER',
  'GATEWAY_CRASH',
  'REALM_MISMATCH',
  'GITLAB_INSTANCE_ID_MISMATCH',
  'INSTANCE_ID_MISMATCH',
  'GLOBAL_USER_ID_MISMATCH',
  'SCOPES_MISSING',
  'SCOPES_NOT_A_LIST',
  'SCOPE_MISSING',
  'GATEWAY_ISSUED_TOKEN',
] as const
export type ProblemCode = (typeof PROBLEM_CODES)[number]

/** What `resembles` can say about a value that is not a JWT. */
export const RESEMBLANCES = {
  'gitlab-personal-access-token': 'a GitLab personal, project or group access token (glpat-…)',
  'gitlab-oauth-application-secret': 'a GitLab OAuth application secret (gloas-…)',
  'gitlab-deploy-token': 'a GitLab deploy token (gldt-…)',
  'gitlab-runner-token': 'a GitLab runner token (glrt-…)',
  'gitlab-job-token': 'a GitLab CI/CD job token (glcbt-…)',
  'gitlab-trigger-token': 'a GitLab pipeline trigger token (glptt-…)',
  'gitlab-feed-token': 'a GitLab feed token (glft-…)',
  'gitlab-token': 'a GitLab token with a gl…- prefix',
  'gitlab-license': 'a GitLab license file (the license is not a token: an offline license carries none)',
  uuid: 'a UUID (the instance UUID or a request id, not a token)',
  hex: 'a hexadecimal string (a digest or a legacy secret, not a JWT)',
  base64: 'a base64 blob (not a JWT: a JWT has three base64url segments separated by dots)',
  jwe: 'an encrypted JWT (JWE, five segments): the gateway only takes a signed JWT (JWS, three segments)',
} as const

export interface InspectOptions {
  /**
   * A clock: `exp` and `nbf` are then judged at its time too, as the gateway judges them (no leeway), and a
   * token that is expired or not yet valid gets `EXPIRED` / `NOT_YET_VALID`. Without one the report is clock-free.
   */
  now?: Clock
}

/**
 * Inspect a bearer value. Accepts anything; never throws. The report's `header` and `claims` are
 * frozen (they may be shared between reports of the same token); everything else is the caller's.
 */
export function inspectToken(value: unknown, options?: InspectOptions): TokenReport {
  const report = reportOf(value)
  if (options?.now === undefined || report.kind !== 'jwt' || report.claims === undefined) return report
  try {
    const at = options.now().getTime()
    if (!Number.isFinite(at)) return report
    timeProblems(report.claims, Math.floor(at / 1000), at, 0, undefined, report.problems)
    return finish(report)
  } catch {
    /* c8 ignore next 2 */
    return report
  }
}

function reportOf(value: unknown): TokenReport {
  try {
    if (typeof value !== 'string' || value.length > REPORT_CACHE_MAX_LENGTH) return inspect(value)
    // The client preflights the same cached token on every request; a report is a pure function of
    // the string, so it is computed once and handed out as a copy.
    let report = REPORT_CACHE.get(value)
    if (report === undefined) {
      report = inspect(value)
      REPORT_CACHE.set(value, report)
    }
    return copyReport(report)
  } catch {
    /* c8 ignore next 3 */
    return { kind: 'malformed', problems: [problem('TOKEN_NOT_STRING', { message: 'The value could not be inspected.', fix: 'Pass the token as a string.' })], length: 0 }
  }
}

const REPORT_CACHE = new TextMemo<TokenReport>(128)
const REPORT_CACHE_MAX_LENGTH = 16 * 1024

function copyReport(r: TokenReport): TokenReport {
  const out: TokenReport = { ...r, problems: r.problems.length === 0 ? [] : r.problems.map((p) => ({ ...p })) }
  return out
}

// ---------------------------------------------------------------------------------------------------

/** The reported failure explained once, for every place that meets an empty bearer value. */
export const NO_TOKEN_FIX =
  'An empty bearer value is what GitLab sends when it falls back to the synced Cloud Connector token and has none, which is always the case with an offline license (the token is only synced for an online cloud license): that is how the self-hosted model check ends in a 401. Self-issue a JWT with the instance key for every unit primitive instead (createTokenSource({ policy: "safe", selfIssued: createTokenIssuer(...) })). In GitLab itself: assign the feature that maps to the unit primitive (Code Completion for complete_code, which the model check uses) to a self-hosted model, or set CLOUD_CONNECTOR_SELF_SIGN_TOKENS=true.'

const NO_TOKEN_MESSAGE = 'No token at all: the request would go out as "Authorization: Bearer " with nothing after it, and the gateway fails on the empty string.'

const WHITESPACE_OR_CONTROL = /[\x00-\x20\x7f]/
const NON_ASCII = /[^\x00-\x7f]/
const BEARER_PREFIX = /^bearer(?:[ \t]+|$)/i

function inspect(value: unknown): TokenReport {
  if (typeof value !== 'string') {
    if (value === undefined || value === null) {
      return { kind: 'empty', problems: [tokenProblem('TOKEN_MISSING', { message: NO_TOKEN_MESSAGE, fix: NO_TOKEN_FIX, reason: JOSE_REASONS.notEnoughSegments })], length: 0 }
    }
    return {
      kind: 'malformed',
      problems: [
        problem('TOKEN_NOT_STRING', {
          message: `The bearer value is a ${Array.isArray(value) ? 'array' : typeof value}, not a string.`,
          fix: 'Pass the token itself (the compact JWT string), not an object that holds it.',
        }),
      ],
      length: 0,
    }
  }
  const length = value.length
  // Cheap bound first: a UTF-16 length never exceeds the UTF-8 byte length.
  if (length > MAX_TOKEN_BYTES || (length > MAX_TOKEN_BYTES / 3 && Buffer.byteLength(value, 'utf8') > MAX_TOKEN_BYTES)) {
    return {
      kind: 'malformed',
      problems: [
        problem('TOKEN_TOO_LARGE', {
          message: `The bearer value is ${length} characters long, over the ${MAX_TOKEN_BYTES / 1024} KiB limit: it was not decoded. A GitLab token is under 2 KiB.`,
          fix: 'Check what is being passed as the token: a file, a whole response body or a token repeated many times. Many HTTP servers refuse headers this large before the gateway sees them.',
        }),
      ],
      length,
    }
  }

  const problems: Problem[] = []
  if (length === 0) {
    return { kind: 'empty', problems: [tokenProblem('TOKEN_EMPTY', { message: NO_TOKEN_MESSAGE, fix: NO_TOKEN_FIX, reason: JOSE_REASONS.notEnoughSegments })], length }
  }
  // Fast path: ASCII, three segments, each plain base64url that decodes without skipping anything —
  // so no whitespace, no prefix, no stray characters.
  if (isAsciiString(value)) {
    const load = joseLoad(value, true)
    if (load.ok && load.parts.clean && value.indexOf('.', value.indexOf('.') + 1) === value.lastIndexOf('.')) return analyseLoaded(load.parts, problems, length)
    if (/^[A-Za-z0-9_\-.]*$/.test(value) && !(length === 6 && value.toLowerCase() === 'bearer')) return analyse(value, true, problems, length)
  }

  // Unusual characters: work out what the gateway would receive for "Authorization: Bearer <value>"
  // (the server strips trailing spaces; python-jose sees everything else).
  let core = value.trim()
  if (core.length === 0) {
    return { kind: 'empty', problems: [tokenProblem('TOKEN_EMPTY', { message: `${NO_TOKEN_MESSAGE} The value holds only whitespace.`, fix: NO_TOKEN_FIX, reason: JOSE_REASONS.notEnoughSegments })], length }
  }
  const gatewayView = stripEndWhere(value, isOws)
  if (BEARER_PREFIX.test(core)) {
    core = core.replace(BEARER_PREFIX, '').trim()
    if (core.length === 0) {
      return {
        kind: 'empty',
        problems: [
          tokenProblem('TOKEN_EMPTY', {
            message: `${NO_TOKEN_MESSAGE} The value is just the word "Bearer": the header was built from an empty token and then passed as the token.`,
            fix: NO_TOKEN_FIX,
            reason: JOSE_REASONS.notEnoughSegments,
          }),
        ],
        length,
      }
    }
    problems.push(
      tokenProblem('TOKEN_BEARER_PREFIX', {
        message: 'The value still carries the "Bearer " prefix: the request would go out as "Authorization: Bearer Bearer …" and the gateway would try to decode "Bearer …" as the token.',
        fix: 'Pass the token alone; the client adds "Bearer ".',
        reason: reasonForAsIs(gatewayView),
      }),
    )
  }
  if (WHITESPACE_OR_CONTROL.test(core)) {
    problems.push(
      tokenProblem('TOKEN_WHITESPACE', {
        message: 'The value contains whitespace or control characters (a line break from a file or an environment variable, or two values joined by a space).',
        fix: 'Trim the value and make sure it is a single token: compact JWTs contain only letters, digits, "-", "_" and two dots.',
        reason: reasonForAsIs(gatewayView),
      }),
    )
  } else if (value !== core && problems.length === 0) {
    const leading = /^\s/.test(value)
    problems.push(
      leading
        ? tokenProblem('TOKEN_WHITESPACE', {
            message: 'The value starts with whitespace: the gateway takes everything after the first space of the header as the token, leading whitespace included.',
            fix: 'Trim the token before sending it.',
            reason: reasonForAsIs(gatewayView),
          })
        : warning('TOKEN_WHITESPACE', {
            message: 'The value ends with whitespace; HTTP servers strip it, but a line break there makes the header invalid.',
            fix: 'Trim the token before sending it.',
          }),
    )
  }
  if (NON_ASCII.test(core)) {
    problems.push(
      tokenProblem('TOKEN_NON_ASCII', {
        message: 'The value contains non-ASCII characters: a JWT is ASCII only. Such characters are sent as latin-1 (or refused by the HTTP client) and re-encoded by the gateway, so the signature cannot match.',
        fix: 'Copy the token again from its source; look for smart quotes, ellipses ("…") or invisible characters added by an editor or a chat tool.',
        reason: reasonForAsIs(gatewayView),
      }),
    )
  }
  return analyse(core, false, problems, length)
}

/** The reason python-jose would give for this exact value, up to the signature check. */
function reasonForAsIs(gatewayView: string): string {
  const load = joseLoad(gatewayView)
  if (!load.ok) return load.reason
  return joseCheckAlgorithm(load.parts.header) ?? JOSE_REASONS.signatureFailed
}

function analyse(core: string, clean: boolean, problems: Problem[], length: number): TokenReport {
  const segmentTexts = core.split('.')
  const segments = segmentTexts.length

  if (segments === 1) {
    const resembles = resemblanceOf(core)
    problems.push(
      tokenProblem('TOKEN_OPAQUE', {
        message: `The value is not a JWT (no dots)${resembles ? `; it looks like ${RESEMBLANCES[resembles]}` : ''}. The gateway only accepts a JWT signed by a key it trusts.`,
        fix: opaqueFix(resembles),
        reason: JOSE_REASONS.notEnoughSegments,
      }),
    )
    return finish({ kind: 'opaque', problems, length, segments, ...(resembles ? { resembles } : {}) })
  }

  const load = joseLoad(core)
  const report: TokenReport = { kind: 'malformed', problems, length, segments }
  const headerText = segmentTexts[0] ?? ''
  // the load decoded the same first segment when it succeeded
  const header = load.ok ? undefined : joseDecodeHeader(headerText)
  if (load.ok) report.header = load.parts.header
  else if (header?.ok) report.header = header.header

  if (segments !== 3) {
    const isJwe = segments === 5 && report.header !== undefined && Object.hasOwn(report.header, 'enc')
    if (isJwe) report.resembles = 'jwe'
    problems.push(
      tokenProblem(isJwe ? 'TOKEN_JWE' : 'TOKEN_SEGMENTS', {
        message: isJwe
          ? 'The value is an encrypted JWT (JWE, five segments, with "enc" in its header). The gateway only verifies signed JWTs (JWS) with three segments.'
          : `The value has ${segments} dot-separated segments; a signed JWT has exactly 3 (header.payload.signature).`,
        fix:
          segments === 2
            ? 'The signature segment is missing: send the token exactly as the issuer produced it, all three segments.'
            : isJwe
              ? 'Send a signed (not encrypted) JWT: the instance self-issues RS256 JWS tokens.'
              : 'Something joined or split tokens: send exactly one compact JWT (three segments, two dots).',
        reason: reasonOf(load),
      }),
    )
    return finish(report)
  }

  const payloadText = segmentTexts[1] ?? ''
  const signatureText = segmentTexts[2] ?? ''
  // Each segment in python-jose's order; every defect is reported, each with the reason python-jose
  // would give if it were the first one.
  if (header !== undefined && !header.ok) problems.push(headerProblem(header, headerText))
  let payload: PyDecoded | undefined
  if (load.ok) payload = load.parts.payload
  else {
    const bytes = pyBase64UrlDecode(payloadText)
    if (bytes !== undefined) payload = pyUtf8Decode(bytes)
  }
  if (payload === undefined) problems.push(segmentProblem('PAYLOAD_NOT_BASE64URL', 'payload', payloadText, JOSE_REASONS.invalidPayloadPadding))
  if (!load.ok && pyBase64UrlDecode(signatureText) === undefined) {
    problems.push(segmentProblem('SIGNATURE_NOT_BASE64URL', 'signature', signatureText, JOSE_REASONS.invalidCryptoPadding))
  }
  if (!clean) {
    for (const [name, text] of [
      ['header', headerText],
      ['payload', payloadText],
      ['signature', signatureText],
    ] as const) {
      if (!/^[A-Za-z0-9_-]*$/.test(text) && pyBase64UrlDecode(text) !== undefined) {
        problems.push(
          warning('SEGMENT_NOT_CANONICAL', {
            message: `The ${name} segment is not plain base64url (it has "=" padding, "+" or "/", or stray characters). The gateway's decoder tolerates that, other verifiers do not, and the signature covers the text exactly as sent.`,
            fix: 'Send the token exactly as the issuer produced it; do not re-encode it.',
            segment: name,
          }),
        )
      }
    }
  }

  return judgeDecoded(report, payload)
}

/** A clean three-segment token, already loaded: its segment texts need no second look. */
function analyseLoaded(parts: JwsParts, problems: Problem[], length: number): TokenReport {
  const report: TokenReport = { kind: 'malformed', problems, length, segments: 3 }
  report.header = parts.header
  return judgeDecoded(report, parts.payload)
}

/** The header's algorithm, then the claims (python-jose's order after the segments), for a report whose segments are read. */
function judgeDecoded(report: TokenReport, payload: PyDecoded | undefined): TokenReport {
  const problems = report.problems
  if (report.header !== undefined) {
    const algReason = joseCheckAlgorithm(report.header)
    if (algReason !== undefined) problems.push(algorithmProblem(report.header, algReason))
    if (Object.hasOwn(report.header, 'crit')) {
      problems.push(
        warning('CRIT_HEADER', {
          message: 'The header has a "crit" member. The gateway (python-jose) ignores it; verifiers that follow RFC 7515 refuse tokens with critical extensions they do not know.',
          fix: 'Issue tokens without "crit".',
          segment: 'header',
        }),
      )
    }
  }

  if (payload !== undefined) {
    const decoded = joseDecodeClaims(payload)
    if (decoded.ok) {
      report.claims = deepFreeze(decoded.claims)
      claimFormatProblems(decoded.claims, problems)
    } else if (decoded.fatal) {
      problems.push(crashProblem('The payload nests JSON deeper than the gateway\'s Python can parse: it raises a RecursionError and answers 500.', decoded.reason, undefined, 'Send a Cloud Connector token: a flat JSON object of claims.'))
    } else {
      problems.push(
        tokenProblem(decoded.stage === 'payload-object' ? 'PAYLOAD_NOT_OBJECT' : 'PAYLOAD_NOT_JSON', {
          message: decoded.stage === 'payload-object' ? 'The payload segment is JSON but not an object.' : 'The payload segment does not decode to JSON.',
          fix: 'The second segment must be base64url of a JSON object of claims: send the token exactly as the issuer produced it.',
          reason: decoded.reason,
          segment: 'payload',
        }),
      )
    }
  }
  if (report.header !== undefined && report.claims !== undefined) report.kind = 'jwt'
  return finish(report)
}

function reasonOf(load: JoseLoad): string {
  if (!load.ok) return load.reason
  return joseCheckAlgorithm(load.parts.header) ?? JOSE_REASONS.signatureFailed
}

function headerProblem(failure: JoseFailure, headerText: string): Problem {
  switch (failure.stage) {
    case 'header-base64':
      return segmentProblem('HEADER_NOT_BASE64URL', 'header', headerText, JOSE_REASONS.notEnoughSegments)
    case 'header-object':
      return tokenProblem('HEADER_NOT_OBJECT', {
        message: 'The header segment is JSON, but not an object (an array, a string, a number or null).',
        fix: 'The first segment must be base64url of a JSON object such as {"alg":"RS256","typ":"JWT","kid":"…"}.',
        reason: failure.reason,
        segment: 'header',
      })
    default:
      if (failure.fatal) {
        return crashProblem('The header nests JSON deeper than the gateway\'s Python can parse: it raises a RecursionError and answers 500.', failure.reason, undefined, 'Send a JWT with a plain header {"alg":"RS256","typ":"JWT","kid":"…"}.')
      }
      return tokenProblem('HEADER_NOT_JSON', {
        message: 'The header segment is base64url, but it does not decode to JSON.',
        fix: 'The first segment must be base64url of a JSON object such as {"alg":"RS256","typ":"JWT","kid":"…"}: send the token exactly as the issuer produced it.',
        reason: failure.reason,
        segment: 'header',
      })
  }
}

/** Claim problems that need neither a clock nor the gateway's configuration, in python-jose's order. */
const TIME_CLAIMS = [
  ['iat', 'IAT_NOT_INTEGER', JOSE_REASONS.iatNotInteger, 'Issued At'],
  ['nbf', 'NBF_NOT_INTEGER', JOSE_REASONS.nbfNotInteger, 'Not Before'],
  ['exp', 'EXP_NOT_INTEGER', JOSE_REASONS.expNotInteger, 'Expiration Time'],
] as const

function claimFormatProblems(claims: Record<string, unknown>, problems: Problem[]): void {
  for (const [claim, code, reason, label] of TIME_CLAIMS) {
    if (!Object.hasOwn(claims, claim)) continue
    const v = claims[claim]
    const r = pyInt(v)
    if (!r.ok && r.error === 'ValueError') {
      problems.push(
        tokenProblem(code, {
          message: `The ${label} claim "${claim}" is ${describeValue(v)}, which is not an integer.`,
          fix: `Set "${claim}" to whole seconds since the epoch (a JSON integer), as GitLab does.`,
          reason,
          claim,
        }),
      )
    } else if (!r.ok) {
      problems.push(
        crashProblem(`The ${label} claim "${claim}" is ${describeValue(v)}: python-jose's int() raises a ${r.error}, which the gateway does not catch, so it answers 500.`, `${r.error}: ${r.message}`, claim, `Set "${claim}" to whole seconds since the epoch (a JSON integer).`),
      )
    } else if (typeof v !== 'number' || !Number.isInteger(v)) {
      problems.push(
        warning('TIME_CLAIM_NOT_INTEGER', {
          message: `The claim "${claim}" is ${describeValue(v)}; the gateway truncates it with int() and accepts it, but RFC 7519 verifiers and GitLab use JSON integers.`,
          fix: `Set "${claim}" to whole seconds since the epoch (a JSON integer).`,
          claim,
        }),
      )
    }
  }
  if (Object.hasOwn(claims, 'aud')) {
    const aud = claims.aud
    const list = typeof aud === 'string' ? [aud] : aud
    if (!Array.isArray(list) || list.some((x) => typeof x !== 'string')) {
      problems.push(
        tokenProblem('AUD_FORMAT', {
          message: `The audience claim "aud" is ${describeValue(aud)}; it must be a string or a list of strings.`,
          fix: 'Set "aud" to a list of audiences, e.g. ["gitlab-ai-gateway"].',
          reason: JOSE_REASONS.invalidClaimFormat,
          claim: 'aud',
        }),
      )
    }
  }
  if (Object.hasOwn(claims, 'sub') && typeof claims.sub !== 'string') {
    problems.push(
      tokenProblem('SUB_NOT_STRING', {
        message: `The subject claim "sub" is ${describeValue(claims.sub)}, not a string.`,
        fix: 'Set "sub" to the instance UUID as a string.',
        reason: JOSE_REASONS.subNotString,
        claim: 'sub',
      }),
    )
  }
  if (Object.hasOwn(claims, 'jti') && typeof claims.jti !== 'string') {
    problems.push(
      tokenProblem('JTI_NOT_STRING', {
        message: `The JWT ID claim "jti" is ${describeValue(claims.jti)}, not a string.`,
        fix: 'Set "jti" to a string (GitLab uses a random UUID).',
        reason: JOSE_REASONS.jtiNotString,
        claim: 'jti',
      }),
    )
  }
  if (Object.hasOwn(claims, 'at_hash')) {
    problems.push(
      tokenProblem('AT_HASH_PRESENT', {
        message: 'The token has an "at_hash" claim (an OpenID Connect ID token?). The gateway gives python-jose no access token to compare it with, so it always fails.',
        fix: 'Send a Cloud Connector token, not an ID token: remove "at_hash".',
        reason: JOSE_REASONS.atHashWithoutAccessToken,
        claim: 'at_hash',
      }),
    )
  }
}

function algorithmProblem(header: Readonly<Record<string, unknown>>, reason: string): Problem {
  if (reason === JOSE_REASONS.noAlgorithm) {
    return tokenProblem('ALG_MISSING', {
      message: 'The header has no "alg".',
      fix: 'Sign the token with RS256 and the instance key; the header must say {"alg":"RS256",…}.',
      reason,
      segment: 'header',
    })
  }
  const alg = header.alg
  let what: string
  if (typeof alg === 'string' && alg.toLowerCase() === 'none') what = 'an unsigned token ("alg": "none")'
  else if (typeof alg === 'string' && /^HS/i.test(alg)) what = `an HMAC token ("alg": "${alg}") — a shared-secret token from another system, or a key-confusion attempt with the public key as the secret`
  else what = `a token signed with ${JSON.stringify(alg).slice(0, 40)}`
  return tokenProblem('ALG_NOT_ALLOWED', {
    message: `The gateway only accepts RS256; this is ${what}.`,
    fix: 'Sign with RS256 and the instance RSA key (GitLab self-issues RS256 tokens).',
    reason,
    segment: 'header',
  })
}

function segmentProblem(code: ProblemCode, segment: 'header' | 'payload' | 'signature', text: string, reason: string): Problem {
  const bad = /[^A-Za-z0-9_\-+/=]/.test(text)
  const detail = bad
    ? 'contains characters outside base64url'
    : text.length % 4 === 1
      ? `has a length (${text.length}) that no base64 encoding produces (one character too many or too few)`
      : 'has misplaced "=" padding'
  return tokenProblem(code, {
    message: `The ${segment} segment is not valid base64url: it ${detail}.`,
    fix: 'The token was truncated, edited or joined with something else: send it exactly as the issuer produced it.',
    reason,
    segment,
  })
}

const GITLAB_PREFIXES: ReadonlyArray<readonly [string, keyof typeof RESEMBLANCES]> = [
  ['glpat-', 'gitlab-personal-access-token'],
  ['gloas-', 'gitlab-oauth-application-secret'],
  ['gldt-', 'gitlab-deploy-token'],
  ['glrt-', 'gitlab-runner-token'],
  ['glrtr-', 'gitlab-runner-token'],
  ['glcbt-', 'gitlab-job-token'],
  ['glptt-', 'gitlab-trigger-token'],
  ['glft-', 'gitlab-feed-token'],
]

function resemblanceOf(v: string): keyof typeof RESEMBLANCES | undefined {
  for (const [prefix, name] of GITLAB_PREFIXES) if (v.startsWith(prefix)) return name
  if (/^gl[a-z]{1,8}-[A-Za-z0-9_-]{8,}$/.test(v)) return 'gitlab-token'
  if (/BEGIN GITLAB LICENSE/.test(v)) return 'gitlab-license'
  const compact = v.replace(/\s+/g, '')
  // A GitLab license is base64 of {"data":"…","key":"…","iv":"…"}.
  if (compact.startsWith('eyJkYXRhIjoi')) return 'gitlab-license'
  if (/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(v)) return 'uuid'
  if (/^[0-9a-f]{16,}$/i.test(v)) return 'hex'
  if (compact.length >= 16 && /^[A-Za-z0-9+/_-]+={0,2}$/.test(compact)) return 'base64'
  return undefined
}

function opaqueFix(resembles: keyof typeof RESEMBLANCES | undefined): string {
  switch (resembles) {
    case 'gitlab-personal-access-token':
    case 'gitlab-oauth-application-secret':
    case 'gitlab-deploy-token':
    case 'gitlab-runner-token':
    case 'gitlab-job-token':
    case 'gitlab-trigger-token':
    case 'gitlab-feed-token':
    case 'gitlab-token':
      return 'GitLab tokens do not authenticate to the AI Gateway. Send a Cloud Connector JWT: self-issue one with the instance key (createTokenIssuer) or use the synced token of an online license.'
    case 'gitlab-license':
      return 'A license is not a token. With an offline license there is no synced token at all: self-issue a JWT with the instance key (createTokenIssuer) for every unit primitive.'
    case 'uuid':
      return 'This looks like an id (the instance UUID belongs in X-Gitlab-Instance-Id and in the token\'s "sub"). Send the JWT itself.'
    default:
      return 'Send a Cloud Connector JWT (header.payload.signature, RS256): self-issue one with the instance key (createTokenIssuer) or use the synced token of an online license.'
  }
}

function describeValue(v: unknown): string {
  if (v === null) return 'null'
  if (Array.isArray(v)) return 'a list'
  if (typeof v === 'object') return 'an object'
  if (typeof v === 'string') return `the string ${JSON.stringify(v.length > 32 ? `${v.slice(0, 32)}…` : v)}`
  if (typeof v === 'number') return Number.isFinite(v) ? `the number ${v}` : String(v)
  return String(v)
}

function finish(report: TokenReport): TokenReport {
  // errors before warnings, each group in the order found (which follows python-jose's)
  if (report.problems.length > 1) report.problems.sort((a, b) => (a.severity === b.severity ? 0 : a.severity === 'error' ? -1 : 1))
  return report
}

// ---------------------------------------------------------------------------------------------------
// Problem constructors (shared with preflight)
// ---------------------------------------------------------------------------------------------------

interface ProblemFields {
  message: string
  fix: string
  reason?: string
  segment?: Problem['segment']
  claim?: string
  header?: string
}

/** An error the gateway answers with 401 "Forbidden by auth provider" (python-jose refused the token). */
export function tokenProblem(code: ProblemCode, f: ProblemFields): Problem {
  return { code, severity: 'error', status: 401, gatewayError: GATEWAY_MESSAGES.forbiddenByAuthProvider, ...f }
}

/** An error with a given status and gateway message. */
export function gatewayProblem(code: ProblemCode, status: 401 | 403, gatewayError: string, f: ProblemFields): Problem {
  return { code, severity: 'error', status, gatewayError, ...f }
}

/** An error that makes the gateway raise an exception it does not handle: 500. */
export function crashProblem(message: string, reason: string, claim: string | undefined, fix: string): Problem {
  return { code: 'GATEWAY_CRASH', severity: 'error', gatewayError: GATEWAY_MESSAGES.internalServerError, reason, message, fix, ...(claim ? { claim } : {}) }
}

/** An error the SDK refuses on its own (no gateway status). */
export function problem(code: ProblemCode, f: ProblemFields): Problem {
  return { code, severity: 'error', ...f }
}

/** Something the gateway lets through but a user must see. */
export function warning(code: ProblemCode, f: ProblemFields): Problem {
  return { code, severity: 'warning', ...f }
}
