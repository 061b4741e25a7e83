/**
 * Runs the figures in order and collects their results. Shared by `npm run bench` (bench/index.ts)
 * and the smoke test (test/bench.test.ts), so the test runs exactly the code the bench runs — against
 * the package's build (bench/sdk.ts).
 */
import type { BenchConfig } from './config.js'
import { countsFor } from './config.js'
import { loadFixtureKey, type BenchContext, type Figure, type FigureResult } from './context.js'
import { clientFigure } from './figures/client.js'
import { concurrencyFigure } from './figures/concurrency.js'
import { importCostFigure } from './figures/import-cost.js'
import { memoryFigure } from './figures/memory.js'
import { mintFigure } from './figures/mint.js'
import { preflightFigure } from './figures/preflight.js'
import { verifyFigure } from './figures/verify.js'
import { warmCacheFigure } from './figures/warm-cache.js'
import { buildResults, type BenchResults } from './report.js'
import { staleSource } from './sdk.js'

export const FIGURES: ReadonlyArray<{ id: string; name: string; run: Figure }> = [
  { id: '1', name: 'mint', run: mintFigure },
  { id: '2', name: 'warm cache', run: warmCacheFigure },
  { id: '3', name: 'inspect + preflight', run: preflightFigure },
  { id: '4', name: 'authenticate', run: verifyFigure },
  { id: '5', name: 'client request', run: clientFigure },
  { id: '6', name: 'memory', run: memoryFigure },
  { id: '7', name: 'concurrency', run: concurrencyFigure },
  { id: '8', name: 'import cost', run: importCostFigure },
]

export async function runBench(config: BenchConfig, log: (line: string) => void = () => undefined): Promise<BenchResults> {
  const ctx: BenchContext = { key: loadFixtureKey(), counts: countsFor(config.scale), rounds: config.rounds, log }
  const stale = staleSource()
  if (stale !== undefined) log(`warning: ${stale} changed after the last build; the figures describe the build in dist/ (run \`npm run build\`, or \`npm run bench\`, which builds first)`)
  const started = performance.now()
  const date = new Date()
  const figures: FigureResult[] = []
  for (const f of FIGURES) {
    if (config.only !== undefined && !config.only.includes(f.id)) continue
    const t = performance.now()
    log(`figure ${f.id} (${f.name})…`)
    figures.push(...(await f.run(ctx)))
    log(`  done in ${((performance.now() - t) / 1000).toFixed(1)} s`)
  }
  return buildResults(config, figures, (performance.now() - started) / 1000, date, stale)
}
