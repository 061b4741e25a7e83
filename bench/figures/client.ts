/**
 * Figure 5 — a client request against a loopback HTTP server: `client.codeCompletions(body)` (a token
 * source with policy 'safe' over the instance's issuer, token from its warm cache, preflight, gateway
 * headers, fresh X-Request-ID, zod-checked body, checked answer) against plain ky posting the same
 * body with a fixed header set (the same headers and token), to the same server through the same global
 * fetch (undici, keep-alive) in the same run. Requests alternate one by one (client, ky, ky, client,
 * ...) so that both see the same moments of the machine.
 *
 * 5b (informational) is the same comparison against ky configured with the client's transport settings
 * (`redirect: 'error'` and a fetch that passes `window: null`, which spares fetch a clone of each request):
 * what remains is the client's own JavaScript per request — token lookup, preflight memo, header copy,
 * body memo, answer check.
 */
import ky, { type KyInstance } from 'ky'
import { fullGc, median, summarize } from '../harness.js'
import { GATEWAY_HEADERS, INSTANCE, makeIssuer, measure, proof, UNIT_PRIMITIVE, type Figure, type FigureResult } from '../context.js'
import { sdk } from '../sdk.js'
import { SUGGESTION, startLoopbackServer } from '../server.js'

const { createGatewayClient, createTokenSource } = sdk

const BODY = {
  current_file: { file_name: 'app.py', language_identifier: 'python', content_above_cursor: 'def add(a, b):\n    ', content_below_cursor: '\n' },
}

interface Comparison {
  /** Per-round medians, µs. */
  cMed: number[]
  kMed: number[]
  /** Per-round overhead, %. */
  overhead: number[]
  pooledC: number
  pooledK: number
}

/** `perRound` × `rounds` requests each, interleaved ABBA, a full GC before each round. */
async function compare(viaClient: () => Promise<void>, viaKy: () => Promise<void>, rounds: number, perRound: number): Promise<Comparison> {
  const allC: number[] = []
  const allK: number[] = []
  const out: Comparison = { cMed: [], kMed: [], overhead: [], pooledC: 0, pooledK: 0 }
  for (let round = 0; round < rounds; round++) {
    fullGc()
    const c: number[] = []
    const k: number[] = []
    for (let i = 0; i < perRound; i++) {
      const clientFirst = (i + round) % 2 === 0
      for (const side of clientFirst ? [0, 1] : [1, 0]) {
        const start = performance.now()
        await (side === 0 ? viaClient() : viaKy())
        const us = (performance.now() - start) * 1000
        ;(side === 0 ? c : k).push(us)
      }
    }
    const mc = median(c)
    const mk = median(k)
    out.cMed.push(mc)
    out.kMed.push(mk)
    out.overhead.push((mc / mk - 1) * 100)
    allC.push(...c)
    allK.push(...k)
  }
  out.pooledC = median(allC)
  out.pooledK = median(allK)
  return out
}

export const clientFigure: Figure = async (ctx) => {
  const { key, counts, rounds } = ctx
  const server = await startLoopbackServer()
  try {
    const issuer = makeIssuer(key)
    // the reported instance's setup, as the README recommends it: policy 'safe' over the instance's issuer
    const tokenSource = createTokenSource({ policy: 'safe', license: 'offline-cloud', selfIssued: issuer })
    const client = createGatewayClient({ baseUrl: server.baseUrl, tokenSource, headers: { instance: INSTANCE } })
    const token = (await issuer.getToken({ unitPrimitive: UNIT_PRIMITIVE })).token
    const kyHeaders = { ...GATEWAY_HEADERS, authorization: `Bearer ${token}`, 'x-request-id': '6f1c2d3e-4a5b-4c6d-8e7f-9a0b1c2d3e4f' }
    const plain = ky.create({ prefixUrl: server.baseUrl, headers: kyHeaders })
    // ky with the client's transport settings (see the note at the top)
    const sameTransport = ky.create({
      prefixUrl: server.baseUrl,
      headers: kyHeaders,
      redirect: 'error',
      fetch: (input, init) => globalThis.fetch(input, { ...init, window: null }),
    })
    let clientOk = 0
    const kyOk = new Map<KyInstance, number>()
    const viaClient = async () => {
      const r = await client.codeCompletions(BODY)
      if (r.status === 200 && r.data.choices[0]?.text === SUGGESTION.choices[0]?.text) clientOk++
    }
    const via = (instance: KyInstance) => async () => {
      const r = await instance.post('v2/code/completions', { json: BODY }).json<typeof SUGGESTION>()
      if (r.choices[0]?.text === SUGGESTION.choices[0]?.text) kyOk.set(instance, (kyOk.get(instance) ?? 0) + 1)
    }
    const viaKy = via(plain)
    const viaSameTransport = via(sameTransport)
    const warm = Math.max(10, Math.round(counts.requests / 10))
    for (let i = 0; i < warm; i++) {
      await viaClient()
      await viaKy()
      await viaSameTransport()
    }
    const mintsBefore = issuer.stats.mints

    const perRound = Math.ceil(counts.requests / rounds)
    const main = await compare(viaClient, viaKy, rounds, perRound)
    const own = await compare(viaClient, viaSameTransport, rounds, perRound)
    const stats = await server.stats()
    const perSide = warm + perRound * rounds
    const sent = 3 * warm + 4 * perRound * rounds
    const mints = issuer.stats.mints - mintsBefore
    const row = (
      id: string,
      title: string,
      cmp: Comparison,
      baselineLabel: string,
      target: FigureResult['target'],
      proofs: FigureResult['proofs'],
    ): FigureResult => {
      const o = summarize(cmp.overhead)
      return {
        id,
        title,
        runs: rounds,
        work: `${perRound * rounds} requests each (${perRound} per round), interleaved`,
        candidate: measure('client.codeCompletions()', 'µs/request (median)', summarize(cmp.cMed)),
        baseline: measure(baselineLabel, 'µs/request (median)', summarize(cmp.kMed)),
        comparison: { kind: 'overhead', unit: '%', description: 'median latency client ÷ ky − 1 (lower is better)', ...o },
        target,
        proofs,
        details: {
          pooledMedianClientUs: cmp.pooledC,
          pooledMedianKyUs: cmp.pooledK,
          pooledOverheadPercent: (cmp.pooledC / cmp.pooledK - 1) * 100,
          warmupRequestsEach: warm,
        },
      }
    }
    const o = summarize(main.overhead)
    return [
      row('5', 'Client request, loopback HTTP', main, 'plain ky 1.14.3, fixed headers, same body and server', { text: '≤ 5%', met: o.median <= 5 }, [
        proof('requests the server answered', sent, stats.requests),
        proof('requests that carried a Bearer JWT', sent, stats.withBearer),
        proof('client answers parsed and correct (5 and 5b)', 2 * perSide - warm, clientOk),
        proof('ky answers parsed and correct', perSide, kyOk.get(plain) ?? 0),
        proof('mints while measuring (warm cache)', 0, mints),
      ]),
      row(
        '5b',
        "Client request vs ky with the client's transport settings",
        own,
        "ky 1.14.3, fixed headers, redirect: 'error' + window: null",
        null,
        [proof('ky answers parsed and correct', perSide, kyOk.get(sameTransport) ?? 0), proof('mints while measuring (warm cache)', 0, mints)],
      ),
    ]
  } finally {
    await server.close()
  }
}
