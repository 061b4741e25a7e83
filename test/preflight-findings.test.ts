/**
 * Each preflight finding, whole: the code a program switches on, the gateway's status, message and
 * logged reason, the claim or header at fault, the message a user reads and the fix they are told.
 * Then the edges a request meets: nbf/exp equality, leeway and timeout boundaries, how the scheme
 * and header values are shown (never a token), when the signature is judged, and the text of
 * PreflightError. The first error's order is pinned against the verifier in preflight-order.test.ts.
 */
import { describe, expect, it } from 'vitest'
import { endpointAccess, preflight, PreflightError, preflightOrThrow, toJwks, type PreflightInput, type PreflightResult, type SigningKey } from '../src/index.js'
import { caseClaims, loadCaseFixture } from './cases/fixture.js'
import { b64urlJson, mintJwt } from './cases/mint.js'
import { thrownBy } from './reliability/config.js'

const fx = loadCaseFixture()
const now = Math.floor(fx.now.getTime() / 1000)
const clock = () => fx.now
const header = { alg: 'RS256', typ: 'JWT', kid: fx.key.kid }
const claims = caseClaims(fx)
const token = (patch: Record<string, unknown> = {}, drop: string[] = []) => {
  const c: Record<string, unknown> = { ...claims, ...patch }
  for (const d of drop) delete c[d]
  return mintJwt(header, c, fx.key.privateKey!)
}
const good = token()
const byOtherKey = mintJwt(header, claims, fx.otherKey.privateKey!)
const headers = { 'X-Gitlab-Authentication-Type': 'oidc', 'X-Gitlab-Instance-Id': fx.instanceId, 'X-Gitlab-Realm': 'self-managed' }
const run = (input: Partial<PreflightInput>): PreflightResult => preflight({ token: good, headers, unitPrimitive: 'complete_code', now: clock, ...input })
const codes = (r: PreflightResult) => r.problems.map((p) => `${p.severity}:${p.code}`)
const withHeaders = (over: Record<string, string | undefined>) => {
  const h: Record<string, string> = { ...headers }
  for (const [k, v] of Object.entries(over)) {
    if (v === undefined) delete h[k]
    else h[k] = v
  }
  return h
}

const FORBIDDEN = 'Forbidden by auth provider'

describe('the checks before the token: Authorization and the authentication type', () => {
  it('no token and no Authorization header', () => {
    expect(run({ token: undefined }).errors).toEqual([
      {
        code: 'AUTHORIZATION_MISSING',
        severity: 'error',
        status: 401,
        gatewayError: 'No authorization header presented',
        message: 'There is no token and no Authorization header.',
        fix: 'Give the client a token source (createTokenSource or createTokenIssuer): every gateway call needs "Authorization: Bearer <JWT>".',
        header: 'Authorization',
      },
    ])
  })

  it('a scheme other than Bearer', () => {
    expect(run({ token: undefined, headers: { ...headers, authorization: `Token ${good}` } }).errors).toEqual([
      {
        code: 'AUTHORIZATION_SCHEME',
        severity: 'error',
        status: 401,
        gatewayError: 'Invalid authorization header',
        message: 'The Authorization scheme is "Token": the gateway takes the text before the first space and requires "bearer" (any case).',
        fix: 'Send "Authorization: Bearer <JWT>".',
        header: 'Authorization',
      },
    ])
  })

  it.each([
    ['a scheme word', 'Basic', '"Basic"'],
    ['a scheme word with a hyphen and digits', 'AWS4-HMAC-SHA256', '"AWS4-HMAC-SHA256"'],
    ['a scheme word of one letter', 'X', '"X"'],
    ['a scheme word of 20 characters', 'Abcdefghijklmnopqrst', '"Abcdefghijklmnopqrst"'],
    ['a scheme word holding eyJ after its start', 'KeyJwt', '"KeyJwt"'],
    ['a raw JWT (no scheme)', good, 'not "Bearer"'],
    ['a JWT header segment of 20 characters', 'eyJhbGciOiJSUzI1NiJ9', 'not "Bearer"'],
    ['a GitLab personal access token', 'glpat-xKq3Hh8sJd92LmNopQrs', 'not "Bearer"'],
    ['a hex secret', '9f86d081884c7d659a2f', 'not "Bearer"'],
    ['a secret starting with a symbol', '_secret-value', 'not "Bearer"'],
    ['a short secret holding an underscore', 'sk_live_4eC39HqLyjW', 'not "Bearer"'],
    ['a word of 21 characters', 'Abcdefghijklmnopqrstu', 'not "Bearer"'],
  ])('shows %s only if it cannot be a secret', (_, scheme, shown) => {
    const r = run({ token: undefined, headers: { ...headers, authorization: `${scheme} ${good}` } })
    expect(r.errors[0]?.message).toBe(`The Authorization scheme is ${shown}: the gateway takes the text before the first space and requires "bearer" (any case).`)
  })

  it('the authentication type: missing, or another value shown cut at 40 characters', () => {
    const finding = (message: string) => ({
      code: 'AUTH_TYPE',
      severity: 'error',
      status: 401,
      gatewayError: 'Invalid authentication token type - only OIDC is supported',
      message,
      fix: 'Send "X-Gitlab-Authentication-Type: oidc" with every request (buildGatewayHeaders does).',
      header: 'X-Gitlab-Authentication-Type',
    })
    expect(run({ headers: withHeaders({ 'X-Gitlab-Authentication-Type': undefined }) }).errors).toEqual([finding('The X-Gitlab-Authentication-Type header is missing.')])
    const long = `oidc ${'x'.repeat(60)}`
    expect(run({ headers: withHeaders({ 'X-Gitlab-Authentication-Type': long }) }).errors).toEqual([
      finding(`X-Gitlab-Authentication-Type is "oidc ${'x'.repeat(35)}"; the gateway requires exactly "oidc" (lower case).`),
    ])
  })
})

describe('an empty or missing token', () => {
  const reason = 'no synced token'

  it('"Bearer " in the header: the empty token is charged to the Authorization header, other findings keep their own header', () => {
    const r = run({ token: undefined, headers: withHeaders({ Authorization: 'Bearer ', 'X-Gitlab-Authentication-Type': undefined }) })
    expect(r.errors.map((e) => [e.code, e.header])).toEqual([
      ['AUTH_TYPE', 'X-Gitlab-Authentication-Type'],
      ['TOKEN_EMPTY', 'Authorization'],
    ])
  })

  it('an empty token handed to preflight is not charged to a header', () => {
    const r = run({ token: '' })
    expect(r.errors.map((e) => [e.code, e.header, e.reason])).toEqual([['TOKEN_EMPTY', undefined, 'Not enough segments']])
  })

  it('a token source that answered none, with the token null or empty: one finding, its reason', () => {
    for (const t of [null, '', undefined]) {
      const r = run({ token: t as never, tokenResult: { source: 'none', reason } })
      expect(codes(r)).toEqual(['error:TOKEN_SOURCE_NONE'])
      expect(r.errors[0]?.message).toBe(
        'No token at all: no synced token. Sent the way GitLab sends it ("Authorization: Bearer " with nothing after it), the gateway fails on the empty string.',
      )
    }
  })

  it('a token that is given is judged as it is, whatever the token source said', () => {
    const r = run({ token: 'glpat-xKq3Hh8sJd92LmNopQrs', tokenResult: { source: 'none', reason } })
    expect(codes(r)).toEqual(['error:TOKEN_OPAQUE'])
  })

  it("a token that is given is the one judged, not the token source's", () => {
    const expired = token({ exp: now - 60 })
    expect(run({ token: good, tokenResult: { token: expired, source: 'self-issued', reason: 'self-hosted feature' } }).ok).toBe(true)
    expect(codes(run({ token: expired, tokenResult: { token: good, source: 'self-issued', reason: 'self-hosted feature' } }))).toEqual(['error:EXPIRED'])
  })
})

describe('time: nbf and exp at their edges (no leeway at the gateway)', () => {
  it('nbf equal to now is valid; one second later is not', () => {
    expect(run({ token: token({ nbf: now }) }).ok).toBe(true)
    expect(run({ token: token({ nbf: now + 1 }) }).errors).toEqual([
      {
        code: 'NOT_YET_VALID',
        severity: 'error',
        status: 401,
        gatewayError: FORBIDDEN,
        reason: 'The token is not yet valid (nbf)',
        claim: 'nbf',
        message: 'The token is not valid yet: "nbf" is 2026-02-01T12:00:01.000Z, 1 s after this host\'s clock. The gateway allows no leeway.',
        fix: 'Check the clocks of this host, the issuer and the gateway (NTP). GitLab sets nbf 5 s in the past to absorb small skew.',
      },
    ])
  })

  it('exp equal to now is valid; one second earlier is expired', () => {
    expect(run({ token: token({ exp: now }) }).ok).toBe(true)
    expect(run({ token: token({ exp: now - 1 }) }).errors.map((e) => [e.code, e.claim, e.message])).toEqual([
      ['EXPIRED', 'exp', "The token expired at 2026-02-01T11:59:59.000Z, 1 s ago by this host's clock."],
    ])
  })

  it('leeway: nbf within it draws a warning, nbf exactly leeway seconds ago does not', () => {
    expect(run({ token: token({ nbf: now - 30 }), leewaySeconds: 30 }).warnings).toEqual([])
    expect(run({ token: token({ nbf: now - 29 }), leewaySeconds: 30 }).warnings).toEqual([
      {
        code: 'NBF_CLOCK_SKEW',
        severity: 'warning',
        claim: 'nbf',
        message: '"nbf" is only 29 s in the past: a gateway whose clock is up to 30 s behind this host\'s would refuse the token ("The token is not yet valid (nbf)").',
        fix: 'Issue tokens with nbf a few seconds in the past (GitLab uses 5 s) and keep clocks in sync.',
      },
    ])
  })

  it('leeway: exp within it draws a warning, exp exactly leeway seconds ahead does not', () => {
    expect(run({ token: token({ nbf: now - 60, exp: now + 30 }), leewaySeconds: 30 }).warnings).toEqual([])
    expect(run({ token: token({ nbf: now - 60, exp: now + 29 }), leewaySeconds: 30 }).warnings).toEqual([
      {
        code: 'EXPIRES_WITHIN_LEEWAY',
        severity: 'warning',
        claim: 'exp',
        message: 'The token expires in 29 s: a gateway whose clock is up to 30 s ahead would refuse it as expired.',
        fix: "Refresh tokens before they get this close to expiry (the issuer's cache does so by default).",
      },
    ])
    // a negative leeway counts as none
    expect(run({ token: token({ nbf: now, exp: now }), leewaySeconds: -30 }).warnings).toEqual([])
  })

  it('request timeout: a token expiring when the timeout ends is fine, one second before is not', () => {
    expect(run({ token: token({ exp: now + 30 }), requestTimeoutMs: 30_000 }).warnings).toEqual([])
    expect(run({ token: token({ exp: now + 29 }), requestTimeoutMs: 30_000 }).warnings).toEqual([
      {
        code: 'EXPIRES_DURING_REQUEST',
        severity: 'warning',
        claim: 'exp',
        message: "The token expires in 29 s, before the request's 30 s timeout ends: a retry within that time would be refused.",
        fix: 'Refresh the token before sending long requests (or shorten the timeout).',
      },
    ])
  })
})

describe('aud, scopes and the endpoint', () => {
  it('an audience of another service, shown cut at 120 characters', () => {
    const aud = ['gitlab-duo-workflow-service', 'x'.repeat(200)]
    expect(run({ token: token({ aud }) }).errors).toEqual([
      {
        code: 'AUD_MISMATCH',
        severity: 'error',
        status: 401,
        gatewayError: FORBIDDEN,
        reason: 'Invalid audience',
        claim: 'aud',
        message: `The token's audience ${JSON.stringify(aud).slice(0, 120)} does not include "gitlab-ai-gateway".`,
        fix: 'Issue the token for the service you call: "gitlab-ai-gateway" must be in "aud" (the AI Gateway is "gitlab-ai-gateway", the Duo Workflow Service "gitlab-duo-workflow-service"; self-issued tokens take them from the jwt_aud of the granted primitives\' backend services).',
      },
    ])
  })

  it('no aud: a warning naming the audience to set', () => {
    expect(run({ token: token({}, ['aud']), audience: 'gitlab-duo-workflow-service', unitPrimitive: undefined }).problems).toEqual([
      {
        code: 'AUD_MISSING',
        severity: 'warning',
        claim: 'aud',
        message: 'The token has no "aud" claim. The gateway lets it through (python-jose only checks "aud" when present), but GitLab always sets it and stricter verifiers refuse it.',
        fix: 'Issue the token with "aud": ["gitlab-duo-workflow-service"].',
      },
    ])
  })

  it('scopes that are not a list: a string matches substrings, an object its keys — warnings; null crashes the gateway (500)', () => {
    const fix = 'Set "scopes" to a list of unit-primitive names, as GitLab does.'
    expect(run({ token: token({ scopes: 'complete_code' }) }).warnings).toEqual([
      {
        code: 'SCOPES_NOT_A_LIST',
        severity: 'warning',
        claim: 'scopes',
        message: '"scopes" is a string, not a list: the gateway\'s `unit_primitive in scopes` then matches any substring, so it grants more (or less) than intended.',
        fix,
      },
    ])
    expect(run({ token: token({ scopes: { complete_code: true } }) }).warnings).toEqual([
      {
        code: 'SCOPES_NOT_A_LIST',
        severity: 'warning',
        claim: 'scopes',
        message: '"scopes" is an object, not a list: the gateway\'s `unit_primitive in scopes` then matches object keys, so it grants more (or less) than intended.',
        fix,
      },
    ])
    const nullScopes = run({ token: token({ scopes: null }) })
    expect(nullScopes.problems).toEqual([
      {
        code: 'GATEWAY_CRASH',
        severity: 'error',
        gatewayError: 'Internal Server Error',
        reason: "TypeError: argument of type 'NoneType' is not iterable",
        claim: 'scopes',
        message: 'The "scopes" claim is not a list: the gateway\'s `unit_primitive in scopes` raises a TypeError and it answers 500.',
        fix: 'Set "scopes" to a list of unit-primitive names.',
      },
    ])
    expect(nullScopes.status).toBeUndefined()
    expect(nullScopes.gatewayError).toBe('Internal Server Error')
  })

  it('without an endpoint: a missing scopes claim is a warning, present scopes are not judged', () => {
    expect(run({ token: token({}, ['scopes']), unitPrimitive: undefined }).problems).toEqual([
      {
        code: 'SCOPES_MISSING',
        severity: 'warning',
        claim: 'scopes',
        message: 'The token has no "scopes" claim: every endpoint that needs a unit primitive will answer 403.',
        fix: 'Issue the token with the unit primitives it is for in "scopes".',
      },
    ])
    expect(run({ token: token({ scopes: ['documentation_search'] }), unitPrimitive: undefined }).problems).toEqual([])
  })

  it('a missing unit primitive: the endpoint\'s 403 and how to get the scope', () => {
    expect(run({ token: token({ scopes: ['duo_chat'] }), forbiddenDetail: "Unauthorized to access 'model_configuration/check'" }).errors).toEqual([
      {
        code: 'SCOPE_MISSING',
        severity: 'error',
        status: 403,
        gatewayError: "Unauthorized to access 'model_configuration/check'",
        claim: 'scopes',
        message: 'The token\'s scopes do not include "complete_code", which this endpoint needs.',
        fix: 'Issue the token with "complete_code" in scopes: a self-issued token lists every primitive that is free or belongs to an active add-on (e.g. duo_enterprise); check the instance\'s add-ons and the primitive\'s cut_off_date.',
      },
    ])
  })

  it('an endpoint admitting several primitives names them all; a further one it needs is named alone', () => {
    const userToken = run({ token: token({ scopes: ['duo_chat'] }), access: endpointAccess('userAccessToken')!, unitPrimitive: undefined })
    expect([userToken.status, userToken.gatewayError]).toEqual([403, 'Unauthorized to create user access token'])
    expect(userToken.errors[0]?.message).toBe('The token\'s scopes do not include "complete_code" or "ai_gateway_model_provider_proxy", which this endpoint needs.')
    const chatBody = { messages: [{ role: 'user', content: 'hi', additional_context: [{ category: 'file', id: 'a', content: 'x' }] }] }
    const context = run({ token: token({ scopes: ['duo_classic_chat'] }), access: endpointAccess('chat', chatBody)!, unitPrimitive: undefined })
    expect([context.status, context.gatewayError]).toEqual([403, 'Unauthorized to access include_file_context'])
    expect(context.errors[0]?.message).toBe('The token\'s scopes do not include "include_file_context", which this endpoint needs.')
    expect(context.errors[0]?.fix).toMatch(/^Issue the token with "include_file_context" in scopes: /)
  })

  it('chat with Duo Core only (duo_chat, no @GitLabDuo): the cut-off, and what to do', () => {
    const r = run({ token: token({ scopes: ['duo_chat'] }), access: endpointAccess('chat', { messages: [{ role: 'user', content: 'hi' }] })!, unitPrimitive: undefined })
    expect(r.errors).toEqual([
      {
        code: 'SCOPE_MISSING',
        severity: 'error',
        status: 403,
        gatewayError: 'Duo Core no longer authorized to access Duo Classic Chat',
        claim: 'scopes',
        message:
          'The token carries "duo_chat" but not "duo_classic_chat": the gateway admits it only for the @GitLabDuo code-review flow (the last user message must mention @GitLabDuo), and this request does not.',
        fix: 'Issue the token with "duo_classic_chat" in scopes (an add-on that grants it, e.g. duo_pro or duo_enterprise; Duo Core no longer does), or use Agentic Chat (the Duo Agent Platform) instead of classic chat.',
      },
    ])
    const neither = run({ token: token({ scopes: ['complete_code'] }), access: endpointAccess('chat', { messages: [{ role: 'user', content: 'hi' }] })!, unitPrimitive: undefined })
    expect([neither.gatewayError, neither.errors[0]?.message]).toEqual([
      'Unauthorized to access duo chat',
      'The token\'s scopes do not include "duo_classic_chat" or "duo_chat", which this endpoint needs.',
    ])
  })

  it('a gateway-issued token where the endpoint refuses them', () => {
    const r = run({ token: token({ iss: 'gitlab-ai-gateway', sub: 'global-user-id' }), headers: { ...headers, 'X-Gitlab-Global-User-Id': 'global-user-id' }, access: endpointAccess('codeGenerations')! })
    expect(r.errors).toEqual([
      {
        code: 'GATEWAY_ISSUED_TOKEN',
        severity: 'error',
        status: 403,
        gatewayError: 'Unauthorized to access code generations',
        claim: 'iss',
        message: 'The token was issued by the gateway itself ("iss" is "gitlab-ai-gateway", a /v1/code/user_access_token token), and this endpoint refuses such tokens whatever their scopes.',
        fix: "Send the instance's own token here (self-issued or synced); gateway-issued user tokens are for direct code completion only.",
      },
    ])
  })
})

describe('claims against headers', () => {
  it.each([
    [
      'the realm',
      {},
      { 'X-Gitlab-Realm': 'saas' },
      'REALM_MISMATCH',
      'X-Gitlab-Realm',
      'gitlab_realm',
      'X-Gitlab-Realm is "saas" but the token\'s "gitlab_realm" is "self-managed".',
      'Send X-Gitlab-Realm equal to the token\'s gitlab_realm ("saas" for GitLab.com, "self-managed" otherwise, Dedicated included): build the headers and the token from the same instance settings (buildGatewayHeaders).',
    ],
    [
      'gitlab_instance_id',
      { gitlab_instance_id: '00000000-1111-4222-8333-444444444444' },
      {},
      'GITLAB_INSTANCE_ID_MISMATCH',
      'X-Gitlab-Instance-Id',
      'gitlab_instance_id',
      `X-Gitlab-Instance-Id is "${fx.instanceId}" but the token's "gitlab_instance_id" is "00000000-1111-4222-8333-444444444444".`,
      "Send X-Gitlab-Instance-Id equal to the token's gitlab_instance_id: the token was issued to another instance, or the header carries the wrong UUID.",
    ],
    [
      'sub, the header missing',
      {},
      { 'X-Gitlab-Instance-Id': undefined },
      'INSTANCE_ID_MISMATCH',
      'X-Gitlab-Instance-Id',
      'sub',
      `X-Gitlab-Instance-Id is missing but the token's "sub" is "${fx.instanceId}".`,
      'Send X-Gitlab-Instance-Id equal to the token\'s "sub", the instance UUID ("uuid-not-set" when GitLab has none): the token was issued for another instance, or the header carries the wrong UUID.',
    ],
    [
      'sub of a gateway-issued token',
      { iss: 'gitlab-ai-gateway', sub: 'global-user-id' },
      {},
      'GLOBAL_USER_ID_MISMATCH',
      'X-Gitlab-Global-User-Id',
      'sub',
      'X-Gitlab-Global-User-Id is missing but the token\'s "sub" is "global-user-id".',
      'This token was issued by the gateway itself, so its "sub" is a global user id: send X-Gitlab-Global-User-Id with the same value.',
    ],
  ])('%s', (_, patch, over, code, headerName, claim, message, fix) => {
    expect(run({ token: token(patch), headers: withHeaders(over) }).errors).toEqual([
      { code, severity: 'error', status: 401, gatewayError: `Header mismatch '${headerName}'`, claim, header: headerName, message, fix },
    ])
  })

  it('a header value is shown cut at 80 characters', () => {
    const value = `saas-${'y'.repeat(100)}`
    expect(run({ headers: withHeaders({ 'X-Gitlab-Realm': value }) }).errors[0]?.message).toBe(
      `X-Gitlab-Realm is ${JSON.stringify(value.slice(0, 80))} but the token's "gitlab_realm" is "self-managed".`,
    )
  })
})

describe('the signature, given the trusted keys', () => {
  it('signed by a key the gateway does not trust', () => {
    expect(run({ token: byOtherKey, verificationKeys: [fx.key] }).errors).toEqual([
      {
        code: 'SIGNATURE_INVALID',
        severity: 'error',
        status: 401,
        gatewayError: FORBIDDEN,
        reason: 'Signature verification failed.',
        segment: 'signature',
        message: 'The signature does not verify with any of the trusted keys: the token was signed by another key, or its header, payload or signature was altered.',
        fix: 'Sign with the instance key whose public half the gateway fetched (its JWKS at /oauth/discovery/keys). After a key rotation the gateway keeps its key set for 24 h: publish a new key at least a day before signing with it.',
      },
    ])
  })

  it('is not judged when the token cannot be decoded the gateway’s way (a doubled Bearer prefix)', () => {
    expect(codes(run({ token: `Bearer ${byOtherKey}`, verificationKeys: [fx.key] }))).toEqual(['error:TOKEN_BEARER_PREFIX'])
  })

  it('is judged under a warning (a trailing newline the gateway’s server strips)', () => {
    expect(codes(run({ token: `${byOtherKey}\n`, verificationKeys: [fx.key] }))).toEqual(['error:SIGNATURE_INVALID', 'warning:TOKEN_WHITESPACE'])
    expect(run({ token: `${good}\n`, verificationKeys: [fx.key] }).ok).toBe(true)
  })

  it('trusts only RSA keys: a JWK of another type carrying n and e is not a trusted key', () => {
    const jwk = fx.key.publicJwk
    expect(run({ verificationKeys: { keys: [{ ...jwk, kty: 'EC' }] } as never }).errors.map((e) => e.code)).toEqual(['SIGNATURE_INVALID'])
    expect(run({ verificationKeys: { keys: [{ kty: 'RSA', n: jwk.n, e: jwk.e }] } as never }).ok).toBe(true)
    expect(run({ verificationKeys: toJwks([fx.otherKey, fx.key]) }).ok).toBe(true)
  })
})

describe('preflight never throws', () => {
  it('on input that is not an object, it refuses with what to pass', () => {
    const r = preflight(undefined as never)
    const p = {
      code: 'TOKEN_NOT_STRING',
      severity: 'error',
      message: 'Preflight could not judge the request (TypeError).',
      fix: 'Pass a token string and a headers object.',
    }
    expect(r).toEqual({ ok: false, problems: [p], errors: [p], warnings: [], report: { kind: 'malformed', problems: [], length: 0 } })
  })

  it('on input whose reading throws something other than an Error, it names no type', () => {
    const hostile = { headers, get token(): string { throw 'not an Error' } }
    expect(preflight(hostile).errors.map((e) => e.message)).toEqual(['Preflight could not judge the request (error).'])
  })
})

describe('PreflightError: the one line a user reads', () => {
  const message = (input: Partial<PreflightInput>) => {
    try {
      preflightOrThrow({ token: good, headers, unitPrimitive: 'complete_code', now: clock, ...input })
    } catch (e) {
      return e as PreflightError
    }
    throw new Error('expected a PreflightError')
  }

  it('a refusal without a logged reason, alone', () => {
    const e = message({ headers: withHeaders({ 'X-Gitlab-Authentication-Type': undefined }) })
    expect(e.message).toBe(
      'Request not sent: The X-Gitlab-Authentication-Type header is missing. The gateway would answer 401 "Invalid authentication token type - only OIDC is supported". Fix: Send "X-Gitlab-Authentication-Type: oidc" with every request (buildGatewayHeaders does).',
    )
    expect(e.unitPrimitive).toBe('complete_code')
  })

  it('a 500, with its reason', () => {
    expect(message({ token: token({ scopes: null }) }).message).toBe(
      'Request not sent: The "scopes" claim is not a list: the gateway\'s `unit_primitive in scopes` raises a TypeError and it answers 500. The gateway would fail with a 500 (TypeError: argument of type \'NoneType\' is not iterable). Fix: Set "scopes" to a list of unit-primitive names.',
    )
  })

  it('a refusal of the SDK’s own (no gateway answer): no double space', () => {
    const e = message({ token: `eyJ${'A'.repeat(100 * 1024)}.x.y` })
    expect(e.findings[0]?.code).toBe('TOKEN_TOO_LARGE')
    expect(e.message).toMatch(/^Request not sent: [^\n]+ Fix: [^\n]+$/)
    expect(e.message).not.toMatch(/\s{2}/)
    expect(e.message).not.toContain('The gateway would')
  })

  it('a PreflightError built from no errors still says the request was refused', () => {
    expect(new PreflightError({ errors: [], warnings: [], status: undefined, gatewayError: undefined }).message).toBe('Preflight refused the request.')
  })
})

describe('the signature verdicts are remembered per key set, never across key sets', () => {
  it('the same token, judged against the trusted key and then against another key set', () => {
    const trusted = [fx.key]
    const other = [fx.otherKey]
    for (let i = 0; i < 3; i++) {
      expect(run({ verificationKeys: trusted }).ok).toBe(true)
      expect(run({ verificationKeys: other }).errors.map((e) => e.code)).toEqual(['SIGNATURE_INVALID'])
    }
    // a header segment re-encoded with another alg is judged afresh, not by the cached verdict of the original
    const [, p, s] = good.split('.') as [string, string, string]
    expect(run({ token: `${b64urlJson({ ...header, alg: 'HS256' })}.${p}.${s}`, verificationKeys: trusted }).errors.map((e) => e.code)).toEqual(['ALG_NOT_ALLOWED'])
  })
})

/*
 * Mutation testing (npm run mutation -- --mutate src/inspect/preflight.ts): the mutants that make no
 * observable difference (equivalent, so no test can kill them), and why.
 * - run(): `fromHeader && report.kind === 'empty'` with the kind test made true: only TOKEN_EMPTY findings are
 *   charged to the header, and a token is TOKEN_EMPTY only when it is empty.
 * - run(): the signature guard `rankOf(p) >= 40 && rankOf(p) < 49` as `> 40` or `<= 49`: a rank-40 finding
 *   (empty, missing, too large, not a string, no token) never comes with a decoded JWT, and nothing ranked 49
 *   is found before the signature is judged.
 * - run(): `Object.hasOwn(claims, 'scopes') ? claims.scopes : undefined` with the test made true: the claims
 *   are a parsed JSON object, whose missing member reads undefined all the same.
 * - run(): `first.status !== undefined` / `first.gatewayError !== undefined` made true: the result then holds
 *   `status: undefined`, which reads (and serialises) as no status.
 * - accessProblem(): `names.length > 1` as `>= 1`: one name, quoted and joined, is the same text; `fb?.` as
 *   `fb.` and its `?? ''` text: a 'fallback' verdict always comes from a rule that has a fallback.
 * - mismatchProblem(): the `?? ''` text: every mismatch code has its fix.
 * - signatureProblem(): the verdict memo only saves RSA verifications (`good === undefined` made true judges
 *   afresh each time), and `!load.ok || joseCheckAlgorithm(...)` made false: the signature is judged only for a
 *   token that loaded with RS256 (findings ranked 43–48 stop it before).
 * - keySetSnapshot(): `'publicKey' in k && ...` as `||` or false: a SigningKey's kid is its RFC 7638 thumbprint,
 *   so the "kty|kid|n|e" text changes with the key all the same.
 * - toTrustedKeys(): `typeof jwk.n/e !== 'string'` made false, or the catch emptied: node's createPublicKey
 *   throws on a member that is not a string (caught) and accepts every string ('', 'AA', '!!' checked), so the
 *   catch is not reached; the `kid` kept or not: it only orders the keys tried, the gateway tries them all.
 * - preflightMessage(): `.trim()` dropped (the text neither starts nor ends with a space) and the
 *   `gatewayError ?? ''` text (a finding with a status always carries the gateway's message).
 */
describe('the trusted keys as the caller holds them: changed in place, they are another trust set', () => {
  it('an array of keys: a key replaced in place, put back, then the instance key revoked (removed)', () => {
    const keys: SigningKey[] = [fx.otherKey, fx.key]
    expect(run({ verificationKeys: keys }).ok).toBe(true)
    keys[1] = fx.otherKey
    expect(codes(run({ verificationKeys: keys }))).toEqual(['error:SIGNATURE_INVALID'])
    keys[1] = fx.key
    expect(run({ verificationKeys: keys }).ok).toBe(true)
    keys.pop()
    expect(codes(run({ verificationKeys: keys }))).toEqual(['error:SIGNATURE_INVALID'])
  })

  it('a JWKS: its key replaced in place by another, then the instance key published again', () => {
    const jwks = toJwks([fx.key])
    expect(run({ verificationKeys: jwks }).ok).toBe(true)
    jwks.keys[0] = fx.otherKey.publicJwk
    expect(codes(run({ verificationKeys: jwks }))).toEqual(['error:SIGNATURE_INVALID'])
    jwks.keys.push(fx.key.publicJwk)
    expect(run({ verificationKeys: jwks }).ok).toBe(true)
  })

  it('the trusted key listed before entries that are no key (null, text, a JWK without "e") verifies the token, as the gateway tries its keys in order', () => {
    const { n } = fx.key.publicJwk
    const entries = [fx.key.publicJwk, null, 'a key id', { kty: 'RSA', n }]
    expect(run({ verificationKeys: entries as never }).ok).toBe(true)
    expect(run({ verificationKeys: { keys: entries } as never }).ok).toBe(true)
  })
})

describe('findings that stand alone', () => {
  it('an aud that is neither a string nor a list: its format only, not also a mismatch', () => {
    expect(run({ token: token({ aud: 42 }) }).errors).toEqual([
      {
        code: 'AUD_FORMAT',
        severity: 'error',
        status: 401,
        gatewayError: FORBIDDEN,
        reason: 'Invalid claim format in token',
        claim: 'aud',
        message: 'The audience claim "aud" is the number 42; it must be a string or a list of strings.',
        fix: 'Set "aud" to a list of audiences, e.g. ["gitlab-ai-gateway"].',
      },
    ])
  })

  it('scopes a number, at an endpoint: the 500 only (a number is no list, but no string or object to warn about)', () => {
    expect(run({ token: token({ scopes: 42 }) }).problems).toEqual([
      {
        code: 'GATEWAY_CRASH',
        severity: 'error',
        gatewayError: 'Internal Server Error',
        reason: "TypeError: argument of type 'int' is not iterable",
        claim: 'scopes',
        message: 'The "scopes" claim is not a list: the gateway\'s `unit_primitive in scopes` raises a TypeError and it answers 500.',
        fix: 'Set "scopes" to a list of unit-primitive names.',
      },
    ])
  })

  it('a token source reason that ends with a full stop keeps one', () => {
    expect(run({ token: undefined, tokenResult: { source: 'none', reason: 'No synced token.' } }).errors[0]?.message).toBe(
      'No token at all: No synced token. Sent the way GitLab sends it ("Authorization: Bearer " with nothing after it), the gateway fails on the empty string.',
    )
  })

  it("without a clock, time is judged by the host's", () => {
    const hostNow = Math.floor(Date.now() / 1000)
    const fresh = token({ iat: hostNow, nbf: hostNow - 5, exp: hostNow + 3600 })
    const expired = token({ iat: hostNow - 120, nbf: hostNow - 125, exp: hostNow - 60 })
    expect(preflight({ token: fresh, headers, unitPrimitive: 'complete_code' }).ok).toBe(true)
    expect(preflight({ token: expired, headers, unitPrimitive: 'complete_code' }).errors.map((e) => e.code)).toEqual(['EXPIRED'])
  })

  it('PreflightError carries the errors, then the warnings', () => {
    const e = thrownBy(() => preflightOrThrow({ token: token({ exp: now - 1 }, ['aud']), headers, unitPrimitive: 'complete_code', now: clock })) as PreflightError
    expect(e.findings.map((f) => `${f.severity}:${f.code}`)).toEqual(['error:EXPIRED', 'warning:AUD_MISSING'])
    expect(e.message).not.toContain('more problem')
  })
})
