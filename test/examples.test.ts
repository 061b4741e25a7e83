/**
 * The main job as a new user runs it: `npm run check-model` = `tsx examples/check-model.ts`, as a child
 * process with no configuration (embedded emulator). It must exit 0 and show both halves of the story.
 */
import { spawn } from 'node:child_process'
import { describe, expect, it } from 'vitest'

const TSX = new URL('../node_modules/tsx/dist/cli.mjs', import.meta.url).pathname
const EXAMPLE = new URL('../examples/check-model.ts', import.meta.url).pathname

function runExample(env: NodeJS.ProcessEnv): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [TSX, EXAMPLE], { env, stdio: ['ignore', 'pipe', 'pipe'] })
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
