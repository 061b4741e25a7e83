import { builtInCatalog, createTokenIssuer, UUID_NOT_SET, type Realm, type TokenIssuer } from '../sdk.js'
import { echo, flag, httpUrl, list, UsageError, type OptionSpec, type Parsed } from '../args.js'
import { cliLogger, warn, type CliIo } from '../io.js'
import type { Settings } from '../settings.js'
import { loadKeyFile } from './keys.js'

/** The flags that describe an instance, shared by `mint` and `check-model --gateway`; each may come from the environment or a config file. */
export const INSTANCE_OPTIONS = {
  config: { type: 'string' },
  key: { type: 'string', short: 'k' },
  issuer: { type: 'string' },
  'instance-id': { type: 'string' },
  realm: { type: 'string' },
  'add-on': { type: 'string', multiple: true },
  scope: { type: 'string', multiple: true },
} as const satisfies OptionSpec

export interface InstanceArgs {
  issuer: TokenIssuer
  issuerUrl: string
  instanceId: string
  realm: Realm
  /** `--scope` values; empty means "all the instance is entitled to". */
  scopes: string[]
}

/** Read the instance settings (flags, environment, config file) and build its token issuer. */
export async function instanceFrom(command: string, p: Parsed, io: CliIo, s: Settings, extra: { ttlSeconds?: number; cache?: false } = {}): Promise<InstanceArgs> {
  const keyFile = s.required(command, 'key')
  const issuerUrl = httpUrl(s.source('issuer'), s.required(command, 'issuer'), 'https://gitlab.example.com')
  const instanceId = s.required(command, 'instance-id')
  if (instanceId !== UUID_NOT_SET && !/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(instanceId)) {
    throw new UsageError(`${s.source('instance-id')} must be the instance UUID (8-4-4-4-12 hex digits), got '${echo(instanceId)}'.`)
  }
  const realm = parseRealm(s.value('realm'), s.source('realm'))
  const addOns = s.list('add-on')
  for (const a of addOns) {
    if (!builtInCatalog.addOns.has(a)) throw new UsageError(`${s.source('add-on')} '${echo(a)}' is not an add-on; known: ${[...builtInCatalog.addOns.keys()].sort().join(', ')}.`)
  }
  const key = await loadKeyFile(keyFile)
  const issuer = createTokenIssuer({ issuer: issuerUrl, instanceId, realm, key, addOns, logger: cliLogger(io, flag(p, 'verbose')), ...extra })
  // what the gateway accepts but is probably wrong: on stderr, in the CLI's words where it has its own
  for (const w of issuer.warnings) warn(io, instanceId === UUID_NOT_SET && w.startsWith('instanceId is "uuid-not-set"') ? UUID_NOT_SET_WARNING : w)
  return { issuer, issuerUrl, instanceId, realm, scopes: list(p, 'scope') }
}

const UUID_NOT_SET_WARNING =
  '--instance-id uuid-not-set is what GitLab sends when the instance UUID is missing: the gateway matches it literally and cannot attribute usage to the instance; pass the instance UUID'

export function parseRealm(value: string | undefined, source = '--realm'): Realm {
  if (value === undefined) return 'self-managed'
  if (value === 'self-managed' || value === 'saas') return value
  throw new UsageError(`${source} must be 'self-managed' or 'saas', got '${echo(value)}'.`)
}

/** The host name of a URL, or undefined for a value that is not one. */
export function hostOf(url: string): string | undefined {
  return URL.canParse(url) ? new URL(url).hostname : undefined
}
