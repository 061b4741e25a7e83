/**
 * The gateway case table: requests and the AI Gateway's answer to each (status, exact message, and
 * the reason python-jose logs). Built from a key fixture and a pinned clock so that the verifier, the
 * emulator and the msw handlers can all be held to the same table.
 *
 * Every case targets POST /v1/prompts/model_configuration/check, which needs `complete_code`; its 403
 * detail is "Unauthorized to access 'model_configuration/check'". The verifier trusts `fixture.key`
 * only. Expected values were cross-checked against python-jose 3.3.0 driven the way the gateway
 * drives it (auth.py + CompositeProvider); the cases whose outcome depends on python-jose's lenient
 * base64 say why.
 */
import { b64url, b64urlJson, mintHs256, mintJwt, mintUnsigned, signSegments } from './mint.js'
import { caseClaims, type CaseFixture } from './fixture.js'

export interface GatewayCase {
  name: string
  /** The request's headers, as a client would send them. */
  headers: Record<string, string>
  /** The unit primitive the endpoint needs. */
  unitPrimitive: string | undefined
  expected: { status: 200 | 401 | 403 | 500; error?: string; reason?: string }
  /** The endpoint the case is about, and its 403 detail. */
  path: string
  forbiddenDetail: string
  /** Set when preflight refuses a request the gateway would accept (it is stricter on purpose). */
  preflightStricter?: string
}

const PATH = '/v1/prompts/model_configuration/check'
const FORBIDDEN = "Unauthorized to access 'model_configuration/check'"
const FORBIDDEN_BY_PROVIDER = 'Forbidden by auth provider'

export function buildGatewayCases(fx: CaseFixture): GatewayCase[] {
  const now = Math.floor(fx.now.getTime() / 1000)
  const key = fx.key.privateKey
  const other = fx.otherKey.privateKey
  if (!key || !other) throw new Error('the case fixture needs private keys')
  const header = { alg: 'RS256', typ: 'JWT', kid: fx.key.kid }
  const claims = caseClaims(fx)
  const otherUuid = '00000000-1111-4222-8333-444444444444'
  const good = mintJwt(header, claims, key)
  const [goodHeader = '', goodPayload = '', goodSignature = ''] = good.split('.')
  const withClaims = (patch: Record<string, unknown>, drop: string[] = []) => {
    const c: Record<string, unknown> = { ...claims, ...patch }
    for (const d of drop) delete c[d]
    return mintJwt(header, c, key)
  }

  /** Headers as GitLab sends them (lower-case names), with overrides; `undefined` removes a header. */
  const headers = (authorization: string | undefined, overrides: Record<string, string | undefined> = {}): Record<string, string> => {
    const h: Record<string, string | undefined> = {
      ...(authorization === undefined ? {} : { authorization }),
      'x-gitlab-authentication-type': 'oidc',
      'x-gitlab-instance-id': fx.instanceId,
      'x-gitlab-realm': fx.realm,
      'x-gitlab-global-user-id': 'pgkDzqQoXjWQxdwm4wEX1jID6Aa3OGvWDr4I9wLPqmw=',
      'x-gitlab-host-name': 'gitlab.example.com',
      'x-gitlab-version': '18.5.4',
      'x-request-id': '01KCW1FNWMZ1FQZVP8NDVB6BZ6',
      'content-type': 'application/json',
      ...overrides,
    }
    const out: Record<string, string> = {}
    for (const [k, v] of Object.entries(h)) if (v !== undefined) out[k] = v
    return out
  }
  const bearer = (token: string) => headers(`Bearer ${token}`)
  const ok = { status: 200 as const }
  const refused = (reason: string) => ({ status: 401 as const, error: FORBIDDEN_BY_PROVIDER, reason })
  const notEnoughSegments = refused('Not enough segments')
  const sigFailed = refused('Signature verification failed.')
  const algNotAllowed = refused('The specified alg value is not allowed')

  // A license file is base64 of {"data":…,"key":…,"iv":…} (here on one line, as a header value must be).
  const license = b64url(JSON.stringify({ data: 'c2VjcmV0IGxpY2Vuc2UgZGF0YQ==', key: 'a2V5', iv: 'aXY=' })).replace(/-/g, '+').replace(/_/g, '/')
  const jweHeader = b64urlJson({ alg: 'RSA-OAEP-256', enc: 'A256GCM', kid: fx.key.kid })
  const fill = (n: number, seed: number) => Uint8Array.from({ length: n }, (_, i) => (i * 31 + seed) & 0xff)
  const jwe = [jweHeader, b64url(fill(256, 7)), b64url(fill(12, 3)), b64url(fill(40, 11)), b64url(fill(16, 5))].join('.')
  const tamperedPayload = `${goodHeader}.${b64urlJson({ ...claims, scopes: ['complete_code', 'duo_chat', 'generate_code'] })}.${goodSignature}`
  const flip = goodSignature[100] === 'A' ? 'B' : 'A'
  const tamperedSignature = `${goodHeader}.${goodPayload}.${goodSignature.slice(0, 100)}${flip}${goodSignature.slice(101)}`
  const huge = withClaims({ padding: 'x'.repeat(100 * 1024) })
  const publicPem = fx.key.publicKey.export({ type: 'spki', format: 'pem' }).toString()

  const cases: Omit<GatewayCase, 'path' | 'forbiddenDetail'>[] = [
    { name: 'good self-issued token', headers: bearer(good), unitPrimitive: 'complete_code', expected: ok },
    // The reported failure: Rails interpolates a nil token, the server strips the trailing space.
    { name: 'empty token: "Bearer " (the reported 401)', headers: headers('Bearer '), unitPrimitive: 'complete_code', expected: notEnoughSegments },
    { name: '"Bearer" alone', headers: headers('Bearer'), unitPrimitive: 'complete_code', expected: notEnoughSegments },
    { name: 'no Authorization header', headers: headers(undefined), unitPrimitive: 'complete_code', expected: { status: 401, error: 'No authorization header presented' } },
    { name: 'opaque: a GitLab personal access token', headers: bearer('glpat-xKq3Hh8sJd92LmNopQrs'), unitPrimitive: 'complete_code', expected: notEnoughSegments },
    { name: 'opaque: a UUID', headers: bearer(fx.instanceId), unitPrimitive: 'complete_code', expected: notEnoughSegments },
    { name: 'opaque: hex', headers: bearer('9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08'), unitPrimitive: 'complete_code', expected: notEnoughSegments },
    { name: 'opaque: base64', headers: bearer('q83vEjRWeJq8/+7/AQIDBAUGBwgJCgsMDQ4PEA=='), unitPrimitive: 'complete_code', expected: notEnoughSegments },
    { name: 'opaque: a license blob', headers: bearer(license), unitPrimitive: 'complete_code', expected: notEnoughSegments },
    { name: '1 segment', headers: bearer(goodHeader), unitPrimitive: 'complete_code', expected: notEnoughSegments },
    { name: '2 segments (no signature)', headers: bearer(`${goodHeader}.${goodPayload}`), unitPrimitive: 'complete_code', expected: notEnoughSegments },
    // python-jose: crypto = last segment ("ZXh0cmE"), claims = "payload.signature" decoded leniently
    // (the dot is skipped): 342 + 1 + 342 base64 characters leave a dangling character.
    { name: '4 segments', headers: bearer(`${good}.${b64url('extra')}`), unitPrimitive: 'complete_code', expected: refused('Invalid payload padding') },
    // The JWE's middle three segments decode leniently as one "payload", so python-jose gets as far
    // as the algorithm: RSA-OAEP-256 is not RS256.
    { name: '5 segments (a JWE)', headers: bearer(jwe), unitPrimitive: 'complete_code', expected: algNotAllowed },
    // 106 + 3 = 109 characters: one more than a multiple of four, which no base64 produces.
    { name: 'bad padding: header segment', headers: bearer(`${goodHeader}AAA.${goodPayload}.${goodSignature}`), unitPrimitive: 'complete_code', expected: notEnoughSegments },
    {
      name: 'bad padding: payload segment',
      headers: bearer(`${goodHeader}.${goodPayload}${'A'.repeat((5 - (goodPayload.length % 4)) % 4 || 4)}.${goodSignature}`),
      unitPrimitive: 'complete_code',
      expected: refused('Invalid payload padding'),
    },
    { name: 'bad padding: signature segment', headers: bearer(`${goodHeader}.${goodPayload}.${goodSignature}AAA`), unitPrimitive: 'complete_code', expected: refused('Invalid crypto padding') },
    {
      name: 'header not JSON',
      headers: bearer(`${b64url('not json')}.${goodPayload}.${goodSignature}`),
      unitPrimitive: 'complete_code',
      expected: refused('Invalid header string: Expecting value: line 1 column 1 (char 0)'),
    },
    {
      name: 'header a JSON array',
      headers: bearer(`${b64url('["RS256","JWT"]')}.${goodPayload}.${goodSignature}`),
      unitPrimitive: 'complete_code',
      expected: refused('Invalid header string: must be a json object'),
    },
    {
      name: 'header with a trailing comma (Python json error text)',
      headers: bearer(signSegments(b64url('{"alg":"RS256",}'), goodPayload, key)),
      unitPrimitive: 'complete_code',
      expected: refused('Invalid header string: Expecting property name enclosed in double quotes: line 1 column 16 (char 15)'),
    },
    { name: 'alg none (unsigned)', headers: bearer(mintUnsigned({ alg: 'none', typ: 'JWT' }, claims)), unitPrimitive: 'complete_code', expected: algNotAllowed },
    { name: 'HS256 signed with the public key PEM (key confusion)', headers: bearer(mintHs256({ alg: 'HS256', typ: 'JWT' }, claims, publicPem)), unitPrimitive: 'complete_code', expected: algNotAllowed },
    { name: 'RS512', headers: bearer(mintJwt({ ...header, alg: 'RS512' }, claims, key, 'RS512')), unitPrimitive: 'complete_code', expected: algNotAllowed },
    { name: 'alg missing', headers: bearer(mintJwt({ typ: 'JWT', kid: fx.key.kid }, claims, key)), unitPrimitive: 'complete_code', expected: refused('No algorithm was specified in the JWS header.') },
    { name: 'wrong key', headers: bearer(mintJwt({ ...header, kid: fx.otherKey.kid }, claims, other)), unitPrimitive: 'complete_code', expected: sigFailed },
    { name: 'wrong key, kid of the trusted key', headers: bearer(mintJwt(header, claims, other)), unitPrimitive: 'complete_code', expected: sigFailed },
    { name: 'tampered payload', headers: bearer(tamperedPayload), unitPrimitive: 'complete_code', expected: sigFailed },
    { name: 'tampered signature', headers: bearer(tamperedSignature), unitPrimitive: 'complete_code', expected: sigFailed },
    {
      name: 'jku header is never fetched',
      headers: bearer(mintJwt({ ...header, kid: 'attacker', jku: 'https://attacker.example/jwks.json' }, claims, other)),
      unitPrimitive: 'complete_code',
      expected: sigFailed,
    },
    { name: 'expired', headers: bearer(withClaims({ exp: now - 1 })), unitPrimitive: 'complete_code', expected: refused('Signature has expired.') },
    { name: 'exp equal to now is still valid (no leeway, strict "<")', headers: bearer(withClaims({ exp: now })), unitPrimitive: 'complete_code', expected: ok },
    { name: 'nbf in the future', headers: bearer(withClaims({ nbf: now + 60 })), unitPrimitive: 'complete_code', expected: refused('The token is not yet valid (nbf)') },
    { name: 'nbf not an integer', headers: bearer(withClaims({ nbf: 'yesterday' })), unitPrimitive: 'complete_code', expected: refused('Not Before claim (nbf) must be an integer.') },
    { name: 'iat not an integer', headers: bearer(withClaims({ iat: 'soon' })), unitPrimitive: 'complete_code', expected: refused('Issued At claim (iat) must be an integer.') },
    { name: 'iat as a numeric string passes int()', headers: bearer(withClaims({ iat: String(now) })), unitPrimitive: 'complete_code', expected: ok },
    {
      name: 'iat null: TypeError escapes python-jose (500)',
      headers: bearer(withClaims({ iat: null })),
      unitPrimitive: 'complete_code',
      expected: { status: 500, error: 'Internal Server Error', reason: "TypeError: int() argument must be a string, a bytes-like object or a real number, not 'NoneType'" },
    },
    { name: 'no aud (the gateway lets it through)', headers: bearer(withClaims({}, ['aud'])), unitPrimitive: 'complete_code', expected: ok },
    { name: 'wrong aud', headers: bearer(withClaims({ aud: ['gitlab-duo-workflow-service'] })), unitPrimitive: 'complete_code', expected: refused('Invalid audience') },
    { name: 'aud a list holding the gateway among others', headers: bearer(withClaims({ aud: ['gitlab-duo-workflow-service', 'gitlab-ai-gateway'] })), unitPrimitive: 'complete_code', expected: ok },
    { name: 'aud a plain string', headers: bearer(withClaims({ aud: 'gitlab-ai-gateway' })), unitPrimitive: 'complete_code', expected: ok },
    { name: 'aud a number', headers: bearer(withClaims({ aud: 42 })), unitPrimitive: 'complete_code', expected: refused('Invalid claim format in token') },
    { name: 'sub not a string', headers: bearer(withClaims({ sub: 42 })), unitPrimitive: 'complete_code', expected: refused('Subject must be a string.') },
    { name: 'at_hash claim', headers: bearer(withClaims({ at_hash: 'abc' })), unitPrimitive: 'complete_code', expected: refused('No access_token provided to compare against at_hash claim.') },
    {
      name: 'payload not JSON (validly signed)',
      headers: bearer(signSegments(goodHeader, b64url('hello'), key)),
      unitPrimitive: 'complete_code',
      expected: refused('Invalid payload string: Expecting value: line 1 column 1 (char 0)'),
    },
    { name: 'no scopes', headers: bearer(withClaims({}, ['scopes'])), unitPrimitive: 'complete_code', expected: { status: 403, error: FORBIDDEN } },
    { name: 'missing scope', headers: bearer(withClaims({ scopes: ['duo_chat'] })), unitPrimitive: 'complete_code', expected: { status: 403, error: FORBIDDEN } },
    {
      name: 'scopes a string: "in" is a substring test',
      headers: bearer(withClaims({ scopes: 'complete_code duo_chat' })),
      unitPrimitive: 'complete_code',
      expected: ok,
    },
    { name: 'realm mismatch', headers: headers(`Bearer ${good}`, { 'x-gitlab-realm': 'saas' }), unitPrimitive: 'complete_code', expected: { status: 401, error: "Header mismatch 'X-Gitlab-Realm'" } },
    { name: 'realm header missing', headers: headers(`Bearer ${good}`, { 'x-gitlab-realm': undefined }), unitPrimitive: 'complete_code', expected: { status: 401, error: "Header mismatch 'X-Gitlab-Realm'" } },
    { name: 'instance id header differs from sub', headers: headers(`Bearer ${good}`, { 'x-gitlab-instance-id': otherUuid }), unitPrimitive: 'complete_code', expected: { status: 401, error: "Header mismatch 'X-Gitlab-Instance-Id'" } },
    { name: 'instance id header missing', headers: headers(`Bearer ${good}`, { 'x-gitlab-instance-id': undefined }), unitPrimitive: 'complete_code', expected: { status: 401, error: "Header mismatch 'X-Gitlab-Instance-Id'" } },
    { name: 'gitlab_instance_id claim differs from the header', headers: bearer(withClaims({ gitlab_instance_id: otherUuid })), unitPrimitive: 'complete_code', expected: { status: 401, error: "Header mismatch 'X-Gitlab-Instance-Id'" } },
    {
      name: 'gateway-issued token: sub checked against X-Gitlab-Global-User-Id',
      headers: bearer(withClaims({ iss: 'gitlab-ai-gateway', sub: 'another-global-user-id' })),
      unitPrimitive: 'complete_code',
      expected: { status: 401, error: "Header mismatch 'X-Gitlab-Global-User-Id'" },
    },
    { name: 'empty realm claim skips the header check', headers: headers(`Bearer ${withClaims({ gitlab_realm: '' })}`, { 'x-gitlab-realm': 'saas' }), unitPrimitive: 'complete_code', expected: ok },
    {
      name: 'missing authentication type',
      headers: headers(`Bearer ${good}`, { 'x-gitlab-authentication-type': undefined }),
      unitPrimitive: 'complete_code',
      expected: { status: 401, error: 'Invalid authentication token type - only OIDC is supported' },
    },
    {
      name: 'authentication type "OIDC" (upper case)',
      headers: headers(`Bearer ${good}`, { 'x-gitlab-authentication-type': 'OIDC' }),
      unitPrimitive: 'complete_code',
      expected: { status: 401, error: 'Invalid authentication token type - only OIDC is supported' },
    },
    { name: 'scheme Token', headers: headers(`Token ${good}`), unitPrimitive: 'complete_code', expected: { status: 401, error: 'Invalid authorization header' } },
    { name: 'raw token without a scheme', headers: headers(good), unitPrimitive: 'complete_code', expected: { status: 401, error: 'Invalid authorization header' } },
    { name: 'lower-case bearer', headers: headers(`bearer ${good}`), unitPrimitive: 'complete_code', expected: ok },
    // The token becomes " eyJ…": the space is skipped by the base64 decoder but counted for padding,
    // so the 106-character header segment now needs a padding it cannot get.
    { name: 'two spaces after Bearer', headers: headers(`Bearer  ${good}`), unitPrimitive: 'complete_code', expected: notEnoughSegments },
    { name: 'header names in any case', headers: upperCaseNames(bearer(good)), unitPrimitive: 'complete_code', expected: ok },
    // "…" (U+2026) pasted over one payload character: sent as UTF-8 and re-encoded by the gateway into
    // six bytes its base64 decoder skips (but counts for padding, which happens to work out here),
    // so the payload decodes one character short and the signature no longer matches.
    { name: 'non-ASCII character in the token', headers: bearer(`${goodHeader}.${goodPayload.slice(0, 60)}…${goodPayload.slice(61)}.${goodSignature}`), unitPrimitive: 'complete_code', expected: sigFailed },
    { name: 'kid unknown, signed by a trusted key (kid is ignored)', headers: bearer(mintJwt({ ...header, kid: 'no-such-kid' }, claims, key)), unitPrimitive: 'complete_code', expected: ok },
    { name: 'crit header (python-jose ignores it)', headers: bearer(mintJwt({ ...header, crit: ['exp'] }, claims, key)), unitPrimitive: 'complete_code', expected: ok },
    { name: '100 KiB token, validly signed (python-jose has no size limit)', headers: bearer(huge), unitPrimitive: 'complete_code', expected: ok, preflightStricter: 'TOKEN_TOO_LARGE' },
    { name: '100 KiB of junk', headers: bearer(`eyJ${'A'.repeat(100 * 1024)}`), unitPrimitive: 'complete_code', expected: notEnoughSegments },
  ]
  return cases.map((c) => ({ ...c, path: PATH, forbiddenDetail: FORBIDDEN }))
}

function upperCaseNames(h: Record<string, string>): Record<string, string> {
  const out: Record<string, string> = {}
  for (const [k, v] of Object.entries(h)) out[k.toUpperCase()] = v
  return out
}
