/**
 * `npm run bench` (which builds the package first): every figure of issues 6 and 14 against its
 * baseline, measured in one run against the build in dist/, printed as a table and written to
 * bench/results.json. Exits 0 whatever the figures say (a benchmark reports, it does not gate CI); only a
 * crash exits non-zero.
 *
 *   npm run bench -- --scale=0.1 --rounds=5 --only=1,4 --out=/tmp/results.json   (or --no-out)
 *   npm run bench -- --markdown          also prints the README's table
 *   BENCH_SCALE, BENCH_ROUNDS, BENCH_OUT, BENCH_ONLY do the same from the environment.
 */
import { writeFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { parseConfig } from './config.js'
import { formatMarkdown, formatReport } from './report.js'
import { runBench } from './run.js'

const defaultOut = fileURLToPath(new URL('./results.json', import.meta.url))

try {
  const config = parseConfig(process.argv.slice(2), process.env, defaultOut)
  const results = await runBench(config, (line) => process.stderr.write(`${line}\n`))
  process.stdout.write(`\n${formatReport(results)}\n`)
  if (config.markdown) process.stdout.write(`\n${formatMarkdown(results)}\n`)
  if (config.out !== undefined) {
    writeFileSync(config.out, `${JSON.stringify(results, null, 2)}\n`)
    process.stdout.write(`Written to ${config.out}\n`)
  }
  process.exitCode = 0
} catch (e) {
  process.stderr.write(`bench crashed: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`)
  process.exitCode = 1
}
