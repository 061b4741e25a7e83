/**
 * A catalog file whose mapping key is a list or a mapping (`? [a, b]: c`) is a CatalogError with its line, and
 * loading YAML never writes a process warning (the yaml library's "Keys with collection values will be
 * stringified" went to stderr, 48 times in a test run).
 */
import { cp, mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { CatalogError } from '../src/index.js'
import { loadCatalogDir } from '../src/catalog/index.js'
import { rejection } from './reliability/config.js'

const FIXTURE = fileURLToPath(new URL('./fixtures/catalog/config', import.meta.url))
let dir: string
let warnings: string[]
const onWarning = (w: Error) => warnings.push(`${w.name}: ${w.message}`)

beforeEach(async () => {
  dir = join(await mkdtemp(join(tmpdir(), 'cc-catalog-keys-')), 'config')
  await cp(FIXTURE, dir, { recursive: true })
  warnings = []
  process.on('warning', onWarning)
})
afterEach(async () => {
  process.off('warning', onWarning)
  await rm(join(dir, '..'), { recursive: true, force: true })
})

describe('loadCatalogDir: collection keys', () => {
  for (const [what, key] of [
    ['a flow list', '? [a, b]\n: c'],
    ['a block mapping', '? x: 1\n  y: 2\n: c'],
    ['a flow mapping', '{ a: 1 }: c'],
  ] as const) {
    it(`${what} as a key: CatalogError with the line, no process warning`, async () => {
      await writeFile(join(dir, 'add_ons', 'duo_pro.yml'), `name: duo_pro\n${key}\n`)
      const err = await rejection(loadCatalogDir(dir))
      expect(err).toBeInstanceOf(CatalogError)
      expect(err).toMatchObject({ code: 'ERR_CATALOG_INVALID', file: 'add_ons/duo_pro.yml', path: 'line 2' })
      expect((err as Error).message).toMatch(/^add_ons\/duo_pro\.yml: line 2, column \d+: a mapping key that is a list or a mapping; catalog keys are plain names\.$/)
      // warnings are emitted on the next tick
      await new Promise((r) => setImmediate(r))
      expect(warnings).toEqual([])
    })
  }

  it('a nested collection key deep in a value is found too', async () => {
    await writeFile(join(dir, 'add_ons', 'duo_pro.yml'), 'name: duo_pro\nx_extra:\n  deeper:\n    ? [1]\n    : 2\n')
    expect(await rejection(loadCatalogDir(dir))).toMatchObject({ code: 'ERR_CATALOG_INVALID', path: 'line 4' })
  })
})
