#!/usr/bin/env node
/**
 * The declarations compile for every consumer the README promises, checked on the packed package as a user
 * installs it (npm pack), without network: the tarball is unpacked into a temporary project's
 * node_modules/cloud-connector-sdk, its runtime dependencies (and msw, @types/node) are symlinked from this
 * repository's node_modules, and tsc (strict, skipLibCheck: false) checks a small consumer file per
 * configuration:
 *
 *   esm-nodenext   "type": "module", module/moduleResolution nodenext  every entry (msw installed)
 *   esm-bundler    module esnext, moduleResolution bundler            every entry (msw installed)
 *   cjs-node16     "type": "commonjs", module/moduleResolution node16 every entry but /testing/msw
 *   no-msw         "type": "module", nodenext, msw NOT installed      every entry but /testing/msw
 *
 * msw's own declarations need the DOM lib (its configurations add it) and do not compile as CommonJS under
 * node16 (TS1479 on its ESM-only dependency rettime, in msw's files), so /testing/msw is checked as ESM.
 *
 * Run after `npm run build` (CI: .ci/run). Exit 1 with tsc's output when a configuration fails.
 */
import { execFileSync, spawn } from 'node:child_process'
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

const ROOT = fileURLToPath(new URL('..', import.meta.url))
const SOURCES = join(ROOT, 'scripts', 'consumers')
const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8'))
const TSC = join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc')

if (!existsSync(join(ROOT, 'dist', 'index.d.ts'))) {
  console.error('check-consumers: no build in dist/: run `npm run build` first.')
  process.exit(2)
}

const work = mkdtempSync(join(tmpdir(), 'cc-consumers-'))
const started = Date.now()
try {
  const packed = JSON.parse(execFileSync('npm', ['pack', '--json', '--pack-destination', work], { cwd: ROOT, encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] }))
  const tarball = join(work, packed[0].filename)

  // skipDefaultLibCheck only skips TypeScript's own lib.*.d.ts, never a package's declarations
  const strict = { strict: true, skipLibCheck: false, skipDefaultLibCheck: true, noEmit: true, types: ['node'], lib: ['ES2023'], target: 'ES2022' }
  const configs = [
    { name: 'esm-nodenext', msw: true, type: 'module', files: ['common.ts', 'msw.ts'], options: { module: 'nodenext', moduleResolution: 'nodenext', lib: ['ES2023', 'DOM'] } },
    { name: 'esm-bundler', msw: true, type: 'module', files: ['common.ts', 'msw.ts'], options: { module: 'esnext', moduleResolution: 'bundler', lib: ['ES2023', 'DOM'] } },
    { name: 'cjs-node16', msw: true, type: 'commonjs', files: ['common.ts'], options: { module: 'node16', moduleResolution: 'node16' } },
    { name: 'no-msw', msw: false, type: 'module', files: ['common.ts'], options: { module: 'nodenext', moduleResolution: 'nodenext' } },
  ]

  // Two installs: with msw and without it (node resolution walks up, so a project must not see the other's).
  for (const msw of [true, false]) {
    const nm = join(work, msw ? 'with-msw' : 'without-msw', 'node_modules')
    const own = join(nm, 'cloud-connector-sdk')
    mkdirSync(own, { recursive: true })
    execFileSync('tar', ['-xzf', tarball, '-C', own, '--strip-components=1'])
    const links = [...Object.keys(pkg.dependencies), '@types/node', ...(msw ? ['msw'] : [])]
    for (const name of links) {
      mkdirSync(dirname(join(nm, name)), { recursive: true })
      symlinkSync(join(ROOT, 'node_modules', name), join(nm, name), 'dir')
    }
  }

  // two at a time: tsc is single-threaded and CI has two cores
  const results = await inBatches(2, configs, (c) => {
      const dir = join(work, c.msw ? 'with-msw' : 'without-msw', c.name)
      mkdirSync(dir, { recursive: true })
      for (const f of c.files) cpSync(join(SOURCES, f), join(dir, f))
      writeFileSync(join(dir, 'package.json'), JSON.stringify({ name: `consumer-${c.name}`, private: true, type: c.type }))
      writeFileSync(join(dir, 'tsconfig.json'), JSON.stringify({ compilerOptions: { ...strict, ...c.options }, files: c.files }))
      return run(c.name, process.execPath, [TSC, '-p', dir])
  })
  const failed = results.filter((r) => r.code !== 0)
  for (const r of results) console.log(`${r.code === 0 ? 'ok  ' : 'FAIL'} ${r.name}${r.code === 0 ? '' : `\n${r.output}`}`)
  console.log(`check-consumers: ${results.length - failed.length}/${results.length} configurations compile against ${packed[0].filename} (${((Date.now() - started) / 1000).toFixed(1)} s)`)
  process.exitCode = failed.length === 0 ? 0 : 1
} finally {
  rmSync(work, { recursive: true, force: true })
}

async function inBatches(size, items, fn) {
  const out = []
  for (let i = 0; i < items.length; i += size) out.push(...(await Promise.all(items.slice(i, i + size).map(fn))))
  return out
}

function run(name, cmd, args) {
  return new Promise((resolve) => {
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] })
    let output = ''
    child.stdout.on('data', (d) => (output += d))
    child.stderr.on('data', (d) => (output += d))
    child.on('close', (code) => resolve({ name, code, output }))
  })
}
