/**
 * zod, loaded the first time a schema is needed rather than when the package is imported.
 *
 * Why: zod costs about as much CPU to load as jose does (some 50–60 ms), and a process that imports the SDK
 * but validates nothing yet (a CLI's `--help`, a service that starts and serves its health check first, a
 * short-lived job) should not pay for it up front (bench figure 8). Every schema of the package is built by
 * `lazy`, on the first factory call or request that validates something, and kept for the process.
 *
 * zod is loaded synchronously with `require` (it ships CommonJS next to its ES modules), because option
 * validation is synchronous: a factory throws its InvalidOptionsError before it returns. Both builds of the
 * SDK (ESM and CommonJS) load the same CommonJS copy, so there is one zod of the SDK's in the process however
 * the SDK was loaded (a caller's own `import 'zod'` may be the ES module copy: the SDK's schemas, such as
 * `ENDPOINTS[name].body`, are for `safeParse`, not for mixing into the caller's schemas).
 */
import { createRequire } from 'node:module'
import type { z as Z } from 'zod'

export type ZodApi = typeof Z

let api: ZodApi | undefined

/** The zod namespace (`z`), loaded on the first call. */
export function zod(): ZodApi {
  return (api ??= (createRequire(import.meta.url)('zod') as { z: ZodApi }).z)
}

/** A schema (or a set of schemas) built on first use and kept: `lazy((z) => z.strictObject({ ... }))`. */
export function lazy<S>(build: (z: ZodApi) => S): () => S {
  let built: S | undefined
  return () => (built ??= build(zod()))
}

