/**
 * The main job as a new user runs it: `npm run check-model` = `tsx examples/check-model.ts`, as a child
 * process with no configuration (embedded emulator). It must exit 0 and show both halves of the story.
 */
import { spawn } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import { loadSigningKeySync } from '../src/index.js'

const TSX = new URL('../node_modules/tsx/dist/cli.mjs', import.meta.url).pathname
const EXAMPLE = new URL('../examples/check-model.ts', import.meta.url).pathname
const MINT_EXAMPLE = new URL('../examples/mint.ts', import.meta.url).pathname
const SERVICE_EXAMPLE = new URL('../examples/service.ts', import.meta.url).pathname
const FIXTURE_KEY = new URL('./fixtures/instance-key.pem', import.meta.url).pathname

function runExample(env: NodeJS.ProcessEnv, example = EXAMPLE): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [TSX, example], { env, stdio: ['ignore', 'pipe', 'pipe'] })
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()))
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()))
    child.on('error', reject)
    child.on('close', (code) => resolve({ code, stdout, stderr }))
  })
}

describe('examples/check-model.ts', () => {
  it('catches the empty token before sending, then the model check answers 200', async () => {
    const apiKey = 'sk-example-canary-0123456789'
    const env: NodeJS.ProcessEnv = { ...process.env, MODEL_API_KEY: apiKey }
    delete env.AI_GATEWAY_URL
    const r = await runExample(env)
    expect(r.stderr).toBe('')
    expect(r.code).toBe(0)
    expect(r.stdout).toContain('token source for complete_code: none (no-synced-token)')
    expect(r.stdout).toContain('NOT SENT [ERR_PREFLIGHT_REJECTED]: the gateway would answer 401 {"error":"Forbidden by auth provider"}')
    expect(r.stdout).toContain('TOKEN_SOURCE_NONE (gateway log: Not enough segments)')
    expect(r.stdout).toContain('requests that reached the gateway: 0')
    expect(r.stdout).toContain('token source for complete_code: self-issued (offline-license)')
    expect(r.stdout).toMatch(/POST \/v1\/prompts\/model_configuration%2Fcheck → 200/)
    expect(r.stdout).toContain('OK: the empty token was caught before sending; model check answered 200.')
    expect(r.stdout).not.toContain(apiKey)
  })

  it('asks for the instance settings when pointed at a real gateway without them', async () => {
    const env: NodeJS.ProcessEnv = { ...process.env, AI_GATEWAY_URL: 'http://127.0.0.1:9' }
    delete env.CLOUD_CONNECTOR_KEY_FILE
    const r = await runExample(env)
    expect(r.code).toBe(2)
    expect(r.stderr).toContain('check-model: set CLOUD_CONNECTOR_KEY_FILE (needed with AI_GATEWAY_URL)')
  })
})

/** The environment without the variables the examples read, so that a developer's own settings do not leak in. */
function cleanEnv(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, ...extra }
  for (const name of ['CLOUD_CONNECTOR_KEY_FILE', 'GITLAB_URL', 'GITLAB_INSTANCE_ID', 'AI_GATEWAY_URL', 'KEY_FILE', 'INSTANCE_ID']) if (!(name in extra)) delete env[name]
  return env
}

describe('examples/mint.ts', () => {
  const fixtureKid = loadSigningKeySync(readFileSync(FIXTURE_KEY, 'utf8')).kid

  it('reads the documented CLOUD_CONNECTOR_KEY_FILE, GITLAB_URL and GITLAB_INSTANCE_ID', async () => {
    const r = await runExample(cleanEnv({ CLOUD_CONNECTOR_KEY_FILE: FIXTURE_KEY, GITLAB_URL: 'https://gl.example.org', GITLAB_INSTANCE_ID: '0b6a3c0e-6d5c-4c6b-9a53-2b1f1f0c6d11' }), MINT_EXAMPLE)
    expect(r.code).toBe(0)
    expect(r.stderr).toBe('')
    const out = JSON.parse(r.stdout.slice(0, r.stdout.lastIndexOf('\ntoken: '))) as { header: { kid: string }; claims: { iss: string; sub: string } }
    expect(out.header.kid).toBe(fixtureKid)
    expect(out.claims).toMatchObject({ iss: 'https://gl.example.org', sub: '0b6a3c0e-6d5c-4c6b-9a53-2b1f1f0c6d11' })
  })

  it('without a key file it never signs with the committed test key: it generates one and says so', async () => {
    const r = await runExample(cleanEnv({ KEY_FILE: FIXTURE_KEY, INSTANCE_ID: '0b6a3c0e-6d5c-4c6b-9a53-2b1f1f0c6d11' }), MINT_EXAMPLE)
    expect(r.code).toBe(0)
    expect(r.stderr).toContain('note: CLOUD_CONNECTOR_KEY_FILE is not set: signing with a key generated for this run, which no gateway trusts.')
    const out = JSON.parse(r.stdout.slice(0, r.stdout.lastIndexOf('\ntoken: '))) as { header: { kid: string }; claims: { sub: string } }
    // the old, undocumented KEY_FILE / INSTANCE_ID are not read
    expect(out.header.kid).not.toBe(fixtureKid)
    expect(out.claims.sub).toBe('f798e820-207f-4849-869d-1f753edb3312')
  })
})

describe('examples/service.ts', () => {
  it('refuses to start against a real gateway without the instance settings (no silent default key)', async () => {
    const r = await runExample(cleanEnv({ AI_GATEWAY_URL: 'http://127.0.0.1:9', GITLAB_URL: 'https://gitlab.example.com' }), SERVICE_EXAMPLE)
    expect(r.code).toBe(2)
    expect(r.stderr).toBe('service: set CLOUD_CONNECTOR_KEY_FILE (needed with AI_GATEWAY_URL)\n')
  })
})
