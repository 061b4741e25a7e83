/**
 * Figure 8 — cold start: what loading the package adds to a process, against what loading jose (the
 * smallest JWT library a user would pick, and the SDK's own dependency) adds.
 *
 * Each load runs in a fresh child process (`node -e`), which reports the CPU time (user + system, all its
 * threads: reading, compiling and running the modules) spent in the `import`/`require` statement itself,
 * i.e. what the process costs over the same `node -e` without it. CPU time and not elapsed time, because
 * on a shared machine elapsed time also counts the waits for a CPU (the elapsed figures are in the
 * details); measured around the statement and not as the difference of two whole processes, because node's
 * own start (some 40 ms of CPU) varies between processes by more than jose's whole cost. A child running
 * node alone is timed in each round too, and the whole-process differences are kept in the details as a
 * cross-check.
 *
 * Each round runs node alone, the SDK and jose `importRuns` times each, interleaved (A B C, then C B A,
 * ...), so that a slow moment of the machine hits every side; the figures are medians of the per-round
 * costs and of the per-round ratio SDK cost ÷ jose cost. 8 loads the ESM build (`import('cloud-connector-sdk')`
 * in an ES module), 8b the CommonJS build (`require('cloud-connector-sdk')`), both resolved through the
 * package's `exports` as a user's code resolves them.
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
/** What a child reports, in ms: the load's CPU and elapsed time, and the whole process's so far. */
interface ChildReport {
  load: number
  loadWall: number
  cpu: number
  wall: number
}

function sourceFor(format: Format, side: Side): string {
  const before = 'const c0 = process.cpuUsage(); const w0 = performance.now();'
  const load =
    side === 'node'
      ? ''
      : `const m = ${format === 'esm' ? 'await import' : 'require'}('${side}'); if (typeof m.${PROBES[side]} !== 'function') process.exit(3);`
  const report =
    'const c = process.cpuUsage(c0); const w = performance.now() - w0; const u = process.cpuUsage();' +
    'process.stdout.write(JSON.stringify({ load: (c.user + c.system) / 1000, loadWall: w, cpu: (u.user + u.system) / 1000, wall: performance.now() }))'
  return `${before} ${load} ${report}`
}

export const importCostFigure: Figure = async (ctx) => {
  const { counts, rounds } = ctx
  // The children inherit no loader or flag from the bench's own process (tsx, vitest).
  const env = { ...process.env }
  delete env['NODE_OPTIONS']
  const resolvedCjs = createRequire(`${ROOT}/package.json`).resolve(PACKAGE)
  const resolvedEsm = fileURLToPath(import.meta.resolve(PACKAGE))

  const row = (format: Format): FigureResult => {
    const flags = format === 'esm' ? ['--input-type=module', '-e'] : ['-e']
    const per: Record<'sdk' | 'jose' | 'ratio' | 'sdkWall' | 'joseWall' | 'sdkProcess' | 'joseProcess' | 'nodeCpu', number[]> = {
      sdk: [],
      jose: [],
      ratio: [],
      sdkWall: [],
      joseWall: [],
      sdkProcess: [],
      joseProcess: [],
      nodeCpu: [],
    }
    const failures: string[] = []
    const time = (side: Side): ChildReport => {
      const run = spawnSync(process.execPath, [...flags, sourceFor(format, side)], { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'], encoding: 'utf8' })
      try {
        if (run.status === 0) return JSON.parse(run.stdout) as ChildReport
      } catch {
        /* reported below */
      }
      failures.push(`${side} (${format}): exit ${run.status}: ${run.stderr.trim().split('\n')[0] ?? ''}`)
      return { load: Number.NaN, loadWall: Number.NaN, cpu: Number.NaN, wall: Number.NaN }
    }
    for (const side of ['node', PACKAGE, 'jose'] as const) time(side) // warm the file cache
    for (let round = 0; round < rounds; round++) {
      const samples: Record<Side, ChildReport[]> = { node: [], [PACKAGE]: [], jose: [] }
      for (let i = 0; i < counts.importRuns; i++) {
        const order: Side[] = (i + round) % 2 === 0 ? ['node', PACKAGE, 'jose'] : ['jose', PACKAGE, 'node']
        for (const side of order) samples[side].push(time(side))
      }
      const mean = (side: Side, k: keyof ChildReport) => samples[side].reduce((a, b) => a + b[k], 0) / samples[side].length
      per.sdk.push(mean(PACKAGE, 'load'))
      per.jose.push(mean('jose', 'load'))
      per.ratio.push(mean(PACKAGE, 'load') / mean('jose', 'load'))
      per.sdkWall.push(mean(PACKAGE, 'loadWall'))
      per.joseWall.push(mean('jose', 'loadWall'))
      per.nodeCpu.push(mean('node', 'cpu'))
      per.sdkProcess.push(mean(PACKAGE, 'cpu') - mean('node', 'cpu'))
      per.joseProcess.push(mean('jose', 'cpu') - mean('node', 'cpu'))
    }
    const med = (xs: number[]) => summarize(xs).median
    const r = summarize(per.ratio)
    const statement = format === 'esm' ? `import('${PACKAGE}')` : `require('${PACKAGE}')`
    return {
      id: format === 'esm' ? '8' : '8b',
      title: `Import cost, ${format === 'esm' ? 'ESM' : 'CommonJS'}`,
      runs: rounds,
      work: `${counts.importRuns} child process${counts.importRuns === 1 ? '' : 'es'} per side per round (node alone, the SDK, jose), interleaved`,
      candidate: measure(`${statement} in a new process`, 'ms CPU', summarize(per.sdk)),
      baseline: measure(`${format === 'esm' ? "import('jose')" : "require('jose')"} (${peerLabel('jose')}) in a new process`, 'ms CPU', summarize(per.jose)),
      comparison: { kind: 'ratio', unit: '×', description: 'SDK import cost ÷ jose import cost (lower is better)', ...r },
      target: ratioGoal(r.median, { max: 2 }),
      proofs: [
        proof('every child process loaded its module (exit 0)', 'none failed', failures.length === 0 ? 'none failed' : failures.join('; ')),
        proof(`${statement} resolves to the build`, format === 'esm' ? DIST_ESM : DIST_CJS, format === 'esm' ? resolvedEsm : resolvedCjs),
      ],
      details: {
        // elapsed time of the statement: what a user waits for on a quiet machine (on a loaded one it
        // also counts the waits for a CPU)
        sdkWallMs: med(per.sdkWall),
        joseWallMs: med(per.joseWall),
        wallRatio: med(per.sdkWall) / med(per.joseWall),
        // the cross-check: CPU time of the whole process over node alone (noisier: node's own start varies)
        nodeAloneCpuMs: med(per.nodeCpu),
        sdkProcessOverNodeCpuMs: med(per.sdkProcess),
        joseProcessOverNodeCpuMs: med(per.joseProcess),
      },
    }
  }
  return [row('esm'), row('cjs')]
}
