/**
 * Figure 1 — minting, uncached. `issuer.issue({ scopes })` (the request checked, entitlements, claims,
 * header, base64url, RS256 signature, a new jti each time) against, one at a time:
 *
 *   1   a bare node:crypto RSA-SHA256 sign of a signing input of the same size with the same key;
 *   1b  fast-jwt's signer, 1c jsonwebtoken's `sign`, 1d jose's `SignJWT`: each signs the claims the SDK
 *       minted (a new jti per call, as the SDK), with the same key and a header of the same fields;
 *   1e  the all-scope `issue()` (what `getToken()` mints) against the bare sign of its own input.
 *
 * RSA dominates every side, so anything else a side does shows up as a lower ratio.
 */
import { randomUUID, sign } from 'node:crypto'
import { compareThroughput, timeAsync, timeSync } from '../harness.js'
import { makeIssuer, proof, ratioGoal, throughputRow, type Figure, type FigureResult } from '../context.js'
import { makePeers, peerLabel, type PeerName } from '../peers.js'
import { sdk } from '../sdk.js'

/** A code-suggestions request: the scopes a service asks for when it calls only those endpoints. */
export const MINT_SCOPES = ['complete_code', 'generate_code'] as const

export const mintFigure: Figure = async (ctx) => {
  const { key, counts, rounds } = ctx
  const privateKey = key.privateKey
  if (privateKey === undefined) throw new Error('bench: the fixture key has no private half')
  const issuer = makeIssuer(key)
  const request = { scopes: [...MINT_SCOPES] }
  const sample = await issuer.issue(request)
  const all = await issuer.issue()
  const inputOf = (token: string) => Buffer.from(token.slice(0, token.lastIndexOf('.')), 'utf8')
  const signingInput = inputOf(sample.token)
  const allInput = inputOf(all.token)
  const peers = makePeers(key, sdk.DEFAULT_AUDIENCE)
  const mintsBefore = issuer.stats.mints
  let issued = 0
  const ops = counts.mintOps

  const explicit = { ops, run: (n: number) => timeAsync(n, () => (issued++, issuer.issue(request))) }
  const bareSign = (input: Buffer) => ({ ops, run: (n: number) => timeSync(n, () => sign('sha256', input, privateKey)) })
  const vsBare = await compareThroughput({ rounds, candidate: explicit, baseline: bareSign(signingInput) })
  const peerRows: FigureResult[] = []
  const peerProofs: ReturnType<typeof proof>[] = []
  for (const [id, name] of [['1b', 'fast-jwt'], ['1c', 'jsonwebtoken'], ['1d', 'jose']] as const) {
    const signPeer = peers.sign[name as PeerName]
    const claims = () => ({ ...sample.claims, jti: randomUUID() })
    const peerToken = await signPeer(claims())
    peerProofs.push(proof(`${name} signs a token of the same size`, sample.token.length, peerToken.length))
    const r = await compareThroughput({ rounds, candidate: explicit, baseline: { ops, run: (n) => timeAsync(n, async () => signPeer(claims())) } })
    peerRows.push(
      throughputRow({
        id,
        title: `Mint with explicit scopes vs ${name}`,
        runs: rounds,
        work: `${ops} mints vs ${ops} ${name} signs`,
        candidate: 'issuer.issue({ scopes })',
        baseline: `${peerLabel(name)} sign, the same claims (new jti each), same key`,
        r,
        description: 'mints/s ÷ peer signs/s (higher is better)',
        target: name === 'fast-jwt' ? ratioGoal(r.ratio.median, { min: 1 }) : null,
        details: { peerTokenBytes: peerToken.length },
      }),
    )
  }
  const allScopes = await compareThroughput({
    rounds,
    candidate: { ops, run: (n) => timeAsync(n, () => (issued++, issuer.issue())) },
    baseline: bareSign(allInput),
  })
  const mints = issuer.stats.mints - mintsBefore

  /** A mint against a bare sign of its own signing input. */
  const vsBareRow = (id: string, title: string, candidate: string, input: Buffer, r: typeof vsBare, min: number, more: Partial<FigureResult>) =>
    throughputRow({
      id,
      title,
      runs: rounds,
      work: `${ops} mints vs ${ops} bare signs`,
      candidate,
      baseline: `crypto.sign RSA-SHA256, ${input.length}-byte input, same key`,
      r,
      description: 'mints/s ÷ bare signs/s (higher is better)',
      target: ratioGoal(r.ratio.median, { min }),
      proofs: more.proofs,
      details: more.details,
    })

  return [
    vsBareRow('1', 'Mint with explicit scopes', 'issuer.issue({ scopes })', signingInput, vsBare, 0.9, {
      proofs: [
        proof('each issue() computed one signature (stats.mints grew by the calls made)', issued, mints),
        proof('the token carries exactly the scopes asked for', MINT_SCOPES.join(','), sample.claims.scopes.join(',')),
        ...peerProofs,
      ],
      details: { scopes: [...MINT_SCOPES], signingInputBytes: signingInput.length, tokenBytes: sample.token.length, keyBits: key.modulusLength },
    }),
    ...peerRows,
    vsBareRow('1e', 'Mint with every entitled scope', 'issuer.issue()', allInput, allScopes, 0.85, {
      details: { scopes: all.claims.scopes.length, signingInputBytes: allInput.length, tokenBytes: all.token.length },
    }),
  ]
}
