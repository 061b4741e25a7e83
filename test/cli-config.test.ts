/**
 * The CLI without repetition: the instance settings of mint, check-model and verify from a flag, else its
 * environment variable, else a config file (--config, CLOUD_CONNECTOR_CONFIG, ./cloud-connector.json). Each
 * exit path has its test; check-model and verify reach the emulator over real sockets.
 */
import { copyFileSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { loadSigningKey } from '../src/index.js'
import { startEmulator, type Emulator } from '../src/emulator/index.js'
import { KEY_FILE, oneJson, runCli } from './cli-support.js'
import { KEY_PEM } from './client-support.js'

const ID_FILE = '3f2a9d4e-1b7c-4e8f-9a6d-2c5b8e1f0a34'
const ID_ENV = '0b4c9e1a-7f2d-4a3b-8c6e-5d1f9a2b3c4d'
const ID_FLAG = '7d1e2f3a-4b5c-4d6e-8f7a-9b0c1d2e3f4a'

/** A directory holding a key and a config file naming it relatively (as a user keeps them side by side). */
function project(config: unknown, name = 'cloud-connector.json'): { dir: string; file: string } {
  const dir = mkdtempSync(join(tmpdir(), 'cc-config-'))
  mkdirSync(join(dir, 'keys'))
  copyFileSync(KEY_FILE, join(dir, 'keys', 'instance.pem'))
  const file = join(dir, name)
  writeFileSync(file, typeof config === 'string' ? config : JSON.stringify(config))
  return { dir, file }
}

const SETTINGS = {
  instance: { url: 'https://gitlab.example.com', id: ID_FILE, realm: 'self-managed', version: '18.5.4' },
  keyFile: 'keys/instance.pem',
  license: 'offline-cloud',
  addOns: ['duo_enterprise'],
}

interface Minted {
  claims: { iss: string; sub: string; gitlab_realm: string; scopes: string[] }
  headers: Record<string, string>
}

describe('mint: the instance from a config file', () => {
  it('--config FILE alone: the token and headers of the instance it describes, the key file relative to it', async () => {
    const { file } = project(SETTINGS)
    // run elsewhere: keyFile is found next to the config file, not in the working directory
    const r = await runCli(['mint', '--config', file, '--json'], { cwd: tmpdir() })
    expect(r.stderr).toBe('')
    expect(r.code).toBe(0)
    const { claims, headers } = oneJson<Minted>(r)
    expect(claims).toMatchObject({ iss: 'https://gitlab.example.com', sub: ID_FILE, gitlab_realm: 'self-managed' })
    expect(claims.scopes).toContain('complete_code')
    expect(headers).toMatchObject({ 'x-gitlab-instance-id': ID_FILE, 'x-gitlab-version': '18.5.4', 'x-gitlab-host-name': 'gitlab.example.com' })
  })

  it('./cloud-connector.json is read without any flag; CLOUD_CONNECTOR_CONFIG names another file', async () => {
    const { dir } = project(SETTINGS)
    const byDefault = await runCli(['mint', '--json'], { cwd: dir })
    expect(byDefault.code).toBe(0)
    expect(oneJson<Minted>(byDefault).claims.sub).toBe(ID_FILE)

    const other = project({ ...SETTINGS, instance: { ...SETTINGS.instance, id: ID_ENV } }, 'elsewhere.json')
    const byEnv = await runCli(['mint', '--json'], { cwd: dir, env: { CLOUD_CONNECTOR_CONFIG: other.file } })
    expect(byEnv.code).toBe(0)
    expect(oneJson<Minted>(byEnv).claims.sub).toBe(ID_ENV)
  })

  it('a flag wins over its variable, which wins over the file', async () => {
    const { dir } = project(SETTINGS)
    const sub = async (argv: string[], env: Record<string, string>) => oneJson<Minted>(await runCli(['mint', '--json', ...argv], { cwd: dir, env })).claims.sub
    expect(await sub(['--instance-id', ID_FLAG], { GITLAB_INSTANCE_ID: ID_ENV })).toBe(ID_FLAG)
    expect(await sub([], { GITLAB_INSTANCE_ID: ID_ENV })).toBe(ID_ENV)
    expect(await sub([], {})).toBe(ID_FILE)
  })

  it('GITLAB_REALM, GITLAB_ADD_ONS and GITLAB_VERSION stand in for --realm, --add-on and --gitlab-version', async () => {
    const r = await runCli(['mint', '--key', KEY_FILE, '--issuer', 'https://gitlab.example.com', '--instance-id', ID_FLAG, '--json'], {
      cwd: tmpdir(),
      env: { GITLAB_REALM: 'saas', GITLAB_ADD_ONS: 'duo_pro, duo_enterprise', GITLAB_VERSION: '18.6.1' },
    })
    expect(r.code).toBe(0)
    const { claims, headers } = oneJson<Minted>(r)
    expect(claims.gitlab_realm).toBe('saas')
    expect(claims.scopes).toContain('duo_chat')
    expect(headers['x-gitlab-version']).toBe('18.6.1')
  })

  it('a bad value is reported where it was written (exit 2)', async () => {
    const { file } = project({ ...SETTINGS, instance: { ...SETTINGS.instance, realm: 'dedicated' } })
    const r = await runCli(['mint', '--config', file], { cwd: tmpdir() })
    expect(r.code).toBe(2)
    expect(r.stderr).toBe(`error: mint: instance.realm in ${file} must be 'self-managed' or 'saas', got 'dedicated'.\n`)
    const env = await runCli(['mint', '--config', file], { cwd: tmpdir(), env: { GITLAB_ADD_ONS: 'duo_gold' } })
    expect(env.stderr).toBe(`error: mint: instance.realm in ${file} must be 'self-managed' or 'saas', got 'dedicated'.\n`)
    const addOn = await runCli(['mint', '--config', project(SETTINGS).file], { cwd: tmpdir(), env: { GITLAB_ADD_ONS: 'duo_gold' } })
    expect(addOn.code).toBe(2)
    expect(addOn.stderr).toMatch(/^error: mint: GITLAB_ADD_ONS 'duo_gold' is not an add-on; known: /)
  })

  it('a setting given nowhere: exit 2 naming the flag, the variable and the file member', async () => {
    const { file } = project({ instance: { url: 'https://gitlab.example.com' }, keyFile: 'keys/instance.pem' })
    const r = await runCli(['mint', '--config', file], { cwd: tmpdir() })
    expect(r.code).toBe(2)
    expect(r.stderr).toBe(
      `error: mint: --instance-id is required (or set GITLAB_INSTANCE_ID or "instance.id" in the config file, --config FILE or ./cloud-connector.json). See 'cloud-connector mint --help'.\n`,
    )
  })
})

describe('the config file itself: every way it can be wrong is exit 1, naming the file', () => {
  it('--config names a file that does not exist', async () => {
    const r = await runCli(['mint', '--config', '/nonexistent/cc.json'], { cwd: tmpdir() })
    expect(r.code).toBe(1)
    expect(r.stderr).toBe("error: mint: cannot read config file '/nonexistent/cc.json': no such file.\n")
  })

  it('not JSON, not an object, an unknown member, a wrong type (also the default file, and with --json)', async () => {
    const cases: [unknown, string][] = [
      ['{ "instance": ', 'is not JSON: write an object such as {"instance": {"url": "https://gitlab.example.com", "id": "<uuid>"}, "keyFile": "instance-key.pem"}.'],
      [['x'], ': must be a JSON object of settings.'],
      [{ ...SETTINGS, instance: { ...SETTINGS.instance, uri: 'x' } }, ': "instance.uri" is not a setting; known: instance.{url,id,realm,version}, keyFile, addOns, license, gateway, policy.'],
      [{ ...SETTINGS, addOns: 'duo_pro' }, ': "addOns" must be an array of add-on names, e.g. ["duo_enterprise"].'],
      [{ ...SETTINGS, keyFile: '' }, ': "keyFile" must not be empty.'],
    ]
    for (const [content, says] of cases) {
      const { dir, file } = project(content)
      const r = await runCli(['mint'], { cwd: dir })
      expect(r.code).toBe(1)
      expect(r.stderr).toBe(`error: mint: config file '${file}'${says.startsWith(':') ? '' : ' '}${says} [ERR_CONFIG_INVALID]\n`)
      const json = await runCli(['mint', '--json'], { cwd: dir })
      expect(json.code).toBe(1)
      expect(oneJson(json)).toMatchObject({ ok: false, command: 'mint', code: 'ERR_CONFIG_INVALID' })
    }
  })
})

describe('check-model and verify from the config file, over real sockets', () => {
  let emulator: Emulator
  beforeAll(async () => {
    emulator = await startEmulator({ key: await loadSigningKey(KEY_PEM) })
  })
  afterAll(() => emulator.stop())

  it('check-model: the gateway from the file; one model check reaches it, with the headers of the instance', async () => {
    emulator.reset()
    const { dir } = project({ ...SETTINGS, gateway: emulator.gatewayUrl })
    const r = await runCli(['check-model', '--model', 'mistral', '--endpoint', 'http://model:8000/v1', '--json'], { cwd: dir })
    expect(r.code).toBe(0)
    expect(oneJson(r)).toMatchObject({ ok: true, embedded: false, status: 200 })
    const sent = emulator.requests.filter((x) => x.side === 'gateway')
    expect(sent.map((x) => `${x.method} ${x.decodedPath} ${x.status}`)).toEqual(['POST /v1/prompts/model_configuration/check 200'])
    expect(sent[0]!.headers).toMatchObject({ 'x-gitlab-instance-id': ID_FILE, 'x-gitlab-version': '18.5.4', 'x-gitlab-realm': 'self-managed' })
  })

  it('check-model: a bad license or policy in the file is exit 2 naming the member', async () => {
    const { file } = project({ ...SETTINGS, gateway: emulator.gatewayUrl, policy: 'lenient' })
    const r = await runCli(['check-model', '--config', file, '--model', 'm', '--endpoint', 'http://model:8000/v1'], { cwd: tmpdir() })
    expect(r.code).toBe(2)
    expect(r.stderr).toBe(`error: check-model: policy in ${file} must be 'safe' or 'rails'.\n`)
    const lic = project({ ...SETTINGS, gateway: emulator.gatewayUrl, license: 'gold' })
    const l = await runCli(['check-model', '--config', lic.file, '--model', 'm', '--endpoint', 'http://model:8000/v1'], { cwd: tmpdir() })
    expect(l.code).toBe(2)
    expect(l.stderr).toBe(`error: check-model: license in ${lic.file} must be one of online-cloud, offline-cloud, legacy, none.\n`)
  })

  it("verify: without --jwks or --issuer-url, the keys are discovered from the file's instance URL (accepted, exit 0)", async () => {
    const { dir } = project({ instance: { url: emulator.instanceUrl } })
    const { token } = await emulator.instance.issuer.issue({ scopes: ['complete_code'] })
    const r = await runCli(['verify', token, '--scope', 'complete_code', '--json'], { cwd: dir })
    expect(r.code).toBe(0)
    expect(oneJson(r)).toMatchObject({ accepted: true, status: 200 })
    expect(emulator.countRequests({ side: 'instance' })).toBeGreaterThan(0)
  })

  it('verify: an instance URL that is not http(s) is exit 2 naming its source; none at all is exit 2 saying where to put it', async () => {
    const bad = await runCli(['verify', 'x'], { cwd: tmpdir(), env: { GITLAB_URL: 'ftp://gitlab' } })
    expect(bad.code).toBe(2)
    expect(bad.stderr).toMatch(/^error: verify: GITLAB_URL must be an http\(s\) URL/)
    const none = await runCli(['verify', 'x'], { cwd: tmpdir() })
    expect(none.code).toBe(2)
    expect(none.stderr).toBe(
      "error: verify: give the trusted keys with --jwks FILE or --issuer-url URL (repeatable), or the instance URL in GITLAB_URL or a config file (instance.url). See 'cloud-connector verify --help'.\n",
    )
  })
})
