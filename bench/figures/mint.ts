/**
 * Figure 1 — minting, uncached: `issuer.issue()` (claims, header, base64url, RS256 signature, a new
 * jti each time) against a bare node:crypto RSA-SHA256 sign of a signing input of the same size with
 * the same key. RSA dominates both, so anything else the SDK does shows up as a lower ratio.
 */
import { sign } from 'node:crypto'
import { compareThroughput, timeAsync, timeSync } from '../harness.js'
import { makeIssuer, measure, proof, type Figure } from '../context.js'

export const mintFigure: Figure = async (ctx) => {
  const { key, counts, rounds } = ctx
  const privateKey = key.privateKey
  if (privateKey === undefined) throw new Error('bench: the fixture key has no private half')
  const issuer = makeIssuer(key)
  const sample = await issuer.issue()
  const signingInput = Buffer.from(sample.token.slice(0, sample.token.lastIndexOf('.')), 'utf8')
  const mintsBefore = issuer.stats.mints
  let issued = 0

  const r = await compareThroughput({
    rounds,
    candidate: {
      ops: counts.mintOps,
      run: (ops) =>
        timeAsync(ops, () => {
          issued++
          return issuer.issue()
        }),
    },
    baseline: { ops: counts.mintOps, run: (ops) => timeSync(ops, () => sign('sha256', signingInput, privateKey)) },
  })

  return [
    {
      id: '1',
      title: 'Mint, uncached',
      runs: rounds,
      work: `${counts.mintOps} mints vs ${counts.mintOps} bare signs`,
      candidate: measure('issuer.issue()', 'ops/s', r.candidate),
      baseline: measure(`crypto.sign RSA-SHA256, ${signingInput.length}-byte input, same key`, 'ops/s', r.baseline),
      comparison: { kind: 'ratio', unit: '×', description: 'mints/s ÷ bare signs/s (higher is better)', ...r.ratio },
      target: { text: '≥ 0.85×', met: r.ratio.median >= 0.85 },
      proofs: [proof('each issue() computed one signature (stats.mints grew by the calls made)', issued, issuer.stats.mints - mintsBefore)],
      details: { signingInputBytes: signingInput.length, tokenBytes: sample.token.length, keyBits: key.modulusLength, scopes: sample.claims.scopes.length },
    },
  ]
}
