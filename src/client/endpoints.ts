/**
 * The one table of gateway endpoints the SDK knows: path, method, the unit primitive the gateway checks for
 * it (domain.md §6), the request-body schema and the response schema. The client methods, the fetch adapter
 * (path → unit primitive) and the docs all read it from here.
 *
 * Request bodies mirror the gateway's pydantic models (`ai_gateway/api/v2/code/typing.py`,
 * `api/v2/chat/typing.py`, `api/v1/prompts/invoke.py`) as far as the SDK can check them before sending;
 * objects are loose so that fields added by newer gateways pass through.
 */
import { z } from 'zod'
import { GATEWAY_MESSAGES } from '../inspect/index.js'

export type HttpMethod = 'GET' | 'POST'

export interface EndpointDefinition<Body extends z.ZodType | undefined = z.ZodType | undefined, Res extends z.ZodType = z.ZodType> {
  readonly method: HttpMethod
  /** Path below the gateway base URL, exactly as sent (the model check keeps Rails's `%2F`). */
  readonly path: string
  /** The unit primitive the gateway requires; `undefined` for the unauthenticated endpoints. */
  readonly unitPrimitive: string | undefined
  /** The gateway's 403 `detail` for this endpoint when the token lacks the unit primitive (what preflight reports). */
  readonly forbiddenDetail?: string
  /** Other unit primitives the gateway also accepts for this endpoint. */
  readonly alternativeUnitPrimitives?: readonly string[]
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
export const ModelMetadataSchema = z.looseObject({
  name: z.string().min(1),
  provider: z.string().min(1, `provider is required (${MODEL_PROVIDERS_HINT})`),
  endpoint: z.string().min(1).optional(),
  api_key: z.string().nullable().optional(),
  identifier: z.string().nullable().optional(),
})

/** Body of `POST /v1/prompts/model_configuration%2Fcheck` as Rails builds it (`ModelConfigCheck#body`). */
export const ModelConfigurationCheckBodySchema = z.object({
  inputs: z.record(z.string(), z.unknown()),
  stream: z.literal(false),
  model_metadata: z.object({
    name: z.string().min(1),
    provider: z.string().min(1),
    endpoint: z.url({ protocol: /^https?$/ }),
    api_key: z.string().nullable(),
    identifier: z.string().nullable(),
  }),
})

const CurrentFileSchema = z.looseObject({
  file_name: z.string().max(255),
  language_identifier: z.string().max(255).nullable().optional(),
  content_above_cursor: z.string().max(100_000),
  // required by the gateway's pydantic model; Rails sends '' when there is nothing below the cursor
  content_below_cursor: z.string().max(100_000).default(''),
})

const SuggestionsBodyBase = {
  project_path: z.string().max(255).nullable().optional(),
  project_id: z.number().int().nullable().optional(),
  current_file: CurrentFileSchema,
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
}

/** `CompletionsRequestV1/V2/V3` (`/v2/code/completions`). */
export const CodeCompletionsBodySchema = z.looseObject({
  ...SuggestionsBodyBase,
  prompt_version: z.union([z.literal(1), z.literal(2), z.literal(3)]).default(1),
  prompt: z.union([z.string(), z.array(z.unknown())]).nullable().optional(),
})

/** `GenerationsRequestV1/V2/V3` (`/v2/code/generations`). */
export const CodeGenerationsBodySchema = z.looseObject({
  ...SuggestionsBodyBase,
  prompt_version: z.union([z.literal(1), z.literal(2), z.literal(3)]).default(1),
  prompt: z.union([z.string(), z.array(z.unknown())]).nullable().optional(),
})

/** `AgentRequest` (`/v2/chat/agent`). */
export const ChatAgentBodySchema = z.looseObject({
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
  model_metadata: ModelMetadataSchema.nullable().optional(),
  unavailable_resources: z.array(z.string()).nullable().optional(),
})

// --- responses ---------------------------------------------------------------------------------

/** `SuggestionsResponse` of `/v2/code/completions` and `/v2/code/generations` (non-streamed). */
export const SuggestionsResponseSchema = z.looseObject({
  id: z.string(),
  model: z.looseObject({ engine: z.string(), name: z.string(), lang: z.string() }),
  experiments: z.array(z.unknown()).optional(),
  object: z.string().optional(),
  created: z.number(),
  choices: z.array(z.looseObject({ text: z.string(), index: z.number().optional(), finish_reason: z.string().optional() })),
  metadata: z.looseObject({}).nullable().optional(),
})

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
export const UserAccessTokenResponseSchema = z.looseObject({
  token: z.string().min(1),
  expires_at: z.number(),
})

/** `accepts` of `UserAccessTokenResponseSchema`. */
export function isUserAccessTokenResponse(v: unknown): boolean {
  return isRecord(v) && typeof v['token'] === 'string' && v['token'].length > 0 && typeof v['expires_at'] === 'number' && Number.isFinite(v['expires_at'])
}

/** The prompt endpoint answers with the model's text as a JSON string (`response_model=str`). */
export const ModelReplySchema = z.string()

// --- the table ---------------------------------------------------------------------------------

export const ENDPOINTS = {
  /** Self-hosted model "test connection": the gateway sends a tiny prompt to the model and returns its reply. */
  checkModelConfiguration: {
    method: 'POST',
    path: '/v1/prompts/model_configuration%2Fcheck',
    unitPrimitive: 'complete_code',
    forbiddenDetail: GATEWAY_MESSAGES.forbiddenModelConfigurationCheck,
    body: ModelConfigurationCheckBodySchema,
    response: ModelReplySchema,
    accepts: (v) => typeof v === 'string',
    retrySafe: true,
    streaming: false,
  },
  codeCompletions: {
    method: 'POST',
    path: '/v2/code/completions',
    unitPrimitive: 'complete_code',
    forbiddenDetail: GATEWAY_MESSAGES.forbiddenCodeCompletions,
    body: CodeCompletionsBodySchema,
    response: SuggestionsResponseSchema,
    accepts: isSuggestionsResponse,
    retrySafe: true,
    streaming: false,
  },
  codeGenerations: {
    method: 'POST',
    path: '/v2/code/generations',
    unitPrimitive: 'generate_code',
    forbiddenDetail: GATEWAY_MESSAGES.forbiddenCodeGenerations,
    body: CodeGenerationsBodySchema,
    response: SuggestionsResponseSchema,
    accepts: isSuggestionsResponse,
    retrySafe: false,
    streaming: false,
  },
  /** Duo Chat ReAct agent. The gateway's `chat/react` prompt lists `duo_chat`; newer catalogs add `duo_classic_chat`. */
  chat: {
    method: 'POST',
    path: '/v2/chat/agent',
    unitPrimitive: 'duo_chat',
    forbiddenDetail: GATEWAY_MESSAGES.forbiddenDuoChat,
    alternativeUnitPrimitives: ['duo_classic_chat'],
    body: ChatAgentBodySchema,
    response: undefined,
    retrySafe: false,
    streaming: true,
  },
  /** A short-lived gateway-issued token for direct IDE → gateway code completion. Needs a user (global user id). */
  userAccessToken: {
    method: 'POST',
    path: '/v1/code/user_access_token',
    unitPrimitive: 'complete_code',
    // api/v1/code/user_access_token.py
    forbiddenDetail: 'Unauthorized to create user access token for code suggestions',
    body: undefined,
    response: UserAccessTokenResponseSchema,
    accepts: isUserAccessTokenResponse,
    retrySafe: true,
    streaming: false,
  },
  health: {
    method: 'GET',
    path: '/monitoring/healthz',
    unitPrimitive: undefined,
    body: undefined,
    response: z.unknown(),
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
