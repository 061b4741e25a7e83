/**
 * parseClaimsText parses a payload's top-level scopes list once per distinct list text (issue 14: the list is
 * most of a token and the same in every token of an instance). It must answer exactly what json.loads of the
 * whole text answers (pyJsonLoads, itself held to CPython in inspect-python.test.ts): the same value, the same
 * error message, the same RecursionError — for the plain form and for every form it must leave to the full parse.
 */
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { joseDecodeClaims, parseClaimsText } from '../src/inspect/jose.js'
import { pyJsonLoads } from '../src/inspect/python.js'
import { createGatewayVerifier, createTokenIssuer, generateSigningKeyPem, loadSigningKey } from '../src/index.js'

/** The same answer as json.loads of the whole text, compared member by member in order (key order included). */
function expectSameAsPython(text: string): void {
  const full = pyJsonLoads(text)
  const ours = parseClaimsText(text)
  expect(ours.ok).toBe(full.ok)
  if (full.ok && ours.ok) {
    expect(JSON.stringify(ours.value)).toBe(JSON.stringify(full.value))
    if (full.value !== null && typeof full.value === 'object') expect(Object.keys(ours.value as object)).toEqual(Object.keys(full.value))
  } else expect(ours).toEqual(full)
}

const LIST = '["code_suggestions","duo_chat","include_file_context"]'

describe('parseClaimsText: the scopes list parsed once per list text', () => {
  it('reads a token payload as json.loads does, and shares one frozen list between payloads with the same list', () => {
    const a = `{"jti":"1","aud":"gitlab-ai-gateway","scopes":${LIST},"exp":10}`
    const b = `{"jti":"2","aud":"gitlab-ai-gateway","scopes":${LIST},"exp":11}`
    expectSameAsPython(a)
    expectSameAsPython(b)
    const va = parseClaimsText(a) as { ok: true; value: Record<string, unknown> }
    const vb = parseClaimsText(b) as { ok: true; value: Record<string, unknown> }
    expect(va.value).toEqual({ jti: '1', aud: 'gitlab-ai-gateway', scopes: ['code_suggestions', 'duo_chat', 'include_file_context'], exp: 10 })
    expect(Object.keys(va.value)).toEqual(['jti', 'aud', 'scopes', 'exp'])
    expect(vb.value.scopes).toBe(va.value.scopes)
    expect(Object.isFrozen(va.value.scopes)).toBe(true)
    // the payload object itself is the caller's (not shared)
    expect(vb.value).not.toBe(va.value)
    expect(Object.isFrozen(vb.value)).toBe(false)
  })

  it('another list text is another list', () => {
    const one = parseClaimsText('{"scopes":["a","b"]}') as { ok: true; value: Record<string, unknown> }
    const two = parseClaimsText('{"scopes":["a","c"]}') as { ok: true; value: Record<string, unknown> }
    expect(one.value.scopes).toEqual(['a', 'b'])
    expect(two.value.scopes).toEqual(['a', 'c'])
  })

  it.each([
    ['the list first', `{"scopes":${LIST},"x":1}`],
    ['the list last', `{"x":1,"scopes":${LIST}}`],
    ['an empty list', '{"x":1,"scopes":[]}'],
    ['a duplicate key, later one wins', `{"scopes":${LIST},"scopes":["other"]}`],
    ['a duplicate written with an escape, later one wins', `{"scopes":${LIST},"scop\\u0065s":["other"]}`],
    ['a duplicate written with an escape, the plain one later', `{"scop\\u0065s":["other"],"scopes":${LIST}}`],
    ['"scopes" as a value elsewhere', `{"scopes":${LIST},"note":"scopes"}`],
    ['a "]" inside a scope', '{"scopes":["a]b","c"],"x":1}'],
    ['an escaped quote and "]" inside a scope', '{"scopes":["a\\"]","c"],"x":1}'],
    ['a nested list', '{"scopes":[["a"],"b"],"x":1}'],
    ['numbers in the list', '{"scopes":[1,2.5,1e400],"x":1}'],
    ['an object in the list', '{"scopes":[{"a":"]"}],"x":1}'],
    ['whitespace after the colon', `{"x":1,"scopes": ${LIST}}`],
    ['whitespace before the member', `{"x":1, "scopes":${LIST}}`],
    ['scopes nested in another member', `{"x":{"scopes":${LIST}},"y":2}`],
    ['scopes nested, and a top-level scopes 0', `{"x":{"scopes":${LIST}},"scopes":0}`],
    ['a key ending in scopes', `{"xscopes":${LIST},"y":2}`],
    ['the payload is a list', `[{"scopes":${LIST}}]`],
    ['an error after the list', `{"scopes":${LIST},"x":}`],
    ['an error before the list', `{"x":,"scopes":${LIST}}`],
    ['an unterminated list', '{"x":1,"scopes":["a","b"'],
    ['a huge integer after the list', `{"scopes":${LIST},"exp":1${'0'.repeat(400)}}`],
    ['NaN after the list', `{"scopes":${LIST},"exp":NaN}`],
    ['deep nesting after the list', `{"scopes":${LIST},"x":${'['.repeat(1600)}${']'.repeat(1600)}}`],
  ])('%s: what json.loads answers', (_name, text) => {
    expectSameAsPython(text)
  })

  it('a deeply nested list of objects is refused as the gateway refuses it (RecursionError), never read through the memo', () => {
    const text = `{"scopes":[${'{"a":'.repeat(1600)}1${'}'.repeat(1600)}]}`
    const r = parseClaimsText(text)
    expect(r).toEqual(pyJsonLoads(text))
    expect(r.ok).toBe(false)
    expect(joseDecodeClaims({ ok: true, text })).toMatchObject({ ok: false, stage: 'payload-json', fatal: true })
  })

  it('on any object with a scopes member, written any way: what json.loads answers', () => {
    const member = fc.oneof(
      fc.array(fc.string({ maxLength: 6 }), { maxLength: 4 }).map((l) => `"scopes":${JSON.stringify(l)}`),
      fc.array(fc.string({ unit: fc.constantFrom('a', ']', '[', '"', '\\', ','), maxLength: 5 }), { maxLength: 3 }).map((l) => `"scopes":${JSON.stringify(l)}`),
      fc.jsonValue({ maxDepth: 2 }).map((v) => `"scopes":${JSON.stringify(v)}`),
      fc.constantFrom('"scop\\u0065s":["z"]', '"scopes":0', '"scopes" : ["a"]', '"x":"scopes"', '"scopes":["a"'),
    )
    const other = fc.tuple(fc.string({ maxLength: 5 }), fc.jsonValue({ maxDepth: 2 })).map(([k, v]) => `${JSON.stringify(k)}:${JSON.stringify(v)}`)
    fc.assert(
      fc.property(fc.array(fc.oneof(member, other), { maxLength: 5 }), (members) => {
        expectSameAsPython(`{${members.join(',')}}`)
      }),
      { numRuns: process.env.CC_HEAVY ? 100_000 : 2_000 },
    )
  })

  it("a real token's claims: the verifier and the issuer agree, and two tokens share the list without sharing trust", async () => {
    const key = await loadSigningKey(generateSigningKeyPem())
    const other = await loadSigningKey(generateSigningKeyPem())
    const issuer = createTokenIssuer({ issuer: 'https://gitlab.example.com', instanceId: 'ee0a5d4c-6a3a-4c85-9d1e-3c2b9a0a1f00', realm: 'self-managed', key, addOns: ['duo_enterprise'] })
    const t1 = await issuer.issue({ extraClaims: { n: 1 } })
    const t2 = await issuer.issue({ extraClaims: { n: 2 } })
    const headers = (t: string) => ({ authorization: `Bearer ${t}`, 'x-gitlab-authentication-type': 'oidc', 'x-gitlab-realm': 'self-managed', 'x-gitlab-instance-id': 'ee0a5d4c-6a3a-4c85-9d1e-3c2b9a0a1f00' })
    const trusting = createGatewayVerifier({ keys: [key], verifiedTokenCacheSize: 0 })
    const notTrusting = createGatewayVerifier({ keys: [other], verifiedTokenCacheSize: 0 })
    const v1 = await trusting.authenticate(headers(t1.token), { unitPrimitive: 'duo_chat' })
    const v2 = await trusting.authenticate(headers(t2.token), { unitPrimitive: 'duo_chat' })
    expect(v1.status).toBe(200)
    expect(v2.status).toBe(200)
    expect(v1.claims?.scopes).toEqual(t1.claims.scopes)
    expect(v2.claims?.scopes).toBe(v1.claims?.scopes)
    expect(v2.claims?.n).toBe(2)
    const refused = await notTrusting.authenticate(headers(t2.token), { unitPrimitive: 'duo_chat' })
    expect(refused).toMatchObject({ status: 401, error: 'Forbidden by auth provider', reason: 'Signature verification failed.' })
  })
})
