/**
 * Figure 4 — the gateway-equivalent `authenticate` of a good token, with its signature checked on
 * every call as the gateway does (verifiedTokenCacheSize: 0), against a bare node:crypto RS256 verify
 * of the same token (split at the last dot, decode the signature, verify). 4b (informational) is the
 * verifier's default, which remembers tokens whose signature already verified.
 */
import { verify } from 'node:crypto'
import { createGatewayVerifier } from '../../src/index.js'
import { compareThroughput, timeAsync, timeSync } from '../harness.js'
import { GATEWAY_HEADERS, makeIssuer, measure, proof, UNIT_PRIMITIVE, type Figure, type FigureResult } from '../context.js'

export const verifyFigure: Figure = async (ctx) => {
  const { key, counts, rounds } = ctx
  const token = (await makeIssuer(key).issue()).token
  const headers = { ...GATEWAY_HEADERS, authorization: `Bearer ${token}` }
  const every = createGatewayVerifier({ keys: [key], verifiedTokenCacheSize: 0 })
  const remembering = createGatewayVerifier({ keys: [key] })
  const publicKey = key.publicKey

  const bareVerify = () => {
    const dot = token.lastIndexOf('.')
    return verify('sha256', Buffer.from(token.slice(0, dot), 'utf8'), publicKey, Buffer.from(token.slice(dot + 1), 'base64url'))
  }
  const good = await every.authenticate(headers, { unitPrimitive: UNIT_PRIMITIVE })
  const flipped = token.slice(0, -2) + (token.at(-2) === 'A' ? 'B' : 'A') + token.slice(-1)
  const tampered = await every.authenticate({ ...headers, authorization: `Bearer ${flipped}` }, { unitPrimitive: UNIT_PRIMITIVE })

  const strict = await compareThroughput({
    rounds,
    candidate: { ops: counts.verifyOps, run: (ops) => timeAsync(ops, () => every.authenticate(headers, { unitPrimitive: UNIT_PRIMITIVE })) },
    baseline: { ops: counts.verifyOps, run: (ops) => timeSync(ops, bareVerify) },
  })
  const cached = await compareThroughput({
    rounds,
    candidate: { ops: counts.verifyOps * 5, run: (ops) => timeAsync(ops, () => remembering.authenticate(headers, { unitPrimitive: UNIT_PRIMITIVE })) },
    baseline: { ops: counts.verifyOps, run: (ops) => timeSync(ops, bareVerify) },
  })

  const row = (r: typeof strict, id: string, title: string, label: string, work: string): FigureResult => ({
    id,
    title,
    runs: rounds,
    work,
    candidate: measure(label, 'ops/s', r.candidate),
    baseline: measure('crypto.verify RS256 of the same token', 'ops/s', r.baseline),
    comparison: { kind: 'ratio', unit: '×', description: 'authentications/s ÷ bare verifies/s (higher is better)', ...r.ratio },
    target: null,
    proofs: [],
    details: { tokenBytes: token.length },
  })
  return [
    {
      ...row(strict, '4', 'Gateway-equivalent authenticate', 'authenticate(), signature verified each call', `${counts.verifyOps} authentications vs ${counts.verifyOps} verifies`),
      target: { text: '≥ 0.8×', met: strict.ratio.median >= 0.8 },
      proofs: [
        proof('the good token is accepted (status)', 200, good.status),
        proof('bare verify accepts the token', true, bareVerify()),
        proof('a token with a changed signature is refused (status)', 401, tampered.status),
      ],
    },
    row(cached, '4b', 'authenticate, verified-token memo on (default)', 'authenticate(), default options', `${counts.verifyOps * 5} authentications vs ${counts.verifyOps} verifies`),
  ]
}
