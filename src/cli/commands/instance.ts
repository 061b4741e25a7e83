import { builtInCatalog, createTokenIssuer, UUID_NOT_SET, type Realm, type TokenIssuer } from '../sdk.js'
import { echo, flag, httpUrl, list, required, sourceOf, str, UsageError, type OptionSpec, type Parsed } from '../args.js'
import { cliLogger, warn, type CliIo } from '../io.js'
import { loadKeyFile } from './keys.js'

/** The flags that describe an instance, shared by `mint` and `check-model --gateway`. */
export const INSTANCE_OPTIONS = {
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

/** Read the instance flags (or their environment variables) and build its token issuer. */
export async function instanceFrom(command: string, p: Parsed, io: CliIo, extra: { ttlSeconds?: number; cache?: false } = {}): Promise<InstanceArgs> {
  const keyFile = required(command, p, 'key', 'CLOUD_CONNECTOR_KEY_FILE', io.env)
  const issuerUrl = httpUrl(sourceOf(p, 'issuer', 'GITLAB_URL'), required(command, p, 'issuer', 'GITLAB_URL', io.env), 'https://gitlab.example.com')
  const instanceId = required(command, p, 'instance-id', 'GITLAB_INSTANCE_ID', io.env)
  if (instanceId !== UUID_NOT_SET && !/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(instanceId)) {
    throw new UsageError(`${sourceOf(p, 'instance-id', 'GITLAB_INSTANCE_ID')} must be the instance UUID (8-4-4-4-12 hex digits), got '${echo(instanceId)}'.`)
  }
  const realm = parseRealm(command, str(p, 'realm'))
  const addOns = list(p, 'add-on')
  for (const a of addOns) {
    if (!builtInCatalog.addOns.has(a)) throw new UsageError(`--add-on '${echo(a)}' is not an add-on; known: ${[...builtInCatalog.addOns.keys()].sort().join(', ')}.`)
  }
  const key = await loadKeyFile(keyFile)
  const issuer = createTokenIssuer({ issuer: issuerUrl, instanceId, realm, key, addOns, logger: cliLogger(io, flag(p, 'verbose')), ...extra })
  // what the gateway accepts but is probably wrong: on stderr, in the CLI's words where it has its own
  for (const w of issuer.warnings) warn(io, instanceId === UUID_NOT_SET && w.startsWith('instanceId is "uuid-not-set"') ? UUID_NOT_SET_WARNING : w)
  return { issuer, issuerUrl, instanceId, realm, scopes: list(p, 'scope') }
}

const UUID_NOT_SET_WARNING =
  '--instance-id uuid-not-set is what GitLab sends when the instance UUID is missing: the gateway matches it literally and cannot attribute usage to the instance; pass the instance UUID'

export function parseRealm(command: string, value: string | undefined): Realm {
  if (value === undefined) return 'self-managed'
  if (value === 'self-managed' || value === 'saas') return value
  throw new UsageError(`--realm must be 'self-managed' or 'saas', got '${echo(value)}'.`)
}

/** The host name of a URL, or undefined for a value that is not one. */
export function hostOf(url: string): string | undefined {
  return URL.canParse(url) ? new URL(url).hostname : undefined
}
