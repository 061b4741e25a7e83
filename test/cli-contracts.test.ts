/**
 * The CLI's contracts across commands: a usage error always exits 2 (whatever flag it is about, from the
 * command line or the environment), and with --json every command prints its errors as one JSON document on
 * stdout, nothing on stderr.
 */
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { KEY_FILE, oneJson, runCli } from './cli-support.js'

const INSTANCE_ID = 'f798e820-207f-4849-869d-1f753edb3312'
const ISSUER = 'https://gitlab.example.com'
const dir = mkdtempSync(join(tmpdir(), 'cc-contracts-'))
const existing = join(dir, 'existing.pem')
writeFileSync(existing, 'x')
const mint = ['mint', '--key', KEY_FILE, '--issuer', ISSUER, '--instance-id', INSTANCE_ID, '--add-on', 'duo_pro']

describe('usage errors always exit 2', () => {
  const cases: [string, string[], NodeJS.ProcessEnv, RegExp][] = [
    ['an invalid --issuer', ['mint', '--key', KEY_FILE, '--issuer', 'gitlab.example.com', '--instance-id', INSTANCE_ID, '--add-on', 'duo_pro'], {}, /--issuer must be an http\(s\) URL/],
    ['an invalid GITLAB_URL', ['mint', '--key', KEY_FILE, '--instance-id', INSTANCE_ID, '--add-on', 'duo_pro'], { GITLAB_URL: 'ftp://x' }, /GITLAB_URL must be an http\(s\) URL/],
    ['an invalid --instance-id', ['mint', '--key', KEY_FILE, '--issuer', ISSUER, '--instance-id', 'abc', '--add-on', 'duo_pro'], {}, /--instance-id must be the instance UUID/],
    ['an invalid GITLAB_INSTANCE_ID', ['mint', '--key', KEY_FILE, '--issuer', ISSUER, '--add-on', 'duo_pro'], { GITLAB_INSTANCE_ID: '1234' }, /GITLAB_INSTANCE_ID must be the instance UUID/],
    ['an invalid --ttl', [...mint, '--ttl', '0'], {}, /--ttl must be an integer from 1 to 86400/],
    ['an invalid --realm', [...mint, '--realm', 'dedicated'], {}, /--realm must be 'self-managed' or 'saas'/],
    ['an unknown --add-on', [...mint, '--add-on', 'duo_plus'], {}, /--add-on 'duo_plus' is not an add-on/],
    ['an invalid --user-id', [...mint, '--user-id', '4x'], { GITLAB_GLOBAL_USER_ID_SALT: 's' }, /--user-id must be a GitLab user id/],
    ['--user-id without its salt', [...mint, '--user-id', '42'], {}, /--user-id needs GITLAB_GLOBAL_USER_ID_SALT/],
    ['an invalid --at', ['inspect', 'x', '--at', 'soon'], {}, /--at must be an ISO 8601/],
    ['an invalid --gateway', ['check-model', '--gateway', 'aigw:5052', '--model', 'm', '--endpoint', 'http://m'], {}, /--gateway must be an http\(s\) URL/],
    ['an invalid AI_GATEWAY_URL', ['check-model', '--model', 'm', '--endpoint', 'http://m'], { AI_GATEWAY_URL: 'http://u:p@aigw' }, /AI_GATEWAY_URL must be an http\(s\) URL/],
    ['an invalid --timeout', ['check-model', '--model', 'm', '--endpoint', 'http://m', '--timeout', '50'], {}, /--timeout must be an integer from 100 to 600000/],
    ['an invalid --issuer-url', ['verify', 'x', '--issuer-url', 'gitlab'], {}, /--issuer-url must be an http\(s\) URL/],
    ['an invalid --header', ['verify', 'x', '--jwks', 'j.json', '--header', 'nocolon'], {}, /--header must look like "Name: value"/],
    ['an invalid --port', ['serve', '--port', '70000'], {}, /--port must be an integer from 0 to 65535/],
    ['an unknown flag', ['jwks', '--kee', KEY_FILE], {}, /Unknown option '--kee'/],
  ]
  for (const [what, argv, env, message] of cases) {
    it(what, async () => {
      const r = await runCli(argv, { env })
      expect(r.code).toBe(2)
      expect(r.stdout).toBe('')
      expect(r.stderr).toMatch(message)
      expect(r.stderr.split('\n')).toHaveLength(2) // one line
    })
  }
})

describe('--json: errors as one JSON document on stdout, for every command', () => {
  const cases: [string, string[], number, string][] = [
    ['keygen', ['keygen', '--out', existing], 1, 'ERR_CLI'],
    ['jwks', ['jwks', '--key', existing], 1, 'ERR_KEY_INVALID'],
    ['mint', ['mint', '--key', KEY_FILE, '--issuer', ISSUER, '--instance-id', INSTANCE_ID], 1, 'ERR_SCOPE_NOT_ENTITLED'],
    ['mint (usage)', [...mint, '--ttl', 'x'], 2, 'ERR_USAGE'],
    ['inspect (usage)', ['inspect', 'a', 'b'], 2, 'ERR_USAGE'],
    ['verify', ['verify', 'x', '--jwks', join(dir, 'missing.json')], 1, 'ERR_CLI'],
    ['verify (usage)', ['verify', 'x'], 2, 'ERR_USAGE'],
    ['check-model (usage)', ['check-model', '--endpoint', 'http://m'], 2, 'ERR_USAGE'],
    ['serve', ['serve', '--key', existing], 1, 'ERR_KEY_INVALID'],
    ['an unknown command', ['nope'], 2, 'ERR_USAGE'],
  ]
  for (const [what, argv, exit, code] of cases) {
    it(what, async () => {
      const r = await runCli([...argv, '--json'])
      expect(r.code).toBe(exit)
      expect(r.stderr).toBe('')
      const out = oneJson<{ ok: boolean; command: string; code: string; message: string; findings: unknown[] }>(r)
      expect(out).toMatchObject({ ok: false, command: argv[0] === 'nope' ? 'cloud-connector' : argv[0], code })
      expect(typeof out.message).toBe('string')
      expect(out.message.length).toBeLessThanOrEqual(200)
      expect(Array.isArray(out.findings)).toBe(true)
    })
  }

  it('--verbose adds the details; a "--" ends the flags (a "--json" after it is a value)', async () => {
    const verbose = oneJson<{ details: string[] }>(await runCli(['jwks', '--key', existing, '--json', '--verbose']))
    expect(verbose.details[0]).toMatch(/^detail: /)
    const literal = await runCli(['inspect', '--', '--json'])
    expect(literal.code).toBe(1)
    expect(literal.stdout).toMatch(/^checked {2}the structure/)
  })
})
