/**
 * Figure 2 — a token for a request with a warm cache: `issuer.getToken()` against the least any cache
 * can do (an async function returning a Map entry). The proof that no signature is computed comes
 * from a counting external signer as well as from the issuer's stats.
 */
import { compareThroughput, timeAsync } from '../harness.js'
import { countingSigner, makeIssuer, measure, proof, UNIT_PRIMITIVE, type Figure } from '../context.js'

export const warmCacheFigure: Figure = async (ctx) => {
  const { key, counts, rounds } = ctx
  const counter = countingSigner(key)
  const issuer = makeIssuer(key, { signer: counter.signer })
  const first = await issuer.getToken({ unitPrimitive: UNIT_PRIMITIVE })
  const signsBefore = counter.signs
  const mintsBefore = issuer.stats.mints
  const hitsBefore = issuer.stats.cacheHits
  let calls = 0
  let sameToken = true

  const bare = new Map([['cc-token', first]])
  const r = await compareThroughput({
    rounds,
    candidate: {
      ops: counts.warmOps,
      run: (ops) =>
        timeAsync(ops, async () => {
          calls++
          const t = await issuer.getToken({ unitPrimitive: UNIT_PRIMITIVE })
          if (t.token !== first.token) sameToken = false
          return t
        }),
    },
    baseline: { ops: counts.warmOps, run: (ops) => timeAsync(ops, async () => bare.get('cc-token')) },
  })
  const signs = counter.signs - signsBefore
  const mints = issuer.stats.mints - mintsBefore

  return [
    {
      id: '2',
      title: 'Token for a request, warm cache',
      runs: rounds,
      work: `${counts.warmOps} getToken() calls vs ${counts.warmOps} Map lookups`,
      candidate: measure('issuer.getToken() (cache hit)', 'ops/s', r.candidate),
      baseline: measure('async Map.get of the cached token', 'ops/s', r.baseline),
      comparison: { kind: 'ratio', unit: '×', description: 'getToken/s ÷ bare lookups/s (informational)', ...r.ratio },
      target: { text: '0 signatures', met: signs === 0 && mints === 0 },
      proofs: [
        proof('signatures computed by warm getToken() calls (counting signer)', 0, signs),
        proof('mints during warm getToken() calls (issuer.stats.mints)', 0, mints),
        proof('cache hits counted for every warm call', calls, issuer.stats.cacheHits - hitsBefore),
        proof('every warm call returned the cached token', true, sameToken),
      ],
      details: { signsTotal: counter.signs, calls },
    },
  ]
}
