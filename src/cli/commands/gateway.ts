import {
  CloudConnectorError,
  createGatewayClient,
  createTokenSource,
  type TokenIssuer,
  type TokenSource,
  startEmulator,
} from '../sdk.js'
import { CliFailure, echo, flag, httpUrl, integer, list, parse, required, str, UsageError } from '../args.js'
import { CONFIG_HELP, settingsFrom } from '../settings.js'
import { cliLogger, printJson, progress, shownUrl, styleFor, visible, warn } from '../io.js'
import { EXIT, explain, findingLines } from '../explain.js'
import type { Command } from '../main.js'
import { loadKeyFile } from './keys.js'
import { hostOf, instanceFrom, INSTANCE_OPTIONS, type InstanceArgs } from './instance.js'

const LICENSES = ['online-cloud', 'offline-cloud', 'legacy', 'none'] as const
type License = (typeof LICENSES)[number]

export const checkModel: Command = {
  summary: 'Run the self-hosted model check (POST /v1/prompts/model_configuration/check)',
  usage: [
    'cloud-connector check-model [--gateway URL] --model NAME --endpoint URL [--identifier ID]',
    '                            [--provider P] [--api-key K] [--json]',
    '',
    '  Without --gateway, an embedded gateway emulator and instance are started on loopback.',
    '  With --gateway the instance is described by:',
    '    --key FILE  --issuer URL  --instance-id UUID  --realm self-managed|saas  --gitlab-version V',
    '    --license online-cloud|offline-cloud|legacy|none (default offline-cloud)',
    '    --add-on NAME...  --policy safe|rails (default safe)  --timeout MS (default 30000)',
    CONFIG_HELP,
    '  --scope NAME...  claim only these unit primitives (default: all the instance is entitled to);',
    '                   a token without complete_code is refused (403) before it is sent.',
    '  The API key may also come from MODEL_API_KEY; it is never printed.',
  ].join('\n'),
  async run(argv, io) {
    const p = parse('check-model', argv, {
      gateway: { type: 'string' },
      model: { type: 'string' },
      endpoint: { type: 'string' },
      identifier: { type: 'string' },
      provider: { type: 'string' },
      'api-key': { type: 'string' },
      ...INSTANCE_OPTIONS,
      license: { type: 'string' },
      policy: { type: 'string' },
      timeout: { type: 'string' },
      'gitlab-version': { type: 'string' },
    })
    const s = await settingsFrom(p, io)
    const model = required('check-model', p, 'model')
    const endpoint = required('check-model', p, 'endpoint')
    if (!URL.canParse(endpoint)) throw new UsageError(`--endpoint must be a URL (the model server as the gateway reaches it), got '${echo(shownUrl(endpoint))}'.`)
    const policy = s.value('policy') ?? 'safe'
    if (policy !== 'safe' && policy !== 'rails') throw new UsageError(`${s.source('policy')} must be 'safe' or 'rails'.`)
    const license = (s.value('license') ?? 'offline-cloud') as License
    if (!LICENSES.includes(license)) throw new UsageError(`${s.source('license')} must be one of ${LICENSES.join(', ')}.`)
    const timeout = integer('check-model', p, 'timeout', 100, 600_000) ?? 30_000
    const apiKey = str(p, 'api-key') ?? io.env.MODEL_API_KEY
    const gatewayFlag = s.value('gateway')
    const gatewayArg = gatewayFlag === undefined ? undefined : httpUrl(s.source('gateway'), gatewayFlag, 'http://127.0.0.1:5052')

    let stop: (() => Promise<void>) | undefined
    let gatewayUrl: string
    let instance: Pick<InstanceArgs, 'issuer' | 'instanceId' | 'realm' | 'scopes'> & { hostName: string | undefined; version?: string | undefined }
    if (gatewayArg === undefined) {
      const emulator = await startEmulator({ logger: cliLogger(io, flag(p, 'verbose')) })
      stop = () => emulator.stop()
      gatewayUrl = emulator.gatewayUrl
      const { issuer, instanceId, realm, hostName } = emulator.instance
      instance = { issuer, instanceId, realm, hostName, scopes: list(p, 'scope') }
    } else {
      gatewayUrl = gatewayArg
      const args = await instanceFrom('check-model', p, io, s)
      instance = { ...args, hostName: hostOf(args.issuerUrl), version: s.value('gitlab-version') }
    }
    const { issuer, instanceId, realm, hostName, version, scopes } = instance
    const style = styleFor(io.stdout, io.env)
    const waiting = progress(io, flag(p, 'json'))
    const checked = `${style.bold('checked')}  model '${visible(model)}' at ${visible(shownUrl(endpoint))} through ${stop ? 'the embedded gateway emulator' : shownUrl(gatewayUrl)}`
    try {
      const source = scopes.length === 0 ? createTokenSource({ policy, license, selfIssued: issuer, logger: cliLogger(io, flag(p, 'verbose')) }) : fixedScopes(issuer, scopes)
      const client = createGatewayClient({
        baseUrl: gatewayUrl,
        tokenSource: source,
        timeout,
        // what preflight lets through but a person must see (a token expiring mid-request, no aud...)
        logger: cliLogger(io, flag(p, 'verbose'), {
          warn: (fields, message) => {
            if (fields['event'] === 'gateway.preflight_warning') warn(io, String(message))
            if (fields['event'] === 'gateway.retry') waiting.update(`retrying after ${String(fields['status'] ?? fields['error'])} (retry ${String(fields['retry'])}, in ${String(fields['delayMs'])} ms)`)
          },
        }),
        headers: { instance: { id: instanceId, realm, ...(hostName ? { hostName } : {}), ...(version ? { version } : {}) } },
      })
      const answer = await waiting.waitFor(`waiting for the gateway at ${shownUrl(gatewayUrl)} (--timeout ${timeout} ms)`, client.checkModelConfiguration({
        name: model,
        endpoint,
        provider: str(p, 'provider') ?? 'openai',
        ...(str(p, 'identifier') ? { identifier: str(p, 'identifier') as string } : {}),
        ...(apiKey ? { apiKey } : {}),
      }))
      if (flag(p, 'json')) {
        printJson(io, { ok: true, gateway: shownUrl(gatewayUrl), embedded: stop !== undefined, model, status: answer.status, requestId: answer.requestId, response: answer.data })
      } else {
        io.stdout.write(
          [
            checked,
            `${style.bold('verdict')}  ${style.green(`${answer.status} the gateway reached the model`)}`,
            // the model's words, through the gateway: shown, never obeyed by the terminal
            `${style.bold('answer')}   ${visible(typeof answer.data === 'string' ? answer.data : JSON.stringify(answer.data))}`,
            `${style.dim(`request id ${answer.requestId}`)}`,
            '',
          ].join('\n'),
        )
      }
      return 0
    } catch (err) {
      if (!(err instanceof CloudConnectorError)) throw err
      const e = explain(err, { command: 'check-model', gateway: shownUrl(gatewayUrl) })
      // a flag's value the library refused is a usage error, reported as such
      if (e.exitCode !== EXIT.refused) throw err
      if (flag(p, 'json')) {
        printJson(io, {
          ok: false,
          gateway: shownUrl(gatewayUrl),
          embedded: stop !== undefined,
          model,
          code: e.code,
          ...(e.status === undefined ? {} : { status: e.status }),
          ...(e.gatewayError === undefined ? {} : { gatewayError: e.gatewayError }),
          sent: e.sent ?? false,
          message: e.cause,
          ...(e.fix === undefined ? {} : { fix: e.fix }),
          ...(e.requestId === undefined ? {} : { requestId: e.requestId }),
          findings: e.findings,
          ...(e.token === undefined ? {} : { token: e.token }),
          ...(flag(p, 'verbose') ? { details: e.details } : {}),
        })
      } else {
        // "not sent" only when nothing went out; a transport failure after sending has no answer
        const verdict =
          e.sent !== true
            ? `not sent${e.status === undefined ? '' : ` (the gateway would answer ${e.status}${e.gatewayError === undefined ? '' : ` ${JSON.stringify(e.gatewayError)}`})`}`
            : e.code === 'ERR_GATEWAY_TIMEOUT'
              ? 'timed out'
              : e.status === undefined
                ? 'no answer'
                : `${e.status}${e.gatewayError === undefined ? '' : ` ${JSON.stringify(e.gatewayError)}`}`
        io.stdout.write(
          [
            checked,
            `${style.bold('verdict')}  ${style.red(verdict)} [${e.code}]`,
            `${style.bold('cause')}    ${e.cause}`,
            ...(e.fix === undefined ? [] : [`${style.bold('fix')}      ${e.fix}`]),
            // the first finding is the cause shown above
            ...findingLines(e.findings.slice(1), style),
            ...(e.requestId === undefined ? [] : [style.dim(`request id ${e.requestId}`)]),
            ...(flag(p, 'verbose') ? [...(e.token === undefined ? [] : [`token    ${JSON.stringify(e.token)}`]), ...e.details] : []),
            '',
          ].join('\n'),
        )
      }
      return EXIT.refused
    } finally {
      await stop?.()
    }
  },
}

export const serve: Command = {
  summary: 'Run the emulator: instance OIDC discovery + a gateway double on loopback',
  usage: [
    'cloud-connector serve [--port N] [--key FILE] [--fail-model NAME]... [--bypass-auth] [--json]',
    '',
    '  Prints the instance and gateway URLs (JSON with --json) and runs until interrupted.',
  ].join('\n'),
  async run(argv, io) {
    const p = parse('serve', argv, {
      port: { type: 'string', short: 'p' },
      key: { type: 'string', short: 'k' },
      'fail-model': { type: 'string', multiple: true },
      'bypass-auth': { type: 'boolean' },
    })
    const port = integer('serve', p, 'port', 0, 65_535) ?? 0
    const keyFile = str(p, 'key')
    const key = keyFile ? await loadKeyFile(keyFile) : undefined
    const emulator = await startEmulator({
      port,
      logger: cliLogger(io, flag(p, 'verbose')),
      ...(key ? { key } : {}),
      failingModels: Object.fromEntries(list(p, 'fail-model').map((name) => [name, { status: 503, reason: 'Service Unavailable' }])),
      bypassAuth: flag(p, 'bypass-auth'),
    }).catch((err: unknown) => {
      const errno = ((err as { cause?: NodeJS.ErrnoException } | undefined)?.cause ?? (err as NodeJS.ErrnoException | undefined))?.code
      throw new CliFailure(
        errno === 'EADDRINUSE'
          ? `port ${port} is already in use (EADDRINUSE): stop what listens there, or choose another --port (0 picks a free one)`
          : `cannot start the emulator on port ${port}${errno === undefined ? '' : ` (${errno})`}`,
        { code: 'ERR_EMULATOR_START', ...(err instanceof Error ? { details: [`detail: ${err.message}`] } : {}) },
      )
    })
    const info = {
      url: emulator.url,
      instanceUrl: emulator.instance.issuerUrl,
      gatewayUrl: emulator.gatewayUrl,
      instanceId: emulator.instance.instanceId,
      kid: emulator.instance.key.kid,
    }
    if (flag(p, 'json')) printJson(io, info)
    else {
      io.stdout.write(
        [
          `instance  ${info.instanceUrl}  (/.well-known/openid-configuration, /oauth/discovery/keys)`,
          `gateway   ${info.gatewayUrl}`,
          `instance id ${info.instanceId}, kid ${info.kid}`,
          'Ctrl-C to stop.',
          '',
        ].join('\n'),
      )
    }
    const signal = io.untilSignal ? await io.untilSignal() : await new Promise<string>(() => undefined)
    await emulator.stop()
    io.stderr.write(`stopped (${signal})\n`)
    return 0
  },
}

/** A source that self-issues tokens claiming exactly `scopes` (to check what the gateway does without one). */
function fixedScopes(issuer: TokenIssuer, scopes: string[]): TokenSource {
  return {
    async getToken() {
      const { token, expiresAt } = await issuer.issue({ scopes })
      return { token, expiresAt, source: 'self-issued', branch: 'cli-scopes', reason: `self-issued with --scope ${scopes.join(', ')}` }
    },
  }
}
