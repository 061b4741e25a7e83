import {
  buildGatewayHeaders,
  createGatewayVerifier,
  DEFAULT_FETCH_TIMEOUT_MS,
  GATEWAY_MESSAGES,
  inspectToken,
  JOSE_REASONS,
  preflight,
  redact,
  type Jwks,
  type Problem,
} from '../sdk.js'
import { CliFailure, echo, flag, httpUrl, instant, integer, list, parse, str, UsageError } from '../args.js'
import { cliLogger, printJson, progress, readTokenArg, readUserFile, shownPath, shownUrl, styleFor, visible, warn } from '../io.js'
import type { Command } from '../main.js'
import { finding, findingLines, firstSentence, oneLine, type Finding } from '../explain.js'
import { hostOf, instanceFrom, INSTANCE_OPTIONS } from './instance.js'
import { CONFIG_HELP, settingsFrom } from '../settings.js'

export const mint: Command = {
  summary: 'Mint the self-issued cloud-connector JWT an instance would send to the AI Gateway',
  usage: [
    'cloud-connector mint --key FILE --issuer URL --instance-id UUID [--realm self-managed|saas]',
    '                     [--scope NAME]... [--add-on NAME]... [--ttl S] [--user-id ID] [--config FILE] [--json]',
    '',
    '  --scope      unit primitive to claim (repeatable); default: all the instance is entitled to',
    '  --add-on     active add-on (duo_pro, duo_enterprise, duo_core, ...), repeatable',
    '  --ttl        lifetime in seconds (default 3600)',
    '  --user-id    add the user headers (x-gitlab-user-id) to the printed header set',
    CONFIG_HELP,
    '  Also: GITLAB_GLOBAL_USER_ID_SALT (for --user-id).',
    '  Without --json the token alone goes to stdout and a summary to stderr.',
  ].join('\n'),
  async run(argv, io) {
    const p = parse('mint', argv, {
      ...INSTANCE_OPTIONS,
      ttl: { type: 'string' },
      'user-id': { type: 'string' },
      'host-name': { type: 'string' },
      'gitlab-version': { type: 'string' },
    })
    const ttlSeconds = integer('mint', p, 'ttl', 1, 86_400)
    const userId = str(p, 'user-id')
    const salt = io.env.GITLAB_GLOBAL_USER_ID_SALT
    if (userId !== undefined && !/^\d{1,19}$/.test(userId)) throw new UsageError(`--user-id must be a GitLab user id (digits), got '${echo(userId)}'.`)
    if (userId !== undefined && !salt) {
      throw new UsageError('--user-id needs GITLAB_GLOBAL_USER_ID_SALT (the instance secret salt) to compute x-gitlab-global-user-id.')
    }
    const s = await settingsFrom(p, io)
    const { issuer, issuerUrl, instanceId, realm, scopes } = await instanceFrom('mint', p, io, s, {
      cache: false,
      ...(ttlSeconds === undefined ? {} : { ttlSeconds }),
    })
    const { token, header, claims, expiresAt, warnings } = await issuer.issue({ scopes: scopes.length > 0 ? scopes : 'all' })
    // the issuer's own warnings were printed when it was built; a key ring's come with the token
    for (const w of warnings) if (!issuer.warnings.includes(w)) warn(io, w)
    const headers = {
      authorization: `Bearer ${token}`,
      ...buildGatewayHeaders({
        instance: {
          id: instanceId,
          realm,
          hostName: str(p, 'host-name') ?? hostOf(issuerUrl),
          ...(s.value('gitlab-version') ? { version: s.value('gitlab-version') as string } : {}),
        },
        ...(userId !== undefined ? { user: { id: userId, ...(salt ? { salt } : {}) } } : {}),
      }),
    }
    if (flag(p, 'json')) {
      printJson(io, { token, header, claims, headers })
      return 0
    }
    io.stdout.write(`${token}\n`)
    const style = styleFor(io.stderr, io.env)
    io.stderr.write(
      [
        `${style.green('minted')} ${redact(token)}`,
        `  kid     ${header.kid}`,
        `  sub     ${claims.sub}   realm ${claims.gitlab_realm}`,
        `  aud     ${claims.aud.join(', ')}`,
        `  scopes  ${claims.scopes.join(', ')}`,
        `  expires ${expiresAt.toISOString()}`,
        '',
      ].join('\n'),
    )
    return 0
  },
}

export const inspect: Command = {
  summary: 'Say what a bearer value is and why the gateway would refuse it',
  usage: [
    'cloud-connector inspect [TOKEN|-] [--at TIME] [--json]',
    '',
    '  Reads the token from standard input when TOKEN is - or absent.',
    '  --at  judge exp and nbf at this time instead of now: an ISO 8601 date/time or epoch seconds',
  ].join('\n'),
  async run(argv, io) {
    const p = parse('inspect', argv, { at: { type: 'string' } }, 1)
    const at = instant(p, 'at') ?? new Date()
    const value = await readTokenArg(io, p.positionals[0])
    const report = inspectToken(value, { now: () => at })
    const findings = report.problems.map((f) => finding(f))
    const errors = findings.filter((x) => x.severity === 'error')
    if (flag(p, 'json')) {
      printJson(io, { ...report, problems: findings, at: at.toISOString(), accepted: errors.length === 0 })
      return errors.length === 0 ? 0 : 1
    }
    const style = styleFor(io.stdout, io.env)
    const out: string[] = [
      `${style.bold('checked')}  the structure, claims, expiry and not-before of a ${report.length}-character bearer value (kind: ${report.kind}) at ${at.toISOString()}`,
    ]
    if (report.header) out.push(`${style.bold('header')}   ${visible(JSON.stringify(report.header))}`)
    if (report.claims) out.push(`${style.bold('claims')}   ${visible(JSON.stringify(report.claims))}`)
    out.push(...findingLines(findings, style))
    out.push(
      errors.length === 0
        ? `${style.bold('verdict')}  ${style.green('well-formed and valid now')} — no problem found (the signature and the headers are checked by 'verify')`
        : `${style.bold('verdict')}  ${style.red('the gateway would refuse this value')}`,
    )
    io.stdout.write(`${out.join('\n')}\n`)
    return errors.length === 0 ? 0 : 1
  },
}

export const verify: Command = {
  summary: "Give the gateway's verdict on a token: status, message, reason",
  usage: [
    'cloud-connector verify [TOKEN|-] (--jwks FILE | --issuer-url URL)... [--header "Name: value"]...',
    '                       [--audience A] [--scope NEEDED] [--no-default-headers] [--timeout MS] [--config FILE] [--json]',
    '',
    '  --issuer-url  fetch the issuer\'s keys by OIDC discovery, as the gateway does; an issuer that fails is named.',
    '                Without --jwks and --issuer-url: the instance URL (GITLAB_URL, or instance.url in the config file)',
    '  --timeout     per discovery request, in ms (default 10000, the gateway\'s)',
    '',
    '  Unless given with --header, the headers the SDK would send with this token are assumed:',
    '  X-Gitlab-Authentication-Type: oidc and X-Gitlab-Realm / X-Gitlab-Instance-Id from its claims.',
    '  --no-default-headers judges exactly the headers given (plus Authorization).',
  ].join('\n'),
  async run(argv, io) {
    const p = parse(
      'verify',
      argv,
      {
        jwks: { type: 'string', multiple: true },
        'issuer-url': { type: 'string', multiple: true },
        header: { type: 'string', short: 'H', multiple: true },
        audience: { type: 'string' },
        scope: { type: 'string' },
        'no-default-headers': { type: 'boolean' },
        timeout: { type: 'string' },
        config: { type: 'string' },
      },
      1,
    )
    const fetchTimeoutMs = integer('verify', p, 'timeout', 100, 600_000)
    const jwksFiles = list(p, 'jwks')
    const issuerUrls = list(p, 'issuer-url')
    for (const u of issuerUrls) httpUrl('--issuer-url', u, 'https://gitlab.example.com')
    // every flag is checked before a file or standard input is read
    const extra: [string, string][] = list(p, 'header').map((h) => {
      const i = h.indexOf(':')
      if (i <= 0) throw new UsageError(`--header must look like "Name: value", got '${echo(h)}'.`)
      const pair: [string, string] = [h.slice(0, i).trim(), h.slice(i + 1).trim()]
      try {
        new Headers([pair])
      } catch {
        throw new UsageError(`--header '${echo(pair[0])}' is not a valid header (name: letters, digits and -; value: no line break).`)
      }
      return pair
    })
    if (jwksFiles.length === 0 && issuerUrls.length === 0) {
      // the gateway discovers the instance's keys from its URL (AIGW_GITLAB_URL): the instance's settings say it
      const s = await settingsFrom(p, io)
      const instanceUrl = s.value('issuer')
      if (instanceUrl === undefined) {
        throw new UsageError(
          "give the trusted keys with --jwks FILE or --issuer-url URL (repeatable), or the instance URL in GITLAB_URL or a config file (instance.url). See 'cloud-connector verify --help'.",
        )
      }
      issuerUrls.push(httpUrl(s.source('issuer'), instanceUrl, 'https://gitlab.example.com'))
    }
    const jwks = await Promise.all(jwksFiles.map((f) => readJwksFile(f)))
    const token = await readTokenArg(io, p.positionals[0])
    const headers = new Headers()
    if (!flag(p, 'no-default-headers')) {
      headers.set('X-Gitlab-Authentication-Type', 'oidc')
      const claims = inspectToken(token).claims
      if (typeof claims?.gitlab_realm === 'string') headers.set('X-Gitlab-Realm', claims.gitlab_realm)
      if (typeof claims?.sub === 'string') headers.set('X-Gitlab-Instance-Id', claims.sub)
    }
    for (const [name, value] of extra) headers.set(name, value)
    headers.set('Authorization', `Bearer ${token}`)
    // the issuers that could not be read, and why (the gateway skips them and says so in its log only)
    const failedIssuers: { issuer: string; code: string; reason: string }[] = []
    const verifier = createGatewayVerifier({
      ...(str(p, 'audience') ? { audience: str(p, 'audience') as string } : {}),
      ...(jwks.length > 0 ? { jwks } : {}),
      ...(issuerUrls.length > 0 ? { issuerUrls } : {}),
      ...(fetchTimeoutMs === undefined ? {} : { fetchTimeoutMs }),
      logger: cliLogger(io, flag(p, 'verbose'), {
        warn: (fields, message) => {
          if (fields['event'] !== 'gateway_verifier.issuer_failed') return
          failedIssuers.push({ issuer: shownUrl(String(fields['issuer'])), code: String(fields['code']), reason: oneLine(firstSentence(String(message)).replace(/^(?:OIDC discovery for|Fetching the key set of) \S+?(?: failed)?: /, '')) })
        },
      }),
    })
    const scope = str(p, 'scope')
    const audience = str(p, 'audience')
    const discovery = `fetching the keys of ${issuerUrls.map(shownUrl).join(', ')} by OIDC discovery (--timeout ${fetchTimeoutMs ?? DEFAULT_FETCH_TIMEOUT_MS} ms per request)`
    const authenticating = verifier.authenticate(headers, scope ? { unitPrimitive: scope } : {})
    const verdict = await (issuerUrls.length > 0 ? progress(io, flag(p, 'json')).waitFor(discovery, authenticating) : authenticating)
    const accepted = verdict.status === 200
    // what to do about a refusal: the SDK's own judgement of the same request, in the CLI's words
    const findings = accepted ? [] : refusalFindings(token, headers, scope, audience, verdict.reason)
    if (verdict.status === 500 && failedIssuers.length > 0) {
      findings.unshift({
        code: 'NO_KEYS',
        severity: 'error',
        message: `no key could be loaded: ${failedIssuers.length} of ${issuerUrls.length} issuer(s) failed`,
        fix: "make each issuer's /.well-known/openid-configuration and jwks_uri reachable from the gateway (it keeps an empty key set 24 h), or pass --jwks FILE",
      })
    }
    if (flag(p, 'json')) {
      printJson(io, { accepted, status: verdict.status, error: verdict.error, reason: verdict.reason, claims: verdict.claims, failedIssuers, findings })
      return accepted ? 0 : 1
    }
    const style = styleFor(io.stdout, io.env)
    const lines = [
      `${style.bold('checked')}  the gateway's authentication${scope ? ` and the unit primitive '${visible(scope)}'` : ''} against ${jwks.length} JWKS file(s) and ${issuerUrls.length} issuer(s)`,
      `${style.bold('verdict')}  ${accepted ? style.green('200 accepted') : style.red(`${verdict.status} ${visible(verdict.error ?? '')}`)}`,
    ]
    if (verdict.reason) lines.push(`${style.bold('reason')}   ${visible(verdict.reason)}`)
    for (const f of failedIssuers) lines.push(`${style.bold('issuer')}   ${f.issuer} failed: ${f.reason} [${f.code}]`)
    for (const fix of [...new Set(findings.map((f) => f.fix))].slice(0, 3)) lines.push(`${style.bold('fix')}      ${fix}`)
    io.stdout.write(`${lines.join('\n')}\n`)
    return accepted ? 0 : 1
  },
}

/**
 * Why the gateway refused, as the SDK judges the same token and headers (preflight), errors only; a signature the
 * trusted keys do not verify is the one thing preflight cannot see without them.
 */
function refusalFindings(token: string, headers: Headers, scope: string | undefined, audience: string | undefined, reason: string | undefined): Finding[] {
  const result = preflight({ token, headers, ...(scope ? { unitPrimitive: scope } : {}), ...(audience ? { audience } : {}) })
  const found = result.errors.map((e) => finding(e, scope))
  if (found.length === 0 && reason === JOSE_REASONS.signatureFailed) {
    found.push({
      code: 'SIGNATURE_INVALID',
      severity: 'error',
      status: 401,
      gatewayError: GATEWAY_MESSAGES.forbiddenByAuthProvider,
      reason,
      message: 'no trusted key verifies the signature: the token was signed by another key, or altered',
      fix: "trust the key that signed it ('cloud-connector jwks --key FILE' for --jwks, or the instance's --issuer-url); the gateway keeps keys 24 h",
    })
  }
  return found
}

async function readJwksFile(file: string): Promise<Jwks> {
  const text = await readUserFile(file, 'JWKS file')
  try {
    const parsed = JSON.parse(text) as unknown
    if (parsed && typeof parsed === 'object' && Array.isArray((parsed as { keys?: unknown }).keys)) return parsed as Jwks
  } catch {
    /* fall through */
  }
  throw new CliFailure(`JWKS file '${shownPath(file)}' is not a JSON key set ({"keys": [...]}); produce one with 'cloud-connector jwks --key FILE'.`)
}

