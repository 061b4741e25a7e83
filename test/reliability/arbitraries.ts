/**
 * fast-check generators shared by the fuzz targets: bearer values that look like tokens more often
 * than noise would (so the deep paths are reached), claims and headers with prototype keys, header
 * maps, and "anything" values including the ones JSON cannot hold.
 */
import { sign, type KeyObject } from 'node:crypto'
import fc from 'fast-check'

export const b64url = (input: string | Uint8Array): string => Buffer.from(input).toString('base64url')

/** Keys that attack objects built from parsed input, and the claim/header names the code reads. */
export const DANGEROUS_KEYS = ['__proto__', 'constructor', 'prototype', 'toString', 'valueOf', 'hasOwnProperty', '__defineGetter__'] as const
export const JOSE_KEYS = ['alg', 'typ', 'kid', 'crit', 'jku', 'x5u', 'jwk', 'x5c', 'enc', 'b64', 'zip'] as const
export const CLAIM_KEYS = ['iss', 'sub', 'aud', 'iat', 'nbf', 'exp', 'jti', 'gitlab_realm', 'gitlab_instance_id', 'scopes', 'at_hash'] as const

/** Numbers that break naive code: huge, fractional, negative zero, non-finite when JSON allows it. */
export const edgeNumber = fc.oneof(
  fc.integer(),
  fc.double({ noNaN: false }),
  fc.constantFrom(0, -0, 1e308, -1e308, 2 ** 53, 2 ** 53 + 2, 4.5, -1, 1_767_225_600, 9_999_999_999_999),
)

/** JSON text values, including literals JSON.parse rejects but Python accepts (NaN, Infinity) and huge ints. */
export const jsonLiteral = fc.oneof(
  fc.jsonValue({ maxDepth: 2 }).map((v) => JSON.stringify(v)),
  fc.constantFrom('NaN', 'Infinity', '-Infinity', '1e400', '-1e400', '1'.repeat(5000), '1.5', '"x"', 'null', 'true', '[]', '{}', '[[[[[[[[1]]]]]]]]', '"\\ud800"', '"\\u0000"'),
)

const objectKey = fc.oneof(
  { weight: 3, arbitrary: fc.constantFrom(...DANGEROUS_KEYS, ...JOSE_KEYS, ...CLAIM_KEYS) },
  { weight: 1, arbitrary: fc.string({ maxLength: 10 }) },
)

/** JSON object text built by hand, so "__proto__" is a real member name of the text. */
export const jsonObjectText = fc
  .array(fc.tuple(objectKey, jsonLiteral), { maxLength: 8 })
  .map((members) => `{${members.map(([k, v]) => `${JSON.stringify(k)}:${v}`).join(',')}}`)

/** A JOSE header text: mostly RS256 with a kid, sometimes anything. */
export const headerText = fc.oneof(
  fc.constant('{"alg":"RS256","typ":"JWT","kid":"k"}'),
  fc
    .tuple(fc.constantFrom('RS256', 'none', 'None', 'HS256', 'RS512', 'ES256', '', 'rs256'), fc.option(jsonObjectText, { nil: undefined }))
    .map(([alg, extra]) => (extra === undefined || extra === '{}' ? `{"alg":"${alg}"}` : `{"alg":"${alg}",${extra.slice(1)}`)),
  jsonObjectText,
  jsonLiteral,
  fc.string({ maxLength: 40 }),
)

/** A payload text: plausible claims with edge values, prototype keys, or junk. */
export const payloadText = fc.oneof(
  jsonObjectText,
  fc
    .record({
      sub: fc.oneof(fc.constant('f798e820-207f-4849-869d-1f753edb3312'), fc.string({ maxLength: 8 }), edgeNumber),
      aud: fc.oneof(fc.constant(['gitlab-ai-gateway']), fc.constant('gitlab-ai-gateway'), fc.array(fc.string({ maxLength: 6 }), { maxLength: 3 }), edgeNumber),
      exp: fc.oneof(edgeNumber, fc.constant('123')),
      nbf: fc.oneof(edgeNumber, fc.constant(null)),
      scopes: fc.oneof(fc.constant(['complete_code']), fc.string({ maxLength: 12 }), fc.constant(null), fc.dictionary(fc.string({ maxLength: 4 }), fc.boolean())),
      gitlab_realm: fc.constantFrom('self-managed', 'saas', '', 'SaaS'),
    }, { requiredKeys: [] })
    .map((o) => JSON.stringify(o)),
  jsonLiteral,
  fc.string({ maxLength: 40 }),
)

/** A signature segment: random bytes, empty, or non-base64 text. */
export const signatureSegment = fc.oneof(
  fc.uint8Array({ minLength: 0, maxLength: 300 }).map((b) => b64url(b)),
  fc.constantFrom('', 'x', '====', '+/+/', '.'),
  fc.string({ maxLength: 12 }),
)

/** Build a compact JWS from texts; `key` signs it (RS256) so the claim checks behind the signature run too. */
export function compact(header: string, payload: string, signature: string): string {
  return `${b64url(header)}.${b64url(payload)}.${signature}`
}

export function signedCompact(header: string, payload: string, key: KeyObject): string {
  const input = `${b64url(header)}.${b64url(payload)}`
  return `${input}.${sign('sha256', Buffer.from(input, 'latin1'), key).toString('base64url')}`
}

/** Bearer values: noise, token-shaped texts, mutations of a good token, and size extremes. */
export function tokenish(good: string, signer?: KeyObject): fc.Arbitrary<string> {
  const arbs: fc.Arbitrary<string>[] = [
    fc.string({ unit: 'binary', maxLength: 80 }),
    fc.string({ unit: fc.constantFrom(...'eyJAa0_-+/=. \t\r\n…é\u0000'.split('')), maxLength: 120 }),
    fc.tuple(headerText, payloadText, signatureSegment).map(([h, p, s]) => compact(h, p, s)),
    fc.tuple(fc.nat({ max: good.length }), fc.string({ unit: 'binary', maxLength: 4 })).map(([i, s]) => good.slice(0, i) + s + good.slice(i + 1)),
    fc.tuple(fc.nat({ max: good.length }), fc.nat({ max: 8 })).map(([i, n]) => good.slice(0, i) + good.slice(i + n)),
    fc.array(fc.string({ maxLength: 30 }), { maxLength: 6 }).map((parts) => parts.map((p) => b64url(p)).join('.')),
    fc.constantFrom('', ' ', 'Bearer', 'Bearer ', 'bearer x', '.', '..', '...', '....', good + '.', `${good}\n`, ` ${good}`, `Bearer ${good}`),
    fc.tuple(fc.constantFrom(64 * 1024 - 10, 64 * 1024 + 1, 70_000), fc.constantFrom('a', 'é', '.')).map(([n, c]) => c.repeat(n)),
  ]
  if (signer) arbs.push(fc.tuple(headerText, payloadText).map(([h, p]) => signedCompact(h, p, signer)))
  return fc.oneof(...arbs)
}

/** A header bag in every shape HeadersInput allows, with dangerous names. */
export function headerBag(extraNames: readonly string[] = []): fc.Arbitrary<unknown> {
  const name = fc.oneof(
    fc.constantFrom('authorization', 'Authorization', 'x-gitlab-authentication-type', 'X-Gitlab-Realm', 'x-gitlab-instance-id', 'x-gitlab-global-user-id', ...DANGEROUS_KEYS, ...extraNames),
    fc.string({ maxLength: 12 }),
  )
  const value = fc.oneof(fc.string({ unit: 'binary', maxLength: 40 }), fc.array(fc.string({ maxLength: 20 }), { maxLength: 3 }), fc.constant(undefined), fc.constant(null), edgeNumber)
  return fc.oneof(
    fc.dictionary(name, value, { maxKeys: 8 }),
    fc.array(fc.tuple(name, fc.string({ maxLength: 20 })), { maxLength: 5 }),
    fc.array(fc.anything({ maxDepth: 1 }), { maxLength: 3 }),
    fc.constantFrom(undefined, null, 0, 'authorization: Bearer x'),
  )
}

/** Any JS value, including what JSON cannot hold (undefined, bigint, -0, null-prototype objects, dates). */
export const anyValue = fc.anything({
  maxDepth: 3,
  withBigInt: true,
  withDate: true,
  withMap: true,
  withSet: true,
  withNullPrototype: true,
  withObjectString: true,
  withBoxedValues: true,
  withTypedArray: true,
  withSparseArray: true,
})

/** Like anyValue, restricted to what JSON.stringify accepts (the client's request bodies). */
export const jsonishValue = fc.anything({ maxDepth: 3, withNullPrototype: true, withDate: true, withSparseArray: true })
