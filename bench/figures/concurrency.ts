/**
 * Figure 7 — 10,000 concurrent token requests on a cold cache → exactly one mint. Each round takes a
 * new issuer (a cold cache) and fires all getToken() calls at once. Baseline: the same burst through
 * the least a single flight can be (one shared promise of `issue()`), so the ratio shows what the
 * cache's bookkeeping costs per burst. Then the same burst through the client's fetch adapter.
 */
import { fullGc, summarize } from '../harness.js'
import { countingSigner, INSTANCE, makeIssuer, measure, proof, UNIT_PRIMITIVE, type Figure } from '../context.js'
import { sdk } from '../sdk.js'

const { createAuthenticatedFetch } = sdk

export const concurrencyFigure: Figure = async (ctx) => {
  const { key, counts, rounds } = ctx
  const n = counts.concurrent
  const cand: number[] = []
  const base: number[] = []
  const ratio: number[] = []
  const signsPerRound: number[] = []
  const mintsPerRound: number[] = []
  const distinctPerRound: number[] = []

  const burst = async (): Promise<number> => {
    const counter = countingSigner(key)
    const issuer = makeIssuer(key, { signer: counter.signer })
    fullGc()
    const start = performance.now()
    const results = await Promise.all(Array.from({ length: n }, () => issuer.getToken({ unitPrimitive: UNIT_PRIMITIVE })))
    const ms = performance.now() - start
    signsPerRound.push(counter.signs)
    mintsPerRound.push(issuer.stats.mints)
    distinctPerRound.push(new Set(results.map((r) => r.token)).size)
    return ms
  }
  const singleFlight = async (): Promise<number> => {
    const issuer = makeIssuer(key, { signer: countingSigner(key).signer })
    let shared: Promise<string> | undefined
    const get = () => (shared ??= issuer.issue().then((t) => t.token))
    fullGc()
    const start = performance.now()
    await Promise.all(Array.from({ length: n }, get))
    return performance.now() - start
  }

  await burst()
  await singleFlight()
  signsPerRound.length = 0
  mintsPerRound.length = 0
  distinctPerRound.length = 0
  for (let round = 0; round < rounds; round++) {
    let c: number
    let b: number
    if (round % 2 === 0) {
      c = await burst()
      b = await singleFlight()
    } else {
      b = await singleFlight()
      c = await burst()
    }
    cand.push(c)
    base.push(b)
    ratio.push(b / c)
  }

  // Through the client: N concurrent requests on a cold cache.
  const counter = countingSigner(key)
  const issuer = makeIssuer(key, { signer: counter.signer })
  const answer = new Response(null, { status: 200 })
  const authFetch = createAuthenticatedFetch({
    baseUrl: 'http://gateway.bench.invalid',
    tokenSource: issuer,
    headers: { instance: INSTANCE },
    fetch: (async () => answer) as unknown as typeof fetch,
  })
  const statuses = await Promise.all(Array.from({ length: n }, () => authFetch('http://gateway.bench.invalid/v2/code/completions', { method: 'POST', body: '{}' }).then((r) => r.status)))

  const exactlyOne = (xs: number[]) => xs.every((x) => x === 1)
  return [
    {
      id: '7',
      title: 'Concurrency, cold cache',
      runs: rounds,
      work: `${n} concurrent getToken() calls on a new issuer`,
      candidate: measure(`issuer.getToken() × ${n} at once`, 'ms per burst', summarize(cand)),
      baseline: measure(`one shared issue() promise × ${n}`, 'ms per burst', summarize(base)),
      comparison: { kind: 'ratio', unit: '×', description: 'baseline time ÷ burst time (higher is better)', ...summarize(ratio) },
      target: { text: 'exactly 1 mint', met: exactlyOne(signsPerRound) && exactlyOne(mintsPerRound) && exactlyOne(distinctPerRound) && counter.signs === 1 },
      proofs: [
        proof('signatures per burst (counting signer), every round', '1', signsPerRound.join(','), exactlyOne(signsPerRound)),
        proof('issuer.stats.mints per burst, every round', '1', mintsPerRound.join(','), exactlyOne(mintsPerRound)),
        proof('distinct tokens handed out per burst', '1', distinctPerRound.join(','), exactlyOne(distinctPerRound)),
        proof(`signatures for ${n} concurrent client requests (createAuthenticatedFetch)`, 1, counter.signs),
        proof('client requests answered 200', n, statuses.filter((s) => s === 200).length),
      ],
      details: { concurrent: n },
    },
  ]
}
