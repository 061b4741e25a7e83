/**
 * The endpoint table's `accepts` checks let a well-formed gateway answer skip zod. They must never accept
 * what zod would refuse, and what they accept must be exactly what zod would return: these properties
 * hold them to the schemas on arbitrary JSON and on near-misses of real answers.
 */
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { ENDPOINTS, type EndpointDefinition, type EndpointName } from '../src/client/endpoints.js'

const RUNS = process.env['CC_HEAVY'] === '1' ? 50_000 : 1_500

/** A value the field may hold: mostly right, sometimes any other JSON (a near-miss). */
const maybe = <T>(right: fc.Arbitrary<T>) => fc.oneof({ weight: 6, arbitrary: right }, { weight: 1, arbitrary: fc.jsonValue() })
/** Present with a value, or absent. */
const optional = <T>(a: fc.Arbitrary<T>) => fc.option(a, { nil: undefined })
const withoutUndefined = (o: Record<string, unknown>) => Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined))
const finite = fc.double({ noNaN: true, noDefaultInfinity: true })

const suggestion = fc
  .record({
    id: maybe(fc.string()),
    model: maybe(
      fc.record({ engine: maybe(fc.string()), name: maybe(fc.string()), lang: maybe(fc.string()), extra: optional(fc.jsonValue()) }).map(withoutUndefined),
    ),
    experiments: optional(maybe(fc.array(fc.jsonValue(), { maxLength: 3 }))),
    object: optional(maybe(fc.string())),
    created: maybe(fc.oneof(fc.integer(), finite)),
    choices: maybe(
      fc.array(
        maybe(
          fc
            .record({ text: maybe(fc.string()), index: optional(maybe(fc.nat())), finish_reason: optional(maybe(fc.string())) })
            .map(withoutUndefined),
        ),
        { maxLength: 3 },
      ),
    ),
    metadata: optional(maybe(fc.oneof(fc.constant(null), fc.dictionary(fc.string(), fc.jsonValue(), { maxKeys: 2 })))),
    unknown_field: optional(fc.jsonValue()),
  })
  .map(withoutUndefined)

const userToken = fc.record({ token: maybe(fc.string()), expires_at: maybe(fc.oneof(fc.integer(), finite)), other: optional(fc.jsonValue()) }).map(withoutUndefined)

/**
 * `accepts(v)` is true exactly when zod accepts v *unchanged*: then zod's output equals v. When it is false,
 * zod either refuses v or changes it (it drops an own `__proto__` member), so the client must use zod's output.
 */
function agreesWithZod(def: EndpointDefinition, value: unknown): void {
  const accepts = def.accepts
  if (accepts === undefined || def.response === undefined) throw new Error('endpoint without accepts')
  // JSON answers only: what reaches the check came out of JSON.parse
  const json: unknown = JSON.parse(JSON.stringify(value) ?? 'null')
  const zod = def.response.safeParse(json)
  if (accepts(json)) {
    expect(zod.success).toBe(true)
    expect(zod.data).toStrictEqual(json)
  } else if (zod.success) {
    expect(zod.data).not.toStrictEqual(json)
  }
}

describe('endpoint answers: accepts() agrees with the zod schema', () => {
  const withAccepts = (Object.entries(ENDPOINTS) as [EndpointName, EndpointDefinition][]).filter(([, d]) => d.response !== undefined)

  it('every endpoint with a JSON answer has an accepts() check', () => {
    expect(withAccepts.map(([n]) => n).sort()).toEqual(['checkModelConfiguration', 'codeCompletions', 'codeGenerations', 'health', 'userAccessToken'])
    for (const [, d] of withAccepts) expect(typeof d.accepts).toBe('function')
  })

  it('a real code suggestion answer is accepted as it is', () => {
    const answer = {
      id: 'id',
      model: { engine: 'vertex-ai', name: 'code-gecko@002', lang: 'python' },
      experiments: [],
      object: 'text_completion',
      created: 1_772_366_400,
      choices: [{ text: 'return a + b', index: 0, finish_reason: 'length' }],
    }
    expect(ENDPOINTS.codeCompletions.accepts(answer)).toBe(true)
    expect(ENDPOINTS.codeCompletions.accepts({ ...answer, created: '1772366400' })).toBe(false)
    expect(ENDPOINTS.codeCompletions.accepts({ ...answer, choices: [{ index: 0 }] })).toBe(false)
    expect(ENDPOINTS.codeCompletions.accepts({ ...answer, model: { engine: 'x', name: 'y' } })).toBe(false)
    expect(ENDPOINTS.codeCompletions.accepts({ ...answer, metadata: [] })).toBe(false)
    expect(ENDPOINTS.codeCompletions.accepts({ ...answer, metadata: null })).toBe(true)
  })

  it('an own "__proto__" member at any loose-object level is left to zod, which drops it', () => {
    const answer =
      '{"id":"id","model":{"engine":"e","name":"n","lang":"l"%MODEL%},"created":1,"choices":[{"text":"t"%CHOICE%}],"metadata":{"a":1%META%}%TOP%}'
    const at = (where: string) =>
      answer.replace(/%(MODEL|CHOICE|META|TOP)%/g, (_m, w: string) => (w === where ? ',"__proto__":{"polluted":true}' : ''))
    for (const where of ['MODEL', 'CHOICE', 'META', 'TOP']) {
      const json: unknown = JSON.parse(at(where))
      expect(ENDPOINTS.codeCompletions.accepts(json), where).toBe(false)
      agreesWithZod(ENDPOINTS.codeCompletions, json)
    }
    const token: unknown = JSON.parse('{"token":"t","expires_at":1,"__proto__":{"polluted":true}}')
    expect(ENDPOINTS.userAccessToken.accepts(token)).toBe(false)
    agreesWithZod(ENDPOINTS.userAccessToken, token)
    expect(({} as Record<string, unknown>)['polluted']).toBeUndefined()
  })

  it('code suggestions (completions and generations): near-misses of real answers', () => {
    let accepted = 0
    fc.assert(
      fc.property(suggestion, (v) => {
        agreesWithZod(ENDPOINTS.codeCompletions, v)
        agreesWithZod(ENDPOINTS.codeGenerations, v)
        if (ENDPOINTS.codeCompletions.accepts(v)) accepted++
      }),
      { numRuns: RUNS },
    )
    // the generator reaches both sides of the check
    expect(accepted).toBeGreaterThan(RUNS / 20)
    expect(accepted).toBeLessThan(RUNS)
  })

  it('user access token: near-misses', () => {
    fc.assert(fc.property(userToken, (v) => agreesWithZod(ENDPOINTS.userAccessToken, v)), { numRuns: RUNS })
    expect(ENDPOINTS.userAccessToken.accepts({ token: '', expires_at: 1 })).toBe(false)
  })

  it('every endpoint: arbitrary JSON', () => {
    fc.assert(
      fc.property(fc.jsonValue(), (v) => {
        for (const [, d] of withAccepts) agreesWithZod(d, v)
      }),
      { numRuns: RUNS },
    )
  })
})
