import { describe, expect, it } from 'vitest'
import { CatalogError, InvalidOptionsError } from '../src/errors.js'
import {
  addOnSchema,
  audiencesFor,
  backendServiceSchema,
  builtInCatalog,
  createCatalog,
  hasFreeAccess,
  licenseTypeSchema,
  parseCutOffDate,
  resolveEntitlements,
  unitPrimitiveSchema,
  type Catalog,
} from '../src/catalog/index.js'
import { assertKnownPrimitive } from '../src/catalog/entitlements.js'
import { builtInCatalogData } from '../src/catalog/builtin.js'

/** domain.md §7, "Names seen in the gateway", expanded. */
const SECTION_7_NAMES = [
  'complete_code',
  'generate_code',
  'code_suggestions',
  'duo_chat',
  'duo_classic_chat',
  'duo_agent_platform',
  'explain_code',
  'fix_code',
  'refactor_code',
  'write_tests',
  'troubleshoot_job',
  'explain_vulnerability',
  'resolve_vulnerability',
  'review_merge_request',
  'summarize_comments',
  'summarize_new_merge_request',
  'summarize_review',
  'generate_commit_message',
  'generate_issue_description',
  'documentation_search',
  'glab_ask_git_command',
  'ask_build',
  'ask_commit',
  'ask_epic',
  'ask_issue',
  'ask_merge_request',
  'ask_work_item',
  'include_file_context',
  'include_snippet_context',
  'include_merge_request_context',
  'include_issue_context',
  'include_dependency_context',
  'include_local_git_context',
  'include_terminal_context',
  'include_repository_context',
  'include_directory_context',
  'include_user_rule_context',
  'amazon_q_integration',
  'ai_gateway_model_provider_proxy',
  'feature_discovery_search',
  'generate_embeddings_codebase',
  'measure_comment_temperature',
  'self_hosted_models',
]

/**
 * The unit primitives the newest sources name that §7 lacks: the GitLabUnitPrimitive enum of
 * gitlab-cloud-connector 3.27.0 as movax01h/ai-gateway dumps it (duo_workflow_service/schemas/v1/
 * flow_config.schema.json @ eee38f6f). The issue lists the first six as the least.
 */
const NEWEST_ENUM_NAMES = [
  'duo_workflow_execute_workflow',
  'include_agent_user_environment_context',
  'observability_all',
  'self_hosted_duo_agent_platform',
  'description_composer',
  'semantic_search_issue',
  'access_artifact_registry',
  'agent_quick_actions',
  'categorize_duo_chat_question',
  'codebase_search',
  'generate_cube_query',
  'include_agent_platform_standard_context',
  'include_os_information_context',
  'malware_advisories',
  'package_licenses',
  'security_scans',
  'summarize_issue_discussions',
  'update_vulnerability_severity',
]

const UP = {
  name: 'complete_code',
  description: 'Code completion.',
  group: 'group::code creation',
  feature_category: 'code_suggestions',
  backend_services: ['ai_gateway'],
}
const AIGW = { name: 'ai_gateway', jwt_aud: 'gitlab-ai-gateway' }

function catchError(fn: () => unknown): unknown {
  try {
    fn()
  } catch (e) {
    return e
  }
  throw new Error('expected a throw')
}

describe('schemas', () => {
  it('accepts a unit primitive as the real catalog writes it and keeps unknown fields', () => {
    const input = {
      name: 'duo_chat',
      description: 'Ask various GitLab-related questions and tasks.',
      cut_off_date: '2024-10-17T00:00:00+00:00',
      min_gitlab_version_for_free_access: '16.8',
      min_gitlab_version: '16.9',
      group: 'group::duo_chat',
      feature_category: 'duo_chat',
      documentation_url: 'https://docs.gitlab.com/ee/user/gitlab_duo_chat/',
      backend_services: ['ai_gateway'],
      add_ons: ['duo_pro', 'duo_enterprise'],
      license_types: ['premium', 'ultimate'],
      unit_primitive_issue_url: 'https://gitlab.com/gitlab-org/gitlab/-/issues/1',
      nested_future_field: { a: [1, 2] },
    }
    expect(unitPrimitiveSchema.parse(input)).toEqual(input)
  })

  it('turns a Date cut_off_date (YAML 1.1 loaders) into ISO text', () => {
    const out = unitPrimitiveSchema.parse({ ...UP, cut_off_date: new Date('2024-10-17T00:00:00Z') })
    expect(out.cut_off_date).toBe('2024-10-17T00:00:00.000Z')
  })

  it('rejects bad fields with their path', () => {
    const r = unitPrimitiveSchema.safeParse({ ...UP, name: 'Complete-Code', backend_services: ['ai_gateway', 7], cut_off_date: 'soon' })
    expect(r.success).toBe(false)
    expect(r.error?.issues.map((i) => [i.path.join('.'), i.message])).toEqual([
      ['name', 'must be snake_case (lowercase letters, digits and underscores, starting with a letter)'],
      ['cut_off_date', 'must be an ISO 8601 date-time such as 2024-10-17T00:00:00+00:00'],
      ['backend_services.1', 'Invalid input: expected string, received number'],
    ])
  })

  it('backend services need a jwt_aud without whitespace; add-ons and license types need a name', () => {
    expect(backendServiceSchema.parse({ ...AIGW, project_url: 'https://x', extra: true })).toEqual({ ...AIGW, project_url: 'https://x', extra: true })
    expect(backendServiceSchema.safeParse({ name: 'ai_gateway' }).success).toBe(false)
    expect(backendServiceSchema.safeParse({ name: 'ai_gateway', jwt_aud: 'gitlab ai' }).success).toBe(false)
    expect(addOnSchema.parse({ name: 'duo_pro', price: 'n/a' })).toEqual({ name: 'duo_pro', price: 'n/a' })
    expect(licenseTypeSchema.safeParse({}).success).toBe(false)
  })

  it('parses cut-off dates in the catalog forms, as UTC, and refuses impossible ones', () => {
    expect(parseCutOffDate('2024-10-17T00:00:00+00:00')?.toISOString()).toBe('2024-10-17T00:00:00.000Z')
    expect(parseCutOffDate('2024-10-17T02:00:00+02:00')?.toISOString()).toBe('2024-10-17T00:00:00.000Z')
    expect(parseCutOffDate('2024-10-16T19:30:00-04:30')?.toISOString()).toBe('2024-10-17T00:00:00.000Z')
    expect(parseCutOffDate('2024-02-15 00:00:00 UTC')?.toISOString()).toBe('2024-02-15T00:00:00.000Z')
    expect(parseCutOffDate('2024-02-15')?.toISOString()).toBe('2024-02-15T00:00:00.000Z')
    expect(parseCutOffDate('2024-02-15T10:20:30.5Z')?.toISOString()).toBe('2024-02-15T10:20:30.500Z')
    expect(parseCutOffDate('2024-02-30T00:00:00Z')).toBeUndefined()
    expect(parseCutOffDate('next tuesday')).toBeUndefined()
    expect(parseCutOffDate('')).toBeUndefined()
  })
})

describe('builtInCatalog', () => {
  it('is exactly what createCatalog makes of its data: built without the schemas, it needs nothing they would change or refuse', () => {
    const validated = createCatalog(builtInCatalogData())
    for (const map of ['unitPrimitives', 'backendServices', 'addOns', 'licenseTypes'] as const) {
      expect([...builtInCatalog[map]], map).toEqual([...validated[map]])
      expect(builtInCatalog[map].size, map).toBeGreaterThan(0)
    }
    expect(Object.isFrozen(builtInCatalog.unitPrimitives.get('duo_chat'))).toBe(true)
  })

  it('has every unit primitive of domain.md §7 and of the newest enum, in name order', () => {
    const names = [...builtInCatalog.unitPrimitives.keys()]
    expect(names).toEqual([...SECTION_7_NAMES, ...NEWEST_ENUM_NAMES].sort())
    expect(names).toHaveLength(61)
  })

  it('cites the enum for each primitive only the newest sources name, and marks what no source states', () => {
    for (const name of NEWEST_ENUM_NAMES) {
      const up = builtInCatalog.unitPrimitives.get(name)
      expect(up?._source, name).toContain('movax01h/ai-gateway duo_workflow_service/schemas/v1/flow_config.schema.json @ eee38f6f')
      expect(up?._assumed, name).toEqual(['description', 'group', 'feature_category', 'backend_services', 'add_ons', 'cut_off_date'])
    }
    expect(builtInCatalog.unitPrimitives.get('self_hosted_duo_agent_platform')?.add_ons).toEqual(['self_hosted_dap'])
    expect(builtInCatalog.unitPrimitives.get('duo_workflow_execute_workflow')?.backend_services).toEqual(['ai_gateway', 'duo_workflow_service'])
  })

  it('has the ai_gateway and Duo Workflow Service backends with their audiences', () => {
    expect(builtInCatalog.backendServices.get('ai_gateway')).toMatchObject({
      name: 'ai_gateway',
      jwt_aud: 'gitlab-ai-gateway',
      project_url: 'https://gitlab.com/gitlab-org/modelops/applied-ml/code-suggestions/ai-assist',
      group: 'group::ai framework',
    })
    expect(builtInCatalog.backendServices.get('duo_workflow_service')?.jwt_aud).toBe('gitlab-duo-workflow-service')
  })

  it('has the add-ons and license types of §7', () => {
    // gitlab_credits: GitlabSubscriptions::AddOn (flyisland/gitlab-ee ee/app/models/gitlab_subscriptions/add_on.rb @ 8fbce3d3)
    expect([...builtInCatalog.addOns.keys()]).toEqual(['duo_amazon_q', 'duo_core', 'duo_enterprise', 'duo_pro', 'gitlab_credits', 'self_hosted_dap'])
    expect([...builtInCatalog.licenseTypes.keys()]).toEqual(['premium', 'ultimate'])
  })

  it('says for every entry where it comes from and which fields are assumed', () => {
    for (const up of builtInCatalog.unitPrimitives.values()) {
      expect(typeof up._source, up.name).toBe('string')
      expect(Array.isArray(up._assumed), up.name).toBe(true)
      for (const field of up._assumed as string[]) expect(Object.keys(up), `${up.name}.${field}`).toContain(field)
    }
    // The one entry the public docs give in full; its add-ons follow the newest gateway, which names a token
    // with duo_chat and without duo_classic_chat the Duo Core cut-off (ai_gateway/api/v2/chat/agent.py @ eee38f6f).
    expect(builtInCatalog.unitPrimitives.get('duo_chat')).toMatchObject({
      cut_off_date: '2024-10-17T00:00:00+00:00',
      min_gitlab_version: '16.9',
      min_gitlab_version_for_free_access: '16.8',
      group: 'group::duo_chat',
      feature_category: 'duo_chat',
      add_ons: ['duo_core', 'duo_pro', 'duo_enterprise'],
      _assumed: ['add_ons'],
    })
    expect(builtInCatalog.unitPrimitives.get('duo_classic_chat')?.add_ons).toEqual(['duo_pro', 'duo_enterprise'])
    expect(builtInCatalog.unitPrimitives.get('code_suggestions')?.cut_off_date).toBe('2024-02-15T00:00:00+00:00')
    expect(builtInCatalog.unitPrimitives.get('amazon_q_integration')?._assumed).toContain('add_ons')
  })

  it('gives every primitive a backend and leaves none free by assumption', () => {
    for (const up of builtInCatalog.unitPrimitives.values()) {
      expect(up.backend_services?.length, up.name).toBeGreaterThan(0)
      expect(up.cut_off_date, up.name).toBeDefined()
      expect(up.add_ons?.length, up.name).toBeGreaterThan(0)
    }
  })

  it('is read-only', () => {
    const map = builtInCatalog.unitPrimitives as Map<string, unknown>
    expect(() => map.set('x', {})).toThrow(TypeError)
    expect(() => map.delete('duo_chat')).toThrow(TypeError)
    const up = builtInCatalog.unitPrimitives.get('duo_chat')
    expect(Object.isFrozen(up)).toBe(true)
    expect(Object.isFrozen(up?.add_ons)).toBe(true)
  })
})

describe('createCatalog', () => {
  it('builds maps in the order given and keeps unknown fields', () => {
    const c = createCatalog({
      unitPrimitives: [{ ...UP, name: 'b_primitive', x_extra: { y: 1 } }, { ...UP, name: 'a_primitive' }],
      backendServices: [AIGW],
    })
    expect([...c.unitPrimitives.keys()]).toEqual(['b_primitive', 'a_primitive'])
    expect(c.unitPrimitives.get('b_primitive')?.x_extra).toEqual({ y: 1 })
  })

  it('treats null optional fields as absent (a YAML key with no value), as the Ruby gem treats nil', () => {
    const c = createCatalog({ unitPrimitives: [{ ...UP, cut_off_date: null, add_ons: null }], backendServices: [AIGW] })
    const up = c.unitPrimitives.get('complete_code')
    expect(up && Object.keys(up)).toEqual(['name', 'description', 'group', 'feature_category', 'backend_services'])
    expect(resolveEntitlements(c, { addOns: [], now: new Date('2030-01-01T00:00:00Z') }).scopes).toEqual(['complete_code'])
  })

  it('does not freeze objects the caller still owns', () => {
    const extra = { y: 1 }
    createCatalog({ unitPrimitives: [{ ...UP, x_extra: extra }], backendServices: [AIGW] })
    expect(Object.isFrozen(extra)).toBe(false)
  })

  it('names the item and the path of the bad field', () => {
    const e = catchError(() => createCatalog({ unitPrimitives: [UP, { ...UP, name: 'generate_code', backend_services: [42] }], backendServices: [AIGW] })) as CatalogError
    expect(e).toBeInstanceOf(CatalogError)
    expect(e.code).toBe('ERR_CATALOG_INVALID')
    expect(e.message).toBe('unitPrimitives[1]: backend_services[0]: expected string, received number')
    expect(e.file).toBe('unitPrimitives[1]')
    expect(e.path).toBe('backend_services[0]')
  })

  it('reports a missing required field as required', () => {
    const { group: _omit, ...noGroup } = UP
    const e = catchError(() => createCatalog({ unitPrimitives: [noGroup], backendServices: [AIGW] })) as CatalogError
    expect(e.message).toBe('unitPrimitives[0]: group: is required (expected string)')
  })

  it('explains unquoted versions', () => {
    const e = catchError(() => createCatalog({ unitPrimitives: [{ ...UP, min_gitlab_version: 16.1 }], backendServices: [AIGW] })) as CatalogError
    expect(e.message).toBe(
      'unitPrimitives[0]: min_gitlab_version: expected string, received number (quote versions in YAML: an unquoted 16.10 reads as 16.1)',
    )
  })

  it('rejects references to unknown backend services', () => {
    const e = catchError(() => createCatalog({ unitPrimitives: [{ ...UP, backend_services: ['ai_gateway', 'nope'] }], backendServices: [AIGW] })) as CatalogError
    expect(e.message).toBe('unitPrimitives[0]: backend_services[1]: unknown backend service "nope" (known: ai_gateway); define it in backend_services/nope.yml or fix the name.')
    expect(e.path).toBe('backend_services[1]')
  })

  it('checks add-on references when add-ons are given, derives them when not', () => {
    const e = catchError(() =>
      createCatalog({ unitPrimitives: [{ ...UP, add_ons: ['duo_pro', 'duo_ultra'] }], backendServices: [AIGW], addOns: [{ name: 'duo_pro' }] }),
    ) as CatalogError
    expect(e.message).toBe('unitPrimitives[0]: add_ons[1]: unknown add-on "duo_ultra" (known: duo_pro); define it in add_ons/duo_ultra.yml or fix the name.')
    const derived = createCatalog({ unitPrimitives: [{ ...UP, add_ons: ['duo_pro', 'duo_core'], license_types: ['ultimate'] }], backendServices: [AIGW] })
    expect([...derived.addOns.keys()]).toEqual(['duo_core', 'duo_pro'])
    expect([...derived.licenseTypes.keys()]).toEqual(['ultimate'])
  })

  it('rejects duplicates', () => {
    const e = catchError(() => createCatalog({ unitPrimitives: [UP, UP], backendServices: [AIGW] })) as CatalogError
    expect(e.message).toBe('unitPrimitives[1]: name: duplicate unit primitive "complete_code" (already defined by unitPrimitives[0]); remove one of them.')
  })

  it('refuses __proto__ keys (prototype pollution)', () => {
    const hostile = JSON.parse('{"name":"complete_code","description":"d","group":"g","feature_category":"f","x":{"__proto__":{"polluted":true}}}') as unknown
    const e = catchError(() => createCatalog({ unitPrimitives: [hostile], backendServices: [AIGW] })) as CatalogError
    expect(e.message).toBe('unitPrimitives[0]: x.__proto__: the key "__proto__" is not allowed (it could alter object prototypes); remove it.')
    expect(({} as Record<string, unknown>).polluted).toBeUndefined()
  })

  it('rejects non-arrays', () => {
    const e = catchError(() => createCatalog({ unitPrimitives: 'x' as unknown as unknown[], backendServices: [] })) as CatalogError
    expect(e.message).toBe('createCatalog(data): unitPrimitives must be an array of objects.')
  })

  it('lists several problems in one message', () => {
    const e = catchError(() => createCatalog({ unitPrimitives: [{ name: 'x' }], backendServices: [AIGW] })) as CatalogError
    expect(e.message).toBe(
      'unitPrimitives[0]: description: is required (expected string); group: is required (expected string); feature_category: is required (expected string)',
    )
    expect(e.path).toBe('description')
  })
})

describe('resolveEntitlements', () => {
  const catalog: Catalog = createCatalog({
    unitPrimitives: [
      { ...UP, name: 'paid_pro', cut_off_date: '2024-10-17T00:00:00+00:00', add_ons: ['duo_pro', 'duo_enterprise'] },
      { ...UP, name: 'free_forever' },
      { ...UP, name: 'paid_enterprise', cut_off_date: '2024-10-17T00:00:00+00:00', add_ons: ['duo_enterprise'], backend_services: ['ai_gateway', 'dws'] },
      { ...UP, name: 'no_backend', backend_services: undefined },
    ],
    backendServices: [AIGW, { name: 'dws', jwt_aud: 'gitlab-duo-workflow-service' }],
    addOns: [{ name: 'duo_pro' }, { name: 'duo_enterprise' }, { name: 'duo_core' }],
  })
  const justBefore = new Date('2024-10-16T23:59:59.999Z')
  const atCutOff = new Date('2024-10-17T00:00:00.000Z')

  // Rails' order, not sorted: TokenIssuer selects from UnitPrimitive.all in catalog order and builds aud from
  // flat_map(&:backend_services).uniq (flyisland/gitlab-ee ee/lib/cloud_connector/tokens/token_issuer.rb @ caa4042e;
  // token_issuer_spec.rb expects the unsorted order).
  it('before the cut-off everything is free, in catalog order', () => {
    expect(resolveEntitlements(catalog, { addOns: [], now: justBefore })).toEqual({
      scopes: ['paid_pro', 'free_forever', 'paid_enterprise', 'no_backend'],
      audiences: ['gitlab-ai-gateway', 'gitlab-duo-workflow-service'],
      unknownAddOns: [],
    })
  })

  it('at the cut-off instant a primitive is no longer free (the cut-off must be strictly in the future)', () => {
    expect(resolveEntitlements(catalog, { addOns: [], now: atCutOff })).toEqual({ scopes: ['free_forever', 'no_backend'], audiences: ['gitlab-ai-gateway'], unknownAddOns: [] })
  })

  it('after the cut-off an active add-on grants what it covers', () => {
    expect(resolveEntitlements(catalog, { addOns: ['duo_pro'], now: atCutOff })).toEqual({
      scopes: ['paid_pro', 'free_forever', 'no_backend'],
      audiences: ['gitlab-ai-gateway'],
      unknownAddOns: [],
    })
    expect(resolveEntitlements(catalog, { addOns: ['duo_enterprise'], now: atCutOff })).toEqual({
      scopes: ['paid_pro', 'free_forever', 'paid_enterprise', 'no_backend'],
      audiences: ['gitlab-ai-gateway', 'gitlab-duo-workflow-service'],
      unknownAddOns: [],
    })
    expect(resolveEntitlements(catalog, { addOns: ['duo_core'], now: atCutOff }).scopes).toEqual(['free_forever', 'no_backend'])
  })

  it('aud lists each backend service in the order the primitives first name it', () => {
    const c = createCatalog({
      unitPrimitives: [
        { ...UP, name: 'dws_first', backend_services: ['dws'] },
        { ...UP, name: 'both', backend_services: ['ai_gateway', 'dws'] },
      ],
      backendServices: [AIGW, { name: 'dws', jwt_aud: 'gitlab-duo-workflow-service' }],
    })
    expect(resolveEntitlements(c, { addOns: [], now: atCutOff }).audiences).toEqual(['gitlab-duo-workflow-service', 'gitlab-ai-gateway'])
  })

  // ee/app/models/gitlab_subscriptions/add_on_purchase.rb @ caa4042e: NORMALIZED_ADD_ON_NAME = { 'code_suggestions' => 'duo_pro' }
  it('normalises a purchased code_suggestions add-on to duo_pro, as Rails does before minting', () => {
    expect(resolveEntitlements(catalog, { addOns: ['code_suggestions'], now: atCutOff })).toEqual(
      resolveEntitlements(catalog, { addOns: ['duo_pro'], now: atCutOff }),
    )
  })

  it('reports unknown add-on names (they grant nothing); strict refuses them', () => {
    const loose = resolveEntitlements(catalog, { addOns: ['duo_pro', 'duo_enterprice', 'duo_enterprice'], now: atCutOff })
    expect(loose).toEqual({ scopes: ['paid_pro', 'free_forever', 'no_backend'], audiences: ['gitlab-ai-gateway'], unknownAddOns: ['duo_enterprice'] })
    const e = catchError(() => resolveEntitlements(catalog, { addOns: ['duo_pro', 'duo_enterprice'], now: atCutOff, strict: true })) as InvalidOptionsError
    expect(e).toBeInstanceOf(InvalidOptionsError)
    expect(e.code).toBe('ERR_INVALID_OPTIONS')
    expect(e.message).toBe(
      'resolveEntitlements: addOns[1]: unknown add-on "duo_enterprice". The catalog knows these add-ons: duo_core, duo_enterprise, duo_pro. Fix the name, or load the catalog that defines it.',
    )
    expect(e.issues).toEqual([{ path: 'addOns[1]', message: 'unknown add-on "duo_enterprice"' }])
  })

  it('knows gitlab_credits in the built-in catalog', () => {
    expect(resolveEntitlements(builtInCatalog, { addOns: ['gitlab_credits'], now: atCutOff, strict: true }).unknownAddOns).toEqual([])
  })

  it('refuses an invalid clock value', () => {
    const e = catchError(() => resolveEntitlements(catalog, { addOns: [], now: new Date('nope') })) as InvalidOptionsError
    expect(e.message).toBe('resolveEntitlements: options.now must be a valid Date (pass your clock, e.g. now: clock()).')
  })

  it('on the built-in catalog: Duo Enterprise after every cut-off grants chat and code, Duo Pro not the enterprise features', () => {
    const now = new Date('2026-02-01T00:00:00Z')
    expect(resolveEntitlements(builtInCatalog, { addOns: [], now })).toEqual({ scopes: [], audiences: [], unknownAddOns: [] })
    const ent = resolveEntitlements(builtInCatalog, { addOns: ['duo_enterprise'], now })
    expect(ent.scopes).toContain('complete_code')
    expect(ent.scopes).toContain('duo_chat')
    expect(ent.scopes).toContain('troubleshoot_job')
    expect(ent.scopes).not.toContain('amazon_q_integration')
    // Duo Core: agentic duo_chat, not duo_classic_chat (ai_gateway/api/v2/chat/agent.py @ eee38f6f)
    const core = resolveEntitlements(builtInCatalog, { addOns: ['duo_core'], now })
    expect(core.scopes).toContain('duo_chat')
    expect(core.scopes).not.toContain('duo_classic_chat')
    expect(ent.audiences).toEqual(['gitlab-ai-gateway', 'gitlab-duo-workflow-service'])
    const pro = resolveEntitlements(builtInCatalog, { addOns: ['duo_pro'], now })
    expect(pro.scopes).toContain('complete_code')
    expect(pro.scopes).not.toContain('troubleshoot_job')
    // code_suggestions (cut-off 2024-02-15) was already paid while duo_chat (2024-10-17) was still free
    const between = resolveEntitlements(builtInCatalog, { addOns: [], now: new Date('2024-06-01T00:00:00Z') })
    expect(between.scopes).toContain('duo_chat')
    expect(between.scopes).not.toContain('code_suggestions')
    expect(between.scopes).not.toContain('complete_code')
  })

  it('hasFreeAccess fails closed on an unreadable date', () => {
    expect(hasFreeAccess({}, atCutOff)).toBe(true)
    expect(hasFreeAccess({ cut_off_date: 'garbage' }, justBefore)).toBe(false)
  })
})

describe('audiencesFor and assertKnownPrimitive', () => {
  it('gives the audiences of the primitives in Rails\' order (backend services de-duplicated)', () => {
    expect(audiencesFor(builtInCatalog, ['complete_code', 'duo_chat'])).toEqual(['gitlab-ai-gateway'])
    expect(audiencesFor(builtInCatalog, ['duo_agent_platform', 'complete_code'])).toEqual(['gitlab-ai-gateway', 'gitlab-duo-workflow-service'])
    expect(audiencesFor(builtInCatalog, [])).toEqual([])
  })

  it('names the closest known primitives', () => {
    const e = catchError(() => audiencesFor(builtInCatalog, ['complete_cod'])) as CatalogError
    expect(e).toBeInstanceOf(CatalogError)
    expect(e.code).toBe('ERR_CATALOG_UNKNOWN_PRIMITIVE')
    expect(e.message).toBe(
      'Unknown unit primitive "complete_cod": did you mean complete_code? Use a name from the catalog (61 unit primitives), or load a catalog that defines it with loadCatalogDir().',
    )
  })

  it('says when nothing is close', () => {
    const e = catchError(() => assertKnownPrimitive(builtInCatalog, 'zzzzzzzzzzzz')) as CatalogError
    expect(e.message).toBe(
      'Unknown unit primitive "zzzzzzzzzzzz": no known name is close. Use a name from the catalog (61 unit primitives), or load a catalog that defines it with loadCatalogDir().',
    )
  })

  it('suggests by prefix too, and caps what it echoes', () => {
    const e = catchError(() => assertKnownPrimitive(builtInCatalog, 'include_')) as CatalogError
    expect(e.message).toContain('did you mean include_file_context, include_issue_context, include_snippet_context?')
    const long = `eyJ${'a'.repeat(200)}`
    const e2 = catchError(() => assertKnownPrimitive(builtInCatalog, long)) as CatalogError
    expect(e2.message).not.toContain(long)
    expect(e2.message).toContain(`"${long.slice(0, 64)}…"`)
  })

  it('returns the primitive when known', () => {
    expect(assertKnownPrimitive(builtInCatalog, 'duo_chat').name).toBe('duo_chat')
  })
})
