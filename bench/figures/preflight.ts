/**
 * Figure 3 — reading a token before sending it.
 *
 *   3   inspect + preflight of one minted token, again and again (what the client judges before each
 *       request with a cached token), against the least any reader of a JWT does: split it and
 *       JSON-parse its two base64url segments;
 *   3b  its uncached twin: the same on a ring of distinct tokens (more than any memo holds), against the
 *       same bare decode of the same ring;
 *   3c  `inspectToken` alone on the ring, against fast-jwt's decoder (header and payload);
 *   3d  `preflight` alone on the ring, against fast-jwt's decoder;
 *   3e, 3f  `inspectToken` on the ring against jsonwebtoken's and jose's decoders.
 */
import { compareThroughput, timeSync } from '../harness.js'
import { distinctTokens, GATEWAY_HEADERS, makeIssuer, proof, ratioGoal, throughputRow, UNIT_PRIMITIVE, walker, type Figure, type FigureResult } from '../context.js'
import { makePeers, peerLabel, type PeerName } from '../peers.js'
import { sdk } from '../sdk.js'

const { inspectToken, preflight } = sdk

export const preflightFigure: Figure = async (ctx) => {
  const { key, counts, rounds } = ctx
  const token = (await makeIssuer(key).issue()).token
  const tokens = await distinctTokens(ctx)
  const peers = makePeers(key, sdk.DEFAULT_AUDIENCE)

  const judge = (t: string) => preflight({ token: t, headers: GATEWAY_HEADERS, unitPrimitive: UNIT_PRIMITIVE })
  const check = (t: string) => {
    inspectToken(t)
    return judge(t)
  }
  const first = check(token)
  const allDistinctOk = tokens.every((t) => check(t).ok && inspectToken(t).kind === 'jwt')
  const n = tokens.length
  const ops = counts.preflightOps
  const ringOps = Math.ceil(ops / 5)
  /** One side walking the ring: its own place, kept across blocks and rounds. */
  const onRing = (fn: (t: string) => unknown) => {
    const next = walker(tokens)
    return { ops: ringOps, run: (k: number) => timeSync(k, () => fn(next())) }
  }

  const same = await compareThroughput({
    rounds,
    candidate: { ops, run: (k) => timeSync(k, () => check(token)) },
    baseline: { ops, run: (k) => timeSync(k, () => bareDecode(token)) },
  })
  const fresh = await compareThroughput({ rounds, candidate: onRing(check), baseline: onRing(bareDecode) })
  const vsPeer = async (id: string, what: 'inspectToken()' | 'preflight()', name: PeerName, goal: boolean): Promise<FigureResult> => {
    const decode = peers.decode[name]
    const r = await compareThroughput({ rounds, candidate: onRing(what === 'inspectToken()' ? inspectToken : judge), baseline: onRing(decode) })
    return throughputRow({
      id,
      title: `${what === 'inspectToken()' ? 'inspectToken' : 'preflight'}, a different token each time, vs ${name}`,
      runs: rounds,
      work: `${ringOps} calls each over ${n} tokens`,
      candidate: what,
      baseline: `${peerLabel(name)} decode (header and payload)`,
      r,
      description: 'calls/s ÷ peer decodes/s (higher is better)',
      target: goal ? ratioGoal(r.ratio.median, { min: 1 }) : null,
    })
  }
  const peerRows = [
    await vsPeer('3c', 'inspectToken()', 'fast-jwt', true),
    await vsPeer('3d', 'preflight()', 'fast-jwt', true),
    await vsPeer('3e', 'inspectToken()', 'jsonwebtoken', false),
    await vsPeer('3f', 'inspectToken()', 'jose', false),
  ]

  const bare = 'split + base64url + JSON.parse of header and payload'
  return [
    {
      ...throughputRow({
        id: '3',
        title: 'Inspect + preflight of a minted token, the same token each time',
        runs: rounds,
        work: `${ops} checks of the same token`,
        candidate: 'inspectToken() + preflight()',
        baseline: bare,
        r: same,
        description: 'checks/s ÷ bare decodes/s (higher is better)',
        proofs: [proof('preflight accepts the minted token', true, first.ok)],
        details: { tokenBytes: token.length },
      }),
      target: { text: '≥ 200,000 ops/s', met: same.candidate.median >= 200_000 },
    },
    throughputRow({
      id: '3b',
      title: 'Inspect + preflight, a different token each time',
      runs: rounds,
      work: `${ringOps} checks over ${n} tokens`,
      candidate: 'inspectToken() + preflight()',
      baseline: `${bare}, the same ring`,
      r: fresh,
      description: 'checks/s ÷ bare decodes/s (higher is better)',
      proofs: [proof(`inspect reads and preflight accepts each of the ${n} tokens`, true, allDistinctOk)],
    }),
    ...peerRows,
  ]
}

// ---------------------------------------------------------------------------------------------

function bareDecode(token: string): unknown {
  const a = token.indexOf('.')
  const b = token.indexOf('.', a + 1)
  return [JSON.parse(Buffer.from(token.slice(0, a), 'base64url').toString('utf8')), JSON.parse(Buffer.from(token.slice(a + 1, b), 'base64url').toString('utf8'))]
}
