/**
 * The built-in catalog: a copy of the gitlab-cloud-connector catalog as far as public sources
 * show it, for instances that do not load the real one (`loadCatalogDir`).
 *
 * The per-file YAML of gitlab-cloud-connector was not available to us. What is known comes from:
 *
 * - DOC    GitLab development docs, `doc/development/cloud_connector/configuration.md`: the
 *          `duo_chat` unit primitive and `ai_gateway` backend examples, and the legacy
 *          `code_suggestions` example (cut-off 2024-02-15, min_gitlab_version 16.8).
 * - LEGACY GitLab `ee/config/cloud_connector/access_data.yml`, the pre-unit-primitive format
 *          (GitLab 17.x; read in the public copy pavankalisetti009/gitlab at 037b30a2): per
 *          service a `backend` (the JWT audience), a `cut_off_date` and the add-ons each unit
 *          primitive is `bundled_with`.
 * - GATEWAY the AI Gateway (domain.md §5–§7): the unit-primitive names it checks, the audience
 *          `gitlab-duo-workflow-service` of the Duo Workflow Service.
 * - ENUM   the `GitLabUnitPrimitive` enum of gitlab-cloud-connector 3.27.0 (the version the newest
 *          gateway pins), as the gateway dumps it into its flow schema: `movax01h/ai-gateway`
 *          `duo_workflow_service/schemas/v1/flow_config.schema.json` at eee38f6f (2026-08). Every
 *          name the newest gateway or Rails can ask for is in it; the built-in catalog has them all.
 * - CHAT   the newest gateway's chat authorisation, `movax01h/ai-gateway`
 *          `ai_gateway/api/v2/chat/agent.py` at eee38f6f: "Holding duo_chat but not duo_classic_chat
 *          is the Duo Core classic-chat cutoff (gitlab-org/gitlab#581229)" — a Duo Core token carries
 *          `duo_chat` (now Agentic Chat) and no longer `duo_classic_chat`.
 *
 * Every entry says where it comes from (`_source`) and which of its fields are assumptions
 * (`_assumed`); both are ordinary unknown fields and are kept like any other. Rules used for the
 * assumptions:
 * - an unknown `description` / `group` / `feature_category` is our own wording;
 * - an entry whose bundling is unknown is treated as paid: `cut_off_date` is the placeholder
 *   `ASSUMED_PAID_CUT_OFF` (a past date, so only an active add-on grants it), never "free";
 * - an unknown backend is `ai_gateway` (every LEGACY AI service used `gitlab-ai-gateway`); a Duo Agent
 *   Platform primitive also has `duo_workflow_service`, as `duo_agent_platform` has.
 * Fields not known at all (`documentation_url`, `milestone`, versions, `license_types` of most
 * entries) are left out rather than made up.
 *
 * Load the real catalog with `loadCatalogDir()` when exact data matters.
 */
import { createBuiltInCatalog, type Catalog, type CatalogData } from './catalog.js'
import type { UnitPrimitive } from './schema.js'

const DOC = 'GitLab docs: doc/development/cloud_connector/configuration.md'
const LEGACY = 'GitLab ee/config/cloud_connector/access_data.yml (legacy, 17.x)'
const GATEWAY = 'AI Gateway (domain.md §7 name list)'
const ENUM = 'movax01h/ai-gateway duo_workflow_service/schemas/v1/flow_config.schema.json @ eee38f6f (GitLabUnitPrimitive of gitlab-cloud-connector 3.27.0)'
const CHAT = 'movax01h/ai-gateway ai_gateway/api/v2/chat/agent.py @ eee38f6f (Duo Core holds duo_chat, not duo_classic_chat: gitlab-org/gitlab#581229)'
/** The 18.9-pre snapshot of GitLab Rails the newest sources are compared with. */
const RAILS = 'flyisland/gitlab-ee @ 6714c913'

/** Cut-off of the LEGACY Duo Chat / Duo Enterprise services: `2024-10-17 00:00:00 UTC`. */
const CUT_OFF_2024_10_17 = '2024-10-17T00:00:00+00:00'
/** Cut-off of the LEGACY `code_suggestions` service: `2024-02-15 00:00:00 UTC`. */
const CUT_OFF_2024_02_15 = '2024-02-15T00:00:00+00:00'
/**
 * Placeholder for a primitive whose cut-off is not known: a past date, meaning "paid — granted
 * only by an active add-on". It is the LEGACY Duo Enterprise date, reused; not a real value.
 */
const ASSUMED_PAID_CUT_OFF = CUT_OFF_2024_10_17

const PRO_ENT = ['duo_pro', 'duo_enterprise']
const ENT = ['duo_enterprise']
const CORE_PRO_ENT = ['duo_core', 'duo_pro', 'duo_enterprise']
const DAP = [...CORE_PRO_ENT, 'self_hosted_dap']
const AIGW = ['ai_gateway']
const AIGW_DWS = ['ai_gateway', 'duo_workflow_service']

const WORDING = ['description', 'group', 'feature_category']

type Entry = UnitPrimitive & { _source: string; _assumed: string[] }

/** A LEGACY Duo Chat primitive (service `duo_chat`, cut-off 2024-10-17). */
function chatLegacy(name: string, description: string, addOns: string[]): Entry {
  return {
    name,
    description,
    group: 'group::duo_chat',
    feature_category: 'duo_chat',
    cut_off_date: CUT_OFF_2024_10_17,
    backend_services: AIGW,
    add_ons: addOns,
    _source: `${LEGACY}: service duo_chat`,
    _assumed: WORDING,
  }
}

/** A LEGACY Duo Enterprise primitive with its own service (cut-off 2024-10-17, duo_enterprise). */
function enterpriseLegacy(name: string, description: string, group: string, featureCategory: string, service = name): Entry {
  return {
    name,
    description,
    group,
    feature_category: featureCategory,
    cut_off_date: CUT_OFF_2024_10_17,
    backend_services: AIGW,
    add_ons: ENT,
    _source: `${LEGACY}: service ${service}`,
    _assumed: WORDING,
  }
}

/** A primitive known only by name: wording, backend, add-ons and cut-off are all assumed. */
function assumed(name: string, description: string, group: string, featureCategory: string, addOns: string[], note: string, backends = AIGW): Entry {
  return byName(GATEWAY, name, description, group, featureCategory, addOns, note, backends)
}

/** A primitive of the newest enum (ENUM) that older sources lack; like `assumed`, only the name is known. */
function newest(name: string, description: string, group: string, featureCategory: string, addOns: string[], note: string, backends = AIGW): Entry {
  return byName(ENUM, name, description, group, featureCategory, addOns, note, backends)
}

function byName(source: string, name: string, description: string, group: string, featureCategory: string, addOns: string[], note: string, backends: string[]): Entry {
  return {
    name,
    description,
    group,
    feature_category: featureCategory,
    cut_off_date: ASSUMED_PAID_CUT_OFF,
    backend_services: backends,
    add_ons: addOns,
    _source: `${source}; ${note}`,
    _assumed: [...WORDING, 'backend_services', 'add_ons', 'cut_off_date'],
  }
}

const UNIT_PRIMITIVES: Entry[] = [
  // --- code suggestions -----------------------------------------------------------------------
  {
    name: 'code_suggestions',
    description: 'Code Suggestions (legacy primitive covering code completion and generation).',
    group: 'group::code creation',
    feature_category: 'code_suggestions',
    cut_off_date: CUT_OFF_2024_02_15,
    min_gitlab_version: '16.8',
    backend_services: AIGW,
    add_ons: PRO_ENT,
    _source: `${LEGACY}: service code_suggestions; ${DOC} (legacy example: cut-off, min_gitlab_version)`,
    _assumed: WORDING,
  },
  ...(['complete_code', 'generate_code'] as const).map(
    (name): Entry => ({
      name,
      description: name === 'complete_code' ? 'Code completion in the IDE and Web IDE.' : 'Code generation from a comment or prompt in the IDE.',
      group: 'group::code creation',
      feature_category: 'code_suggestions',
      cut_off_date: CUT_OFF_2024_02_15,
      backend_services: AIGW,
      add_ons: CORE_PRO_ENT,
      _source: `${GATEWAY}; successor of LEGACY code_suggestions, whose cut-off and add-ons it takes; duo_core from Duo Core including Code Suggestions`,
      _assumed: [...WORDING, 'cut_off_date', 'add_ons'],
    }),
  ),

  // --- chat -----------------------------------------------------------------------------------
  {
    name: 'duo_chat',
    description: 'Ask various GitLab-related questions and tasks.',
    group: 'group::duo_chat',
    feature_category: 'duo_chat',
    documentation_url: 'https://docs.gitlab.com/ee/user/gitlab_duo_chat/',
    cut_off_date: CUT_OFF_2024_10_17,
    min_gitlab_version: '16.9',
    min_gitlab_version_for_free_access: '16.8',
    license_types: ['premium', 'ultimate'],
    backend_services: AIGW,
    // The docs' example lists duo_pro and duo_enterprise; the newest gateway (CHAT) shows Duo Core holds it too.
    add_ons: CORE_PRO_ENT,
    _source: `${DOC} (duo_chat example); ${LEGACY}: service duo_chat; ${CHAT}`,
    _assumed: ['add_ons'],
  },
  {
    name: 'duo_classic_chat',
    description: 'GitLab Duo Chat (classic, non-agentic).',
    group: 'group::duo_chat',
    feature_category: 'duo_chat',
    cut_off_date: CUT_OFF_2024_10_17,
    backend_services: AIGW,
    // Not duo_core: the newest gateway (CHAT) names a token with duo_chat and without duo_classic_chat the Duo Core cut-off.
    add_ons: PRO_ENT,
    _source: `${GATEWAY}; split from duo_chat, whose cut-off it takes; ${CHAT}`,
    _assumed: [...WORDING, 'cut_off_date', 'add_ons'],
  },
  chatLegacy('documentation_search', 'Search the GitLab documentation to answer a question.', PRO_ENT),
  chatLegacy('explain_code', 'Explain selected code.', PRO_ENT),
  chatLegacy('fix_code', 'Fix selected code.', PRO_ENT),
  chatLegacy('refactor_code', 'Refactor selected code.', PRO_ENT),
  chatLegacy('write_tests', 'Write tests for selected code.', PRO_ENT),
  chatLegacy('include_file_context', 'Include a file as additional context in Chat.', PRO_ENT),
  chatLegacy('include_snippet_context', 'Include a snippet as additional context in Chat.', PRO_ENT),
  chatLegacy('include_merge_request_context', 'Include a merge request as additional context in Chat.', ENT),
  chatLegacy('include_issue_context', 'Include an issue as additional context in Chat.', ENT),
  chatLegacy('include_dependency_context', 'Include project dependencies as additional context in Chat.', ENT),
  chatLegacy('ask_build', 'Ask Chat about a CI build.', ENT),
  chatLegacy('ask_commit', 'Ask Chat about a commit.', ENT),
  chatLegacy('ask_epic', 'Ask Chat about an epic.', ENT),
  chatLegacy('ask_issue', 'Ask Chat about an issue.', ENT),
  chatLegacy('ask_merge_request', 'Ask Chat about a merge request.', ENT),
  assumed('ask_work_item', 'Ask Chat about a work item.', 'group::duo_chat', 'duo_chat', ENT, 'bundled like ask_issue / ask_epic'),
  ...(
    [
      ['include_local_git_context', 'local Git state (IDE)'],
      ['include_terminal_context', 'terminal output (IDE)'],
      ['include_repository_context', 'a repository'],
      ['include_directory_context', 'a directory'],
      ['include_user_rule_context', 'user-defined rules'],
    ] as const
  ).map(([name, what]) => assumed(name, `Include ${what} as additional context in Chat.`, 'group::duo_chat', 'duo_chat', PRO_ENT, 'bundled like include_file_context')),

  // --- Duo Enterprise features with their own LEGACY service ----------------------------------
  enterpriseLegacy('troubleshoot_job', 'Root cause analysis of a failed CI job.', 'group::pipeline execution', 'continuous_integration'),
  enterpriseLegacy('explain_vulnerability', 'Explain a vulnerability.', 'group::security insights', 'vulnerability_management'),
  enterpriseLegacy('resolve_vulnerability', 'Resolve a vulnerability with a generated merge request.', 'group::security insights', 'vulnerability_management'),
  enterpriseLegacy('review_merge_request', 'Review a merge request.', 'group::code review', 'code_review_workflow', 'anthropic_proxy'),
  enterpriseLegacy('summarize_review', 'Summarize a merge request review.', 'group::code review', 'code_review_workflow'),
  enterpriseLegacy('summarize_comments', 'Summarize the discussion of an issue or epic.', 'group::project management', 'team_planning'),
  enterpriseLegacy('generate_commit_message', 'Generate a merge commit message.', 'group::code review', 'code_review_workflow'),
  enterpriseLegacy('generate_issue_description', 'Generate an issue description.', 'group::project management', 'team_planning', 'generate_description'),
  enterpriseLegacy('glab_ask_git_command', 'Suggest a Git command in the GitLab CLI.', 'group::editor extensions', 'editor_extensions'),
  enterpriseLegacy('self_hosted_models', 'Duo features served by self-hosted models.', 'group::custom models', 'self-hosted_models'),
  assumed(
    'summarize_new_merge_request',
    'Summarize the changes of a new merge request.',
    'group::code review',
    'code_review_workflow',
    ENT,
    'successor of LEGACY summarize_merge_request (duo_enterprise, cut-off 2024-10-17)',
  ),

  // --- platform and integrations --------------------------------------------------------------
  assumed(
    'duo_agent_platform',
    'GitLab Duo Agent Platform: agents and flows.',
    'group::agent foundations',
    'duo_agent_platform',
    DAP,
    'served by the Duo Workflow Service as well as the AI Gateway',
    AIGW_DWS,
  ),
  assumed('amazon_q_integration', 'GitLab Duo with Amazon Q.', 'group::ai framework', 'duo_with_amazon_q', ['duo_amazon_q'], 'the add-on of the same name'),
  assumed('ai_gateway_model_provider_proxy', 'Proxy to model providers through the AI Gateway.', 'group::ai framework', 'ai_abstraction_layer', PRO_ENT, 'granted like Code Suggestions direct access'),
  assumed('feature_discovery_search', 'Search that helps users discover GitLab Duo features.', 'group::ai framework', 'ai_abstraction_layer', CORE_PRO_ENT, 'bundling unknown'),
  assumed('generate_embeddings_codebase', 'Generate embeddings of a codebase for semantic search.', 'group::global search', 'global_search', CORE_PRO_ENT, 'bundling unknown'),
  assumed('measure_comment_temperature', 'Measure the tone of a comment before it is posted.', 'group::code review', 'code_review_workflow', ENT, 'bundling unknown'),

  // --- in the newest enum (ENUM) only ----------------------------------------------------------
  newest(
    'duo_workflow_execute_workflow',
    'Run a Duo Agent Platform workflow.',
    'group::agent foundations',
    'duo_agent_platform',
    DAP,
    `feature setting duo_agent_platform with duo_agent_platform (${RAILS} ee/lib/gitlab/ai/feature_settings/feature_metadata.yml); bundled like duo_agent_platform; the gateway's workflow prompts declare it`,
    AIGW_DWS,
  ),
  newest(
    'self_hosted_duo_agent_platform',
    'Duo Agent Platform served by self-hosted models.',
    'group::custom models',
    'self-hosted_models',
    ['self_hosted_dap'],
    `Rails bills it as self_hosted_usage_billing (${RAILS} ee/app/models/concerns/ai/user_authorizable.rb); granted by the self_hosted_dap add-on`,
    AIGW_DWS,
  ),
  newest('agent_quick_actions', 'Quick actions run by an agent.', 'group::agent foundations', 'duo_agent_platform', DAP, 'bundled like duo_agent_platform', AIGW_DWS),
  newest(
    'include_agent_platform_standard_context',
    'Include the Agent Platform standard context.',
    'group::agent foundations',
    'duo_agent_platform',
    DAP,
    'bundled like duo_agent_platform',
    AIGW_DWS,
  ),
  ...(
    [
      ['include_agent_user_environment_context', "the agent user's environment"],
      ['include_os_information_context', 'operating system information (IDE)'],
    ] as const
  ).map(([name, what]) =>
    newest(
      name,
      `Include ${what} as additional context in Chat.`,
      'group::duo_chat',
      'duo_chat',
      PRO_ENT,
      `a category of the gateway's AdditionalContext (ai_gateway/chat/agents/typing.py @ eee38f6f); bundled like include_file_context`,
    ),
  ),
  newest('codebase_search', 'Search a codebase to answer a Chat question.', 'group::duo_chat', 'duo_chat', PRO_ENT, `Chat's codebase search tool (${RAILS} ee/lib/gitlab/llm/chain/tools/codebase_search/executor.rb); bundled like include_repository_context`),
  newest('categorize_duo_chat_question', 'Categorize a Duo Chat question.', 'group::duo_chat', 'duo_chat', PRO_ENT, 'bundled like duo_classic_chat'),
  newest(
    'description_composer',
    'Compose a merge request description.',
    'group::code review',
    'code_review_workflow',
    ENT,
    `a "duo_classic" feature in Rails (${RAILS} ee/app/models/concerns/ai/user_authorizable.rb); bundled like generate_issue_description`,
  ),
  newest('summarize_issue_discussions', 'Summarize the discussion of an issue.', 'group::project management', 'team_planning', ENT, 'bundled like summarize_comments'),
  newest('semantic_search_issue', 'Semantic search over issues (embeddings).', 'group::global search', 'global_search', CORE_PRO_ENT, `${RAILS} ee/lib/search/elastic/references/embedding.rb; bundled like generate_embeddings_codebase`),
  newest('generate_cube_query', 'Generate a product analytics (Cube) query.', 'group::platform insights', 'product_analytics', ENT, 'bundling unknown'),
  newest('update_vulnerability_severity', 'Update the severity of a vulnerability.', 'group::security insights', 'vulnerability_management', ENT, 'bundled like resolve_vulnerability'),
  newest('security_scans', 'Security scans run through Cloud Connector.', 'group::security insights', 'vulnerability_management', ENT, 'bundling unknown'),
  newest('malware_advisories', 'Malware advisories for dependencies.', 'group::composition analysis', 'software_composition_analysis', ENT, 'bundling unknown'),
  newest('package_licenses', 'License data for packages.', 'group::composition analysis', 'software_composition_analysis', ENT, 'bundling unknown'),
  newest('access_artifact_registry', 'Access the artifact registry.', 'group::container registry', 'container_registry', ENT, 'bundling unknown'),
  newest(
    'observability_all',
    'GitLab Observability.',
    'group::observability',
    'observability',
    ENT,
    `Rails asks Tokens.get for it (${RAILS} ee/lib/api/internal/observability.rb, ee/app/workers/observability/alert_query_worker.rb); bundling and backend unknown`,
  ),
]

const BACKEND_SERVICES = [
  {
    name: 'ai_gateway',
    project_url: 'https://gitlab.com/gitlab-org/modelops/applied-ml/code-suggestions/ai-assist',
    group: 'group::ai framework',
    jwt_aud: 'gitlab-ai-gateway',
    _source: `${DOC} (ai_gateway example)`,
    _assumed: [],
  },
  {
    name: 'duo_workflow_service',
    jwt_aud: 'gitlab-duo-workflow-service',
    _source: `${LEGACY}: service duo_workflow, backend gitlab-duo-workflow-service; domain.md §5`,
    _assumed: ['name'],
  },
]

/**
 * The add-ons of the newest Rails (`GitlabSubscriptions::AddOn::DUO_ADD_ONS`, flyisland/gitlab-ee
 * `ee/app/models/gitlab_subscriptions/add_on.rb` @ 8fbce3d3), with the purchased `code_suggestions`
 * under the name Rails normalises it to, `duo_pro`. `gitlab_credits` is known but grants nothing here:
 * which primitives it covers no source states (assumed).
 */
const ADD_ONS = ['duo_amazon_q', 'duo_core', 'duo_enterprise', 'duo_pro', 'gitlab_credits', 'self_hosted_dap'].map((name) => ({ name }))
const LICENSE_TYPES = ['premium', 'ultimate'].map((name) => ({ name }))

/**
 * The built-in catalog (see the module comment for sources and assumptions). Unit primitives are
 * in name order. Frozen: build your own with `createCatalog` / `loadCatalogDir`.
 */
export const builtInCatalog: Catalog = createBuiltInCatalog(builtInCatalogData())

/** The built-in catalog's data, as `createCatalog` takes it (the tests hold it to the schemas). */
export function builtInCatalogData(): CatalogData {
  return {
    unitPrimitives: [...UNIT_PRIMITIVES].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0)),
    backendServices: BACKEND_SERVICES,
    addOns: ADD_ONS,
    licenseTypes: LICENSE_TYPES,
  }
}
