/**
 * The one table of gateway endpoints the SDK knows: path, method, the gateway's authorisation rule for it
 * (`access`: which unit primitives admit a request, which issuers it refuses, what depends on the body;
 * domain.md §6), the request-body schema and the response schema. The client methods, preflight, the fetch
 * adapter (path → unit primitive), the verifier (`endpointAccess`), the emulator and the msw handlers all
 * read it from here.
 *
 * The rules follow the newest public gateway, `movax01h/ai-gateway` at eee38f6f (2026-08, gitlab-cloud-connector
 * 3.27.0); each cites the file it is read from.
 *
 * Request bodies mirror the gateway's pydantic models (`ai_gateway/api/v2/code/typing.py`,
 * `api/v2/chat/typing.py`, `api/v1/prompts/invoke.py`) as far as the SDK can check them before sending;
 * objects are loose so that fields added by newer gateways pass through.
 */
import type { z } from 'zod'
import { lazy } from '../zod.js'
import { accessFor, tokenUnitPrimitiveOf, type AccessRule, type EndpointAccess } from '../inspect/access.js'
import { GATEWAY_MESSAGES } from '../inspect/messages.js'

export type HttpMethod = 'GET' | 'POST'

export interface EndpointDefinition<Body extends z.ZodType | undefined = z.ZodType | undefined, Res extends z.ZodType = z.ZodType> {
  readonly method: HttpMethod
  /** Path below the gateway base URL, exactly as sent (the model check keeps Rails's `%2F`). */
  readonly path: string
  /**
   * The unit primitive a token is asked for by default (what GitLab passes to `Tokens.get` for this call);
   * `undefined` for the unauthenticated endpoints. For a body-dependent rule it is the one for an ordinary body.
   */
  readonly unitPrimitive: string | undefined
  /** The gateway's 403 `detail` for this endpoint when the token lacks every primitive that admits it. */
  readonly forbiddenDetail?: string
  /** The gateway's authorisation of the endpoint (see `endpointAccess`); absent for the unauthenticated endpoints. */
  readonly access?: AccessRule
  /**
   * The route sits behind the gateway's usage-quota layer (`has_sufficient_usage_quota`,
   * ai_gateway/api/middleware/route/usage_quota.py @ eee38f6f): it may answer 402 `insufficient_credits` or 403
   * `USAGE_QUOTA_NOT_ENTITLED` before its own checks, unless the token's `skip_usage_cutoff` is true.
   */
  readonly usageQuota?: boolean
  /** Request body schema, validated before anything leaves. */
  readonly body: Body
  /** Response body schema (JSON), or `undefined` for a streamed text response. */
  readonly response: Res | undefined
  /**
   * A quick check that answers `true` only for a value `response` accepts *unchanged* (loose objects of
   * JSON data, no transforms), so that the common well-formed answer skips zod's copy. `false` means
   * "let zod decide": zod accepts the value or reports its issues. Tests hold it to that contract.
   */
  readonly accepts?: (value: unknown) => boolean
  /** Safe to retry on 5xx/429/network errors: no side effect on the gateway beyond cost. */
  readonly retrySafe: boolean
  /** The response is a stream (chat: NDJSON events). */
  readonly streaming: boolean
}

// --- bodies ------------------------------------------------------------------------------------

const MODEL_PROVIDERS_HINT = 'e.g. "openai", "litellm", "anthropic", "vertex-ai", "fireworks", "gitlab"'

/** `TypeModelMetadata` (ai_gateway/model_metadata.py): what a self-hosted model needs to be reached. */
export const ModelMetadataSchema = lazy((z) => z.looseObject({
  name: z.string().min(1),
  provider: z.string().min(1, `provider is required (${MODEL_PROVIDERS_HINT})`),
  endpoint: z.string().min(1).optional(),
  api_key: z.string().nullable().optional(),
  identifier: z.string().nullable().optional(),
}))

/** Body of `POST /v1/prompts/model_configuration%2Fcheck` as Rails builds it (`ModelConfigCheck#body`). */
export const ModelConfigurationCheckBodySchema = lazy((z) => z.object({
  inputs: z.record(z.string(), z.unknown()),
  stream: z.literal(false),
  model_metadata: z.object({
    name: z.string().min(1),
    provider: z.string().min(1),
    endpoint: z.url({ protocol: /^https?$/ }),
    api_key: z.string().nullable(),
    identifier: z.string().nullable(),
  }),
}))

const CurrentFileSchema = lazy((z) => z.looseObject({
  file_name: z.string().max(255),
  language_identifier: z.string().max(255).nullable().optional(),
  content_above_cursor: z.string().max(100_000),
  // required by the gateway's pydantic model; Rails sends '' when there is nothing below the cursor
  content_below_cursor: z.string().max(100_000).default(''),
}))

const SuggestionsBodyBase = lazy((z) => ({
  project_path: z.string().max(255).nullable().optional(),
  project_id: z.number().int().nullable().optional(),
  current_file: CurrentFileSchema(),
  model_provider: z.string().nullable().optional(),
  model_endpoint: z.string().nullable().optional(),
  model_api_key: z.string().nullable().optional(),
  model_identifier: z.string().nullable().optional(),
  model_name: z.string().max(50).nullable().optional(),
  telemetry: z.array(z.unknown()).max(10).optional(),
  stream: z.boolean().optional(),
  choices_count: z.number().int().min(0).optional(),
  context: z
    .array(z.looseObject({ type: z.string().max(1024), name: z.string().max(1024), content: z.string().max(500_000) }))
    .max(100)
    .optional(),
  prompt_id: z.string().nullable().optional(),
}))

/** `CompletionsRequestV1/V2/V3` (`/v2/code/completions`). */
export const CodeCompletionsBodySchema = lazy((z) => z.looseObject({
  ...SuggestionsBodyBase(),
  prompt_version: z.union([z.literal(1), z.literal(2), z.literal(3)]).default(1),
  prompt: z.union([z.string(), z.array(z.unknown())]).nullable().optional(),
}))

/** `GenerationsRequestV1/V2/V3` (`/v2/code/generations`). */
export const CodeGenerationsBodySchema = lazy((z) => z.looseObject({
  ...SuggestionsBodyBase(),
  prompt_version: z.union([z.literal(1), z.literal(2), z.literal(3)]).default(1),
  prompt: z.union([z.string(), z.array(z.unknown())]).nullable().optional(),
}))

/** `AgentRequest` (`/v2/chat/agent`). */
export const ChatAgentBodySchema = lazy((z) => z.looseObject({
  messages: z
    .array(
      z.looseObject({
        role: z.enum(['user', 'assistant', 'system']),
        content: z.string().nullable(),
        additional_context: z.array(z.looseObject({ category: z.string() })).nullable().optional(),
      }),
    )
    .min(1),
  options: z
    .looseObject({
      agent_scratchpad: z.object({
        agent_type: z.literal('react'),
        steps: z.array(z.object({ thought: z.string(), tool: z.string(), tool_input: z.string(), observation: z.string() })),
      }),
    })
    .nullable()
    .optional(),
  model_metadata: ModelMetadataSchema().nullable().optional(),
  unavailable_resources: z.array(z.string()).nullable().optional(),
}))

// --- responses ---------------------------------------------------------------------------------

/** `SuggestionsResponse` of `/v2/code/completions` and `/v2/code/generations` (non-streamed). */
export const SuggestionsResponseSchema = lazy((z) => z.looseObject({
  id: z.string(),
  model: z.looseObject({ engine: z.string(), name: z.string(), lang: z.string() }),
  experiments: z.array(z.unknown()).optional(),
  object: z.string().optional(),
  created: z.number(),
  choices: z.array(z.looseObject({ text: z.string(), index: z.number().optional(), finish_reason: z.string().optional() })),
  metadata: z.looseObject({}).nullable().optional(),
}))

/**
 * An object a loose zod object would copy unchanged: zod leaves out an own `__proto__` member (JSON.parse makes
 * one from `"__proto__":`), so an object that has one is left to zod.
 */
const isRecord = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v) && !Object.hasOwn(v, '__proto__')
const isOptString = (v: unknown): boolean => v === undefined || typeof v === 'string'
const isOptNumber = (v: unknown): boolean => v === undefined || (typeof v === 'number' && Number.isFinite(v))

/** `accepts` of `SuggestionsResponseSchema`, field by field. */
export function isSuggestionsResponse(v: unknown): boolean {
  if (!isRecord(v) || typeof v['id'] !== 'string' || typeof v['created'] !== 'number' || !Number.isFinite(v['created'])) return false
  const model = v['model']
  if (!isRecord(model) || typeof model['engine'] !== 'string' || typeof model['name'] !== 'string' || typeof model['lang'] !== 'string') return false
  if (v['experiments'] !== undefined && !Array.isArray(v['experiments'])) return false
  if (!isOptString(v['object'])) return false
  const metadata = v['metadata']
  if (metadata !== undefined && metadata !== null && !isRecord(metadata)) return false
  const choices = v['choices']
  if (!Array.isArray(choices)) return false
  for (const c of choices) {
    if (!isRecord(c) || typeof c['text'] !== 'string' || !isOptNumber(c['index']) || !isOptString(c['finish_reason'])) return false
  }
  return true
}

/** `Token` of `/v1/code/user_access_token`. */
export const UserAccessTokenResponseSchema = lazy((z) => z.looseObject({
  token: z.string().min(1),
  expires_at: z.number(),
}))

/** `accepts` of `UserAccessTokenResponseSchema`. */
export function isUserAccessTokenResponse(v: unknown): boolean {
  return isRecord(v) && typeof v['token'] === 'string' && v['token'].length > 0 && typeof v['expires_at'] === 'number' && Number.isFinite(v['expires_at'])
}

/** The prompt endpoint answers with the model's text as a JSON string (`response_model=str`). */
export const ModelReplySchema = lazy((z) => z.string())

/** Any JSON (the health check's answer is not read). */
const AnyJsonSchema = lazy((z) => z.unknown())

// --- authorisation rules ------------------------------------------------------------------------

/** Any JSON object (unlike `isRecord`, one with an own `__proto__` member too: the gateway reads those bodies as well). */
const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v)

/** The chat carve-out's marker (`_has_gitlabduo_mention`, ai_gateway/api/v2/chat/agent.py @ eee38f6f). */
export const GITLAB_DUO_MENTION = '@GitLabDuo'

/**
 * `_has_gitlabduo_mention` (ai_gateway/api/v2/chat/agent.py @ eee38f6f): the content of the *last* user
 * message that has content (assistant scratchpad turns and empty user turns are skipped), searched for the
 * exact, case-sensitive text `@GitLabDuo`.
 */
export function lastUserMessageMentionsGitLabDuo(body: unknown): boolean {
  const messages = isObject(body) && Array.isArray(body['messages']) ? (body['messages'] as unknown[]) : []
  for (let i = messages.length - 1; i >= 0; i--) {
    const m = messages[i]
    if (!isObject(m) || m['role'] !== 'user') continue
    const content = m['content']
    if (typeof content === 'string' && content !== '') return content.includes(GITLAB_DUO_MENTION)
  }
  return false
}

/**
 * `authorize_additional_context` (ai_gateway/api/v2/chat/agent.py @ eee38f6f): every `additional_context` of
 * every message needs `include_<category>_context`, refused with `Unauthorized to access <primitive>`.
 */
function additionalContextNeeds(body: unknown): { unitPrimitive: string; forbiddenDetail: string }[] {
  const messages = isObject(body) && Array.isArray(body['messages']) ? (body['messages'] as unknown[]) : []
  const out: { unitPrimitive: string; forbiddenDetail: string }[] = []
  for (const m of messages) {
    const contexts = isObject(m) && Array.isArray(m['additional_context']) ? (m['additional_context'] as unknown[]) : []
    for (const c of contexts) {
      if (!isObject(c) || typeof c['category'] !== 'string') continue
      const up = `include_${c['category']}_context`
      out.push({ unitPrimitive: up, forbiddenDetail: `Unauthorized to access ${up}` })
    }
  }
  return out
}

/**
 * `POST /v2/chat/agent` (ai_gateway/api/v2/chat/agent.py @ eee38f6f, `get_agent`): the `chat/react` prompt
 * declares `duo_classic_chat` (prompts/definitions/chat/react/base/*.yml). A token without it but with
 * `duo_chat` is the Duo Core cut-off: refused with "Duo Core no longer authorized to access Duo Classic Chat",
 * unless the last user message mentions @GitLabDuo (the merge-request code-review flow), which is
 * re-authorised against `duo_chat`; a token with neither: "Unauthorized to access duo chat". Then each
 * additional context. GitLab asks its token for `duo_chat` in the code-review flow and `duo_classic_chat`
 * otherwise (`Completions::Chat`: `is_duo_code_review ? :duo_chat : :duo_classic_chat`, flyisland/gitlab-ee
 * ee/lib/gitlab/llm/completions/chat.rb @ 52d0d30b); the gateway can only tell the flow by the mention, and so
 * does this rule.
 */
const CHAT_ACCESS: AccessRule = (body) => {
  const mention = lastUserMessageMentionsGitLabDuo(body)
  const also = additionalContextNeeds(body)
  return {
    anyOf: ['duo_classic_chat'],
    forbiddenDetail: GATEWAY_MESSAGES.forbiddenDuoChat,
    fallback: { unitPrimitive: 'duo_chat', allowed: mention, refusedDetail: GATEWAY_MESSAGES.duoCoreClassicChatCutOff },
    ...(also.length === 0 ? {} : { also }),
    tokenUnitPrimitive: mention ? 'duo_chat' : 'duo_classic_chat',
  }
}

const COMPLETIONS_ACCESS: EndpointAccess = { anyOf: ['complete_code'], forbiddenDetail: GATEWAY_MESSAGES.forbiddenCodeCompletions }
/** Amazon Q completions need `amazon_q_integration` instead (`_get_provider_config`, ai_gateway/api/v2/code/completions.py @ eee38f6f). */
const AMAZON_Q_COMPLETIONS_ACCESS: EndpointAccess = { anyOf: ['amazon_q_integration'], forbiddenDetail: GATEWAY_MESSAGES.forbiddenCodeCompletions }

// --- the table ---------------------------------------------------------------------------------

export const ENDPOINTS = {
  /** Self-hosted model "test connection": the gateway sends a tiny prompt to the model and returns its reply. */
  checkModelConfiguration: {
    method: 'POST',
    path: '/v1/prompts/model_configuration%2Fcheck',
    unitPrimitive: 'complete_code',
    forbiddenDetail: GATEWAY_MESSAGES.forbiddenModelConfigurationCheck,
    // the prompt's unit_primitive (prompts/definitions/model_configuration/check/base/1.0.0.yml @ eee38f6f)
    access: { anyOf: ['complete_code'], forbiddenDetail: GATEWAY_MESSAGES.forbiddenModelConfigurationCheck },
    get body() {
      return ModelConfigurationCheckBodySchema()
    },
    get response() {
      return ModelReplySchema()
    },
    accepts: (v) => typeof v === 'string',
    retrySafe: true,
    streaming: false,
  },
  codeCompletions: {
    method: 'POST',
    path: '/v2/code/completions',
    unitPrimitive: 'complete_code',
    forbiddenDetail: GATEWAY_MESSAGES.forbiddenCodeCompletions,
    access: (body) => (isObject(body) && body['model_provider'] === 'amazon_q' ? AMAZON_Q_COMPLETIONS_ACCESS : COMPLETIONS_ACCESS),
    usageQuota: true,
    get body() {
      return CodeCompletionsBodySchema()
    },
    get response() {
      return SuggestionsResponseSchema()
    },
    accepts: isSuggestionsResponse,
    retrySafe: true,
    streaming: false,
  },
  codeGenerations: {
    method: 'POST',
    path: '/v2/code/generations',
    unitPrimitive: 'generate_code',
    forbiddenDetail: GATEWAY_MESSAGES.forbiddenCodeGenerations,
    // `current_user.can(GENERATE_CODE, disallowed_issuers=[service_name])` (ai_gateway/api/v2/code/completions.py @ eee38f6f)
    access: { anyOf: ['generate_code'], forbiddenDetail: GATEWAY_MESSAGES.forbiddenCodeGenerations, refusesGatewayTokens: true },
    usageQuota: true,
    get body() {
      return CodeGenerationsBodySchema()
    },
    get response() {
      return SuggestionsResponseSchema()
    },
    accepts: isSuggestionsResponse,
    retrySafe: false,
    streaming: false,
  },
  /** Duo Chat ReAct agent (see `CHAT_ACCESS` for who may use it). */
  chat: {
    method: 'POST',
    path: '/v2/chat/agent',
    unitPrimitive: 'duo_classic_chat',
    forbiddenDetail: GATEWAY_MESSAGES.forbiddenDuoChat,
    access: CHAT_ACCESS,
    get body() {
      return ChatAgentBodySchema()
    },
    response: undefined,
    retrySafe: false,
    streaming: true,
  },
  /** A short-lived gateway-issued token for direct IDE → gateway code completion. Needs a user (global user id). */
  userAccessToken: {
    method: 'POST',
    path: '/v1/code/user_access_token',
    unitPrimitive: 'complete_code',
    forbiddenDetail: GATEWAY_MESSAGES.forbiddenUserAccessToken,
    // complete_code or ai_gateway_model_provider_proxy, never a token the gateway issued
    // (ai_gateway/api/v1/code/user_access_token.py @ eee38f6f)
    access: {
      anyOf: ['complete_code', 'ai_gateway_model_provider_proxy'],
      forbiddenDetail: GATEWAY_MESSAGES.forbiddenUserAccessToken,
      refusesGatewayTokens: true,
    },
    usageQuota: true,
    body: undefined,
    get response() {
      return UserAccessTokenResponseSchema()
    },
    accepts: isUserAccessTokenResponse,
    retrySafe: true,
    streaming: false,
  },
  health: {
    method: 'GET',
    path: '/monitoring/healthz',
    unitPrimitive: undefined,
    body: undefined,
    get response() {
      return AnyJsonSchema()
    },
    accepts: () => true,
    retrySafe: true,
    streaming: false,
  },
} as const satisfies Record<string, EndpointDefinition>

export type EndpointName = keyof typeof ENDPOINTS

/** Gateway paths that need no authentication at all (domain.md §5). */
export const UNAUTHENTICATED_PATHS: readonly string[] = [
  '/monitoring/healthz',
  '/monitoring/ready',
  '/metrics',
  '/v1/models/definitions',
]

/**
 * What the gateway checks for a request to this endpoint with this body (pass it to `preflight({ access })`
 * or `verifier.authenticate(headers, { access })`); `undefined` for an unauthenticated endpoint.
 */
export function endpointAccess(name: EndpointName, body?: unknown): EndpointAccess | undefined {
  const def: EndpointDefinition = ENDPOINTS[name]
  return def.access === undefined ? undefined : accessFor(def.access, body)
}

/** The unit primitive to ask the token source for, for this endpoint and body. */
export function tokenUnitPrimitiveFor(name: EndpointName, body?: unknown): string | undefined {
  const access = endpointAccess(name, body)
  return access === undefined ? undefined : tokenUnitPrimitiveOf(access)
}

/**
 * The table entry for a request path (relative to the gateway base URL), matching the encoded path Rails
 * sends and its decoded form (`/v1/prompts/model_configuration/check`).
 */
export function endpointForPath(path: string): { name: EndpointName; definition: EndpointDefinition } | undefined {
  return PATH_INDEX.get(normalisePath(path))
}

// ---------------------------------------------------------------------------------------------

function normalisePath(path: string): string {
  let p = path.replace(/%2f/gi, '/')
  if (p.length > 1 && p.endsWith('/')) p = p.slice(0, -1)
  return p
}

const PATH_INDEX: ReadonlyMap<string, { name: EndpointName; definition: EndpointDefinition }> = new Map(
  (Object.entries(ENDPOINTS) as [EndpointName, EndpointDefinition][]).map(([name, definition]) => [
    normalisePath(definition.path),
    { name, definition },
  ]),
)
