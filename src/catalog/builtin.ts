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
 *          `gitlab-duo-workflow-service` of the Duo Workflow Service, and its process flag
 *          `duo_classic_chat_duo_core_cutoff` ("Duo Core no longer authorized to access Duo
 *          Classic Chat"), which shows Duo Core once covered `duo_classic_chat`.
 *
 * Every entry says where it comes from (`_source`) and which of its fields are assumptions
 * (`_assumed`); both are ordinary unknown fields and are kept like any other. Rules used for the
 * assumptions:
 * - an unknown `description` / `group` / `feature_category` is our own wording;
 * - an entry whose bundling is unknown is treated as paid: `cut_off_date` is the placeholder
 *   `ASSUMED_PAID_CUT_OFF` (a past date, so only an active add-on grants it), never "free";
 * - an unknown backend is `ai_gateway` (every LEGACY AI service used `gitlab-ai-gateway`).
 * Fields not known at all (`documentation_url`, `milestone`, versions, `license_types` of most
 * entries) are left out rather than made up.
 *
 * Load the real catalog with `loadCatalogDir()` when exact data matters.
 */
import { createCatalog, type Catalog } from './catalog.js'
import type { UnitPrimitive } from './schema.js'

const DOC = 'GitLab docs: doc/development/cloud_connector/configuration.md'
const LEGACY = 'GitLab ee/config/cloud_connector/access_data.yml (legacy, 17.x)'
const GATEWAY = 'AI Gateway (domain.md §7 name list)'

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
const AIGW = ['ai_gateway']

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
  return {
    name,
    description,
    group,
    feature_category: featureCategory,
    cut_off_date: ASSUMED_PAID_CUT_OFF,
    backend_services: backends,
    add_ons: addOns,
    _source: `${GATEWAY}; ${note}`,
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
    add_ons: PRO_ENT,
    _source: `${DOC} (duo_chat example); ${LEGACY}: service duo_chat`,
    _assumed: [],
  },
  {
    name: 'duo_classic_chat',
    description: 'GitLab Duo Chat (classic, non-agentic).',
    group: 'group::duo_chat',
    feature_category: 'duo_chat',
    cut_off_date: CUT_OFF_2024_10_17,
    backend_services: AIGW,
    add_ons: CORE_PRO_ENT,
    _source: `${GATEWAY}; split from duo_chat, whose cut-off and add-ons it takes; duo_core from the gateway flag duo_classic_chat_duo_core_cutoff`,
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
    [...CORE_PRO_ENT, 'self_hosted_dap'],
    'served by the Duo Workflow Service as well as the AI Gateway',
    ['ai_gateway', 'duo_workflow_service'],
  ),
  assumed('amazon_q_integration', 'GitLab Duo with Amazon Q.', 'group::ai framework', 'duo_with_amazon_q', ['duo_amazon_q'], 'the add-on of the same name'),
  assumed('ai_gateway_model_provider_proxy', 'Proxy to model providers through the AI Gateway.', 'group::ai framework', 'ai_abstraction_layer', PRO_ENT, 'granted like Code Suggestions direct access'),
  assumed('feature_discovery_search', 'Search that helps users discover GitLab Duo features.', 'group::ai framework', 'ai_abstraction_layer', CORE_PRO_ENT, 'bundling unknown'),
  assumed('generate_embeddings_codebase', 'Generate embeddings of a codebase for semantic search.', 'group::global search', 'global_search', CORE_PRO_ENT, 'bundling unknown'),
  assumed('measure_comment_temperature', 'Measure the tone of a comment before it is posted.', 'group::code review', 'code_review_workflow', ENT, 'bundling unknown'),
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

const ADD_ONS = ['duo_amazon_q', 'duo_core', 'duo_enterprise', 'duo_pro', 'self_hosted_dap'].map((name) => ({ name }))
const LICENSE_TYPES = ['premium', 'ultimate'].map((name) => ({ name }))

/**
 * The built-in catalog (see the module comment for sources and assumptions). Unit primitives are
 * in name order. Frozen: build your own with `createCatalog` / `loadCatalogDir`.
 */
export const builtInCatalog: Catalog = createCatalog({
  unitPrimitives: [...UNIT_PRIMITIVES].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0)),
  backendServices: BACKEND_SERVICES,
  addOns: ADD_ONS,
  licenseTypes: LICENSE_TYPES,
})
