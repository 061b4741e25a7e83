/**
 * Figure 8 — cold start: what loading the package adds to a process, against what loading jose (the
 * smallest JWT library a user would pick, and the SDK's own dependency) adds.
 *
 * Each load runs in a fresh child process (`node -e`), which reports the CPU time it used (user + system,
 * all its threads: compiling and running the modules, reading the files); its cost is that minus the CPU
 * time of node alone (the same flags and report, nothing loaded), measured in the same round. CPU time and
 * not elapsed time, because on a shared machine elapsed time also counts the waits for a CPU (the elapsed
 * figures are in the details). Each round runs
 * node alone, the SDK and jose `importRuns` times each, interleaved (A B C, then C B A, ...), so that a
 * slow moment of the machine hits every side; the figures are medians of the per-round costs and of the
 * per-round ratio SDK cost ÷ jose cost. 8 loads the ESM build (`import 'cloud-connector-sdk'`), 8b the
 * CommonJS build (`require('cloud-connector-sdk')`), both resolved through the package's `exports` as a
 * user's code resolves them.
 */
import { spawnSync } from 'node:child_process'
import { createRequire } from 'node:module'
import { fileURLToPath } from 'node:url'
import { summarize } from '../harness.js'
import { measure, proof, ratioGoal, type Figure, type FigureResult } from '../context.js'
import { peerLabel } from '../peers.js'
import { DIST_CJS, DIST_ESM, ROOT } from '../sdk.js'

const PACKAGE = 'cloud-connector-sdk'
/** A name each module must export, so that a child that loaded nothing useful fails. */
const PROBES = { [PACKAGE]: 'createTokenIssuer', jose: 'jwtVerify' } as const

type Format = 'esm' | 'cjs'
type Side = 'node' | typeof PACKAGE | 'jose'

/** What each child prints when it is done: its CPU time (user + system) and its age, in ms. */
const REPORT = `const u = process.cpuUsage(); process.stdout.write(JSON.stringify({ cpu: (u.user + u.system) / 1000, wall: performance.now() }))`

function argsFor(format: Format, side: Side): string[] {
  const flags = format === 'esm' ? ['--input-type=module', '-e'] : ['-e']
  if (side === 'node') return [...flags, REPORT]
  const probe = PROBES[side]
  const load = format === 'esm' ? `import * as m from '${side}';` : `const m = require('${side}');`
  return [...flags, `${load} if (typeof m.${probe} !== 'function') process.exit(3); ${REPORT}`]
}

export const importCostFigure: Figure = async (ctx) => {
  const { counts, rounds } = ctx
  // The children inherit no loader or flag from the bench's own process (tsx, vitest).
  const env = { ...process.env }
  delete env['NODE_OPTIONS']
  const resolvedCjs = createRequire(`${ROOT}/package.json`).resolve(PACKAGE)
  const resolvedEsm = fileURLToPath(import.meta.resolve(PACKAGE))

  const row = (format: Format): FigureResult => {
    const sdkCost: number[] = []
    const joseCost: number[] = []
    const ratio: number[] = []
    const sdkWall: number[] = []
    const joseWall: number[] = []
    const nodeCpu: number[] = []
    const failures: string[] = []
    const time = (side: Side): { cpu: number; wall: number } => {
      const run = spawnSync(process.execPath, argsFor(format, side), { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'], encoding: 'utf8' })
      try {
        if (run.status === 0) return JSON.parse(run.stdout) as { cpu: number; wall: number }
      } catch {
        /* reported below */
      }
      failures.push(`${side} (${format}): exit ${run.status}: ${run.stderr.trim().split('\n')[0] ?? ''}`)
      return { cpu: Number.NaN, wall: Number.NaN }
    }
    for (const side of ['node', PACKAGE, 'jose'] as const) time(side) // warm the file cache
    for (let round = 0; round < rounds; round++) {
      const samples: Record<Side, { cpu: number; wall: number }[]> = { node: [], [PACKAGE]: [], jose: [] }
      for (let i = 0; i < counts.importRuns; i++) {
        const order: Side[] = (i + round) % 2 === 0 ? ['node', PACKAGE, 'jose'] : ['jose', PACKAGE, 'node']
        for (const side of order) samples[side].push(time(side))
      }
      const mean = (side: Side, k: 'cpu' | 'wall') => samples[side].reduce((a, b) => a + b[k], 0) / samples[side].length
      const s = mean(PACKAGE, 'cpu') - mean('node', 'cpu')
      const j = mean('jose', 'cpu') - mean('node', 'cpu')
      nodeCpu.push(mean('node', 'cpu'))
      sdkCost.push(s)
      joseCost.push(j)
      ratio.push(s / j)
      sdkWall.push(mean(PACKAGE, 'wall') - mean('node', 'wall'))
      joseWall.push(mean('jose', 'wall') - mean('node', 'wall'))
    }
    const r = summarize(ratio)
    const statement = format === 'esm' ? `import '${PACKAGE}'` : `require('${PACKAGE}')`
    return {
      id: format === 'esm' ? '8' : '8b',
      title: `Import cost, ${format === 'esm' ? 'ESM' : 'CommonJS'}`,
      runs: rounds,
      work: `${counts.importRuns} child processes per side per round (node alone, the SDK, jose), interleaved`,
      candidate: measure(`${statement} over node -e 0`, 'ms CPU', summarize(sdkCost)),
      baseline: measure(`${format === 'esm' ? "import 'jose'" : "require('jose')"} (${peerLabel('jose')}) over node -e 0`, 'ms CPU', summarize(joseCost)),
      comparison: { kind: 'ratio', unit: '×', description: 'SDK import cost ÷ jose import cost (lower is better)', ...r },
      target: ratioGoal(r.median, { max: 2 }),
      proofs: [
        proof('every child process loaded its module (exit 0)', 'none failed', failures.length === 0 ? 'none failed' : failures.join('; ')),
        proof(`${statement} resolves to the build`, format === 'esm' ? DIST_ESM : DIST_CJS, format === 'esm' ? resolvedEsm : resolvedCjs),
      ],
      details: {
        nodeAloneCpuMs: summarize(nodeCpu).median,
        // Elapsed time inside the child (from its start to the end of its script), over node alone: what a
        // user waits for on a quiet machine; on a loaded one it also counts the waits for a CPU.
        sdkWallMs: summarize(sdkWall).median,
        joseWallMs: summarize(joseWall).median,
        wallRatio: summarize(sdkWall).median / summarize(joseWall).median,
      },
    }
  }
  return [row('esm'), row('cjs')]
}
