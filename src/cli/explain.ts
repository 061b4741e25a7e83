/**
 * Every failure the CLI reports, in the CLI's own words: one line with the cause first (at most
 * MAX_LINE characters, control characters made visible), the fix naming the CLI's flags and commands
 * (never the library's API), the exit code, and the details `--verbose` adds. The library's errors carry
 * the facts as fields (`code`, `status`, `likelyCause`, `findings`, ...), so nothing here parses a message.
 */
import {
  builtInCatalog,
  CloudConnectorError,
  GatewayAuthError,
  GatewayForbiddenError,
  GatewayHttpError,
  GatewayRedirectError,
  GatewayResponseError,
  GatewayTimeoutError,
  GatewayValidationError,
  HeaderError,
  InvalidOptionsError,
  ModelUnreachableError,
  NetworkError,
  PreflightError,
  TokenError,
  type AuthFailureCause,
  type Problem,
  type TokenDiagnosis,
} from './sdk.js'
import { CliFailure, UsageError } from './args.js'
import { clip, visible, type Style } from './io.js'

/** Exit codes: 0 success / would be accepted, 1 refused or failed, 2 usage error, 3 unexpected failure (a bug). */
export const EXIT = { ok: 0, refused: 1, usage: 2, unexpected: 3 } as const

/** The longest one-line message the CLI prints for a failure (details go under --verbose). */
export const MAX_LINE = 200

/** One thing found, as the CLI prints it and as `--json` lists it (a flat list). */
export interface Finding {
  code: string
  severity: 'error' | 'warning'
  status?: number
  gatewayError?: string
  reason?: string
  message: string
  fix: string
  segment?: string
  claim?: string
  header?: string
}

export interface Explanation {
  /** The error's stable code (the library's, or ERR_USAGE / ERR_UNEXPECTED / the CLI's own). */
  code: string
  exitCode: number
  /** One line, cause first, at most MAX_LINE characters, safe to print (the status, when any, then the cause). */
  line: string
  /** The cause alone (one line). */
  cause: string
  /** What to do, in the CLI's terms (flags and commands). */
  fix?: string
  /** The gateway's HTTP status when it answered. */
  status?: number
  /** The gateway's own message (its `error` or `detail`), when it answered with one. */
  gatewayError?: string
  /** For a gateway call: whether a request went out (false: refused before sending). */
  sent?: boolean
  /** Everything found, flat: the likely cause first, then the SDK's findings about the token sent. */
  findings: Finding[]
  /** What the SDK knows about the token sent (decoded claims, a redacted fingerprint; never the token). */
  token?: Record<string, unknown>
  /** The gateway's request id, to find its log line. */
  requestId?: string
  /** Extra lines for --verbose (the library's full message, the token's claims). */
  details: string[]
}

export interface ExplainContext {
  command: string
  /** The gateway URL as shown (check-model). */
  gateway?: string
}

/** The CLI's account of any failure. Never throws. */
export function explain(err: unknown, ctx: ExplainContext): Explanation {
  try {
    return explainUnsafe(err, ctx)
  } catch {
    return unexpected(err)
  }
}

/** One printable line: control characters visible, at most MAX_LINE characters. */
export function oneLine(text: string, max = MAX_LINE): string {
  return clip(visible(text.replace(/\s+/g, ' ').trim()), max)
}

// ---------------------------------------------------------------------------------------------------

function explainUnsafe(err: unknown, ctx: ExplainContext): Explanation {
  if (err instanceof UsageError) return plain('ERR_USAGE', EXIT.usage, err.message)
  if (err instanceof CliFailure) return { ...plain(err.code, err.exitCode, err.message), details: err.details.map(visible) }
  if (!(err instanceof CloudConnectorError)) return unexpected(err)
  const details = [`detail: ${visible(err.message)}`]
  const base = { code: err.code, exitCode: EXIT.refused as number, details }

  if (err instanceof GatewayAuthError) {
    const cause = causeFinding(err)
    const findings = [cause, ...(err.diagnosis?.findings ?? []).map((f) => finding(f))]
    return {
      ...base,
      line: oneLine(`${statusText(401, err.gatewayError)}: ${cause.message}`),
      cause: oneLine(cause.message),
      fix: cause.fix,
      status: 401,
      ...(err.gatewayError === undefined ? {} : { gatewayError: visible(err.gatewayError) }),
      sent: true,
      findings,
      ...(err.diagnosis === undefined ? {} : { token: tokenFacts(err.diagnosis) }),
      ...(err.requestId === undefined ? {} : { requestId: err.requestId }),
    }
  }
  if (err instanceof PreflightError) {
    const findings = err.findings.map((f) => finding(f, err.unitPrimitive))
    const first = findings.find((f) => f.severity === 'error')
    const would = err.status === undefined ? '' : ` (the gateway would answer ${statusText(err.status, err.gatewayError)})`
    const cause = first?.message ?? 'the gateway would refuse the request'
    return {
      ...base,
      line: oneLine(`not sent${would}: ${cause}`),
      cause: oneLine(cause),
      ...(first === undefined ? {} : { fix: first.fix }),
      ...(err.status === undefined ? {} : { status: err.status }),
      ...(err.gatewayError === undefined ? {} : { gatewayError: err.gatewayError }),
      sent: false,
      findings,
    }
  }
  if (err instanceof GatewayForbiddenError) {
    const up = err.unitPrimitive
    const granted = up === undefined ? [] : grantingAddOns(up)
    const cause = err.missingScope
      ? `the token's scopes lack '${up}', which this request needs`
      : `the gateway refused although the token has '${up ?? '?'}'${err.detail === undefined ? '' : `: ${err.detail}`}`
    const fix = err.missingScope
      ? granted.length > 0
        ? `give the instance the add-on that grants it: ${granted.map((a) => `--add-on ${a}`).join(' or ')}${up === undefined ? '' : ` (or drop --scope, or add --scope ${up})`}`
        : `'${up}' is granted by no add-on of the catalog; check its cut_off_date`
      : "see the gateway's message: it needs something more for this request than the unit primitive"
    return gatewayFailure(base, err, 403, cause, fix, err.detail)
  }
  if (err instanceof ModelUnreachableError) {
    const model = [err.modelStatus, err.modelReason].filter((x) => x !== undefined && x !== '').join(' ')
    return gatewayFailure(
      base,
      err,
      421,
      `the gateway reached the model server, which answered with an error${model === '' ? '' : ` (${model})`}`,
      'check --endpoint as the gateway reaches it, --model / --identifier, and --api-key',
      err.detail,
    )
  }
  if (err instanceof GatewayValidationError) {
    const issues = err.issues.slice(0, 3).map((i) => `${flagOf(i.path)}: ${i.message}`).join('; ')
    if (!err.sent) {
      const cause = `the request is invalid (${issues})`
      return { ...base, line: oneLine(`not sent: ${cause}`), cause: oneLine(cause), fix: 'fix the flags named', sent: false, findings: [] }
    }
    return gatewayFailure(base, err, 422, `the gateway rejected the request body (${issues})`, 'fix the flags named; the gateway may be a newer version than this CLI', undefined)
  }
  if (err instanceof GatewayHttpError) {
    const status = err.status ?? 0
    const [cause, fix] =
      status === 404
        ? [`the gateway does not serve ${err.path ?? 'this path'}`, 'check --gateway (including any path prefix such as /ai) and the gateway version']
        : status === 429
          ? ['the gateway is rate limiting', `retry later${err.retryAfterSeconds === undefined ? '' : ` (it asks for ${err.retryAfterSeconds} s)`}`]
          : status >= 500
            ? [`the gateway failed${err.attempts !== undefined && err.attempts > 1 ? ` (after ${err.attempts} attempts)` : ''}`, `retry later; look for request id ${err.requestId ?? '?'} in the gateway's logs`]
            : [`the gateway answered ${status}`, "see the gateway's message"]
    return gatewayFailure(base, err, status, cause, fix, err.detail)
  }
  if (err instanceof GatewayResponseError) {
    return gatewayFailure(base, err, err.status, "the gateway's answer is not what an AI Gateway sends", 'check that --gateway is an AI Gateway of a version this CLI knows', undefined)
  }
  if (err instanceof GatewayTimeoutError) {
    const cause = `no complete answer from the gateway within ${err.timeoutMs} ms`
    return {
      ...base,
      line: oneLine(cause),
      cause: oneLine(cause),
      fix: 'raise --timeout, or check the load and reachability of the gateway',
      sent: true,
      findings: [],
      ...(err.requestId === undefined ? {} : { requestId: err.requestId }),
    }
  }
  if (err instanceof NetworkError) {
    const cause = `cannot reach the gateway${err.errno === undefined ? '' : ` (${err.errno})`}${err.attempts !== undefined && err.attempts > 1 ? ` after ${err.attempts} attempts` : ''}`
    return {
      ...base,
      line: oneLine(cause),
      cause: oneLine(cause),
      fix: 'check --gateway and that this host can reach it',
      sent: true,
      findings: [],
    }
  }
  if (err instanceof GatewayRedirectError) {
    const cause = 'the gateway answered with a redirect, which the CLI does not follow: neither the token nor the body went elsewhere'
    return {
      ...base,
      line: oneLine(cause),
      cause: oneLine(cause),
      fix: `pass the gateway's final URL with --gateway${ctx.gateway === undefined ? '' : ` (curl -sI ${ctx.gateway.replace(/\/+$/, '')}/monitoring/healthz shows the Location)`}`,
      sent: true,
      findings: [],
    }
  }
  if (err instanceof TokenError && err.code === 'ERR_SCOPE_NOT_ENTITLED') return { ...plain(err.code, EXIT.refused, notEntitled(err)), details }
  // the CLI checks its flags before the library sees them; what still gets through is a flag's value all the same
  if (err instanceof HeaderError) {
    const flagName = HEADER_FLAGS[err.header.toLowerCase()] ?? `the ${err.header} header`
    return { ...plain(err.code, EXIT.usage, `${flagName} cannot be sent as ${err.header}: ${headerProblem(err.message)}`), details }
  }
  if (err instanceof InvalidOptionsError) {
    const issue = err.issues[0]
    const flagName = issue === undefined ? undefined : OPTION_FLAGS[issue.path.replace(/^options\./, '').split('.')[0] ?? '']
    return { ...plain(err.code, EXIT.usage, flagName === undefined ? 'a flag has a value the CLI cannot use (see --verbose)' : `${flagName}: ${issue?.message ?? 'invalid'}`), details }
  }
  return { ...base, ...plain(err.code, EXIT.refused, `${firstSentence(err.message)} [${err.code}]`), details }
}

/** Header names and the flags (or environment variables) their values come from. */
const HEADER_FLAGS: Record<string, string> = {
  'x-gitlab-user-id': '--user-id',
  'x-gitlab-host-name': '--host-name',
  'x-gitlab-version': '--gitlab-version',
  'x-gitlab-instance-id': '--instance-id',
  'x-gitlab-realm': '--realm',
  'x-gitlab-global-user-id': 'GITLAB_GLOBAL_USER_ID_SALT',
}

/** Library option names and the flags that set them. */
const OPTION_FLAGS: Record<string, string> = {
  issuer: '--issuer',
  instanceId: '--instance-id',
  realm: '--realm',
  addOns: '--add-on',
  ttlSeconds: '--ttl',
  baseUrl: '--gateway',
  timeout: '--timeout',
  issuerUrls: '--issuer-url',
  audience: '--audience',
  jwks: '--jwks',
  fetchTimeoutMs: '--timeout',
}

/** A header error's reason without the header name it starts with (the CLI names the flag instead). */
function headerProblem(message: string): string {
  return firstSentence(message.replace(/^[\w-]+: /, '')).replace(/\.$/, '')
}

/** A token the instance may not have, in flags: which --add-on would grant it. */
function notEntitled(err: TokenError): string {
  const up = err.unitPrimitive
  const addOns = err.grantedBy ?? []
  const flags = addOns.slice(0, 3).map((a) => `--add-on ${a}`).join(' or ')
  if (up === undefined) {
    const [first, ...more] = addOns
    return first === undefined
      ? 'the token would carry no scope and no audience (the gateway refuses it), and no add-on of the catalog grants any'
      : `the token would carry no scope and no audience (the gateway refuses it): pass the instance's add-on, e.g. --add-on ${first}${more.length > 0 ? ` (or ${more.slice(0, 3).join(', ')})` : ''}`
  }
  if (!builtInCatalog.unitPrimitives.has(up)) return `'${visible(clip(up, 64))}' is not a unit primitive of the catalog; check the --scope name`
  return addOns.length > 0
    ? `the instance is not entitled to '${up}'; it is granted by ${flags} (only with the add-on the instance has)`
    : `the instance is not entitled to '${up}', and no add-on grants it (its free access ended: cut_off_date)`
}

function plain(code: string, exitCode: number, message: string): Explanation {
  const line = oneLine(message)
  return { code, exitCode, line, cause: line, findings: [], details: [] }
}

function unexpected(err: unknown): Explanation {
  const what = err instanceof Error ? `${err.name}: ${err.message}` : typeof err
  return plain('ERR_UNEXPECTED', EXIT.unexpected, `unexpected failure (a bug in cloud-connector; rerun with --debug and report it): ${clip(what, 120)}`)
}

function gatewayFailure(
  base: { code: string; exitCode: number; details: string[] },
  err: { requestId?: string | undefined },
  status: number | undefined,
  cause: string,
  fix: string,
  gatewayError: string | undefined,
): Explanation {
  return {
    ...base,
    line: oneLine(`${status === undefined ? '' : `${statusText(status, gatewayError)}: `}${cause}`),
    cause: oneLine(cause),
    fix,
    ...(status === undefined ? {} : { status }),
    ...(gatewayError === undefined ? {} : { gatewayError: visible(gatewayError) }),
    sent: true,
    findings: [],
    ...(err.requestId === undefined ? {} : { requestId: err.requestId }),
  }
}

function statusText(status: number, message: string | undefined): string {
  return message === undefined ? String(status) : `${status} ${JSON.stringify(clip(message, 80))}`
}

/** The likely cause of a 401, worded for the command line. */
function causeFinding(err: GatewayAuthError): Finding {
  const d = err.diagnosis
  const kid = d?.kid === undefined ? '' : ` (kid ${d.kid})`
  const base = { severity: 'error' as const, status: 401, ...(err.gatewayError === undefined ? {} : { gatewayError: err.gatewayError }) }
  const proxy = 'let the proxy or load balancer in front of the gateway (--gateway) pass the request headers unchanged'
  const causes: Record<AuthFailureCause, { message: string; fix: string }> = {
    'key-not-trusted': {
      message: `the gateway does not trust the key that signed the token${kid}: the token passed every other check, but not the signature check`,
      fix:
        `publish the instance JWKS ('cloud-connector jwks --key FILE') at ${d?.iss === undefined ? 'the instance' : d.iss}/oauth/discovery/keys, ` +
        "or check the gateway's issuer URLs (AIGW_GITLAB_URL); it keeps keys 24 h",
    },
    'synced-token-refused': {
      message: "the gateway could not verify the synced CustomersDot token (revoked or replaced?)",
      fix: 'sync the license again in GitLab, or self-issue tokens: --license offline-cloud (or --policy safe) with --key',
    },
    'authorization-removed': { message: 'the gateway got no Authorization header although one was sent: something in between removed it', fix: proxy },
    'authorization-rewritten': { message: 'the Authorization header was sent as "Bearer <token>" and rewritten in between', fix: proxy },
    'auth-type-changed': { message: 'X-Gitlab-Authentication-Type was sent as "oidc" and dropped or changed in between', fix: proxy },
    'header-changed': { message: `the headers agreed with the token when sent, so something in between changed ${err.gatewayError?.replace(/^Header mismatch /, '') ?? 'one'}`, fix: proxy },
    'clock-skew': {
      message:
        err.clockSkew === undefined
          ? "the gateway's clock differs from this host's"
          : `the gateway's clock is ${Math.abs(err.clockSkew.skewSeconds)} s ${err.clockSkew.skewSeconds > 0 ? 'ahead of' : 'behind'} this host's, so it finds the token ${err.clockSkew.effect === 'expired' ? 'expired' : 'not yet valid'}`,
      fix: 'synchronise the clocks of both hosts (NTP): the gateway allows no leeway',
    },
  }
  const cause = err.likelyCause ?? 'key-not-trusted'
  return { code: cause.toUpperCase().replace(/-/g, '_'), ...base, ...causes[cause] }
}

const MINT = "'cloud-connector mint --key FILE --issuer URL --instance-id UUID --add-on NAME'"
const SELF_ISSUE =
  'GitLab sends an empty token when it falls back to the synced token, which an offline license never has: ' +
  `self-issue a JWT with the instance key (${MINT}; check-model does so with --policy safe), or in GitLab assign the feature ` +
  '(Code Completion for complete_code, which the model check uses) to a self-hosted model or set CLOUD_CONNECTOR_SELF_SIGN_TOKENS=true'

/** The fixes whose library wording names the library's API, in the CLI's terms (the others apply as they are). */
const CLI_FIXES: Partial<Record<string, string>> = {
  TOKEN_EMPTY: SELF_ISSUE,
  TOKEN_MISSING: SELF_ISSUE,
  TOKEN_SOURCE_NONE: SELF_ISSUE,
  TOKEN_OPAQUE: `send a Cloud Connector JWT (header.payload.signature, RS256): self-issue one with the instance key (${MINT}) or use the synced token of an online license`,
  AUTHORIZATION_MISSING: 'send "Authorization: Bearer <JWT>" with every gateway call',
  AUTH_TYPE: 'send "X-Gitlab-Authentication-Type: oidc" with every request (verify adds it unless --no-default-headers)',
  REALM_MISMATCH: "send X-Gitlab-Realm equal to the token's gitlab_realm: mint the token with the instance's --realm (self-managed includes Dedicated)",
}

/** A library finding as the CLI shows it: untrusted text made visible, the fix in the CLI's terms. */
export function finding(p: Problem, unitPrimitive?: string): Finding {
  const granted = p.code === 'SCOPE_MISSING' && unitPrimitive !== undefined ? grantingAddOns(unitPrimitive) : []
  const scopeFix =
    granted.length > 0
      ? `self-issue the token with '${unitPrimitive}': give the instance's add-on that grants it (${granted.map((a) => `--add-on ${a}`).join(' or ')}) and drop --scope, or add --scope ${unitPrimitive}`
      : undefined
  return {
    code: p.code,
    severity: p.severity,
    ...(p.status === undefined ? {} : { status: p.status }),
    ...(p.gatewayError === undefined ? {} : { gatewayError: p.gatewayError }),
    ...(p.reason === undefined ? {} : { reason: visible(p.reason) }),
    message: visible(p.message),
    fix: scopeFix ?? CLI_FIXES[p.code] ?? visible(p.fix),
    ...(p.segment === undefined ? {} : { segment: p.segment }),
    ...(p.claim === undefined ? {} : { claim: visible(p.claim) }),
    ...(p.header === undefined ? {} : { header: p.header }),
  }
}

/** Findings as text lines: the status (or "warning"), the message, the gateway's answer, the reason and the fix. */
export function findingLines(findings: readonly Finding[], style: Style): string[] {
  const out: string[] = []
  for (const f of findings) {
    const tag = f.severity === 'error' ? style.red(`${f.status ?? 'error'}`) : style.yellow('warning')
    out.push(`${tag}  ${f.message}`)
    if (f.gatewayError !== undefined) out.push(`     gateway: ${visible(JSON.stringify({ error: f.gatewayError }))}`)
    if (f.reason !== undefined) out.push(`     reason:  ${f.reason}`)
    out.push(`     fix:     ${f.fix}`)
  }
  return out
}

/** The token facts of a diagnosis (no nested findings: those are listed flat). */
function tokenFacts(d: TokenDiagnosis): Record<string, unknown> {
  const { findings: _f, ...facts } = d
  return JSON.parse(visible(JSON.stringify(facts))) as Record<string, unknown>
}

/** The catalog's add-ons that grant a unit primitive. */
export function grantingAddOns(unitPrimitive: string): string[] {
  return [...(builtInCatalog.unitPrimitives.get(unitPrimitive)?.add_ons ?? [])]
}

/** A request-body path as the check-model flag that sets it. */
function flagOf(path: string): string {
  const field = path.replace(/^model_metadata\./, '')
  const flags: Record<string, string> = { name: '--model', endpoint: '--endpoint', identifier: '--identifier', provider: '--provider', api_key: '--api-key', apiKey: '--api-key' }
  return flags[field] ?? (path === '' ? 'body' : path)
}

export function firstSentence(text: string): string {
  const m = /^(.*?[.!?])(\s|$)/s.exec(text)
  return m?.[1] ?? text
}
