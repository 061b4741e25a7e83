import { cp, mkdtemp, rm, writeFile, unlink } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { CatalogError } from '../src/errors.js'
import { loadCatalogDir, resolveEntitlements } from '../src/catalog/index.js'

const FIXTURE = fileURLToPath(new URL('./fixtures/catalog/config', import.meta.url))

/** A scratch copy of the fixture tree per test, so each case can break one file. */
let dir: string
beforeEach(async () => {
  const base = await mkdtemp(join(tmpdir(), 'cc-catalog-'))
  dir = join(base, 'config')
  await cp(FIXTURE, dir, { recursive: true })
})
afterEach(async () => {
  await rm(join(dir, '..'), { recursive: true, force: true })
})

async function loadError(path = dir, options?: Parameters<typeof loadCatalogDir>[1]): Promise<CatalogError> {
  const err = await loadCatalogDir(path, options).then(
    () => undefined,
    (e: unknown) => e,
  )
  expect(err).toBeInstanceOf(CatalogError)
  expect((err as CatalogError).code).toBe('ERR_CATALOG_INVALID')
  return err as CatalogError
}

const write = (rel: string, text: string) => writeFile(join(dir, rel), text)

describe('loadCatalogDir: the fixture tree', () => {
  it('loads every item, sorted by file name, .yml and .yaml', async () => {
    const c = await loadCatalogDir(FIXTURE)
    expect([...c.unitPrimitives.keys()]).toEqual(['complete_code', 'documentation_search', 'duo_agent_platform', 'duo_chat', 'troubleshoot_job'])
    expect([...c.backendServices.keys()]).toEqual(['ai_gateway', 'duo_workflow_service'])
    expect([...c.addOns.keys()]).toEqual(['duo_core', 'duo_enterprise', 'duo_pro'])
    expect([...c.licenseTypes.keys()]).toEqual(['premium', 'ultimate'])
  })

  it('keeps the values and unknown fields as written', async () => {
    const c = await loadCatalogDir(FIXTURE)
    expect(c.unitPrimitives.get('complete_code')).toEqual({
      name: 'complete_code',
      description: 'Code completion in the IDE.',
      cut_off_date: '2024-02-15T00:00:00+00:00',
      min_gitlab_version: '16.8',
      group: 'group::code creation',
      feature_category: 'code_suggestions',
      documentation_url: 'https://docs.gitlab.com/user/project/repository/code_suggestions/',
      unit_primitive_issue_url: 'https://gitlab.com/gitlab-org/gitlab/-/issues/1',
      backend_services: ['ai_gateway'],
      add_ons: ['duo_core', 'duo_pro', 'duo_enterprise'],
      license_types: ['premium', 'ultimate'],
    })
    expect(c.unitPrimitives.get('duo_agent_platform')?.x_rollout).toEqual({ stage: 'beta', regions: ['us', 'eu'] })
    expect(c.unitPrimitives.get('troubleshoot_job')?.deprecation_message).toBe('Kept for older GitLab versions.')
    expect(c.backendServices.get('duo_workflow_service')?.jwt_aud).toBe('gitlab-duo-workflow-service')
  })

  it('accepts the checkout root (which holds config/) as well as config/ itself', async () => {
    const c = await loadCatalogDir(join(dir, '..'))
    expect(c.unitPrimitives.size).toBe(5)
  })

  it('ignores the legacy services/ files (this one names an unknown primitive) and schemas/', async () => {
    await write('services/broken.yml', 'this: [is not closed\n')
    await expect(loadCatalogDir(dir)).resolves.toBeDefined()
  })

  it('works without add_ons/ and license_types/ when nothing references them', async () => {
    await rm(join(dir, 'add_ons'), { recursive: true })
    await rm(join(dir, 'license_types'), { recursive: true })
    for (const f of ['complete_code.yml', 'duo_agent_platform.yml', 'duo_chat.yml', 'troubleshoot_job.yaml']) await unlink(join(dir, 'unit_primitives', f))
    const c = await loadCatalogDir(dir)
    expect([...c.unitPrimitives.keys()]).toEqual(['documentation_search'])
    expect(c.addOns.size).toBe(0)
  })

  it('feeds entitlements with a pinned clock around the cut-off', async () => {
    const c = await loadCatalogDir(FIXTURE)
    expect(resolveEntitlements(c, { addOns: [], now: new Date('2024-10-16T23:59:59Z') })).toEqual({
      scopes: ['documentation_search', 'duo_agent_platform', 'duo_chat', 'troubleshoot_job'],
      audiences: ['gitlab-ai-gateway', 'gitlab-duo-workflow-service'],
      unknownAddOns: [],
    })
    expect(resolveEntitlements(c, { addOns: [], now: new Date('2024-10-17T00:00:00Z') })).toEqual({
      scopes: ['documentation_search', 'duo_agent_platform'],
      audiences: ['gitlab-ai-gateway', 'gitlab-duo-workflow-service'],
      unknownAddOns: [],
    })
    expect(resolveEntitlements(c, { addOns: ['duo_core'], now: new Date('2030-01-01T00:00:00Z') })).toEqual({
      scopes: ['complete_code', 'documentation_search'],
      audiences: ['gitlab-ai-gateway'],
      unknownAddOns: [],
    })
  })
})

describe('loadCatalogDir: invalid files', () => {
  it('a wrong type: file and path of the field', async () => {
    await write('unit_primitives/complete_code.yml', 'name: complete_code\ndescription: d\ngroup: g\nfeature_category: f\nbackend_services:\n  - 42\n')
    const e = await loadError()
    expect(e.message).toBe('unit_primitives/complete_code.yml: backend_services[0]: expected string, received number')
    expect(e.file).toBe('unit_primitives/complete_code.yml')
    expect(e.path).toBe('backend_services[0]')
  })

  it('a missing required field', async () => {
    await write('backend_services/ai_gateway.yml', 'name: ai_gateway\nproject_url: https://example.com\n')
    const e = await loadError()
    expect(e.message).toBe('backend_services/ai_gateway.yml: jwt_aud: is required (expected string)')
  })

  it('an unknown backend service', async () => {
    await write('unit_primitives/duo_chat.yml', 'name: duo_chat\ndescription: d\ngroup: g\nfeature_category: f\nbackend_services: [ai_gateway, gitlab_ai_gateway]\n')
    const e = await loadError()
    expect(e.message).toBe(
      'unit_primitives/duo_chat.yml: backend_services[1]: unknown backend service "gitlab_ai_gateway" (known: ai_gateway, duo_workflow_service); define it in backend_services/gitlab_ai_gateway.yml or fix the name.',
    )
    expect(e.path).toBe('backend_services[1]')
  })

  it('an unknown add-on', async () => {
    await write('unit_primitives/duo_chat.yml', 'name: duo_chat\ndescription: d\ngroup: g\nfeature_category: f\nadd_ons:\n  - duo_pro\n  - duo_amazon_q\n')
    const e = await loadError()
    expect(e.message).toBe(
      'unit_primitives/duo_chat.yml: add_ons[1]: unknown add-on "duo_amazon_q" (known: duo_core, duo_enterprise, duo_pro); define it in add_ons/duo_amazon_q.yml or fix the name.',
    )
  })

  it('an unknown license type', async () => {
    await write('unit_primitives/duo_chat.yml', 'name: duo_chat\ndescription: d\ngroup: g\nfeature_category: f\nlicense_types: [free]\n')
    const e = await loadError()
    expect(e.message).toBe('unit_primitives/duo_chat.yml: license_types[0]: unknown license type "free" (known: premium, ultimate); define it in license_types/free.yml or fix the name.')
  })

  it('a YAML syntax error: file, line and column', async () => {
    await write('unit_primitives/duo_chat.yml', 'name: duo_chat\ndescription: d\nbackend_services: [ai_gateway\ngroup: g\n')
    const e = await loadError()
    expect(e.message).toBe(
      'unit_primitives/duo_chat.yml: YAML syntax error at line 4, column 1: Flow sequence in block collection must be sufficiently indented and end with a ]',
    )
    expect(e.path).toBe('line 4')
  })

  it('a key given twice', async () => {
    await write('add_ons/duo_pro.yml', 'name: duo_pro\nname: duo_pro\n')
    const e = await loadError()
    expect(e.message).toBe('add_ons/duo_pro.yml: YAML syntax error at line 2, column 1: Map keys must be unique')
  })

  it('an unquoted version', async () => {
    await write('unit_primitives/duo_chat.yml', 'name: duo_chat\ndescription: d\ngroup: g\nfeature_category: f\nmin_gitlab_version: 16.10\n')
    const e = await loadError()
    expect(e.message).toBe(
      'unit_primitives/duo_chat.yml: min_gitlab_version: expected string, received number (quote versions in YAML: an unquoted 16.10 reads as 16.1)',
    )
  })

  it('a bad cut-off date', async () => {
    await write('unit_primitives/duo_chat.yml', 'name: duo_chat\ndescription: d\ngroup: g\nfeature_category: f\ncut_off_date: 17 Oct 2024\n')
    const e = await loadError()
    expect(e.message).toBe('unit_primitives/duo_chat.yml: cut_off_date: must be an ISO 8601 date-time such as 2024-10-17T00:00:00+00:00')
  })

  it('a name that does not match the file name', async () => {
    await write('add_ons/duo_pro.yml', 'name: duo_pro_v2\n')
    const e = await loadError()
    expect(e.message).toBe('add_ons/duo_pro.yml: name: "duo_pro_v2" does not match the file name; rename the file to duo_pro_v2.yml or fix the name.')
  })

  it('an empty file and a list instead of a mapping', async () => {
    await write('license_types/premium.yml', '')
    expect((await loadError()).message).toBe('license_types/premium.yml: (root): expected a mapping with at least "name", got an empty document.')
    await write('license_types/premium.yml', '- name: premium\n')
    expect((await loadError()).message).toBe('license_types/premium.yml: (root): expected a mapping with at least "name", got a list.')
  })

  it('a __proto__ key (prototype pollution)', async () => {
    await write('unit_primitives/duo_chat.yml', 'name: duo_chat\ndescription: d\ngroup: g\nfeature_category: f\n__proto__:\n  polluted: true\n')
    const e = await loadError()
    expect(e.message).toBe('unit_primitives/duo_chat.yml: __proto__: the key "__proto__" is not allowed (it could alter object prototypes); remove it.')
    expect(({} as Record<string, unknown>).polluted).toBeUndefined()
  })

  it('a file over the size cap', async () => {
    await write('unit_primitives/duo_chat.yml', `name: duo_chat\ndescription: ${'x'.repeat(2048)}\n`)
    const e = await loadError(dir, { maxFileBytes: 1024 })
    expect(e.message).toBe(
      'unit_primitives/duo_chat.yml: 2077 bytes, more than the limit of 1024; a catalog item is a small YAML mapping (raise maxFileBytes if this file is genuine).',
    )
  })

  it('the default cap is 1 MiB', async () => {
    await write('unit_primitives/duo_chat.yml', `name: duo_chat\ndescription: ${'x'.repeat(1024 * 1024)}\n`)
    const e = await loadError()
    expect(e.message).toBe(
      'unit_primitives/duo_chat.yml: 1048605 bytes, more than the limit of 1048576; a catalog item is a small YAML mapping (raise maxFileBytes if this file is genuine).',
    )
  })

  it('alias expansion beyond the limit ("billion laughs")', async () => {
    const lines = ['a: &a [x, x, x, x, x, x, x, x, x, x]']
    for (let i = 1; i < 12; i++) lines.push(`${String.fromCharCode(97 + i)}: &${String.fromCharCode(97 + i)} [${Array(10).fill(`*${String.fromCharCode(96 + i)}`).join(', ')}]`)
    await write('add_ons/duo_pro.yml', `name: duo_pro\n${lines.join('\n')}\n`)
    const e = await loadError()
    expect(e.message).toBe('add_ons/duo_pro.yml: Excessive alias count indicates a resource exhaustion attack; a catalog item needs no YAML aliases, write the values out.')
  })

  it('a duplicate name across .yml and .yaml', async () => {
    await write('unit_primitives/duo_chat.yaml', 'name: duo_chat\ndescription: d\ngroup: g\nfeature_category: f\n')
    const e = await loadError()
    expect(e.message).toBe('unit_primitives/duo_chat.yml: name: duplicate unit primitive "duo_chat" (already defined by unit_primitives/duo_chat.yaml); remove one of them.')
  })

  it('a directory that is not a catalog', async () => {
    const e = await loadError(join(dir, 'add_ons'))
    expect(e.message).toBe(
      `${join(dir, 'add_ons')}: no unit_primitives/ directory; point loadCatalogDir at the config/ directory of gitlab-cloud-connector (it holds unit_primitives/, backend_services/, add_ons/, license_types/).`,
    )
    const missing = await loadError(join(dir, 'nope'))
    expect(missing.message).toBe(`${join(dir, 'nope')}: no such directory; point loadCatalogDir at the config/ directory of gitlab-cloud-connector.`)
  })

  it('a catalog without backend_services/', async () => {
    await rm(join(dir, 'backend_services'), { recursive: true })
    const e = await loadError()
    expect(e.message).toBe('backend_services/: missing; a catalog needs backend_services/ with one YAML file per item.')
  })
})
