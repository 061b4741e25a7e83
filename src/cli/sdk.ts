// The CLI's only door to the library. tsup keeps this import external, so that
// dist/cli/index.js loads dist/index.js instead of bundling a copy of the library:
// the relative path is the same from src/cli/ and from dist/cli/.
export * from '../index.js'

