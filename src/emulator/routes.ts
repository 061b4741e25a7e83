/**
 * The gateway's endpoints as the emulator answers them (domain.md §6). Each entry carries what a
 * client can observe of the real route in `movax01h/ai-gateway`: path, method, request model (for
 * the 422), the unit primitive it needs and the exact 403 detail it raises, then a canned,
 * schema-valid answer in place of a model's.
 */
import { randomUUID } from 'node:crypto'
import { SignJWT } from 'jose'
import { forbiddenMessage, GATEWAY_MESSAGES } from '../inspect/messages.js'
import { checkScope } from '../inspect/rules.js'
import type { SigningKey } from '../types.js'
import { jsonResponse, pythonReasonPhrase, textResponse, type EmulatorResponse } from './http.js'
import { isPlainObject, s, type Schema } from './schema.js'

/** What the model server does when the gateway calls it: fail with this HTTP status. */
export interface FailingModel {
  status: number
  /** Overrides the reason phrase; the gateway uses Python's (`503` → `Service Unavailable`). */
  reason?: string
}

/** The behaviour knobs a route reads. */
export interface RouteKnobs {
  audience: string
  bypassAuth: boolean
  /** Keyed by the model's `name`, `endpoint` or `identifier` (as sent in `model_metadata`). */
  failingModels: Readonly<Record<string, FailingModel>>
  modelReply: string
  /** Prompt id → the unit primitive its prompt definition declares. */
  prompts: Readonly<Record<string, string>>
}

/** The authenticated caller, as the gateway's `StarletteUser` sees it. */
export interface GatewayUser {
  /** AIGW_AUTH__BYPASS_EXTERNAL: a debug user who may do anything. */
  debug: boolean
  claims?: Record<string, unknown>
}

export interface RouteContext {
  params: Record<string, string>
  body: unknown
  headers: Record<string, string>
  user: GatewayUser
  knobs: Readonly<RouteKnobs>
  now: Date
  /** The gateway's own signing key (AIGW_SELF_SIGNED_JWT__SIGNING_KEY), when it has one. */
  gatewayKey: () => Promise<SigningKey | undefined>
}

export interface RouteResult extends EmulatorResponse {
  /** The unit primitive the route checked, for the request log. */
  unitPrimitive?: string
}

export interface GatewayRoute {
  name: string
  method: 'GET' | 'POST'
  path: RegExp
  /** Excluded from authentication (the middleware's public paths). */
  public?: boolean
  /** The request model; a body that fails it is a 422 before the endpoint runs. */
  body?: Schema
  handle(ctx: RouteContext): RouteResult | Promise<RouteResult>
}

/** The prompt the self-hosted model check runs, and what it needs. */
export const MODEL_CHECK_PROMPT_ID = 'model_configuration/check'
export const DEFAULT_PROMPTS: Readonly<Record<string, string>> = Object.freeze({ [MODEL_CHECK_PROMPT_ID]: 'complete_code' })

export const DEFAULT_MODEL_REPLY = 'Hello! This is the cloud-connector emulator answering for the model.'

/** `/v1/chat/{chat_invokable}` (CHAT_INVOKABLES in `api/v1/chat/agent.py`). */
export const CHAT_INVOKABLES: Readonly<Record<string, string>> = Object.freeze({
  explain_code: 'duo_chat',
  write_tests: 'duo_chat',
  refactor_code: 'duo_chat',
  explain_vulnerability: 'explain_vulnerability',
  summarize_comments: 'summarize_comments',
  troubleshoot_job: 'troubleshoot_job',
  agent: 'duo_chat',
})

export const ADDITIONAL_CONTEXT_CATEGORIES = [
  'file',
  'snippet',
  'merge_request',
  'issue',
  'dependency',
  'local_git',
  'terminal',
  'repository',
  'directory',
  'user_rule',
] as const

/** `ModelMetadata | AmazonQModelMetadata` (`ai_gateway/prompts/typing.py`). */
const ModelMetadata = s.model('ModelMetadata', {
  name: s.required(s.str(255)),
  provider: s.required(s.str(255)),
  endpoint: s.required(s.url(255)),
  api_key: s.absent(s.optional(s.str(1000))),
  identifier: s.absent(s.optional(s.str(1000))),
})
const AmazonQModelMetadata = s.model('AmazonQModelMetadata', {
  provider: s.required(s.literal('amazon_q')),
  name: s.required(s.literal('amazon_q')),
  role_arn: s.required(s.str(255)),
})

/** `PromptRequest` (`api/v1/prompts/invoke.py`). */
export const PromptRequest = s.model('PromptRequest', {
  inputs: s.required(s.dict()),
  prompt_version: s.absent(s.optional(s.str())),
  stream: s.absent(s.optional(s.bool())),
  model_metadata: s.absent(s.optional(s.union(ModelMetadata, AmazonQModelMetadata))),
})

const CurrentFile = s.model('CurrentFile', {
  file_name: s.required(s.str(255)),
  language_identifier: s.absent(s.optional(s.str(255))),
  content_above_cursor: s.required(s.str(100_000)),
  content_below_cursor: s.required(s.str(100_000)),
})

const suggestionFields = {
  current_file: s.required(CurrentFile),
  project_id: s.absent(s.optional(s.int())),
  project_path: s.absent(s.optional(s.str(255))),
  model_provider: s.absent(s.optional(s.str())),
  model_name: s.absent(s.optional(s.str())),
  model_endpoint: s.absent(s.optional(s.str())),
  model_api_key: s.absent(s.optional(s.str())),
  model_identifier: s.absent(s.optional(s.str())),
  prompt_version: s.absent(s.int()),
  prompt_id: s.absent(s.optional(s.str())),
  prompt: s.absent(s.any()),
  stream: s.absent(s.optional(s.bool())),
  telemetry: s.absent(s.optional(s.list(s.any()))),
  context: s.absent(s.optional(s.list(s.any()))),
}

export const CompletionsRequest = s.model('CompletionsRequest', suggestionFields)
export const GenerationsRequest = s.model('GenerationsRequest', suggestionFields)

const AdditionalContext = s.model('AdditionalContext', {
  category: s.required(s.enumOf(ADDITIONAL_CONTEXT_CATEGORIES)),
  id: s.absent(s.optional(s.str())),
  content: s.absent(s.optional(s.str())),
  metadata: s.absent(s.optional(s.dict())),
})

/** `AgentRequest` (`api/v2/chat/typing.py`). */
export const AgentRequest = s.model('AgentRequest', {
  messages: s.required(
    s.list(
      s.model('Message', {
        role: s.required(s.enumOf(['user', 'assistant'])),
        content: s.required(s.optional(s.str())),
        additional_context: s.absent(s.optional(s.list(AdditionalContext))),
        agent_scratchpad: s.absent(s.optional(s.list(s.any()))),
      }),
      1,
    ),
  ),
  options: s.absent(s.optional(s.dict())),
  model_metadata: s.absent(s.optional(s.dict())),
  unavailable_resources: s.absent(s.optional(s.list(s.str()))),
})

/** `ChatRequest` (`api/v1/chat/typing.py`). */
export const ChatRequest = s.model('ChatRequest', {
  prompt_components: s.required(
    s.list(
      s.model('PromptComponent', {
        type: s.required(s.str(255)),
        metadata: s.required(s.model('PromptMetadata', { source: s.required(s.str(100)), version: s.required(s.str(100)) })),
        payload: s.required(
          s.model('PromptPayload', {
            content: s.required(s.any()),
            provider: s.absent(s.optional(s.str())),
            model: s.absent(s.optional(s.str())),
            params: s.absent(s.optional(s.dict())),
          }),
        ),
      }),
      1,
    ),
  ),
  stream: s.absent(s.optional(s.bool())),
})

/** `SearchRequest` (`api/v1/search/typing.py`). */
export const SearchRequest = s.model('SearchRequest', {
  type: s.required(s.str(255)),
  metadata: s.required(s.model('SearchMetadata', { source: s.required(s.str(255)), version: s.required(s.str(255)) })),
  payload: s.required(s.model('SearchPayload', { query: s.required(s.str(1000)), page_size: s.absent(s.int()) })),
})

export const GATEWAY_ROUTES: readonly GatewayRoute[] = [
  {
    name: 'healthz',
    method: 'GET',
    path: /^\/monitoring\/healthz$/,
    public: true,
    handle: () => jsonResponse(200, {}),
  },
  {
    name: 'ready',
    method: 'GET',
    path: /^\/monitoring\/ready$/,
    public: true,
    handle: () => jsonResponse(200, {}),
  },
  {
    // `/{prompt_id:path}`: uvicorn has decoded `%2F`, so Rails' `model_configuration%2Fcheck` lands here too.
    name: 'prompts',
    method: 'POST',
    path: /^\/v1\/prompts\/(?<prompt_id>.+)$/,
    body: PromptRequest,
    handle: invokePrompt,
  },
  {
    name: 'code_completions',
    method: 'POST',
    path: /^\/v2\/(?:code\/)?completions$/,
    body: CompletionsRequest,
    handle(ctx) {
      const body = ctx.body as Record<string, unknown>
      const up = body['model_provider'] === 'amazon_q' ? 'amazon_q_integration' : 'complete_code'
      if (!can(ctx.user, up)) return forbidden(GATEWAY_MESSAGES.forbiddenCodeCompletions, up)
      return { ...jsonResponse(200, suggestionsResponse(ctx, 'completion')), unitPrimitive: up }
    },
  },
  {
    name: 'code_generations',
    method: 'POST',
    path: /^\/v2\/code\/generations$/,
    body: GenerationsRequest,
    handle(ctx) {
      // Refuses tokens the gateway issued itself (`disallowed_issuers=[service_name]`).
      if (!can(ctx.user, 'generate_code', [ctx.knobs.audience])) {
        return forbidden(GATEWAY_MESSAGES.forbiddenCodeGenerations, 'generate_code')
      }
      return { ...jsonResponse(200, suggestionsResponse(ctx, 'generation')), unitPrimitive: 'generate_code' }
    },
  },
  {
    name: 'chat_agent',
    method: 'POST',
    path: /^\/v2\/chat\/agent$/,
    body: AgentRequest,
    handle(ctx) {
      // The `chat/react` prompt declares duo_chat (older catalogs) or duo_classic_chat (newer).
      const chat = can(ctx.user, 'duo_chat') ? 'duo_chat' : can(ctx.user, 'duo_classic_chat') ? 'duo_classic_chat' : undefined
      if (chat === undefined) return forbidden(GATEWAY_MESSAGES.forbiddenDuoChat, 'duo_chat')
      const messages = (ctx.body as { messages: Array<{ additional_context?: Array<{ category: string }> | null }> }).messages
      for (const m of messages) {
        for (const c of m.additional_context ?? []) {
          const up = `include_${c.category}_context`
          if (!can(ctx.user, up)) return forbidden(`Unauthorized to access ${up}`, up)
        }
      }
      const events = [
        { type: 'final_answer_delta', data: { thought: '', text: ctx.knobs.modelReply } },
      ]
      return {
        status: 200,
        headers: { 'content-type': 'application/x-ndjson; charset=utf-8' },
        body: events.map((e) => `${JSON.stringify(e)}\n`).join(''),
        unitPrimitive: chat,
      }
    },
  },
  {
    name: 'chat',
    method: 'POST',
    path: /^\/v1\/chat\/(?<chat_invokable>[^/]+)$/,
    body: ChatRequest,
    handle(ctx) {
      const name = ctx.params['chat_invokable'] ?? ''
      const up = CHAT_INVOKABLES[name]
      if (up === undefined) return jsonResponse(404, { detail: 'Not found' })
      // f"Unauthorized to access {unit_primitive}": a StrEnum, so no quotes (unlike the prompt ids).
      if (!can(ctx.user, up)) return forbidden(`Unauthorized to access ${up}`, up)
      const payload = (ctx.body as { prompt_components: Array<{ payload: { provider?: string | null; model?: string | null } }> })
        .prompt_components[0]?.payload
      return {
        ...jsonResponse(200, {
          response: ctx.knobs.modelReply,
          metadata: {
            provider: payload?.provider ?? 'anthropic',
            model: payload?.model ?? 'claude-3-5-sonnet-20240620',
            timestamp: epoch(ctx.now),
          },
        }),
        unitPrimitive: up,
      }
    },
  },
  {
    name: 'user_access_token',
    method: 'POST',
    path: /^\/v1\/code\/user_access_token$/,
    handle: userAccessToken,
  },
  {
    name: 'docs_search',
    method: 'POST',
    path: /^\/v1\/search\/gitlab-docs$/,
    body: SearchRequest,
    handle(ctx) {
      if (!can(ctx.user, 'documentation_search')) {
        return forbidden('Unauthorized to search documentations', 'documentation_search')
      }
      const query = String((ctx.body as { payload: { query: string } }).payload.query)
      return {
        ...jsonResponse(200, {
          response: {
            results: [
              {
                id: 'emulator-doc-1',
                content: `Canned documentation result for: ${query}`,
                metadata: { source_url: 'https://docs.gitlab.com/', title: 'GitLab Docs', md5sum: '0' },
              },
            ],
          },
          metadata: { provider: 'emulator', timestamp: epoch(ctx.now) },
        }),
        unitPrimitive: 'documentation_search',
      }
    },
  },
]

/**
 * `current_user.can(unit_primitive, disallowed_issuers)` of gitlab-cloud-connector, with Python's
 * `in` (shared with the verifier): a string `scopes` is a substring test, an object is a key test,
 * and a `scopes` that cannot be searched (null, a number) makes the gateway fail with a 500.
 */
export function can(user: GatewayUser, unitPrimitive: string, disallowedIssuers: readonly string[] = []): boolean {
  if (user.debug) return true
  const claims = user.claims ?? {}
  if (disallowedIssuers.length > 0 && typeof claims['iss'] === 'string' && disallowedIssuers.includes(claims['iss'])) return false
  const scope = checkScope(claims, unitPrimitive)
  if (!scope.ok && !scope.missing) throw new GatewayServerError(scope.fatal)
  return scope.ok
}

/** An exception the gateway would not handle: the double answers Starlette's plain 500. */
export class GatewayServerError extends Error {
  constructor(readonly reason: string) {
    super(reason)
    this.name = 'GatewayServerError'
  }
}

/** The model the request names, if the emulator was told to make it fail. */
export function failingModelFor(
  failing: Readonly<Record<string, FailingModel>>,
  metadata: unknown,
): FailingModel | undefined {
  if (!isPlainObject(metadata)) return undefined
  for (const member of ['endpoint', 'name', 'identifier'] as const) {
    const v = metadata[member]
    if (typeof v !== 'string' || v === '') continue
    const hit = failing[v] ?? failing[v.replace(/\/+$/, '')] ?? failing[`${v}/`]
    if (hit !== undefined) return hit
  }
  return undefined
}

async function invokePrompt(ctx: RouteContext): Promise<RouteResult> {
  const promptId = ctx.params['prompt_id'] ?? ''
  const up = ctx.knobs.prompts[promptId]
  // The registry looks the prompt up first (KeyError → 404), then checks the caller's unit primitive.
  if (up === undefined) return jsonResponse(404, { detail: `Prompt '${promptId}' not found` })
  if (!can(ctx.user, up)) return forbidden(forbiddenMessage(promptId), up)
  const body = ctx.body as { stream?: unknown; model_metadata?: unknown }
  const failing = failingModelFor(ctx.knobs.failingModels, body.model_metadata)
  if (failing !== undefined) {
    // 421 Misdirected Request: "the model failed, not the gateway" — detail "<status>: <reason>".
    const reason = failing.reason ?? pythonReasonPhrase(failing.status)
    return { ...jsonResponse(421, { detail: `${failing.status}: ${reason}` }), unitPrimitive: up }
  }
  if (isTrue(body.stream)) {
    return { ...textResponse(200, ctx.knobs.modelReply, 'text/event-stream; charset=utf-8'), unitPrimitive: up }
  }
  // `response_model=str`: the model's text, JSON-encoded.
  return { ...jsonResponse(200, ctx.knobs.modelReply), unitPrimitive: up }
}

async function userAccessToken(ctx: RouteContext): Promise<RouteResult> {
  const up = 'complete_code'
  if (!can(ctx.user, up, [ctx.knobs.audience])) {
    return forbidden('Unauthorized to create user access token for code suggestions', up)
  }
  for (const [header, name] of [
    ['x-gitlab-global-user-id', 'X-Gitlab-Global-User-Id'],
    ['x-gitlab-instance-id', 'X-Gitlab-Instance-Id'],
    ['x-gitlab-realm', 'X-Gitlab-Realm'],
  ] as const) {
    if (!ctx.headers[header]) return { ...jsonResponse(400, { detail: `Missing ${name} header` }), unitPrimitive: up }
  }
  const key = await ctx.gatewayKey()
  if (key?.privateKey === undefined) return { ...jsonResponse(500, { detail: 'Failed to generate JWT' }), unitPrimitive: up }
  const iat = epoch(ctx.now)
  const exp = iat + 3600
  // TokenAuthority.encode: issued by and for the gateway, subject = the global user id.
  const token = await new SignJWT({
    gitlab_realm: ctx.headers['x-gitlab-realm'],
    scopes: [up],
    gitlab_instance_id: ctx.headers['x-gitlab-instance-id'],
  })
    .setProtectedHeader({ alg: 'RS256', typ: 'JWT', kid: key.kid })
    .setIssuer(ctx.knobs.audience)
    .setSubject(ctx.headers['x-gitlab-global-user-id'] ?? '')
    .setAudience(ctx.knobs.audience)
    .setIssuedAt(iat)
    .setNotBefore(iat)
    .setExpirationTime(exp)
    .setJti(randomUUID())
    .sign(key.privateKey)
  return { ...jsonResponse(200, { token, expires_at: exp }), unitPrimitive: up }
}

function suggestionsResponse(ctx: RouteContext, kind: 'completion' | 'generation'): Record<string, unknown> {
  const body = ctx.body as { current_file: { file_name: string; language_identifier?: string | null } }
  return {
    id: 'id',
    model: {
      engine: 'emulator',
      name: kind === 'completion' ? 'emulator-code-completion' : 'emulator-code-generation',
      lang: body.current_file.language_identifier ?? languageOf(body.current_file.file_name),
      tokens_consumption_metadata: null,
      region: 'emulator',
    },
    experiments: [],
    object: 'text_completion',
    created: epoch(ctx.now),
    choices: [{ text: ctx.knobs.modelReply, index: 0, finish_reason: 'length' }],
    metadata: { enabled_feature_flags: [] },
  }
}

function forbidden(detail: string, unitPrimitive: string): RouteResult {
  return { ...jsonResponse(403, { detail }), unitPrimitive }
}

function isTrue(v: unknown): boolean {
  if (v === true || v === 1) return true
  return typeof v === 'string' && ['1', 'on', 't', 'true', 'y', 'yes'].includes(v.toLowerCase())
}

function epoch(d: Date): number {
  return Math.floor(d.getTime() / 1000)
}

const LANGUAGES: Record<string, string> = {
  py: 'python', js: 'javascript', ts: 'typescript', rb: 'ruby', go: 'go', java: 'java', rs: 'rust',
  c: 'c', cpp: 'cpp', cs: 'csharp', php: 'php', kt: 'kotlin', swift: 'swift', scala: 'scala', sh: 'bash',
}

function languageOf(fileName: string): string {
  const ext = /\.([A-Za-z0-9]+)$/.exec(fileName)?.[1]?.toLowerCase()
  return (ext !== undefined ? LANGUAGES[ext] : undefined) ?? ''
}
