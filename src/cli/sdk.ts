// The CLI's door to the library: the package's root and the few internals and subpath tools the CLI uses.
// The CLI is built with the library's ESM entries (tsup.config.ts), so it shares their chunks.
export * from '../index.js'
export { builtInCatalog } from '../catalog/builtin.js'
export { startEmulator } from '../emulator/server.js'
export { JOSE_REASONS } from '../inspect/messages.js'
export { DEFAULT_FETCH_TIMEOUT_MS } from '../verify/discovery.js'
