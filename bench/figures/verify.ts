/**
 * Figure 4 — the gateway-equivalent `authenticate` of a good token.
 *
 *   4   a token never seen before, each call: the verifier without its verified-token memo
 *       (`verifiedTokenCacheSize: 0`), walking a ring of distinct tokens longer than any of the SDK's memos,
 *       against a bare node:crypto RS256 verify of the same ring (split at the last dot, decode the
 *       signature, verify);
 *   4b, 4c, 4d  the same against fast-jwt's verifier (its cache off, its default), jsonwebtoken's `verify`
 *       and jose's `jwtVerify`, each checking alg RS256, the audience and the time claims;
 *   4e  one token again and again, its signature checked on every call (`verifiedTokenCacheSize: 0`: the
 *       parse memo helps), against the bare verify of that token;
 *   4f  the verifier's default, which remembers tokens whose signature already verified.
 */
import { verify } from 'node:crypto'
import { compareThroughput, timeAsync, timeSync } from '../harness.js'
import { distinctTokens, GATEWAY_HEADERS, makeIssuer, proof, ratioGoal, throughputRow, UNIT_PRIMITIVE, walker, type Figure, type FigureResult } from '../context.js'
import { makePeers, peerLabel, type PeerName } from '../peers.js'
import { sdk } from '../sdk.js'

const { createGatewayVerifier } = sdk

export const verifyFigure: Figure = async (ctx) => {
  const { key, counts, rounds } = ctx
  const token = (await makeIssuer(key).issue()).token
  const tokens = await distinctTokens(ctx)
  const headersOf = (t: string) => ({ ...GATEWAY_HEADERS, authorization: `Bearer ${t}` })
  const ringHeaders = tokens.map(headersOf)
  const headers = headersOf(token)
  const every = createGatewayVerifier({ keys: [key], verifiedTokenCacheSize: 0 })
  const remembering = createGatewayVerifier({ keys: [key] })
  const peers = makePeers(key, sdk.DEFAULT_AUDIENCE)
  const publicKey = key.publicKey
  const request = { unitPrimitive: UNIT_PRIMITIVE }
  const ops = counts.verifyOps
  const n = tokens.length

  const bareVerify = (t: string) => {
    const dot = t.lastIndexOf('.')
    return verify('sha256', Buffer.from(t.slice(0, dot), 'utf8'), publicKey, Buffer.from(t.slice(dot + 1), 'base64url'))
  }
  const authenticate = (h: Record<string, string>) => every.authenticate(h, request)

  // What every side must agree on before it is timed.
  const statuses = await Promise.all(ringHeaders.map(async (h) => (await authenticate(h)).status))
  const good = await authenticate(headers)
  const flipped = token.slice(0, -2) + (token.at(-2) === 'A' ? 'B' : 'A') + token.slice(-1)
  const tampered = await authenticate(headersOf(flipped))
  const peerAccepts = async (name: PeerName) => {
    let accepted = 0
    for (const t of tokens) {
      try {
        await peers.verify[name](t)
        accepted++
      } catch {
        /* counted as refused */
      }
    }
    let refusedTampered = false
    try {
      await peers.verify[name](flipped)
    } catch {
      refusedTampered = true
    }
    return { accepted, refusedTampered }
  }

  const sdkOnRing = () => {
    const next = walker(ringHeaders)
    return { ops, run: (k: number) => timeAsync(k, () => authenticate(next())) }
  }
  const bareOnRing = () => {
    const next = walker(tokens)
    return { ops, run: (k: number) => timeSync(k, () => bareVerify(next())) }
  }
  const fresh = await compareThroughput({ rounds, candidate: sdkOnRing(), baseline: bareOnRing() })
  const peerRows: FigureResult[] = []
  for (const [id, name] of [['4b', 'fast-jwt'], ['4c', 'jsonwebtoken'], ['4d', 'jose']] as const) {
    const check = await peerAccepts(name)
    const verifyPeer = peers.verify[name]
    const next = walker(tokens)
    const r = await compareThroughput({ rounds, candidate: sdkOnRing(), baseline: { ops, run: (k) => timeAsync(k, async () => verifyPeer(next())) } })
    peerRows.push(
      throughputRow({
        id,
        title: `Authenticate a never-seen token vs ${name}`,
        runs: rounds,
        work: `${ops} authentications vs ${ops} ${name} verifications, over ${n} tokens`,
        candidate: 'authenticate(), verifiedTokenCacheSize: 0',
        baseline: `${peerLabel(name)} verify (RS256, audience, time claims${name === 'fast-jwt' ? ', cache off' : ''})`,
        r,
        description: 'authentications/s ÷ peer verifications/s (higher is better)',
        target: name === 'fast-jwt' ? ratioGoal(r.ratio.median, { min: 1.1 }) : null,
        proofs: [proof(`${name} accepts each of the ${n} tokens`, n, check.accepted), proof(`${name} refuses a token with a changed signature`, true, check.refusedTampered)],
      }),
    )
  }
  const strict = await compareThroughput({
    rounds,
    candidate: { ops, run: (k) => timeAsync(k, () => authenticate(headers)) },
    baseline: { ops, run: (k) => timeSync(k, () => bareVerify(token)) },
  })
  const cached = await compareThroughput({
    rounds,
    candidate: { ops: ops * 5, run: (k) => timeAsync(k, () => remembering.authenticate(headers, request)) },
    baseline: { ops, run: (k) => timeSync(k, () => bareVerify(token)) },
  })
  const bareLabel = 'crypto.verify RS256 of the same token'

  return [
    throughputRow({
      id: '4',
      title: 'Authenticate a never-seen token (signature and claims checked)',
      runs: rounds,
      work: `${ops} authentications vs ${ops} bare verifies, over ${n} tokens`,
      candidate: 'authenticate(), verifiedTokenCacheSize: 0',
      baseline: `${bareLabel}s`,
      r: fresh,
      description: 'authentications/s ÷ bare verifies/s (higher is better)',
      target: ratioGoal(fresh.ratio.median, { min: 0.8 }),
      proofs: [
        proof(`each of the ${n} tokens is accepted (status 200)`, n, statuses.filter((s) => s === 200).length),
        proof('bare verify accepts each token', n, tokens.filter(bareVerify).length),
        proof('a token with a changed signature is refused (status)', 401, tampered.status),
      ],
      details: { tokenBytes: token.length, distinctTokens: n },
    }),
    ...peerRows,
    throughputRow({
      id: '4e',
      title: 'Authenticate the same token, signature checked every call',
      runs: rounds,
      work: `${ops} authentications vs ${ops} verifies`,
      candidate: 'authenticate(), verifiedTokenCacheSize: 0',
      baseline: bareLabel,
      r: strict,
      description: 'authentications/s ÷ bare verifies/s (higher is better)',
      target: ratioGoal(strict.ratio.median, { min: 0.8 }),
      proofs: [proof('the good token is accepted (status)', 200, good.status), proof('bare verify accepts the token', true, bareVerify(token))],
    }),
    throughputRow({
      id: '4f',
      title: 'Authenticate the same token, verified-token memo on (default)',
      runs: rounds,
      work: `${ops * 5} authentications vs ${ops} verifies`,
      candidate: 'authenticate(), default options',
      baseline: bareLabel,
      r: cached,
      description: 'authentications/s ÷ bare verifies/s (higher is better)',
    }),
  ]
}
