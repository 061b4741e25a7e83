import { defineConfig } from 'tsup'

// The package's entries: the main one (the common path) and the subpaths of package.json "exports".
const library = {
  index: 'src/index.ts',
  'catalog/index': 'src/catalog/index.ts',
  'emulator/index': 'src/emulator/index.ts',
  'testing/index': 'src/testing/index.ts',
  'testing/msw': 'src/testing/msw.ts',
}

const common = {
  sourcemap: true,
  target: 'node20',
  platform: 'node',
  // Shared chunks: one copy of each class per format, so instanceof holds across the entries; an entry loads
  // only the chunks it reaches (the main entry neither the emulator nor the YAML loader).
  splitting: true,
  treeshake: true,
} as const

export default defineConfig([
  {
    // ESM: the library and the CLI in one build, so the CLI (top-level await: ESM only) shares the library's
    // chunks instead of bundling a second copy; its hashbang is the first line of src/cli/index.ts.
    ...common,
    entry: { ...library, 'cli/index': 'src/cli/index.ts' },
    format: ['esm'],
    dts: { entry: library },
    clean: true,
  },
  {
    // CommonJS: the library only, with its own declaration flavour (.d.cts).
    ...common,
    entry: library,
    format: ['cjs'],
    dts: { entry: library },
    clean: false,
  },
])
