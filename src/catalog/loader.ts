/**
 * Read a catalog from a directory in the gitlab-cloud-connector `config/` layout, so users can
 * point the SDK at the real catalog instead of the built-in copy:
 *
 *   config/
 *     unit_primitives/<name>.yml    required
 *     backend_services/<name>.yml   required
 *     add_ons/<name>.yml            optional directory (absent = no add-ons)
 *     license_types/<name>.yml      optional directory (absent = no license types)
 *     services/                     legacy mapping for old GitLab versions: ignored (see below)
 *
 * The legacy `services/` files only group unit primitives for GitLab versions that predate unit
 * primitives; they play no part in the scopes or the audience of a self-issued token, so they
 * are not read (and a broken one cannot fail the load). `schemas/` and any other entry are
 * ignored too.
 */
import type { Dirent } from 'node:fs'
import { open, readdir, stat } from 'node:fs/promises'
import { basename, join } from 'node:path'
import { isCollection, LineCounter, parseDocument, visit } from 'yaml'
import { CatalogError } from '../errors.js'
import { buildCatalog, type Catalog, type CatalogItem, type ItemKind } from './catalog.js'

export interface LoadCatalogOptions {
  /** Largest accepted file, in bytes. A catalog item is a few hundred bytes. Default 1 MiB. */
  maxFileBytes?: number
  /** Most files accepted per sub-directory. Default 10 000. */
  maxFiles?: number
}

export const DEFAULT_MAX_CATALOG_FILE_BYTES = 1024 * 1024
export const DEFAULT_MAX_CATALOG_FILES = 10_000

/**
 * Load and validate every `*.yml` / `*.yaml` file (sorted by file name, so map order is stable).
 * `dir` is the `config/` directory itself or a checkout of gitlab-cloud-connector (which holds
 * `config/`). Fails with `CatalogError` `ERR_CATALOG_INVALID`, the message naming the file
 * (relative to `dir`, e.g. `unit_primitives/complete_code.yml`) and the path of the bad field or
 * the YAML line; unknown references to backend services, add-ons and license types included.
 */
export async function loadCatalogDir(dir: string, options: LoadCatalogOptions = {}): Promise<Catalog> {
  const maxFileBytes = options.maxFileBytes ?? DEFAULT_MAX_CATALOG_FILE_BYTES
  const maxFiles = options.maxFiles ?? DEFAULT_MAX_CATALOG_FILES
  const root = await findRoot(dir)
  const items: CatalogItem[] = []
  const present = new Set<string>()
  for (const { sub, kind, required } of LAYOUT) {
    const files = await listYamlFiles(root, sub, required, maxFiles)
    if (files === undefined) continue
    present.add(sub)
    for (const file of files) {
      const source = `${sub}/${file}`
      const value = await readYamlFile(join(root, sub, file), source, maxFileBytes)
      items.push({ kind, source, value, expectedName: basename(file).replace(/\.ya?ml$/, '') })
    }
  }
  return buildCatalog(items, { checkAddOns: true, checkLicenseTypes: true, validate: true })
}

// ---------------------------------------------------------------------------------------------

const LAYOUT: readonly { sub: string; kind: ItemKind; required: boolean }[] = [
  { sub: 'backend_services', kind: 'backendService', required: true },
  { sub: 'add_ons', kind: 'addOn', required: false },
  { sub: 'license_types', kind: 'licenseType', required: false },
  { sub: 'unit_primitives', kind: 'unitPrimitive', required: true },
]

async function findRoot(dir: string): Promise<string> {
  if (typeof dir !== 'string' || dir.length === 0) {
    throw new CatalogError('ERR_CATALOG_INVALID', 'loadCatalogDir(dir): dir must be the path of a gitlab-cloud-connector config/ directory.', { file: String(dir) })
  }
  if (await isDirectory(join(dir, 'unit_primitives'))) return dir
  if (await isDirectory(join(dir, 'config', 'unit_primitives'))) return join(dir, 'config')
  if (!(await isDirectory(dir))) {
    throw new CatalogError('ERR_CATALOG_INVALID', `${dir}: no such directory; point loadCatalogDir at the config/ directory of gitlab-cloud-connector.`, { file: dir })
  }
  throw new CatalogError(
    'ERR_CATALOG_INVALID',
    `${dir}: no unit_primitives/ directory; point loadCatalogDir at the config/ directory of gitlab-cloud-connector (it holds unit_primitives/, backend_services/, add_ons/, license_types/).`,
    { file: dir },
  )
}

async function listYamlFiles(root: string, sub: string, required: boolean, maxFiles: number): Promise<string[] | undefined> {
  const path = join(root, sub)
  if (!(await isDirectory(path))) {
    if (!required) return undefined
    throw new CatalogError('ERR_CATALOG_INVALID', `${sub}/: missing; a catalog needs ${sub}/ with one YAML file per item.`, { file: `${sub}/` })
  }
  let entries: Dirent[]
  try {
    entries = await readdir(path, { withFileTypes: true })
  } catch (e) {
    throw new CatalogError('ERR_CATALOG_INVALID', `${sub}/: cannot be listed (${fsCode(e)}).`, { file: `${sub}/` })
  }
  const files = entries
    .filter((e) => !e.name.startsWith('.') && /\.ya?ml$/.test(e.name) && (e.isFile() || e.isSymbolicLink()))
    .map((e) => e.name)
    .sort()
  if (files.length > maxFiles) {
    throw new CatalogError('ERR_CATALOG_INVALID', `${sub}/: ${files.length} files, more than the limit of ${maxFiles}; is this the right directory? (raise maxFiles if it is)`, {
      file: `${sub}/`,
    })
  }
  return files
}

async function readYamlFile(path: string, source: string, maxFileBytes: number): Promise<unknown> {
  let info: Awaited<ReturnType<typeof stat>>
  try {
    info = await stat(path)
  } catch (e) {
    // A dangling or looping symlink (listed by readdir, unreadable by stat), or a file removed meanwhile.
    throw new CatalogError('ERR_CATALOG_INVALID', `${source}: cannot be read (${fsCode(e)}); a broken symbolic link? Fix or remove it.`, { file: source })
  }
  if (!info.isFile()) throw new CatalogError('ERR_CATALOG_INVALID', `${source}: not a regular file.`, { file: source })
  // Checked before reading so that a huge file (or a /dev/zero symlink) is never loaded.
  if (info.size > maxFileBytes) {
    throw new CatalogError(
      'ERR_CATALOG_INVALID',
      `${source}: ${info.size} bytes, more than the limit of ${maxFileBytes}; a catalog item is a small YAML mapping (raise maxFileBytes if this file is genuine).`,
      { file: source },
    )
  }
  const text = await readBounded(path, source, maxFileBytes)
  // uniqueKeys: a key given twice is an error, not "last one wins"; the default alias limit
  // (maxAliasCount 100) stops "billion laughs" expansion.
  // logLevel 'error': the parser reports through doc.errors only, never with a process warning on stderr
  const lineCounter = new LineCounter()
  const doc = parseDocument(text, { prettyErrors: true, uniqueKeys: true, logLevel: 'error', lineCounter })
  const error = doc.errors[0]
  if (error) {
    const pos = error.linePos?.[0]
    const where = pos ? ` at line ${pos.line}, column ${pos.col}` : ''
    const reason = error.message.split('\n')[0]?.replace(/ at line \d+, column \d+:?\s*$/, '') ?? error.code
    throw new CatalogError('ERR_CATALOG_INVALID', `${source}: YAML syntax error${where}: ${reason}`, {
      file: source,
      path: pos ? `line ${pos.line}` : undefined,
    })
  }
  // A mapping key that is itself a list or a mapping (`? [a, b]: c`) has no JSON form: yaml would stringify it
  // and warn on the process; no catalog field is keyed that way, so it is refused, with its line.
  let collectionKey: number | undefined
  visit(doc, {
    Pair(_, pair) {
      if (isCollection(pair.key)) {
        collectionKey = pair.key.range?.[0] ?? 0
        return visit.BREAK
      }
      return undefined
    },
  })
  if (collectionKey !== undefined) {
    const { line, col } = lineCounter.linePos(collectionKey)
    throw new CatalogError('ERR_CATALOG_INVALID', `${source}: line ${line}, column ${col}: a mapping key that is a list or a mapping; catalog keys are plain names.`, {
      file: source,
      path: `line ${line}`,
    })
  }
  let value: unknown
  try {
    value = doc.toJS({ maxAliasCount: 100 })
  } catch (e) {
    // toJS throws on alias expansion beyond the limit, the one failure left after parsing.
    const reason = e instanceof Error ? (e.message.split('\n')[0] ?? 'unreadable') : 'unreadable'
    throw new CatalogError('ERR_CATALOG_INVALID', `${source}: ${reason}; a catalog item needs no YAML aliases, write the values out.`, { file: source })
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    const got = value === null ? 'an empty document' : Array.isArray(value) ? 'a list' : `a ${typeof value}`
    throw new CatalogError('ERR_CATALOG_INVALID', `${source}: (root): expected a mapping with at least "name", got ${got}.`, { file: source, path: '(root)' })
  }
  return value
}

/** Read at most `max` bytes: the file may have grown since it was stat'ed. */
async function readBounded(path: string, source: string, max: number): Promise<string> {
  let handle: Awaited<ReturnType<typeof open>>
  try {
    handle = await open(path, 'r')
  } catch (e) {
    throw new CatalogError('ERR_CATALOG_INVALID', `${source}: cannot be read (${fsCode(e)}).`, { file: source })
  }
  try {
    const chunks: Buffer[] = []
    let total = 0
    for (;;) {
      const chunk = Buffer.alloc(64 * 1024)
      const { bytesRead } = await handle.read(chunk, 0, chunk.length, null)
      if (bytesRead === 0) break
      chunks.push(chunk.subarray(0, bytesRead))
      total += bytesRead
      if (total > max) {
        throw new CatalogError('ERR_CATALOG_INVALID', `${source}: more than the limit of ${max} bytes; a catalog item is a small YAML mapping.`, { file: source })
      }
    }
    return Buffer.concat(chunks, total).toString('utf8')
  } finally {
    await handle.close()
  }
}

function fsCode(e: unknown): string {
  const code = (e as NodeJS.ErrnoException | undefined)?.code
  return typeof code === 'string' ? code : 'unreadable'
}

async function isDirectory(path: string): Promise<boolean> {
  try {
    return (await stat(path)).isDirectory()
  } catch {
    return false
  }
}
