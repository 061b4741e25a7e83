import { defineConfig } from 'tsup'

export default defineConfig([
  {
    // The library: ESM and CJS, each with its own declaration flavour (.d.ts / .d.cts).
    entry: { index: 'src/index.ts', 'testing/index': 'src/testing/index.ts' },
    format: ['esm', 'cjs'],
    dts: true,
    sourcemap: true,
    clean: true,
    target: 'node20',
    platform: 'node',
    // Shared chunks: one copy of each class, so instanceof holds across the root and /testing entries.
    splitting: true,
    treeshake: true,
  },
  {
    // The CLI uses top-level await, so it is ESM only and imports the library build.
    entry: { 'cli/index': 'src/cli/index.ts' },
    format: ['esm'],
    dts: false,
    sourcemap: true,
    clean: false,
    target: 'node20',
    platform: 'node',
    // Import the library builds instead of bundling a second copy of them.
    external: [/^\.\.\/index\.js$/, /^\.\.\/testing\/index\.js$/],
    banner: { js: '#!/usr/bin/env node' },
  },
])
