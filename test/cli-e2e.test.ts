/**
 * End to end with the built CLI (dist/cli/index.js, built by `npm test`'s pretest) over real
 * loopback sockets: keygen → jwks → mint → verify; serve + check-model --gateway; inspect ''.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createServer } from 'node:net'
import { readFileSync } from 'node:fs'
import { createInterface } from 'node:readline'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'

const CLI = new URL('../dist/cli/index.js', import.meta.url).pathname
const ROOT = new URL('..', import.meta.url).pathname
const dir = mkdtempSync(join(tmpdir(), 'cc-e2e-'))
const INSTANCE_ID = '0b6a3c0e-6d5c-4c6b-9a53-2b1f1f0c6d11'

interface Result {
  code: number | null
  stdout: string
  stderr: string
}

function cli(args: string[], input?: string, cwd?: string): Promise<Result> {
  return node([CLI, ...args], cwd, input)
}

function node(args: string[], cwd?: string, input?: string): Promise<Result> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, args, { stdio: ['pipe', 'pipe', 'pipe'], env: { ...process.env, NO_COLOR: '1' }, ...(cwd ? { cwd } : {}) })
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()))
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()))
    child.on('error', reject)
    child.on('close', (code) => resolve({ code, stdout, stderr }))
    child.stdin.end(input ?? '')
  })
}

beforeAll(() => {
  if (!existsSync(CLI)) throw new Error(`${CLI} is missing: run 'npm run build' first (npm test does it in pretest).`)
})

describe('the built CLI', () => {
  it('keygen → jwks → mint → verify: accepted', async () => {
    const key = join(dir, 'instance.pem')
    expect((await cli(['keygen', '--out', key])).code).toBe(0)
    const jwks = await cli(['jwks', '--key', key])
    expect(jwks.code).toBe(0)
    const jwksFile = join(dir, 'jwks.json')
    writeFileSync(jwksFile, jwks.stdout)
    const minted = await cli(['mint', '--key', key, '--issuer', 'https://gitlab.example.com', '--instance-id', INSTANCE_ID, '--add-on', 'duo_enterprise', '--json'])
    expect(minted.code).toBe(0)
    const { token, claims } = JSON.parse(minted.stdout) as { token: string; claims: { scopes: string[] } }
    expect(claims.scopes).toContain('complete_code')
    const verdict = await cli(['verify', '-', '--jwks', jwksFile, '--scope', 'complete_code', '--json'], token)
    expect(verdict.code).toBe(0)
    expect(JSON.parse(verdict.stdout)).toMatchObject({ accepted: true, status: 200 })
  })

  it("inspect '' explains the empty token (exit 1)", async () => {
    const r = await cli(['inspect', ''])
    expect(r.code).toBe(1)
    expect(r.stdout).toMatch(/No token at all/)
    expect(r.stdout).toMatch(/Not enough segments/)
    expect(r.stderr).toBe('')
  })

  it('a usage error exits 2 without a stack trace', async () => {
    const r = await cli(['mint', '--nope'])
    expect(r.code).toBe(2)
    expect(r.stderr).toMatch(/^error: mint: Unknown option '--nope'/)
    expect(r.stderr).not.toMatch(/\n\s+at /)
  })

  describe('serve + check-model --gateway', () => {
    let server: ChildProcess
    let info: { gatewayUrl: string; instanceUrl: string; instanceId: string }
    const key = join(dir, 'served.pem')

    beforeAll(async () => {
      expect((await cli(['keygen', '--out', key])).code).toBe(0)
      server = spawn(process.execPath, [CLI, 'serve', '--key', key, '--json'], { stdio: ['ignore', 'pipe', 'pipe'] })
      // serve --json prints one JSON object (pretty-printed) and then waits
      let text = ''
      const lines = createInterface({ input: server.stdout! })
      info = await new Promise((resolve, reject) => {
        server.once('exit', (c) => reject(new Error(`serve exited early (${c})`)))
        lines.on('line', (line) => {
          text += line
          if (line === '}') resolve(JSON.parse(text) as typeof info)
        })
      })
    })

    afterAll(async () => {
      if (server.exitCode !== null) return
      const exited = new Promise((r) => server.once('exit', r))
      server.kill('SIGTERM')
      await exited
    })

    const base = () => ['--gateway', info.gatewayUrl, '--key', key, '--issuer', info.instanceUrl, '--instance-id', info.instanceId, '--add-on', 'duo_enterprise']
    const model = ['--model', 'mistral', '--endpoint', 'http://model:8000/v1', '--identifier', 'custom_openai/mistral']

    it('200 with a self-issued token the gateway finds by OIDC discovery', async () => {
      const r = await cli(['check-model', ...model, ...base(), '--json'])
      expect(r.stderr).toBe('')
      expect(r.code).toBe(0)
      expect(JSON.parse(r.stdout)).toMatchObject({ ok: true, status: 200, embedded: false })
    })

    it('403 and exit 1 for a token whose scopes lack complete_code', async () => {
      const r = await cli(['check-model', ...model, ...base(), '--scope', 'duo_chat', '--json'])
      expect(r.code).toBe(1)
      const out = JSON.parse(r.stdout) as { ok: boolean; status: number; findings: { code: string; status: number }[] }
      expect(out).toMatchObject({ ok: false, status: 403 })
      // and the gateway itself, asked by verify over OIDC discovery, answers the same
      const minted = await cli(['mint', '--key', key, '--issuer', info.instanceUrl, '--instance-id', info.instanceId, '--add-on', 'duo_enterprise', '--scope', 'duo_chat'])
      const v = await cli(['verify', minted.stdout.trim(), '--issuer-url', info.instanceUrl, '--scope', 'complete_code', '--json'])
      expect(v.code).toBe(1)
      expect(JSON.parse(v.stdout)).toMatchObject({ accepted: false, status: 403 })
    })

    it('serve --port N listens on N: the README Quick start, as written (its port aside), gets 200 from it', async () => {
      const port = await freePort()
      const { shell, code } = quickStart(port)
      // the README's commands, run in a directory of their own, with this port for 5052
      const work = mkdtempSync(join(ROOT, '.quickstart-'))
      const [keygen, serve] = shell.map((line) => line.replace(/^npx cloud-connector /, '').replace(/\s+#.*$/, '').split(/\s+/))
      expect(keygen).toEqual(['keygen', '--out', 'instance-key.pem'])
      expect(serve).toEqual(['serve', '--port', String(port), '--key', 'instance-key.pem'])
      let server: ChildProcess | undefined
      try {
        expect((await cli(keygen!, undefined, work)).code).toBe(0)
        const quick = spawn(process.execPath, [CLI, ...serve!], { cwd: work, stdio: ['ignore', 'pipe', 'pipe'] })
        server = quick
        const banner = await new Promise<string>((resolve, reject) => {
          let text = ''
          quick.once('exit', (c) => reject(new Error(`serve exited (${c})`)))
          quick.stdout!.on('data', (d: Buffer) => {
            text += d.toString()
            if (text.includes('Ctrl-C')) resolve(text)
          })
        })
        expect(banner).toContain(`gateway   http://127.0.0.1:${port}\n`)
        // the code block as a file of the user's project: 'cloud-connector-sdk' resolves to this package's build
        writeFileSync(join(work, 'quick-start.mjs'), code)
        const run = await node([join(work, 'quick-start.mjs')], work)
        expect(run.stderr).toBe('')
        expect(run.code).toBe(0)
        expect(run.stdout).toMatch(/^200 /)
      } finally {
        if (server && server.exitCode === null) {
          const exited = new Promise((r) => server!.once('exit', r))
          server.kill('SIGTERM')
          await exited
        }
        rmSync(work, { recursive: true, force: true })
      }
    })

    it('stops cleanly on SIGTERM', async () => {
      const exited = new Promise<number | null>((r) => server.once('exit', (c) => r(c)))
      server.kill('SIGTERM')
      expect(await exited).toBe(0)
    })
  })
})

/**
 * README's Quick start: its shell lines (keygen, serve) and its first code block, with `port` for 5052 — the
 * one change, so that the test runs what a reader runs.
 */
function quickStart(port: number): { shell: string[]; code: string } {
  const readme = readFileSync(join(ROOT, 'README.md'), 'utf8')
  const section = readme.slice(readme.indexOf('## Quick start'))
  const block = (lang: string) => {
    const m = new RegExp('```' + lang + '\\n([\\s\\S]*?)```').exec(section)
    if (!m) throw new Error(`README Quick start has no ${lang} block`)
    return m[1]!.replaceAll('5052', String(port))
  }
  return { shell: block('sh').trim().split('\n'), code: block('ts') }
}

/** A port nothing listens on right now. */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer()
    probe.once('error', reject)
    probe.listen(0, '127.0.0.1', () => {
      const { port } = probe.address() as { port: number }
      probe.close(() => resolve(port))
    })
  })
}
