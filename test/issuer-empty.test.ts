/**
 * The issuer refuses to mint a token the gateway always refuses — no scopes, no audience — naming the add-ons
 * that would grant something; `allowEmpty` mints it on purpose. Over a real socket, the CLI stops before
 * sending anything.
 */
import { readFileSync } from 'node:fs'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  CatalogError,
  createGatewayVerifier,
  createTokenIssuer,
  loadSigningKeySync,
  toJwks,
  TokenError,
} from '../src/index.js'
import { createCatalog } from '../src/catalog/index.js'
import { startEmulator, type Emulator } from '../src/emulator/index.js'
import { KEY_FILE, oneJson, runCli } from './cli-support.js'
import { rejection } from './reliability/config.js'

const KEY = loadSigningKeySync(readFileSync(KEY_FILE, 'utf8'))
const INSTANCE_ID = 'f798e820-207f-4849-869d-1f753edb3312'
const base = { issuer: 'https://gitlab.example.com', instanceId: INSTANCE_ID, realm: 'self-managed' as const, key: KEY }

describe('issue() for an instance entitled to nothing', () => {
  it('throws ERR_SCOPE_NOT_ENTITLED naming the add-ons that grant unit primitives, most granting first', async () => {
    const err = await rejection(createTokenIssuer(base).issue())
    expect(err).toBeInstanceOf(TokenError)
    expect(err).toMatchObject({ code: 'ERR_SCOPE_NOT_ENTITLED', unitPrimitive: undefined, grantedBy: ['duo_enterprise', 'duo_pro', 'duo_core', 'self_hosted_dap', 'duo_amazon_q'] })
    expect((err as Error).message).toMatch(/^The instance is entitled to no unit primitive \(active add-ons: none\): the token would carry "scopes": \[\] and "aud": \[\], which the gateway always refuses \("Invalid audience"\)\. Add-ons that grant unit primitives: duo_enterprise \(59\), duo_pro \(29\), duo_core \(10\), self_hosted_dap \(5\), duo_amazon_q \(1\)/)
  })

  it('mints the empty token only when asked (allowEmpty), and the gateway refuses it: Invalid audience', async () => {
    const minted = await createTokenIssuer(base).issue({ allowEmpty: true })
    expect(minted.claims).toMatchObject({ aud: [], scopes: [] })
    const verdict = await createGatewayVerifier({ jwks: toJwks([KEY]) }).authenticate({
      authorization: `Bearer ${minted.token}`,
      'x-gitlab-authentication-type': 'oidc',
      'x-gitlab-instance-id': INSTANCE_ID,
      'x-gitlab-realm': 'self-managed',
    })
    expect(verdict).toMatchObject({ status: 401, error: 'Forbidden by auth provider', reason: 'Invalid audience' })
  })

  it('getToken() for a primitive names the add-ons that grant it', async () => {
    const err = await rejection(createTokenIssuer(base).getToken({ unitPrimitive: 'duo_chat' }))
    expect(err).toMatchObject({ code: 'ERR_SCOPE_NOT_ENTITLED', unitPrimitive: 'duo_chat', grantedBy: ['duo_core', 'duo_pro', 'duo_enterprise'] })
  })

  it('a catalog whose primitives have no backend service: no audience, refused too', async () => {
    const catalog = createCatalog({
      unitPrimitives: [{ name: 'lonely', description: 'x', group: 'g', feature_category: 'f', documentation_url: 'https://docs.example.com' }],
      backendServices: [],
      addOns: [],
    })
    const err = await rejection(createTokenIssuer({ ...base, catalog }).issue())
    expect(err).toBeInstanceOf(CatalogError)
    expect((err as Error).message).toContain('the token would carry "aud": [] and the gateway would refuse it ("Invalid audience")')
    expect((await createTokenIssuer({ ...base, catalog }).issue({ allowEmpty: true })).claims).toMatchObject({ aud: [], scopes: ['lonely'] })
  })
})

describe('the CLI refuses the same, naming --add-on', () => {
  let emulator: Emulator
  beforeAll(async () => {
    emulator = await startEmulator({ key: KEY })
  })
  afterAll(() => emulator.stop())

  it('mint without --add-on: exit 1, the add-ons as flags, nothing on stdout', async () => {
    const r = await runCli(['mint', '--key', KEY_FILE, '--issuer', 'https://gitlab.example.com', '--instance-id', INSTANCE_ID])
    expect(r.code).toBe(1)
    expect(r.stdout).toBe('')
    expect(r.stderr).toBe(
      "error: mint: the token would carry no scope and no audience (the gateway refuses it): pass the instance's add-on, e.g. --add-on duo_enterprise (or duo_pro, duo_core, self_hosted_dap) [ERR_SCOPE_NOT_ENTITLED]\n",
    )
    const json = oneJson(await runCli(['mint', '--key', KEY_FILE, '--issuer', 'https://gitlab.example.com', '--instance-id', INSTANCE_ID, '--json']))
    expect(json).toMatchObject({ ok: false, command: 'mint', code: 'ERR_SCOPE_NOT_ENTITLED' })
  })

  it('mint --scope the instance is not entitled to: the granting add-ons as flags', async () => {
    const r = await runCli(['mint', '--key', KEY_FILE, '--issuer', 'https://gitlab.example.com', '--instance-id', INSTANCE_ID, '--scope', 'duo_chat'])
    expect(r.code).toBe(1)
    expect(r.stderr).toBe("error: mint: the instance is not entitled to 'duo_chat'; it is granted by --add-on duo_core or --add-on duo_pro or --add-on duo_enterprise (only with the add-on the instance has) [ERR_SCOPE_NOT_ENTITLED]\n")
  })

  it('check-model against the emulator without --add-on: refused before sending, no request reached the gateway', async () => {
    const before = emulator.countRequests({ side: 'gateway' })
    const r = await runCli(['check-model', '--gateway', emulator.gatewayUrl, '--key', KEY_FILE, '--issuer', emulator.instanceUrl, '--instance-id', emulator.instance.instanceId, '--model', 'm', '--endpoint', 'http://m/v1'])
    expect(r.code).toBe(1)
    expect(r.stdout.split('\n').slice(1, 3)).toEqual([
      'verdict  not sent [ERR_SCOPE_NOT_ENTITLED]',
      "cause    the instance is not entitled to 'complete_code'; it is granted by --add-on duo_core or --add-on duo_pro or --add-on duo_enterprise (only with the add-on the instance has)",
    ])
    expect(emulator.countRequests({ side: 'gateway' })).toBe(before)
  })
})
