/**
 * The package as users load it (the build in dist/, through package.json "exports"): the main entry is a
 * curated surface — at most 60 runtime exports, the same in ESM and CJS, the architecture's contract names
 * among them — and it loads only what the common path needs: neither the emulator (node:http, jose) nor the
 * YAML catalog loader, which live in subpaths.
 */
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

  it('loads neither the emulator nor the YAML parser nor msw (ESM and CJS module graphs)', () => {
    for (const file of [entry('.').import.default, entry('.').require.default]) {
      const external = moduleGraph(join(ROOT, file)).external
      expect(external, file).not.toContain('yaml')
      expect(external, file).not.toContain('jose')
      expect(external, file).not.toContain('msw')
      expect(external.filter((s) => /^(node:)?(http|https|net)$/.test(s)), file).toEqual([])
      // what it does load: its three runtime dependencies of the common path, and node built-ins
      expect(external.filter((s) => !/^(node:)?[a-z_/]+$/.test(s) || ['zod', 'ky'].includes(s)).sort(), file).toEqual(['ky', 'zod'])
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

/** The files an entry of the build loads (its relative imports, followed) and the bare specifiers they import. */
function moduleGraph(file: string): { files: string[]; external: string[] } {
  const files = new Set<string>()
  const external = new Set<string>()
  const visit = (f: string) => {
    if (files.has(f)) return
    files.add(f)
    const text = readFileSync(f, 'utf8')
    const specifiers = [
      ...text.matchAll(/^(?:import|export)\b[^;'"]*?(?:from\s*)?['"]([^'"]+)['"]/gm),
      ...text.matchAll(/\brequire\(['"]([^'"]+)['"]\)/g),
      ...text.matchAll(/\bimport\(['"]([^'"]+)['"]\)/g),
    ].map((m) => m[1] as string)
    for (const s of specifiers) {
      if (s.startsWith('.')) visit(resolve(dirname(f), s))
      else external.add(s)
    }
  }
  visit(file)
  return { files: [...files], external: [...external] }
}
