/**
 * The package as users load it (the build in dist/, through package.json "exports"): the main entry is a
 * curated surface — at most 60 runtime exports, the same in ESM and CJS, the architecture's contract names
 * among them — and it loads only what the common path needs: neither the emulator (node:http, jose) nor the
 * YAML catalog loader, which live in subpaths.
 */
import { spawnSync } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { describe, expect, it } from 'vitest'

const ROOT = fileURLToPath(new URL('..', import.meta.url))
const require = createRequire(import.meta.url)
type Target = { import: { types: string; default: string }; require: { types: string; default: string } }
const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { exports: Record<string, Target | string> }
const entry = (name: string) => pkg.exports[name] as Target

const MAX_RUNTIME_EXPORTS = 60

/** docs/architecture.md "Contracts that acceptance checks drive": exported from the root, ESM and CJS. */
const CONTRACT = [
  'createCloudConnector',
  'loadSigningKey',
  'toJwks',
  'createTokenIssuer',
  'inspectToken',
  'createGatewayVerifier',
  'createTokenSource',
  'buildGatewayHeaders',
  'createGatewayClient',
]

/** The main entry's internals before the curation, named by the issue: never public again. */
const PRIVATE = ['createGatewayCore', 'headerMismatchMessage', 'JOSE_REASONS', 'startEmulator', 'loadCatalogDir', 'ModelMetadataSchema', 'createTokenCache']

describe('the main entry', () => {
  it(`has at most ${MAX_RUNTIME_EXPORTS} runtime exports, the same in the ESM and the CommonJS build, the contract names included`, async () => {
    const esm = Object.keys((await import(pathToFileURL(join(ROOT, entry('.').import.default)).href)) as object).sort()
    const cjs = Object.keys(require(join(ROOT, entry('.').require.default)) as object).sort()
    expect(esm.length).toBeLessThanOrEqual(MAX_RUNTIME_EXPORTS)
    expect(cjs).toEqual(esm)
    expect(esm).toEqual(expect.arrayContaining(CONTRACT))
    expect(esm.filter((name) => PRIVATE.includes(name))).toEqual([])
  })

  it('loads neither the emulator nor the YAML parser nor msw, and no dependency up front (ESM and CJS module graphs)', () => {
    for (const file of [entry('.').import.default, entry('.').require.default]) {
      const { external, lazy } = moduleGraph(join(ROOT, file))
      expect(external.filter((s) => /^(node:)?(http|https|net)$/.test(s)), file).toEqual([])
      // only node built-ins are imported statically: zod and ky are loaded on first use (src/zod.ts, src/client/ky.ts)
      expect(external.filter((s) => !/^node:/.test(s) && !['crypto', 'module', 'fs', 'fs/promises', 'path', 'url', 'util', 'timers/promises', 'buffer', 'stream', 'events'].includes(s)), file).toEqual([])
      expect(lazy, file).toEqual(['ky'])
    }
  })

  it('importing it loads none of zod, ky, yaml, jose; zod is loaded by the first factory call (ESM and CJS, in a new process)', () => {
    const blocked = ['zod', 'ky', 'yaml', 'jose']
    // Any load of a blocked package throws: CommonJS loads (zod is required) through Module._load, ES module
    // loads (ky is imported) through a resolve hook.
    const hook = `export async function resolve(s, c, next) { if (${JSON.stringify(blocked)}.includes(s)) throw new Error('loaded ' + s); return next(s, c) }`
    const guard =
      `const Module = require('node:module'); const load = Module._load;` +
      `Module._load = function (request, ...rest) { if (${JSON.stringify(blocked)}.includes(request)) throw new Error('loaded ' + request); return load.call(this, request, ...rest) };` +
      `Module.register('data:text/javascript,' + encodeURIComponent(${JSON.stringify(hook)}));`
    const probe = `let firstUse; try { sdk.createTokenIssuer({}) } catch (e) { firstUse = e.message }` + ` process.stdout.write(JSON.stringify({ exports: Object.keys(sdk).length, firstUse }))`
    const sources = {
      esm: `import { createRequire } from 'node:module'; const require = createRequire(import.meta.url); ${guard} const sdk = await import(${JSON.stringify(pathToFileURL(join(ROOT, entry('.').import.default)).href)}); ${probe}`,
      cjs: `${guard} const sdk = require(${JSON.stringify(join(ROOT, entry('.').require.default))}); ${probe}`,
    }
    for (const [format, source] of Object.entries(sources)) {
      const run = spawnSync(process.execPath, [...(format === 'esm' ? ['--input-type=module'] : []), '-e', source], { encoding: 'utf8', env: { ...process.env, NODE_OPTIONS: '' } })
      expect(run.stderr, format).toBe('')
      expect(JSON.parse(run.stdout), format).toEqual({ exports: expect.any(Number), firstUse: 'loaded zod' })
    }
  })
})

describe('the subpaths', () => {
  it('each loads in ESM and CJS; the emulator, the catalog loader and the msw handlers are there', async () => {
    const expected: Record<string, string[]> = {
      './emulator': ['startEmulator', 'EmulatorError', 'RequestLog'],
      './catalog': ['loadCatalogDir', 'builtInCatalog', 'createCatalog', 'resolveEntitlements'],
      './testing': ['createTestInstance', 'expectTokenShape', 'checkTokenShape', 'TokenShapeError'],
      './testing/msw': ['createMswGateway', 'gatewayHandlers', 'instanceHandlers', 'MswMissingError'],
    }
    for (const [name, names] of Object.entries(expected)) {
      const esm = Object.keys((await import(pathToFileURL(join(ROOT, entry(name).import.default)).href)) as object).sort()
      const cjs = Object.keys(require(join(ROOT, entry(name).require.default)) as object).sort()
      expect(esm, name).toEqual(expect.arrayContaining(names))
      expect(cjs, name).toEqual(esm)
    }
  })

  it('/testing loads without msw (only /testing/msw imports it, and lazily)', () => {
    for (const file of [entry('./testing').import.default, entry('./testing').require.default]) {
      expect(moduleGraph(join(ROOT, file)).external, file).not.toContain('msw')
    }
  })

  it('one copy of each class: an error thrown by a subpath is an instance of the root class', async () => {
    const root = (await import(pathToFileURL(join(ROOT, entry('.').import.default)).href)) as { CloudConnectorError: new (...a: never[]) => Error }
    const msw = (await import(pathToFileURL(join(ROOT, entry('./testing/msw').import.default)).href)) as { MswMissingError: new (cause: unknown) => Error }
    expect(new msw.MswMissingError(undefined)).toBeInstanceOf(root.CloudConnectorError)
    const rootCjs = require(join(ROOT, entry('.').require.default)) as { CloudConnectorError: new (...a: never[]) => Error }
    const emuCjs = require(join(ROOT, entry('./emulator').require.default)) as { EmulatorError: new (message: string) => Error }
    expect(new emuCjs.EmulatorError('x')).toBeInstanceOf(rootCjs.CloudConnectorError)
  })
})

/**
 * The files an entry of the build loads (its relative imports, followed), the bare specifiers they import or
 * require, and those they only load with `import()` (on first use).
 */
function moduleGraph(file: string): { files: string[]; external: string[]; lazy: string[] } {
  const files = new Set<string>()
  const external = new Set<string>()
  const lazy = new Set<string>()
  const visit = (f: string) => {
    if (files.has(f)) return
    files.add(f)
    const text = readFileSync(f, 'utf8')
    const specifiers = [
      ...text.matchAll(/^(?:import|export)\b[^;'"]*?(?:from\s*)?['"]([^'"]+)['"]/gm),
      ...text.matchAll(/\brequire\(['"]([^'"]+)['"]\)/g),
    ].map((m) => m[1] as string)
    for (const s of specifiers) {
      if (s.startsWith('.')) visit(resolve(dirname(f), s))
      else external.add(s)
    }
    for (const [, s] of text.matchAll(/\bimport\(['"]([^'"]+)['"]\)/g)) {
      if ((s as string).startsWith('.')) visit(resolve(dirname(f), s as string))
      else lazy.add(s as string)
    }
  }
  visit(file)
  return { files: [...files], external: [...external], lazy: [...lazy] }
}
