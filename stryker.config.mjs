// @ts-check
/**
 * Mutation testing (StrykerJS 9; Stryker 10 needs Node 22): `npm run mutation` mutates the modules that
 * decide what is sent, `npm run mutation -- --mutate src/token/jwt.ts` one file. Too slow for CI.
 * The tests that cannot run under Stryker are excluded in vitest.mutation.config.ts, with why.
 * @type {import('@stryker-mutator/api/core').PartialStrykerOptions}
 */
export default {
  packageManager: 'npm',
  testRunner: 'vitest',
  vitest: { configFile: 'vitest.mutation.config.ts' },
  coverageAnalysis: 'perTest',
  checkers: ['typescript'],
  tsconfigFile: 'tsconfig.json',
  mutate: ['src/client/auth.ts', 'src/inspect/preflight.ts', 'src/token/jwt.ts', 'src/token/policy.ts', 'src/verify/verifier.ts'],
  reporters: ['clear-text', 'progress', 'html'],
  htmlReporter: { fileName: 'reports/mutation/index.html' },
  tempDirName: '.stryker-tmp',
  cleanTempDir: true,
  thresholds: { high: 90, low: 80, break: null },
}
