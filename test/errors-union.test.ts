/**
 * Each error code belongs to exactly one class, across every entry the package exports (the build, as users
 * load it). The type side (`AnyCloudConnectorError`, `CloudConnectorErrorClasses`) is checked by tsc in
 * `test/types/error-union.ts`; this is its run-time half: a code listed by two classes, or by none, fails here.
 */
import { createRequire } from 'node:module'
import { readFileSync } from 'node:fs'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'

const ROOT = fileURLToPath(new URL('..', import.meta.url))
const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { exports: Record<string, string | { import: { default: string } }> }
const entries = Object.entries(pkg.exports).flatMap(([name, target]) => (typeof target === 'string' ? [] : [[name, target.import.default] as const]))

type ErrorClass = (abstract new (...args: never[]) => Error) & { codes?: readonly string[] }

describe('error codes and classes', () => {
  it('every code of ERROR_CODES is listed by exactly one exported class, and no class lists another code', async () => {
    const modules = await Promise.all(entries.map(async ([name, file]) => [name, (await import(pathToFileURL(join(ROOT, file)).href)) as Record<string, unknown>] as const))
    const root = modules.find(([name]) => name === '.')?.[1] as { ERROR_CODES: readonly string[]; CloudConnectorError: ErrorClass }
    const classes = new Set<ErrorClass>()
    for (const [, mod] of modules) {
      for (const value of Object.values(mod)) {
        if (typeof value === 'function' && value.prototype instanceof root.CloudConnectorError) classes.add(value as ErrorClass)
      }
    }
    const owners = new Map<string, string[]>()
    for (const cls of classes) {
      // a class's own list: a subclass that lists none would inherit its parent's
      const own = Object.hasOwn(cls, 'codes') ? (cls.codes ?? []) : []
      for (const code of own) owners.set(code, [...(owners.get(code) ?? []), cls.name])
    }
    const listed = [...owners.keys()].sort()
    expect(listed).toEqual([...root.ERROR_CODES].sort())
    const shared = [...owners].filter(([, names]) => names.length !== 1)
    expect(shared).toEqual([])
    // the base classes are never thrown with a code of their own
    expect(Object.hasOwn(root.CloudConnectorError, 'codes') ? (root.CloudConnectorError.codes ?? []) : []).toEqual([])
  })

  it('the CommonJS build has the same classes and codes (one copy of each class across its entries)', () => {
    const require = createRequire(import.meta.url)
    const cjs = entries.map(([name, file]) => [name, require(join(ROOT, file.replace(/\.js$/, '.cjs'))) as Record<string, unknown>] as const)
    const root = cjs.find(([name]) => name === '.')?.[1] as { CloudConnectorError: ErrorClass; ERROR_CODES: readonly string[] }
    const codes = new Set<string>()
    for (const [, mod] of cjs) {
      for (const value of Object.values(mod)) {
        if (typeof value === 'function' && value.prototype instanceof root.CloudConnectorError && Object.hasOwn(value, 'codes')) {
          for (const c of (value as ErrorClass).codes ?? []) codes.add(c)
        }
      }
    }
    expect([...codes].sort()).toEqual([...root.ERROR_CODES].sort())
  })
})
