/**
 * Figure 3 — inspect + preflight of a minted token (what the client judges before each request),
 * against the least any reader of a JWT does: split it and JSON-parse its two base64url segments.
 * 3b (informational) cycles through more distinct tokens than inspectToken's memo holds, so that
 * every operation decodes a token it has not seen.
 */
import { inspectToken, preflight } from '../../src/index.js'
import { compareThroughput, timeSync } from '../harness.js'
import { GATEWAY_HEADERS, makeIssuer, measure, proof, UNIT_PRIMITIVE, type Figure, type FigureResult } from '../context.js'

export const preflightFigure: Figure = async (ctx) => {
  const { key, counts, rounds } = ctx
  const issuer = makeIssuer(key)
  const token = (await issuer.issue()).token
  const tokens: string[] = []
  for (let i = 0; i < counts.distinctTokens; i++) tokens.push((await issuer.issue()).token)

  const check = (t: string) => {
    inspectToken(t)
    return preflight({ token: t, headers: GATEWAY_HEADERS, unitPrimitive: UNIT_PRIMITIVE })
  }
  const first = check(token)
  const allDistinctOk = tokens.every((t) => check(t).ok)

  const same = await compareThroughput({
    rounds,
    candidate: { ops: counts.preflightOps, run: (ops) => timeSync(ops, () => check(token)) },
    baseline: { ops: counts.preflightOps, run: (ops) => timeSync(ops, () => bareDecode(token)) },
  })
  const n = tokens.length
  // one running index per side, so that consecutive blocks keep walking the whole ring of tokens
  let nextC = 0
  let nextB = 0
  const fresh = await compareThroughput({
    rounds,
    candidate: { ops: Math.ceil(counts.preflightOps / 5), run: (ops) => timeSync(ops, () => check(tokens[nextC++ % n] as string)) },
    baseline: { ops: Math.ceil(counts.preflightOps / 5), run: (ops) => timeSync(ops, () => bareDecode(tokens[nextB++ % n] as string)) },
  })

  const base = (r: typeof same, id: string, title: string, work: string): FigureResult => ({
    id,
    title,
    runs: rounds,
    work,
    candidate: measure('inspectToken() + preflight()', 'ops/s', r.candidate),
    baseline: measure('split + base64url + JSON.parse of header and payload', 'ops/s', r.baseline),
    comparison: { kind: 'ratio', unit: '×', description: 'checks/s ÷ bare decodes/s (informational)', ...r.ratio },
    target: null,
    proofs: [],
    details: { tokenBytes: token.length },
  })
  return [
    {
      ...base(same, '3', 'Inspect + preflight of a minted token', `${counts.preflightOps} checks of the same token`),
      target: { text: '≥ 200,000 ops/s', met: same.candidate.median >= 200_000 },
      proofs: [proof('preflight accepts the minted token', true, first.ok)],
    },
    {
      ...base(fresh, '3b', 'Inspect + preflight, a different token each time', `${Math.ceil(counts.preflightOps / 5)} checks over ${n} tokens`),
      proofs: [proof(`preflight accepts each of the ${n} tokens`, true, allDistinctOk)],
    },
  ]
}

// ---------------------------------------------------------------------------------------------

function bareDecode(token: string): unknown {
  const a = token.indexOf('.')
  const b = token.indexOf('.', a + 1)
  return [JSON.parse(Buffer.from(token.slice(0, a), 'base64url').toString('utf8')), JSON.parse(Buffer.from(token.slice(a + 1, b), 'base64url').toString('utf8'))]
}
