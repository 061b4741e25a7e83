import { defineConfig, mergeConfig } from 'vitest/config'
import base from './vitest.config.js'

/**
 * The test suite as StrykerJS runs it (stryker.config.mjs). Stryker's vitest runner forces one worker
 * thread and activates a mutant through a global of that thread, so a test that leaves the thread (a
 * child process runs unmutated code) or needs a whole process cannot run under it. Excluded, and only
 * these; `npm test` runs them all.
 */
export default mergeConfig(
  base,
  defineConfig({
    test: {
      exclude: [
        '**/node_modules/**',
        // the load test: 20,000 requests against the emulator in a child process, real clock, ~30 s a run
        'test/reliability/load.test.ts',
        // the bench smoke test: runs the benchmark in-process for minutes and spawns `tsx bench/index.ts`
        'test/bench.test.ts',
        // spawns the built CLI (dist/cli/index.js), which is not the mutated code
        'test/cli-e2e.test.ts',
        // spawns `tsx examples/check-model.ts`: the child process never sees the active mutant
        'test/examples.test.ts',
        // process.chdir() into a temp dir, which worker threads do not support
        'test/reliability/fuzz-cli.test.ts',
      ],
    },
  }),
)
