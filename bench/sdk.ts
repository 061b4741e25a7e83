/**
 * The SDK as users run it: the package's ESM build (`dist/index.js`, what `import 'cloud-connector-sdk'`
 * loads), never the TypeScript sources through tsx. Its types are the sources' (the build is made from
 * them), so the bench type-checks without a build; `npm run bench` builds first.
 */
import { existsSync, readdirSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'
import type * as Sdk from '../src/index.js'

export const ROOT = fileURLToPath(new URL('..', import.meta.url))
export const DIST_ESM = join(ROOT, 'dist', 'index.js')
export const DIST_CJS = join(ROOT, 'dist', 'index.cjs')

if (!existsSync(DIST_ESM) || !existsSync(DIST_CJS)) {
  throw new Error('bench: the package is not built (no dist/index.js or dist/index.cjs): run `npm run build` first (`npm run bench` does).')
}

/** A non-literal specifier: tsc must not look for the build's types, which do not exist before a build. */
const specifier: string = pathToFileURL(DIST_ESM).href
export const sdk = (await import(specifier)) as typeof Sdk

/**
 * The newest source file changed after the build, if any: the figures would then describe older code.
 * The bench says so on its progress output and in results.json (`meta.distStale`).
 */
export function staleSource(): string | undefined {
  const built = statSync(DIST_ESM).mtimeMs
  let newest: { path: string; ms: number } | undefined
  const walk = (dir: string): void => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const path = join(dir, entry.name)
      if (entry.isDirectory()) walk(path)
      else {
        const ms = statSync(path).mtimeMs
        if (ms > built && (newest === undefined || ms > newest.ms)) newest = { path, ms }
      }
    }
  }
  walk(join(ROOT, 'src'))
  return newest === undefined ? undefined : newest.path.slice(ROOT.length)
}
