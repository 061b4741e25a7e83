/**
 * The gateway's endpoints as the emulator answers them (domain.md §6). Each entry carries what a
 * client can observe of the real route in `movax01h/ai-gateway`: path, method, request model (for
 * the 422), then its authorisation — for the endpoints of the SDK's table, the table's own rule
 * (`ENDPOINTS[name].access`, judged by `judgeAccess` as preflight and the verifier judge it) — then a
 * canned, schema-valid answer in place of a model's.
 *
 * Every lookup keyed by a name from the request (prompt id, chat invokable, model name) is a `Map`:
 * a name such as `constructor` or `__proto__` is just an unknown name.
 */
import { randomUUID } from 'node:crypto'
import { SignJWT } from 'jose'
import { endpointAccess, ENDPOINTS } from '../client/endpoints.js'
import { judgeAccess, singlePrimitiveAccess, tokenUnitPrimitiveOf, type EndpointAccess } from '../inspect/access.js'
import { forbiddenMessage } from '../inspect/messages.js'
import { pyTruthy } from '../inspect/python.js'
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

/**
 * What the gateway's usage-quota layer answers (ai_gateway/api/middleware/route/usage_quota.py @ eee38f6f):
 * `ok` lets requests through; `insufficient_credits` is its 402, `not_entitled` its 403
 * `USAGE_QUOTA_NOT_ENTITLED` (also what it answers when the quota service is unavailable).
 */
export type UsageQuotaState = 'ok' | 'insufficient_credits' | 'not_entitled'

/** The behaviour knobs a route reads. */
export interface RouteKnobs {
  audience: string
  bypassAuth: boolean
  /** Keyed by the model's `name`, `endpoint` or `identifier` (as sent in `model_metadata`). */
  failingModels: ReadonlyMap<string, FailingModel>
  modelReply: string
  /** Prompt id → the unit primitive its prompt definition declares. */
  prompts: ReadonlyMap<string, string>
  usageQuota: UsageQuotaState
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
  /** Behind the usage-quota layer: after the 422, before the endpoint's own checks. */
  usageQuota?: boolean
  handle(ctx: RouteContext): RouteResult | Promise<RouteResult>
}

/** The prompt the self-hosted model check runs, and what it needs (the endpoint table's primitive). */
export const MODEL_CHECK_PROMPT_ID = 'model_configuration/check'
export const DEFAULT_PROMPTS: ReadonlyMap<string, string> = new Map([[MODEL_CHECK_PROMPT_ID, ENDPOINTS.checkModelConfiguration.unitPrimitive]])

export const DEFAULT_MODEL_REPLY = 'Hello! This is the cloud-connector emulator answering for the model.'

/** `/v1/chat/{chat_invokable}` (CHAT_INVOKABLES in `api/v1/chat/agent.py`). */
export const CHAT_INVOKABLES: ReadonlyMap<string, string> = new Map([
  ['explain_code', 'duo_chat'],
  ['write_tests', 'duo_chat'],
  ['refactor_code', 'duo_chat'],
  ['explain_vulnerability', 'explain_vulnerability'],
  ['summarize_comments', 'summarize_comments'],
  ['troubleshoot_job', 'troubleshoot_job'],
  ['agent', 'duo_chat'],
])

/** `AdditionalContext.category` (ai_gateway/chat/agents/typing.py @ eee38f6f). */
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
  'os_information',
  'agent_user_environment',
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
        // `Role` (ai_gateway/models/base_chat.py @ eee38f6f)
        role: s.required(s.enumOf(['system', 'user', 'assistant'])),
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
    usageQuota: ENDPOINTS.codeCompletions.usageQuota,
    handle(ctx) {
      const granted = authorize(ctx, endpointAccess('codeCompletions', ctx.body))
      if (!granted.ok) return granted.refusal
      return { ...jsonResponse(200, suggestionsResponse(ctx, 'completion')), unitPrimitive: granted.unitPrimitive }
    },
  },
  {
    name: 'code_generations',
    method: 'POST',
    path: /^\/v2\/code\/generations$/,
    body: GenerationsRequest,
    usageQuota: ENDPOINTS.codeGenerations.usageQuota,
    handle(ctx) {
      const granted = authorize(ctx, endpointAccess('codeGenerations', ctx.body))
      if (!granted.ok) return granted.refusal
      return { ...jsonResponse(200, suggestionsResponse(ctx, 'generation')), unitPrimitive: granted.unitPrimitive }
    },
  },
  {
    name: 'chat_agent',
    method: 'POST',
    path: /^\/v2\/chat\/agent$/,
    body: AgentRequest,
    handle(ctx) {
      const granted = authorize(ctx, endpointAccess('chat', ctx.body))
      if (!granted.ok) return granted.refusal
      const events = [
        { type: 'final_answer_delta', data: { thought: '', text: ctx.knobs.modelReply } },
      ]
      return {
        status: 200,
        headers: { 'content-type': 'application/x-ndjson; charset=utf-8' },
        body: events.map((e) => `${JSON.stringify(e)}\n`).join(''),
        unitPrimitive: granted.unitPrimitive,
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
      const up = CHAT_INVOKABLES.get(name)
      if (up === undefined) return jsonResponse(404, { detail: 'Not found' })
      // f"Unauthorized to access {unit_primitive}": a StrEnum, so no quotes (unlike the prompt ids).
      const granted = authorize(ctx, singlePrimitiveAccess(up, `Unauthorized to access ${up}`))
      if (!granted.ok) return granted.refusal
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
    usageQuota: ENDPOINTS.userAccessToken.usageQuota,
    handle: userAccessToken,
  },
  {
    name: 'docs_search',
    method: 'POST',
    path: /^\/v1\/search\/gitlab-docs$/,
    body: SearchRequest,
    handle(ctx) {
      const granted = authorize(ctx, singlePrimitiveAccess('documentation_search', 'Unauthorized to search documentations'))
      if (!granted.ok) return granted.refusal
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
 * The endpoint's rule for this request (`judgeAccess`, the same judgement as preflight and the verifier);
 * the debug user of AIGW_AUTH__BYPASS_EXTERNAL may do anything (`can` is true for it).
 */
export function authorize(ctx: RouteContext, access: EndpointAccess | undefined): { ok: true; unitPrimitive: string } | { ok: false; refusal: RouteResult } {
  if (access === undefined) throw new Error('emulator: an authenticated route without an access rule')
  if (ctx.user.debug) return { ok: true, unitPrimitive: access.anyOf[0] ?? tokenUnitPrimitiveOf(access) }
  const verdict = judgeAccess(access, ctx.user.claims ?? {}, ctx.knobs.audience)
  if (verdict.ok) return verdict
  if (verdict.status === 500) throw new GatewayServerError(verdict.fatal)
  return { ok: false, refusal: forbidden(verdict.detail, verdict.unitPrimitive) }
}

/**
 * The usage-quota layer (`has_sufficient_usage_quota`, ai_gateway/api/middleware/route/usage_quota.py @ eee38f6f):
 * skipped when the token's `skip_usage_cutoff` claim is truthy (`should_skip_usage_quota_for_user`,
 * lib/usage_quota/client.py), else the quota service's answer: 402 `insufficient_credits` or 403 `not_entitled`,
 * with the exact bodies the gateway sends.
 */
export function usageQuotaRefusal(state: UsageQuotaState, user: GatewayUser): EmulatorResponse | undefined {
  if (state === 'ok') return undefined
  if (pyTruthy(user.claims?.['skip_usage_cutoff'])) return undefined
  if (state === 'insufficient_credits') {
    return jsonResponse(402, {
      error: 'insufficient_credits',
      error_code: 'USAGE_QUOTA_EXCEEDED',
      message: 'Consumer does not have sufficient credits for this request',
    })
  }
  return jsonResponse(403, {
    error: 'not_entitled',
    error_code: 'USAGE_QUOTA_NOT_ENTITLED',
    message: 'Consumer does not have entitlements to use this feature.',
  })
}

/** An exception the gateway would not handle: the double answers Starlette's plain 500. */
export class GatewayServerError extends Error {
  constructor(readonly reason: string) {
    super(reason)
    this.name = 'GatewayServerError'
  }
}

/** The model the request names, if the emulator was told to make it fail. */
export function failingModelFor(failing: ReadonlyMap<string, FailingModel>, metadata: unknown): FailingModel | undefined {
  if (!isPlainObject(metadata)) return undefined
  for (const member of ['endpoint', 'name', 'identifier'] as const) {
    const v = metadata[member]
    if (typeof v !== 'string' || v === '') continue
    const hit = failing.get(v) ?? failing.get(v.replace(/\/+$/, '')) ?? failing.get(`${v}/`)
    if (hit !== undefined) return hit
  }
  return undefined
}

async function invokePrompt(ctx: RouteContext): Promise<RouteResult> {
  const promptId = ctx.params['prompt_id'] ?? ''
  const up = ctx.knobs.prompts.get(promptId)
  // The registry looks the prompt up first (KeyError → 404), then checks the caller's unit primitive.
  if (up === undefined) return jsonResponse(404, { detail: `Prompt '${promptId}' not found` })
  const granted = authorize(ctx, singlePrimitiveAccess(up, forbiddenMessage(promptId)))
  if (!granted.ok) return granted.refusal
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
  const access = endpointAccess('userAccessToken')
  const granted = authorize(ctx, access)
  if (!granted.ok) return granted.refusal
  const up = granted.unitPrimitive
  // Every primitive of the rule the caller holds becomes a scope of the new token, in the rule's order
  // (ai_gateway/api/v1/code/user_access_token.py @ eee38f6f).
  const scopes = ctx.user.debug ? [...(access?.anyOf ?? [])] : (access?.anyOf ?? []).filter((p) => checkScope(ctx.user.claims ?? {}, p).ok)
  // The 400s for missing headers are the older gateway's; the newest reads these values from the caller (assumed unchanged).
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
    scopes,
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
