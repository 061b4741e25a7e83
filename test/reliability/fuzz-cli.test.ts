/**
 * The CLI's arguments under fast-check, driven in-process through main(argv, io): every outcome is
 * exit 0, 1 or 2 — never 3, an "unexpected failure" (an error that is neither a usage error, a CLI
 * failure nor a CloudConnectorError); a failure (1/2) says so on ONE stderr line without a stack trace,
 * or with --json as one JSON document on stdout.
 *
 * Kept off the network and the disk: the global fetch only reaches loopback, the working directory
 * is a temp dir (keygen --out writes there), and key generation is served from the fixture key so
 * that 1,000 runs fit in seconds (RSA-2048 generation is the only slow thing the CLI does).
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Readable } from 'node:stream'
import fc from 'fast-check'
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest'
import { main } from '../../src/cli/main.js'
import type { CliIo } from '../../src/cli/io.js'
import { toJwks } from '../../src/index.js'
import { loadCaseFixture } from '../cases/fixture.js'
import { mintJwt } from '../cases/mint.js'
import { budget, FIXTURE_KEY_FILE, INSTANCE_ID, SECOND_KEY_FILE, runs } from './config.js'

vi.mock('../../src/keys/import.js', async (importOriginal) => {
  const actual = await importOriginal<typeof import('../../src/keys/import.js')>()
  const { readFileSync } = await import('node:fs')
  const pem = readFileSync(new URL('../fixtures/second-key.pem', import.meta.url), 'utf8')
  return { ...actual, generateSigningKeyPem: () => pem }
})
vi.mock('../../src/emulator/keygen.js', async () => {
  const { readFileSync } = await import('node:fs')
  const { loadSigningKeySync } = await import('../../src/keys/import.js')
  const key = loadSigningKeySync(readFileSync(new URL('../fixtures/second-key.pem', import.meta.url), 'utf8'))
  return { generateSigningKeyAsync: async () => key }
})

const fx = loadCaseFixture(new Date())
const NOW = Math.floor(Date.now() / 1000)
const GOOD = mintJwt({ alg: 'RS256', typ: 'JWT', kid: fx.key.kid }, { iss: fx.issuer, sub: INSTANCE_ID, aud: ['gitlab-ai-gateway'], iat: NOW, nbf: NOW - 5, exp: NOW + 3600, gitlab_realm: 'self-managed', scopes: ['complete_code'] }, fx.key.privateKey!)

const work = mkdtempSync(join(tmpdir(), 'cc-fuzz-cli-'))
const JWKS_FILE = join(work, 'jwks.json')
const GARBAGE_FILE = join(work, 'garbage.pem')
const TRUNCATED_KEY = join(work, 'truncated.pem')
const A_DIR = join(work, 'a-dir')
const originalFetch = globalThis.fetch
const originalCwd = process.cwd()

beforeAll(() => {
  writeFileSync(JWKS_FILE, JSON.stringify(toJwks([fx.key])))
  writeFileSync(GARBAGE_FILE, 'not a key\n')
  writeFileSync(TRUNCATED_KEY, '-----BEGIN RSA PRIVATE KEY-----\nMIIEow\n')
  mkdirSync(A_DIR)
  process.chdir(work)
  // Loopback only: anything else fails as an unreachable host would.
  globalThis.fetch = (async (input: string | URL | Request, init?: RequestInit) => {
    const url = new URL(input instanceof Request ? input.url : String(input))
    if (url.hostname === '127.0.0.1') return originalFetch(input, init)
    throw new TypeError('fetch failed', { cause: Object.assign(new Error('getaddrinfo ENOTFOUND'), { code: 'ENOTFOUND' }) })
  }) as typeof fetch
})
afterAll(() => {
  globalThis.fetch = originalFetch
  process.chdir(originalCwd)
  rmSync(work, { recursive: true, force: true })
})

const COMMAND_NAMES = ['keygen', 'jwks', 'mint', 'inspect', 'verify', 'check-model', 'serve'] as const
type CommandName = (typeof COMMAND_NAMES)[number]

const freeText = fc.string({ maxLength: 16 }).filter((s) => !s.startsWith('-'))
const junk = fc.oneof(
  fc.constantFrom('', ' ', 'a\nb', '\u001b[31mred', 'é', '0', '-1', '99999999999', 'abc', 'not a url', 'ftp://x', 'http://127.0.0.1:1', ':x', 'Name: a\r\nb'),
  freeText,
  fc.string({ unit: 'binary', maxLength: 12 }),
)
/** Mostly plausible values per flag (so the commands get past their usage checks), sometimes junk. */
const plausible = (...values: string[]) => fc.oneof({ weight: 4, arbitrary: fc.constantFrom(...values) }, { weight: 1, arbitrary: junk })
const keyFile = plausible(FIXTURE_KEY_FILE, FIXTURE_KEY_FILE, SECOND_KEY_FILE, GARBAGE_FILE, TRUNCATED_KEY, A_DIR, join(work, 'missing.pem'))
const FLAG_VALUES: Record<string, fc.Arbitrary<string>> = {
  key: keyFile,
  issuer: plausible('https://gitlab.example.com', 'http://gitlab.local:8080/sub', 'https://gitlab.example.com/?q=1'),
  'instance-id': plausible(INSTANCE_ID, 'uuid-not-set', 'F798E820-207F-4849-869D-1F753EDB3312'),
  realm: plausible('self-managed', 'saas', 'dedicated'),
  scope: plausible('complete_code', 'duo_chat', 'code_suggestions', 'nope'),
  'add-on': plausible('duo_enterprise', 'duo_pro', 'duo_core', 'nope'),
  ttl: plausible('1', '3600', '86400', '86401', '0'),
  'user-id': plausible('1', '42', 'x'),
  'host-name': plausible('gitlab.example.com', 'a b'),
  'gitlab-version': plausible('18.5.4', ''),
  jwks: plausible(JWKS_FILE, GARBAGE_FILE, FIXTURE_KEY_FILE, join(work, 'missing.json')),
  'issuer-url': plausible('http://127.0.0.1:1', 'https://gitlab.example.com', 'mailto:x'),
  header: plausible('X-Gitlab-Realm: saas', 'X-Gitlab-Instance-Id: x', 'bad header', 'a b: c', 'X: é'),
  audience: plausible('gitlab-ai-gateway', 'gitlab-duo-workflow-service', ''),
  gateway: plausible('http://127.0.0.1:1', 'not a url'),
  model: plausible('mistral', 'failing'),
  endpoint: plausible('http://model:8000/v1', 'http://failing:1/v1', 'ftp://model'),
  identifier: plausible('custom_openai/mistral'),
  provider: plausible('openai', ''),
  'api-key': plausible('sk-fuzz'),
  license: plausible('online-cloud', 'offline-cloud', 'legacy', 'none', 'x'),
  policy: plausible('safe', 'rails', 'x'),
  timeout: plausible('100', '30000', '99', '600001'),
  port: plausible('0', '0', '65536', '-1'),
  'fail-model': plausible('failing', 'mistral'),
}
const FLAGS: Record<CommandName, { value: string[]; boolean: string[]; required: string[]; positional: boolean }> = {
  keygen: { value: [], boolean: [], required: [], positional: false },
  jwks: { value: ['key'], boolean: [], required: ['key'], positional: false },
  mint: { value: ['key', 'issuer', 'instance-id', 'realm', 'scope', 'add-on', 'ttl', 'user-id', 'host-name', 'gitlab-version'], boolean: [], required: ['key', 'issuer', 'instance-id'], positional: false },
  inspect: { value: [], boolean: [], required: [], positional: true },
  verify: { value: ['jwks', 'issuer-url', 'header', 'audience', 'scope'], boolean: ['--no-default-headers'], required: ['jwks'], positional: true },
  'check-model': { value: ['gateway', 'model', 'endpoint', 'identifier', 'provider', 'api-key', 'key', 'issuer', 'instance-id', 'realm', 'license', 'add-on', 'scope', 'policy', 'timeout'], boolean: [], required: ['model', 'endpoint'], positional: false },
  serve: { value: ['port', 'key', 'fail-model'], boolean: ['--bypass-auth'], required: ['port'], positional: false },
}
const ALL_VALUE_FLAGS = Object.keys(FLAG_VALUES)
/** An output path: always inside the temp dir. */
const outPath = fc.oneof(fc.constantFrom('k.pem', join(work, 'k2.pem'), A_DIR, join(work, 'no', 'such', 'dir.pem')), fc.stringMatching(/^[a-z]{1,6}\.pem$/))
const positional = fc.oneof(fc.constantFrom(GOOD, GOOD, `${GOOD}x`, `Bearer ${GOOD}`, 'a.b.c', '-', 'glpat-aaaaaaaaaaaaaaaaaaaa'), freeText)

function flagItem(name: string): fc.Arbitrary<string[]> {
  const v = FLAG_VALUES[name] ?? junk
  return fc.oneof({ weight: 4, arbitrary: v.map((x) => [`--${name}`, x]) }, { weight: 1, arbitrary: v.map((x) => [`--${name}=${x}`]) })
}

function commandArgv(cmd: CommandName): fc.Arbitrary<string[]> {
  const f = FLAGS[cmd]
  const own: fc.Arbitrary<string[]>[] = [...f.value.map(flagItem), fc.constantFrom(['--json'], ['--debug'], ...f.boolean.map((b) => [b]))]
  if (cmd === 'keygen') own.push(fc.tuple(fc.constantFrom('--out', '-o'), outPath).map(([o, p]) => [o, p]))
  if (f.value.includes('key')) own.push(keyFile.map((k) => ['-k', k]))
  if (f.value.includes('header')) own.push(FLAG_VALUES.header!.map((h) => ['-H', h]))
  if (f.positional) own.push(positional.map((p) => [p]))
  const foreign = fc.oneof(
    fc.constantFrom(...ALL_VALUE_FLAGS).chain(flagItem),
    fc.constantFrom(['--'], ['-'], ['---'], ['-x'], ['--='], ['--json=1'], ['--help'], ['-h'], ['--bogus'], ['--key']),
    freeText.map((t) => [t]),
  )
  const required = fc.tuple(...f.required.map(flagItem))
  return fc
    .tuple(
      fc.oneof({ weight: 3, arbitrary: required.map((items) => items.flat()) }, { weight: 1, arbitrary: fc.constant([] as string[]) }),
      fc.array(fc.oneof({ weight: 5, arbitrary: fc.oneof(...own) }, { weight: 1, arbitrary: foreign }), { maxLength: 6 }),
      f.positional ? fc.option(positional, { nil: undefined }) : fc.constant(undefined),
    )
    .map(([req, rest, pos]) => [cmd, ...req, ...rest.flat(), ...(pos === undefined ? [] : [pos])])
}

const argv = fc.oneof(
  { weight: 12, arbitrary: fc.constantFrom(...COMMAND_NAMES).chain(commandArgv) },
  { weight: 1, arbitrary: fc.tuple(fc.oneof(fc.constantFrom('help', '--version', '-v', 'Mint', '', 'a\nb', '\u001b]0;x\u0007'), fc.string({ maxLength: 10 })), fc.array(junk, { maxLength: 3 })).map(([c, rest]) => [c, ...rest]) },
)
const env = fc.oneof(
  fc.constant({}),
  fc.record({ GITLAB_URL: FLAG_VALUES.issuer!, GITLAB_INSTANCE_ID: FLAG_VALUES['instance-id']!, CLOUD_CONNECTOR_KEY_FILE: fc.constantFrom(FIXTURE_KEY_FILE, GARBAGE_FILE), NO_COLOR: fc.constant('1'), MODEL_API_KEY: fc.string({ maxLength: 8 }), GITLAB_GLOBAL_USER_ID_SALT: fc.string({ maxLength: 8 }) }, { requiredKeys: [] }),
)

async function run(args: string[], environment: Record<string, string>, stdinText: string, tty: boolean): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = ''
  let stderr = ''
  const stdin = Readable.from([Buffer.from(stdinText)]) as unknown as CliIo['stdin']
  ;(stdin as { isTTY?: boolean }).isTTY = tty
  const io: CliIo = {
    stdout: { write: (s: string) => (stdout += s), isTTY: tty },
    stderr: { write: (s: string) => (stderr += s), isTTY: tty },
    stdin,
    env: environment,
    untilSignal: () => Promise.resolve('SIGTERM'),
  }
  const code = await main(args, io)
  return { code, stdout, stderr }
}

describe('fuzz: the CLI arguments', () => {
  it(
    'main(argv): exit 0/1/2, a failure is one stderr line (or one JSON document) without a stack, never an unexpected failure',
    async () => {
      const codes: Record<number, number> = {}
      await fc.assert(
        fc.asyncProperty(argv, env, fc.oneof(fc.constant(GOOD), fc.string({ maxLength: 20 })), fc.boolean(), async (args, environment, stdinText, tty) => {
          const r = await run(args, environment as Record<string, string>, stdinText, tty)
          codes[r.code] = (codes[r.code] ?? 0) + 1
          const where = JSON.stringify(args)
          expect([0, 1, 2], where).toContain(r.code)
          expect(r.stderr, where).not.toMatch(/unexpected failure/)
          // what reaches the terminal cannot drive it: no control character but the CLI's own styling
          for (const out of [r.stdout, r.stderr]) expect(out.replace(/\u001b\[\d+m/g, '').replace(/\r\u001b\[2K/g, ''), where).not.toMatch(/[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]/)
          if (!args.includes('--debug')) expect(r.stderr, where).not.toMatch(/\n\s+at /)
          if (r.code !== 0) {
            // the flags that shape error output count before a '--' only
            const own = args.indexOf('--') === -1 ? args : args.slice(0, args.indexOf('--'))
            const stderrLines = r.stderr.replace(/\u001b\[\d+m/g, '').split('\n')
            const errors = stderrLines.filter((l) => l.startsWith('error: '))
            if (own.includes('--json') && !own.includes('--help') && !own.includes('-h')) {
              expect(() => JSON.parse(r.stdout), `${where}\n${r.stdout}`).not.toThrow()
              expect(errors, where).toEqual([])
            } else {
              expect(errors.length, `${where}\n${r.stderr}`).toBeLessThanOrEqual(1)
              if (!own.includes('--debug') && !own.includes('--verbose')) {
                // nothing but the error line and warnings
                expect(stderrLines.filter((l) => l !== '' && !l.startsWith('error: ') && !l.startsWith('warning: ')), `${where}\n${r.stderr}`).toEqual([])
              }
              if (r.code === 2) expect(errors.length, `${where}\n${r.stderr}`).toBe(1)
            }
          }
        }),
        { numRuns: runs(1000) },
      )
      // the generator reaches past the usage checks: commands succeed and refuse, not only exit 2
      expect(codes[0] ?? 0).toBeGreaterThan(runs(1000) / 20)
      expect(codes[1] ?? 0).toBeGreaterThan(runs(1000) / 20)
    },
    budget(45_000),
  )
})
