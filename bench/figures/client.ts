/**
 * Figure 5 — a client request against a loopback HTTP server: `client.codeCompletions(body)` (token
 * from the warm cache, preflight, gateway headers, fresh X-Request-ID, zod-checked body and answer)
 * against plain ky posting the same body with a fixed header set (the same headers and token), to the
 * same server through the same global fetch (undici, keep-alive) in the same run. Requests alternate
 * one by one (client, ky, ky, client, ...) so that both see the same moments of the machine.
 */
import ky from 'ky'
import { createGatewayClient } from '../../src/index.js'
import { fullGc, median, summarize } from '../harness.js'
import { GATEWAY_HEADERS, INSTANCE, makeIssuer, measure, proof, UNIT_PRIMITIVE, type Figure } from '../context.js'
import { SUGGESTION, startLoopbackServer } from '../server.js'

const BODY = {
  current_file: { file_name: 'app.py', language_identifier: 'python', content_above_cursor: 'def add(a, b):\n    ', content_below_cursor: '\n' },
}

export const clientFigure: Figure = async (ctx) => {
  const { key, counts, rounds } = ctx
  const server = await startLoopbackServer()
  try {
    const issuer = makeIssuer(key)
    const client = createGatewayClient({ baseUrl: server.baseUrl, tokenSource: issuer, headers: { instance: INSTANCE } })
    const token = (await issuer.getToken({ unitPrimitive: UNIT_PRIMITIVE })).token
    const plain = ky.create({
      prefixUrl: server.baseUrl,
      headers: { ...GATEWAY_HEADERS, authorization: `Bearer ${token}`, 'x-request-id': '6f1c2d3e-4a5b-4c6d-8e7f-9a0b1c2d3e4f' },
    })
    let clientOk = 0
    let kyOk = 0
    const viaClient = async () => {
      const r = await client.codeCompletions(BODY)
      if (r.status === 200 && r.data.choices[0]?.text === SUGGESTION.choices[0]?.text) clientOk++
    }
    const viaKy = async () => {
      const r = await plain.post('v2/code/completions', { json: BODY }).json<typeof SUGGESTION>()
      if (r.choices[0]?.text === SUGGESTION.choices[0]?.text) kyOk++
    }
    const warm = Math.max(10, Math.round(counts.requests / 10))
    for (let i = 0; i < warm; i++) {
      await viaClient()
      await viaKy()
    }
    const mintsBefore = issuer.stats.mints

    const perRound = Math.ceil(counts.requests / rounds)
    const allC: number[] = []
    const allK: number[] = []
    const overhead: number[] = []
    const cMed: number[] = []
    const kMed: number[] = []
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
      cMed.push(mc)
      kMed.push(mk)
      overhead.push((mc / mk - 1) * 100)
      allC.push(...c)
      allK.push(...k)
    }
    const stats = await server.stats()
    const sent = 2 * (warm + perRound * rounds)
    const o = summarize(overhead)
    return [
      {
        id: '5',
        title: 'Client request, loopback HTTP',
        runs: rounds,
        work: `${perRound * rounds} requests each (${perRound} per round), interleaved`,
        candidate: measure('client.codeCompletions()', 'µs/request (median)', summarize(cMed)),
        baseline: measure('plain ky 1.14.3, fixed headers, same body and server', 'µs/request (median)', summarize(kMed)),
        comparison: { kind: 'overhead', unit: '%', description: 'median latency client ÷ ky − 1 (lower is better)', ...o },
        target: { text: '≤ 5%', met: o.median <= 5 },
        proofs: [
          proof('requests the server answered', sent, stats.requests),
          proof('requests that carried a Bearer JWT', sent, stats.withBearer),
          proof('client answers parsed and correct', warm + perRound * rounds, clientOk),
          proof('ky answers parsed and correct', warm + perRound * rounds, kyOk),
          proof('mints while measuring (warm cache)', 0, issuer.stats.mints - mintsBefore),
        ],
        details: {
          pooledMedianClientUs: median(allC),
          pooledMedianKyUs: median(allK),
          pooledOverheadPercent: (median(allC) / median(allK) - 1) * 100,
          warmupRequestsEach: warm,
        },
      },
    ]
  } finally {
    await server.close()
  }
}
