/**
 * The token step every gateway call goes through (src/client/auth.ts): the preflight memo and what makes two
 * requests share a verdict, the forced refresh after a 401 (shared, evicted, abortable), the log lines, the
 * diagnosis of a refused token and the clock comparison. Through the client and the fetch adapter where a user
 * sees the behaviour, on the Authorizer itself where the edge is finer than a request.
 *
 * Equivalent mutants left alive (StrykerJS, no observable difference):
 * - authorizeNow: the `catch` emptied, or `tokenResult === undefined ||` dropped: the next test
 *   (`typeof tokenResult !== 'object'`) returns undefined for both.
 * - `token !== this.#bearerFor` → true: the Authorization value is rebuilt per request, the same text.
 * - `memoisable` with `token.length > 0` or `source !== 'none'` weakened: the memo then also holds the verdict
 *   on an empty token or a 'none' answer, for the same inputs and second, where preflight answers the same.
 * - the key's placeholders (`? ''` for a key never used, `access === undefined ? ''`, each `?? ''` in
 *   `preflightKey`) → another constant: keys stay exactly as distinct, only the filler changes.
 * - `if (x !== undefined) input.x = x` → always assign (leeway, timeout, 403 detail, access): preflight reads
 *   an own `undefined` as absent.
 * - the refresh key's feature part with `'-'` → `''`, or the test → false (`=undefined`): absent, empty and each
 *   name still give distinct texts (only a feature setting literally named "undefined" would meet the second).
 * - `skipUsageCutoff === true ? 1 : 0` → `!==` (the refresh key), `refusesGatewayTokens === true` → `!==`
 *   (the access key): the two values swap, and stay distinct.
 * - accessKey's `if (key === undefined)` → true: the key is recomputed, the same text.
 * - `{ once: true }` removed or false on the abort listener: an AbortSignal fires 'abort' once; and
 *   `removeEventListener` given another type after the refresh settled: a later abort rejects a promise already
 *   settled, which does nothing.
 * - scrub: `s.length < 4` dropped, or the `length >= 4` filter of echoedForms dropped — each alone is
 *   equivalent: every form of a secret is at least as long as the secret, and the signature form is ≥ 16.
 *   `out.includes(form)` → true: splitting on an absent form changes nothing. The HTML test → true: the HTML
 *   forms of a secret without `&<>"'` are the secret itself (a Set).
 * - echoedForms' `dot > 0` → `>= 0` / true: with no dot, or one dot at 0, `indexOf('.') !== dot` is false.
 * - secretsInBody: `size === 0 ||` dropped (JSON.parse('') throws, caught) or the catch block emptied
 *   (`parsed` stays undefined, which `walk` skips): [] either way.
 */
import { http, HttpResponse } from 'msw'
import { describe, expect, it } from 'vitest'
import { toLog } from '../src/log.js'
import { AbortedError, createAuthenticatedFetch, createGatewayClient, type GatewayClientOptions } from '../src/client/index.js'
import { Authorizer, scrub, secretsInBody, type AuthorizeInput } from '../src/client/auth.js'
import { endpointAccess } from '../src/client/endpoints.js'
import { preflight, PreflightError } from '../src/inspect/index.js'
import { redact } from '../src/redact.js'
import type { Clock, TokenResult, TokenSource } from '../src/types.js'
import { captureLogger, claims, fixedSource, GATEWAY, INSTANCE, INSTANCE_ID, NOW, NOW_S, now, scriptedSource, signJwt, useRecordingServer } from './client-support.js'
import { rejection } from './reliability/config.js'

const { server, received } = useRecordingServer()

const COMPLETIONS_URL = `${GATEWAY}/v2/code/completions`
const GENERATIONS_URL = `${GATEWAY}/v2/code/generations`
const BODY = { current_file: { file_name: 'app.py', content_above_cursor: 'def add(a, b):\n    ' } }
const SUGGESTION = { id: 'id-1', model: { engine: 'e', name: 'n', lang: 'python' }, created: NOW_S, choices: [{ text: 'return a + b', index: 0 }] }
const okCompletions = () => http.post(COMPLETIONS_URL, () => HttpResponse.json(SUGGESTION))
const okGenerations = () => http.post(GENERATIONS_URL, () => HttpResponse.json(SUGGESTION))

/** A clock the test moves. */
function movableClock(start = NOW) {
  let at = start.getTime()
  const clock: Clock & { set(ms: number): void; advance(ms: number): void } = Object.assign(() => new Date(at), {
    set: (ms: number) => {
      at = ms
    },
    advance: (ms: number) => {
      at += ms
    },
  })
  return clock
}

function client(overrides: Partial<GatewayClientOptions> = {}) {
  return createGatewayClient({ baseUrl: GATEWAY, headers: { instance: INSTANCE }, now, retry: false, ...overrides } as GatewayClientOptions)
}

/** The headers the client sends for the fixture instance (what preflight reads), as a fresh per-request copy. */
function baseHeaders(overrides: Record<string, string> = {}): Record<string, string> {
  return {
    'x-gitlab-authentication-type': 'oidc',
    'x-gitlab-realm': 'self-managed',
    'x-gitlab-instance-id': INSTANCE_ID,
    'x-request-id': 'rid-1',
    authorization: '',
    ...overrides,
  }
}

function input(overrides: Partial<AuthorizeInput> & { refreshAfter?: string } = {}): AuthorizeInput & { refreshAfter?: string } {
  return { unitPrimitive: 'complete_code', base: baseHeaders(), signal: undefined, requestTimeoutMs: undefined, endpoint: 'codeCompletions', ...overrides }
}

function authorizer(tokenSource: TokenSource, options: { now?: Clock; leewaySeconds?: number; logger?: ReturnType<typeof captureLogger> } = {}) {
  return new Authorizer({ tokenSource, audience: 'gitlab-ai-gateway', now: options.now ?? now, leewaySeconds: options.leewaySeconds, logger: toLog(options.logger, {}) })
}

/** A promise with its resolve/reject at hand. */
function deferred<T>() {
  let resolve!: (v: T) => void
  let reject!: (e: unknown) => void
  const promise = new Promise<T>((res, rej) => {
    resolve = res
    reject = rej
  })
  return { promise, resolve, reject }
}

describe('preflight memo: one verdict per token, inputs and clock second', () => {
  it('a cached verdict expires with the second: a token that expired since the last request is not sent', async () => {
    server.use(okCompletions())
    const clock = movableClock()
    // the source keeps answering the same token (a cache that does not look at the clock)
    const c = client({ tokenSource: fixedSource(signJwt(claims({ exp: NOW_S + 2 }))), now: clock })
    expect((await c.codeCompletions(BODY)).data.choices[0]?.text).toBe('return a + b')
    clock.advance(3_000)
    const e = await rejection(c.codeCompletions(BODY))
    expect(e).toBeInstanceOf(PreflightError)
    expect((e as PreflightError).findings.map((f) => f.code)).toEqual(['EXPIRED'])
    expect((e as PreflightError).status).toBe(401)
    expect((e as PreflightError).gatewayError).toBe('Forbidden by auth provider')
    expect(received).toHaveLength(1)
  })

  it('within one second the same token, headers and endpoint are judged once; the next second afresh', async () => {
    const clock = movableClock()
    const a = authorizer(fixedSource(signJwt(claims())), { now: clock })
    const first = await a.authorize(input())
    const again = await a.authorize(input({ base: baseHeaders({ 'x-request-id': 'rid-2' }) }))
    expect(again.preflight).toBe(first.preflight)
    clock.advance(999)
    expect((await a.authorize(input())).preflight).toBe(first.preflight)
    clock.advance(1)
    const next = await a.authorize(input())
    expect(next.preflight).not.toBe(first.preflight)
    expect(next.preflight).toEqual(first.preflight)
  })

  it('verdicts of several tokens and several inputs are kept side by side within the second', async () => {
    const tokens = [signJwt(claims({ jti: 'a' })), signJwt(claims({ jti: 'b' }))]
    let n = 0
    const a = authorizer({ getToken: async () => ({ token: tokens[n++ % 2]!, source: 'self-issued', reason: 'test' }) })
    const first = [await a.authorize(input()), await a.authorize(input())]
    expect((await a.authorize(input())).preflight).toBe(first[0]!.preflight)
    expect((await a.authorize(input())).preflight).toBe(first[1]!.preflight)
    // two inputs for one token
    const b = authorizer(fixedSource(tokens[0]))
    const short = await b.authorize(input({ requestTimeoutMs: 1_000 }))
    await b.authorize(input({ requestTimeoutMs: 2_000 }))
    expect((await b.authorize(input({ requestTimeoutMs: 1_000 }))).preflight).toBe(short.preflight)
  })

  it('bounded: 64 tokens decoded at most, 32 remembered verdicts per token (a stream of distinct values does not grow them)', async () => {
    const a = authorizer(fixedSource(undefined))
    const tokens = Array.from({ length: 65 }, (_, i) => signJwt(claims({ jti: `t-${i}` })))
    const oldest = a.entryFor(tokens[0]!)
    for (let i = 1; i < 64; i++) a.entryFor(tokens[i]!)
    expect(a.entryFor(tokens[0]!)).toBe(oldest)
    a.entryFor(tokens[64]!)
    expect(a.entryFor(tokens[0]!)).not.toBe(oldest)

    const b = authorizer(fixedSource(tokens[1]))
    const judged = []
    for (let i = 1; i <= 32; i++) judged.push((await b.authorize(input({ requestTimeoutMs: i * 1_000 }))).preflight)
    expect((await b.authorize(input({ requestTimeoutMs: 1_000 }))).preflight).toBe(judged[0])
    await b.authorize(input({ requestTimeoutMs: 33_000 }))
    expect((await b.authorize(input({ requestTimeoutMs: 32_000 }))).preflight).not.toBe(judged[31])
  })

  it('a source that answers no token without saying "none" is refused for the empty Bearer the gateway would get', async () => {
    const a = authorizer(fixedSource(undefined, 'self-issued', 'forgot the token'))
    const base = baseHeaders()
    const e = (await rejection(a.authorize(input({ base })))) as PreflightError
    expect(e.findings.map((f) => f.code)).toEqual(['TOKEN_EMPTY'])
    expect(base['authorization']).toBe('Bearer ')
    // also after a real token was sent
    let n = 0
    const token = signJwt(claims())
    const b = authorizer({ getToken: async () => (n++ === 0 ? { token, source: 'self-issued', reason: 'r' } : { source: 'self-issued', reason: 'r' }) })
    await b.authorize(input())
    const again = (await rejection(b.authorize(input()))) as PreflightError
    expect(again.findings.map((f) => f.code)).toEqual(['TOKEN_EMPTY'])
  })

  it("one endpoint's verdict never serves another: a token without generate_code is not sent to code generations", async () => {
    server.use(okCompletions(), okGenerations())
    const c = client({ tokenSource: fixedSource(signJwt(claims({ scopes: ['complete_code'] }))) })
    await c.codeCompletions(BODY)
    const e = (await rejection(c.codeGenerations(BODY))) as PreflightError
    expect(e).toBeInstanceOf(PreflightError)
    expect(e.status).toBe(403)
    expect(e.gatewayError).toBe('Unauthorized to access code generations')
    expect(e.findings.map((f) => f.code)).toEqual(['SCOPE_MISSING'])
    expect(received.map((r) => new URL(r.url).pathname)).toEqual(['/v2/code/completions'])
  })

  it('the same through createAuthenticatedFetch (no precomputed key): the second endpoint is refused, nothing sent', async () => {
    server.use(okCompletions(), okGenerations())
    const f = createAuthenticatedFetch({ baseUrl: GATEWAY, tokenSource: fixedSource(signJwt(claims({ scopes: ['complete_code'] }))), headers: { instance: INSTANCE }, now })
    const post = (url: string) => f(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(BODY) })
    expect((await post(COMPLETIONS_URL)).status).toBe(200)
    const e = (await rejection(post(GENERATIONS_URL))) as PreflightError
    expect(e.findings.map((f) => f.code)).toEqual(['SCOPE_MISSING'])
    expect(received).toHaveLength(1)
  })

  // Each input preflight reads, changed on its own in the same second after an accepted request with the
  // same token: the verdict must be the new input's, never the memoised one.
  const gatewayIssued = () => signJwt(claims({ iss: 'gitlab-ai-gateway', sub: 'user-42', scopes: ['complete_code'] }))
  const cases: { name: string; token?: () => string; first?: Partial<AuthorizeInput>; then: Partial<AuthorizeInput>; expect: string[] }[] = [
    { name: 'X-Gitlab-Realm', then: { base: baseHeaders({ 'x-gitlab-realm': 'saas' }) }, expect: ['REALM_MISMATCH'] },
    { name: 'X-Gitlab-Instance-Id', then: { base: baseHeaders({ 'x-gitlab-instance-id': 'another-instance' }) }, expect: ['INSTANCE_ID_MISMATCH'] },
    { name: 'X-Gitlab-Authentication-Type', then: { base: baseHeaders({ 'x-gitlab-authentication-type': 'OIDC' }) }, expect: ['AUTH_TYPE'] },
    {
      name: 'X-Gitlab-Global-User-Id',
      token: gatewayIssued,
      first: { base: baseHeaders({ 'x-gitlab-global-user-id': 'user-42' }) },
      then: { base: baseHeaders({ 'x-gitlab-global-user-id': 'user-43' }) },
      expect: ['GLOBAL_USER_ID_MISMATCH'],
    },
    { name: 'the unit primitive', then: { unitPrimitive: 'generate_code' }, expect: ['SCOPE_MISSING'] },
    { name: 'the access rule', then: { access: endpointAccess('chat', { prompt: 'hi' }) }, expect: ['SCOPE_MISSING'] },
  ]
  for (const t of cases) {
    it(`${t.name} is part of what a verdict is remembered by`, async () => {
      const a = authorizer(fixedSource((t.token ?? (() => signJwt(claims({ scopes: ['complete_code'] }))))()))
      await a.authorize(input(t.first))
      const e = await rejection(a.authorize(input(t.then)))
      expect(e).toBeInstanceOf(PreflightError)
      expect((e as PreflightError).findings.filter((f) => f.severity === 'error').map((f) => f.code)).toEqual(t.expect)
    })
  }

  it("the endpoint's 403 detail and the request timeout are part of it too", async () => {
    const a = authorizer(fixedSource(signJwt(claims({ scopes: ['complete_code'], exp: NOW_S + 10 }))))
    const detail = async (forbiddenDetail: string) => ((await rejection(a.authorize(input({ unitPrimitive: 'duo_chat', forbiddenDetail })))) as PreflightError).gatewayError
    expect(await detail('Unauthorized to access duo chat')).toBe('Unauthorized to access duo chat')
    expect(await detail('Unauthorized to access other')).toBe('Unauthorized to access other')
    // the token outlives a 5 s request but not a 60 s one
    expect((await a.authorize(input({ requestTimeoutMs: 5_000 }))).preflight.warnings).toEqual([])
    expect((await a.authorize(input({ requestTimeoutMs: 60_000 }))).preflight.warnings.map((w) => w.code)).toEqual(['EXPIRES_DURING_REQUEST'])
    expect((await a.authorize(input({ requestTimeoutMs: undefined }))).preflight.warnings).toEqual([])
  })

  it("an access rule is remembered by its content: additional context, the @GitLabDuo carve-out, refused issuers", async () => {
    const chat = (content: string, contexts: string[] = []) =>
      endpointAccess('chat', { prompt: 'hi', messages: [{ role: 'user', content, additional_context: contexts.map((category) => ({ category, id: 'a', content: 'x' })) }] })
    const classic = authorizer(fixedSource(signJwt(claims({ scopes: ['duo_classic_chat'] }))))
    await classic.authorize(input({ unitPrimitive: 'duo_classic_chat', access: chat('hi') }))
    const withFile = (await rejection(classic.authorize(input({ unitPrimitive: 'duo_classic_chat', access: chat('hi', ['file']) })))) as PreflightError
    expect(withFile.gatewayError).toBe('Unauthorized to access include_file_context')

    const core = authorizer(fixedSource(signJwt(claims({ scopes: ['duo_chat'] }))))
    await core.authorize(input({ unitPrimitive: 'duo_chat', access: chat('@GitLabDuo review this') }))
    const cutOff = (await rejection(core.authorize(input({ unitPrimitive: 'duo_chat', access: chat('review this') })))) as PreflightError
    expect(cutOff.gatewayError).toBe('Duo Core no longer authorized to access Duo Classic Chat')

    const userToken = authorizer(fixedSource(signJwt(claims({ iss: 'gitlab-ai-gateway', sub: 'user-42', scopes: ['generate_code'] }))))
    const headers = () => baseHeaders({ 'x-gitlab-global-user-id': 'user-42' })
    const rule = { anyOf: ['generate_code'], forbiddenDetail: 'Unauthorized to access code suggestions' }
    await userToken.authorize(input({ unitPrimitive: 'generate_code', base: headers(), access: rule }))
    const refused = (await rejection(userToken.authorize(input({ unitPrimitive: 'generate_code', base: headers(), access: { ...rule, refusesGatewayTokens: true } })))) as PreflightError
    expect(refused.findings.map((f) => f.code)).toEqual(['GATEWAY_ISSUED_TOKEN'])
  })
})

describe('leewaySeconds reaches preflight', () => {
  it('the client logs a token that expires within the leeway, and still sends it', async () => {
    server.use(okCompletions())
    const logger = captureLogger()
    const token = signJwt(claims({ nbf: NOW_S - 600, exp: NOW_S + 100 }))
    await client({ tokenSource: fixedSource(token), leewaySeconds: 120, logger }).codeCompletions(BODY, { requestId: 'rid-leeway' })
    const warned = logger.lines.filter((l) => l.event === 'gateway.preflight_warning')
    expect(warned.map((l) => l.fields['code'])).toEqual(['EXPIRES_WITHIN_LEEWAY'])
    expect(received).toHaveLength(1)
    // without a leeway there is nothing to say
    const quiet = captureLogger()
    await client({ tokenSource: fixedSource(token), logger: quiet }).codeCompletions(BODY)
    expect(quiet.lines.filter((l) => l.event === 'gateway.preflight_warning')).toEqual([])
  })

  it('the fetch adapter passes it on as well', async () => {
    server.use(okCompletions())
    const logger = captureLogger()
    const f = createAuthenticatedFetch({ baseUrl: GATEWAY, tokenSource: fixedSource(signJwt(claims({ nbf: NOW_S - 2 }))), headers: { instance: INSTANCE }, now, leewaySeconds: 10, logger })
    expect((await f(COMPLETIONS_URL, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(BODY) })).status).toBe(200)
    expect(logger.lines.filter((l) => l.event === 'gateway.preflight_warning').map((l) => l.fields['code'])).toEqual(['NBF_CLOCK_SKEW'])
  })
})

describe('Authorizer: the token step', () => {
  it('sets "Authorization: Bearer <token>" on the request headers, following the token the source answers', async () => {
    const tokens = [signJwt(claims({ jti: 'one' })), signJwt(claims({ jti: 'two' }))]
    let n = 0
    const source: TokenSource = { getToken: async () => ({ token: tokens[Math.min(n++, 1)]!, source: 'self-issued', reason: 'test' }) }
    const a = authorizer(source)
    const base = baseHeaders()
    const first = await a.authorize(input({ base }))
    expect(first.headers).toBe(base)
    expect(base['authorization']).toBe(`Bearer ${tokens[0]}`)
    expect((await a.authorize(input())).headers['authorization']).toBe(`Bearer ${tokens[1]}`)
    expect(first.token).toBe(tokens[0])
  })

  it('a source that throws instead of rejecting still gives a rejected promise', async () => {
    const boom = new Error('source failed')
    const a = authorizer({
      getToken: () => {
        throw boom
      },
    })
    let p: Promise<unknown> | undefined
    expect(() => {
      p = a.authorize(input())
    }).not.toThrow()
    await expect(p).rejects.toBe(boom)
  })

  it('asks the source for the call: its unit primitive, feature setting, team-member cut-off and signal', async () => {
    const source = fixedSource(signJwt(claims()))
    const a = authorizer(source)
    const signal = new AbortController().signal
    await a.authorize(input({ featureSetting: 'code_completions', signal, base: baseHeaders({ 'x-gitlab-is-team-member': 'true' }) }))
    await a.authorize(input({ base: baseHeaders({ 'x-gitlab-is-team-member': 'false' }) }))
    expect(source.requests).toStrictEqual([{ unitPrimitive: 'complete_code', featureSetting: 'code_completions', skipUsageCutoff: true, signal }, { unitPrimitive: 'complete_code' }])
  })

  it('refused by preflight: nothing returned, PreflightError with the primitive, one error line with the findings', async () => {
    const logger = captureLogger()
    const a = authorizer(fixedSource(signJwt(claims({ scopes: ['duo_chat'] }))), { logger })
    const e = (await rejection(a.authorize(input({ endpoint: 'codeCompletions', base: baseHeaders({ 'x-request-id': 'rid-refused' }) })))) as PreflightError
    expect(e).toBeInstanceOf(PreflightError)
    expect(e.unitPrimitive).toBe('complete_code')
    expect(e.status).toBe(403)
    expect(logger.lines).toEqual([
      {
        level: 'error',
        event: 'gateway.preflight_rejected',
        fields: {
          endpoint: 'codeCompletions',
          requestId: 'rid-refused',
          unitPrimitive: 'complete_code',
          tokenSource: 'self-issued',
          status: 403,
          gatewayError: "Unauthorized to access 'complete_code'",
          findings: ['SCOPE_MISSING'],
        },
      },
    ])
  })

  it('no token at all (source "none"): refused with the reason, every time', async () => {
    const a = authorizer(fixedSource(undefined, 'none', 'no license'))
    for (let i = 0; i < 2; i++) {
      const e = (await rejection(a.authorize(input()))) as PreflightError
      expect(e.findings.map((f) => f.code)).toEqual(['TOKEN_SOURCE_NONE'])
      expect(e.findings[0]?.message).toContain('No token at all: no license.')
    }
  })

  it('a warning is logged once per token, unit primitive and finding, with the fix and the token fields', async () => {
    const logger = captureLogger()
    const clock = movableClock()
    const source = scriptedSource((n) => ({ token: signJwt(claims({ jti: `jti-${n}`, nbf: NOW_S - 600, exp: NOW_S + 20 }), { alg: 'RS256', typ: 'JWT', kid: 'kid-1' }), source: 'self-issued', reason: 'test' }))
    const a = authorizer(source, { leewaySeconds: 30, logger, now: clock })
    await a.authorize(input({ base: baseHeaders({ 'x-request-id': 'rid-w1' }) }))
    clock.advance(1_000)
    await a.authorize(input())
    await a.authorize(input({ unitPrimitive: 'generate_code', endpoint: 'codeGenerations' }))
    const warned = logger.lines.filter((l) => l.event === 'gateway.preflight_warning')
    expect(warned).toHaveLength(2)
    expect(warned[0]).toEqual({
      level: 'warn',
      event: 'gateway.preflight_warning',
      fields: {
        endpoint: 'codeCompletions',
        requestId: 'rid-w1',
        unitPrimitive: 'complete_code',
        code: 'EXPIRES_WITHIN_LEEWAY',
        message: 'The token expires in 20 s: a gateway whose clock is up to 30 s ahead would refuse it as expired.',
        fix: "Refresh tokens before they get this close to expiry (the issuer's cache does so by default).",
        jti: 'jti-0',
        kid: 'kid-1',
        exp: NOW_S + 20,
        tokenSha: expect.stringMatching(/^[\w-]{10}$/),
      },
    })
    expect(warned[1]?.fields['unitPrimitive']).toBe('generate_code')
    // a new token is a new warning
    source.invalidate?.()
    await a.authorize(input())
    expect(logger.lines.filter((l) => l.event === 'gateway.preflight_warning').map((l) => l.fields['jti'])).toEqual(['jti-0', 'jti-0', 'jti-1'])
  })

  it('warnings already logged stay quiet while others are logged in between; the record is bounded at 1024', async () => {
    const logger = captureLogger()
    const clock = movableClock()
    const names = Array.from({ length: 1025 }, (_, i) => `up_${i}`)
    const a = authorizer(fixedSource(signJwt(claims({ nbf: NOW_S - 600, exp: NOW_S + 20, scopes: names }))), { leewaySeconds: 30, logger, now: clock })
    const warnedFor = () => logger.lines.filter((l) => l.event === 'gateway.preflight_warning').map((l) => l.fields['unitPrimitive'])
    await a.authorize(input({ unitPrimitive: 'up_0' }))
    await a.authorize(input({ unitPrimitive: 'up_1' }))
    clock.advance(1_000)
    await a.authorize(input({ unitPrimitive: 'up_0' }))
    expect(warnedFor()).toEqual(['up_0', 'up_1'])
    for (let i = 2; i < 1024; i++) await a.authorize(input({ unitPrimitive: names[i]! }))
    expect(warnedFor()).toHaveLength(1024)
    clock.advance(1_000)
    await a.authorize(input({ unitPrimitive: 'up_0' }))
    expect(warnedFor()).toHaveLength(1024)
    // the 1025th distinct warning starts the record afresh
    await a.authorize(input({ unitPrimitive: 'up_1024' }))
    clock.advance(1_000)
    await a.authorize(input({ unitPrimitive: 'up_0' }))
    expect(warnedFor().slice(1024)).toEqual(['up_1024', 'up_0'])
  })

  it('a logger without warn, or none, does not stop a request that draws a warning', async () => {
    const token = signJwt(claims({ exp: NOW_S + 20 }))
    const errorsOnly = { error: () => undefined }
    expect((await new Authorizer({ tokenSource: fixedSource(token), audience: 'gitlab-ai-gateway', now, leewaySeconds: 30, logger: toLog(errorsOnly, {}) }).authorize(input())).token).toBe(token)
    expect((await authorizer(fixedSource(token), { leewaySeconds: 30 }).authorize(input())).token).toBe(token)
  })

  it('the log fields of a token: jti, kid and exp only when they have the right type', () => {
    const a = authorizer(fixedSource(undefined))
    const good = a.entryFor(signJwt(claims({ jti: 'j', scopes: ['a', 7, 'b'] }), { alg: 'RS256', kid: 'k' }))
    expect(good.fields).toEqual({ jti: 'j', kid: 'k', exp: NOW_S + 3600, tokenSha: expect.any(String) })
    expect(good.scopes).toEqual(['a', 'b'])
    const odd = a.entryFor(signJwt({ jti: 1, exp: '2', scopes: 'a' }, { alg: 'RS256', kid: 3 }))
    expect(Object.keys(odd.fields)).toEqual(['tokenSha'])
    expect(odd.scopes).toBeUndefined()
    const opaque = a.entryFor('not-a-jwt-at-all')
    expect(Object.keys(opaque.fields)).toEqual(['tokenSha'])
    // decoded once per token string
    expect(a.entryFor('not-a-jwt-at-all')).toBe(opaque)
  })
})

describe('authorizeNow: a token at hand is used without waiting', () => {
  const token = signJwt(claims())
  const result: TokenResult = { token, source: 'self-issued', reason: 'cached' }
  const withPeek = (peekToken: TokenSource['peekToken']) => {
    const source = fixedSource(token)
    return Object.assign(source, { peekToken })
  }

  it("the source's answer, with the headers set", () => {
    const auth = authorizer(withPeek(() => result)).authorizeNow(input())
    expect(auth?.token).toBe(token)
    expect(auth?.headers['authorization']).toBe(`Bearer ${token}`)
    expect(auth?.tokenResult).toBe(result)
  })

  it('undefined — ask getToken — when the source has no peek, cannot answer, fails or answers nonsense', () => {
    expect(authorizer(fixedSource(token)).authorizeNow(input())).toBeUndefined()
    expect(authorizer(withPeek(() => undefined)).authorizeNow(input())).toBeUndefined()
    expect(authorizer(withPeek(() => null as unknown as TokenResult)).authorizeNow(input())).toBeUndefined()
    expect(authorizer(withPeek(() => token as unknown as TokenResult)).authorizeNow(input())).toBeUndefined()
    expect(
      authorizer(
        withPeek(() => {
          throw new Error('peek failed')
        }),
      ).authorizeNow(input()),
    ).toBeUndefined()
  })

  it('asks the peek what getToken would be asked, with `this` the source', () => {
    const seen: unknown[] = []
    const source = withPeek(function (this: unknown, request) {
      seen.push(this, request)
      return result
    })
    authorizer(source).authorizeNow(input({ featureSetting: 'fs' }))
    expect(seen).toEqual([source, { unitPrimitive: 'complete_code', featureSetting: 'fs' }])
  })

  it('throws the PreflightError of a token the gateway would refuse', () => {
    const expired: TokenResult = { token: signJwt(claims({ exp: NOW_S - 10 })), source: 'self-issued', reason: 'cached' }
    expect(() => authorizer(withPeek(() => expired)).authorizeNow(input())).toThrow(PreflightError)
  })
})

describe('forced refresh after a 401', () => {
  const rejected = signJwt(claims({ jti: 'refused' }))
  const fresh = signJwt(claims({ jti: 'fresh' }))

  it('concurrent refusals of one token share one refresh, asked without any one caller\'s signal', async () => {
    const source = scriptedSource(() => ({ token: fresh, source: 'self-issued', reason: 'refreshed' }))
    const a = authorizer(source)
    const signal = new AbortController().signal
    const got = await Promise.all([
      a.authorize(input({ refreshAfter: rejected, signal, featureSetting: 'fs', base: baseHeaders({ 'x-gitlab-is-team-member': 'true' }) })),
      a.authorize(input({ refreshAfter: rejected, featureSetting: 'fs', base: baseHeaders({ 'x-gitlab-is-team-member': 'true' }) })),
    ])
    expect(got.map((g) => g.token)).toEqual([fresh, fresh])
    expect(source.requests).toStrictEqual([{ unitPrimitive: 'complete_code', featureSetting: 'fs', skipUsageCutoff: true, forceRefresh: true }])
  })

  it('refreshes are separate per unit primitive, feature setting, team-member cut-off and refused token', async () => {
    const source = scriptedSource(() => ({ token: fresh, source: 'self-issued', reason: 'refreshed' }))
    const a = authorizer(source)
    const other = signJwt(claims({ jti: 'refused-too' }))
    await Promise.all([
      a.authorize(input({ refreshAfter: rejected })),
      a.authorize(input({ refreshAfter: rejected, unitPrimitive: 'generate_code' })),
      a.authorize(input({ refreshAfter: rejected, featureSetting: 'fs' })),
      a.authorize(input({ refreshAfter: rejected, featureSetting: 'other' })),
      a.authorize(input({ refreshAfter: rejected, base: baseHeaders({ 'x-gitlab-is-team-member': 'true' }) })),
      a.authorize(input({ refreshAfter: other })),
    ])
    expect(source.forced).toBe(6)
  })

  it('an empty feature setting is not the same refresh as none: each caller gets the answer to its own request', async () => {
    const source = scriptedSource((_n, request) => {
      if (request.featureSetting === '') throw new Error('featureSetting must be a feature setting name')
      return { token: fresh, source: 'self-issued', reason: 'refreshed' }
    })
    const a = authorizer(source)
    const [none, empty] = await Promise.allSettled([a.authorize(input({ refreshAfter: rejected })), a.authorize(input({ refreshAfter: rejected, featureSetting: '' }))])
    expect(none.status === 'fulfilled' && none.value.token).toBe(fresh)
    expect(empty.status === 'rejected' && (empty.reason as Error).message).toBe('featureSetting must be a feature setting name')
    expect(source.requests).toStrictEqual([
      { unitPrimitive: 'complete_code', forceRefresh: true },
      { unitPrimitive: 'complete_code', featureSetting: '', forceRefresh: true },
    ])
  })

  it('a refresh that failed is forgotten: the next refusal of the same token refreshes again', async () => {
    let fail = true
    const source = scriptedSource(() => {
      if (fail) throw new Error('issuer down')
      return { token: fresh, source: 'self-issued', reason: 'refreshed' }
    })
    const a = authorizer(source)
    await expect(a.authorize(input({ refreshAfter: rejected }))).rejects.toThrow('issuer down')
    fail = false
    expect((await a.authorize(input({ refreshAfter: rejected }))).token).toBe(fresh)
    expect(source.forced).toBe(2)
  })

  it('a refresh that succeeded serves refusals arriving just after it, and is dropped after a second', async () => {
    const source = scriptedSource((n) => ({ token: signJwt(claims({ jti: `fresh-${n}` })), source: 'self-issued', reason: 'refreshed' }))
    const a = authorizer(source)
    const first = await a.authorize(input({ refreshAfter: rejected }))
    expect((await a.authorize(input({ refreshAfter: rejected }))).token).toBe(first.token)
    expect(source.forced).toBe(1)
    // real time: the entry is dropped by a timer (unref'd), not by the injected clock
    await new Promise((r) => setTimeout(r, 1_200))
    expect((await a.authorize(input({ refreshAfter: rejected }))).token).not.toBe(first.token)
    expect(source.forced).toBe(2)
  })

  it('an abort while waiting on a shared refresh rejects that caller at once; the others get the token', async () => {
    const gate = deferred<TokenResult>()
    const source = scriptedSource(() => gate.promise)
    const a = authorizer(source)
    const controller = new AbortController()
    const waiting = a.authorize(input({ refreshAfter: rejected, signal: controller.signal }))
    const other = a.authorize(input({ refreshAfter: rejected, signal: new AbortController().signal }))
    const reason = new Error('caller gave up')
    controller.abort(reason)
    await expect(waiting).rejects.toBe(reason)
    gate.resolve({ token: fresh, source: 'self-issued', reason: 'refreshed' })
    expect((await other).token).toBe(fresh)
    expect(source.forced).toBe(1)
  })

  it('a caller whose signal is already aborted is rejected without waiting for the refresh', async () => {
    const source = scriptedSource(() => new Promise<TokenResult>(() => undefined))
    const controller = new AbortController()
    const reason = new Error('already aborted')
    controller.abort(reason)
    await expect(authorizer(source).authorize(input({ refreshAfter: rejected, signal: controller.signal }))).rejects.toBe(reason)
  })

  it("a shared refresh that fails rejects every waiting caller with the source's error", async () => {
    const gate = deferred<TokenResult>()
    const a = authorizer(scriptedSource(() => gate.promise))
    const withSignal = a.authorize(input({ refreshAfter: rejected, signal: new AbortController().signal }))
    const without = a.authorize(input({ refreshAfter: rejected }))
    const boom = new Error('issuer down')
    gate.reject(boom)
    await expect(withSignal).rejects.toBe(boom)
    await expect(without).rejects.toBe(boom)
  })

  it('through the client: the aborted call ends as AbortedError, the other call succeeds, one refresh', async () => {
    const gate = deferred<TokenResult>()
    const source = scriptedSource((n) => (n === 0 ? { token: rejected, source: 'self-issued', reason: 'first' } : gate.promise))
    let refusals = 0
    const controller = new AbortController()
    server.use(
      http.post(COMPLETIONS_URL, ({ request }) => {
        if (request.headers.get('authorization') === `Bearer ${rejected}`) {
          if (++refusals === 2) setTimeout(() => controller.abort(), 20)
          return HttpResponse.json({ error: 'Forbidden by auth provider' }, { status: 401 })
        }
        return HttpResponse.json(SUGGESTION)
      }),
    )
    const c = client({ tokenSource: source })
    const kept = c.codeCompletions(BODY)
    const aborted = c.codeCompletions(BODY, { signal: controller.signal })
    const e = await rejection(aborted)
    expect(e).toBeInstanceOf(AbortedError)
    gate.resolve({ token: fresh, source: 'self-issued', reason: 'refreshed' })
    expect((await kept).data.choices[0]?.text).toBe('return a + b')
    expect(source.forced).toBe(1)
    expect(received.map((r) => r.headers['authorization'])).toEqual([`Bearer ${rejected}`, `Bearer ${rejected}`, `Bearer ${fresh}`])
  })
})

describe('what the SDK says about a token the gateway refused', () => {
  it('diagnose: the claims and header fields a user checks, the redacted token and the findings', async () => {
    const token = signJwt(claims({ nbf: NOW_S - 600, exp: NOW_S + 20 }), { alg: 'RS256', typ: 'JWT', kid: 'kid-9' })
    const a = authorizer(fixedSource(token, 'synced', 'the instance token'), { leewaySeconds: 30 })
    const auth = await a.authorize(input())
    const d = a.diagnose(auth)
    expect(d).toEqual({
      source: 'synced',
      sourceReason: 'the instance token',
      kind: 'jwt',
      token: expect.stringMatching(/^eyJ[\w-]+….<redacted \d+ chars, sha256:[\w-]{10}>$/),
      findings: [expect.objectContaining({ code: 'EXPIRES_WITHIN_LEEWAY' })],
      kid: 'kid-9',
      alg: 'RS256',
      jti: 'b7f3c1a2-0d4e-4f5a-9b8c-7d6e5f4a3b2c',
      iss: 'https://gitlab.example.com',
      sub: INSTANCE_ID,
      aud: ['gitlab-ai-gateway'],
      gitlab_realm: 'self-managed',
      scopes: ['complete_code', 'generate_code', 'duo_chat'],
      iat: NOW_S,
      nbf: NOW_S - 600,
      exp: NOW_S + 20,
    })
    expect(JSON.stringify(d)).not.toContain(token.split('.')[2]!)
  })

  it('diagnose leaves out fields of the wrong type', async () => {
    const token = signJwt({ jti: 5, iss: 1, sub: 2, iat: '1', nbf: '2', exp: NOW_S + 60, scopes: ['complete_code'] }, { alg: 'RS256', kid: 7 })
    const a = authorizer(fixedSource(token))
    // preflight refuses such a token; the diagnosis must still hold only what it can show
    const entry = a.entryFor(token)
    const tokenResult: TokenResult = { token, source: 'self-issued', reason: 'test' }
    const refused = preflight({ token, headers: baseHeaders(), unitPrimitive: 'complete_code', now })
    const d = a.diagnose({ headers: {}, token, tokenResult, entry, preflight: refused })
    expect(d.findings.map((f) => f.code)).toEqual(refused.problems.map((p) => p.code))
    expect(Object.keys(d).sort()).toEqual(['alg', 'exp', 'findings', 'kind', 'scopes', 'source', 'sourceReason', 'token'])
  })

  describe('clockSkew: the gateway Date header against the injected clock', () => {
    const a = authorizer(fixedSource(undefined))
    const at = (offsetMs: number) => new Response(null, { headers: { date: new Date(NOW.getTime() + offsetMs).toUTCString() } })
    const entry = a.entryFor(signJwt(claims({ nbf: NOW_S - 5, exp: NOW_S + 60 })))

    it('nothing without a usable Date header, or within the tolerance (inclusive)', () => {
      expect(a.clockSkew(new Response(null), entry, 5)).toBeUndefined()
      expect(a.clockSkew(new Response(null, { headers: { date: 'yesterday-ish' } }), entry, 5)).toBeUndefined()
      expect(a.clockSkew(at(5_000), entry, 5)).toBeUndefined()
      expect(a.clockSkew(at(-5_000), entry, 5)).toBeUndefined()
      expect(a.clockSkew(at(6_000), entry, 5)).toEqual({ skewSeconds: 6, gatewayDate: '2026-03-01T12:00:06.000Z', localDate: '2026-03-01T12:00:00.000Z', effect: 'none' })
      expect(a.clockSkew(at(-6_000), entry, 5)?.skewSeconds).toBe(-6)
    })

    // python-jose refuses `nbf > now` and `exp < now` (mpdavis/python-jose jose/jwt.py @ 00c51d7c)
    it("the effect on the token: not yet valid before nbf, expired after exp (the second of exp still passes), by the gateway's clock", () => {
      expect(a.clockSkew(at(-6_000), entry, 0)?.effect).toBe('not-yet-valid')
      expect(a.clockSkew(at(-5_000), entry, 0)?.effect).toBe('none')
      expect(a.clockSkew(at(59_000), entry, 0)?.effect).toBe('none')
      expect(a.clockSkew(at(60_000), entry, 0)?.effect).toBe('none')
      expect(a.clockSkew(at(61_000), entry, 0)?.effect).toBe('expired')
      expect(a.clockSkew(at(61_000), undefined, 0)?.effect).toBe('none')
      expect(a.clockSkew(at(-6_000), a.entryFor(signJwt({ nbf: 'soon', exp: 'later' })), 0)?.effect).toBe('none')
    })

    it("nbf and exp as the gateway's int() reads them: a numeric string counts, a float is truncated", () => {
      const strings = a.entryFor(signJwt(claims({ nbf: ` ${NOW_S - 5} `, exp: `${NOW_S + 60}` })))
      expect(a.clockSkew(at(-6_000), strings, 0)?.effect).toBe('not-yet-valid')
      expect(a.clockSkew(at(-5_000), strings, 0)?.effect).toBe('none')
      expect(a.clockSkew(at(61_000), strings, 0)?.effect).toBe('expired')
      // int() truncates: an nbf half a second after a whole second is that second
      const floats = a.entryFor(signJwt(claims({ nbf: NOW_S - 4.5, exp: NOW_S + 60.5 })))
      expect(a.clockSkew(at(-5_000), floats, 0)?.effect).toBe('none')
      expect(a.clockSkew(at(-6_000), floats, 0)?.effect).toBe('not-yet-valid')
      expect(a.clockSkew(at(61_000), floats, 0)?.effect).toBe('expired')
    })
  })
})

describe('scrub: the secrets of a request, however an echo spells them, never reach an error or a log', () => {
  // secrets shaped like nothing redactShapes knows (no sk-/glpat- prefix, no JWT), so only scrub's own forms catch them
  const KEY = `k3y&<v>"x"'y'`
  const R = redact(KEY)

  it('each HTML escaping style, character by character', () => {
    for (const [c, forms] of [
      ['&', ['&amp;']],
      ['<', ['&lt;']],
      ['>', ['&gt;']],
      ['"', ['&quot;', '&#34;']],
      ["'", ['&#x27;', '&#39;']],
    ] as const) {
      const secret = `plain${c}secret`
      for (const form of forms) expect(scrub(`bad key: plain${form}secret.`, [secret]), `${c} as ${form}`).toBe(`bad key: ${redact(secret)}.`)
    }
    // a secret made of nothing but such characters
    expect(scrub('got &lt;&amp;&gt;&quot;&#39;', [`<&>"'`])).toBe(`got ${redact(`<&>"'`)}`)
    // the three whole-string styles: Python html.escape, Jinja/MarkupSafe, ERB/lodash/Go
    for (const echo of ['k3y&amp;&lt;v&gt;&quot;x&quot;&#x27;y&#x27;', 'k3y&amp;&lt;v&gt;&#34;x&#34;&#39;y&#39;', 'k3y&amp;&lt;v&gt;&quot;x&quot;&#39;y&#39;']) {
      expect(scrub(`<p>${echo}</p>`, [KEY])).toBe(`<p>${R}</p>`)
    }
  })

  it('as sent, JSON-escaped and URL-encoded; every occurrence', () => {
    expect(scrub(`a ${KEY} b ${KEY}`, [KEY])).toBe(`a ${R} b ${R}`)
    const slashy = 'p\\w"d/+=q'
    expect(scrub(`{"detail":"${JSON.stringify(slashy).slice(1, -1)}"}`, [slashy])).toBe(`{"detail":"${redact(slashy)}"}`)
    expect(scrub(`GET /x?key=${encodeURIComponent(slashy)} 400`, [slashy])).toBe(`GET /x?key=${redact(slashy)} 400`)
    // a secret with a lone surrogate has no URL form; the others are still found
    const lone = 'abc\ud800def'
    expect(scrub(`echo ${lone}`, [lone])).toBe(`echo ${redact(lone)}`)
  })

  it("a token's signature segment on its own (16 characters or more, in a secret with two dots)", () => {
    const token = 'header0.payload0.SIGsig0123456789'
    expect(scrub('failed on SIGsig0123456789', [token])).toBe(`failed on ${redact(token)}`)
    // a 15-character last segment is not taken for a signature, nor the tail of a one-dot secret
    expect(scrub('failed on SIGsig012345678', ['header0.payload0.SIGsig012345678'])).toBe('failed on SIGsig012345678')
    expect(scrub('failed on SIGsig0123456789abcdef', ['header0SIGsig.SIGsig0123456789abcdef'])).toBe('failed on SIGsig0123456789abcdef')
  })

  it('secrets shorter than 4 characters, or not strings, are not searched for (they would blank ordinary words)', () => {
    expect(scrub('the key abc is bad', ['abc', undefined, null])).toBe('the key abc is bad')
    expect(scrub('the key abcd is bad', ['abcd'])).toBe(`the key ${redact('abcd')} is bad`)
  })

  it('anything shaped like a token is redacted even when not known, and the text is cut at max characters', () => {
    const jwt = signJwt(claims())
    expect(scrub(`token ${jwt}`, [])).toBe(`token ${redact(jwt)}`)
    const words = 'abcd '.repeat(100)
    expect(scrub(words, [])).toBe(words)
    expect(scrub(`${words}e`, [])).toBe(`${words}…`)
    expect(scrub('abcdef', [], 3)).toBe('abc…')
  })
})

describe('secretsInBody: the secret members of a JSON request body, for scrub', () => {
  it('members whose names end in api_key/apikey, token, secret, password or authorization (any case), at any depth up to 8', () => {
    const body = {
      model_api_key: 'a1',
      ApiKey: 'a2',
      nested: { access_token: 't1', list: [{ client_secret: 's1' }, { PASSWORD: 'p1' }] },
      Authorization: 'Bearer b1',
      tokenizer: 'not-a-secret',
      api_key_id: 'not-a-secret',
      token: 42,
    }
    expect(secretsInBody(JSON.stringify(body))).toEqual(['a1', 'a2', 't1', 's1', 'p1', 'Bearer b1'])
    expect(secretsInBody(new TextEncoder().encode(JSON.stringify({ api_key: 'bytes' })).buffer as ArrayBuffer)).toEqual(['bytes'])
    // a secret-named member that is an object is searched like any other
    expect(secretsInBody(JSON.stringify({ token: { value: 'v', refresh_token: 'r' } }))).toEqual(['r'])
    // nulls (an unset key, an empty option) are passed over, at the top and below
    expect(secretsInBody(JSON.stringify({ model_api_key: null, options: null, model: { api_key: 'k', extra: [null] } }))).toEqual(['k'])
    expect(secretsInBody('null')).toEqual([])
  })

  it('bounded: nothing deeper than 8 levels, nothing from bodies over 256 KiB, empty or not JSON', () => {
    const nest = (levels: number): unknown => (levels === 0 ? { api_key: 'deep' } : { a: nest(levels - 1) })
    expect(secretsInBody(JSON.stringify(nest(8)))).toEqual(['deep'])
    expect(secretsInBody(JSON.stringify(nest(9)))).toEqual([])
    const sized = (bytes: number) => {
      const head = '{"api_key":"big","pad":"'
      return `${head}${'x'.repeat(bytes - head.length - 2)}"}`
    }
    expect(sized(256 * 1024)).toHaveLength(256 * 1024)
    expect(secretsInBody(sized(256 * 1024))).toEqual(['big'])
    expect(secretsInBody(sized(256 * 1024 + 1))).toEqual([])
    expect(secretsInBody(new TextEncoder().encode(sized(256 * 1024 + 1)).buffer as ArrayBuffer)).toEqual([])
    expect(secretsInBody('')).toEqual([])
    expect(secretsInBody(new ArrayBuffer(0))).toEqual([])
    expect(secretsInBody(undefined)).toEqual([])
    expect(secretsInBody('api_key=nope')).toEqual([])
    expect(secretsInBody('"api_key"')).toEqual([])
  })
})
