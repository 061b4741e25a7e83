import { parseArgs, type ParseArgsConfig } from 'node:util'
import { shownUrl } from './io.js'

/** A usage error: wrong flag, missing value. Exit code 2, one line, no stack. */
export class UsageError extends Error {
  override readonly name = 'UsageError'
}

/** A failure the user can fix (missing file, bad key, busy port). Exit code 1, one line, no stack. */
export class CliFailure extends Error {
  override readonly name = 'CliFailure'
  /** A stable code for --json (ERR_FILE_UNREADABLE, ERR_PORT_IN_USE, or the library error's code). */
  readonly code: string
  readonly exitCode: number
  /** What --verbose adds (e.g. the library's own message). */
  readonly details: readonly string[]
  constructor(message: string, options: { code?: string; exitCode?: number; details?: readonly string[] } = {}) {
    super(message)
    this.code = options.code ?? 'ERR_CLI'
    this.exitCode = options.exitCode ?? 1
    this.details = options.details ?? []
  }
}

export type OptionSpec = NonNullable<ParseArgsConfig['options']>

export interface Parsed {
  values: Record<string, string | boolean | string[] | undefined>
  positionals: string[]
}

/** Flags every command understands. */
export const COMMON_OPTIONS = {
  json: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
  debug: { type: 'boolean' },
  verbose: { type: 'boolean' },
} as const satisfies OptionSpec

/** parseArgs with strict checking, turned into a UsageError that names the bad flag. */
export function parse(command: string, argv: string[], options: OptionSpec, maxPositionals = 0): Parsed {
  let parsed: Parsed
  try {
    parsed = parseArgs({ args: argv, options: { ...COMMON_OPTIONS, ...options }, allowPositionals: true, strict: true }) as Parsed
  } catch (err) {
    // node quotes the offending argument whole: a key or a token passed where a flag was expected
    // (a PEM starts with "-----BEGIN") must not be printed back.
    const msg = err instanceof Error ? err.message.replace(/\. To specify a positional argument.*$/s, '').replace(/'([^']*)'/g, (_m, arg: string) => `'${echo(arg)}'`) : String(err)
    throw new UsageError(`${msg}. See 'cloud-connector ${command} --help'.`)
  }
  if (!parsed.values.help && parsed.positionals.length > maxPositionals) {
    throw new UsageError(
      `unexpected argument '${echo(parsed.positionals[maxPositionals] ?? '')}'. See 'cloud-connector ${command} --help'.`,
    )
  }
  return parsed
}

export function str(p: Parsed, name: string): string | undefined {
  const v = p.values[name]
  return typeof v === 'string' ? v : undefined
}

export function list(p: Parsed, name: string): string[] {
  const v = p.values[name]
  if (Array.isArray(v)) return v
  return typeof v === 'string' ? [v] : []
}

export function flag(p: Parsed, name: string): boolean {
  return p.values[name] === true
}

export function required(command: string, p: Parsed, name: string): string {
  const v = str(p, name)
  if (v === undefined || v === '') throw new UsageError(`--${name} is required. See 'cloud-connector ${command} --help'.`)
  return v
}

export function integer(command: string, p: Parsed, name: string, min: number, max: number): number | undefined {
  const v = str(p, name)
  if (v === undefined) return undefined
  if (!/^\d+$/.test(v) || Number(v) < min || Number(v) > max) {
    throw new UsageError(`--${name} must be an integer from ${min} to ${max}, got '${echo(v)}'.`)
  }
  return Number(v)
}

/**
 * A flag's value that must be an absolute http(s) URL without credentials, query or fragment (an instance, a
 * gateway, an issuer). The value is echoed without userinfo or query, and shortened.
 */
export function httpUrl(label: string, value: string, example: string): string {
  let u: URL | undefined
  try {
    u = new URL(value)
  } catch {
    u = undefined
  }
  if (u === undefined || (u.protocol !== 'http:' && u.protocol !== 'https:') || u.username !== '' || u.password !== '' || u.search !== '' || u.hash !== '') {
    throw new UsageError(`${label} must be an http(s) URL without user:password@, query or fragment, e.g. ${example}; got '${echo(shownUrl(value))}'.`)
  }
  return value
}

/** A point in time: an ISO 8601 date or date-time, or whole seconds since the epoch. */
export function instant(p: Parsed, name: string): Date | undefined {
  const v = str(p, name)
  if (v === undefined) return undefined
  const at = /^\d{1,11}$/.test(v) ? new Date(Number(v) * 1000) : /^\d{4}-\d{2}-\d{2}([T ][\d:.]+(Z|[+-]\d{2}:?\d{2})?)?$/.test(v) ? new Date(v) : undefined
  if (at === undefined || Number.isNaN(at.getTime())) {
    throw new UsageError(`--${name} must be an ISO 8601 date/time (2026-03-01T12:00:00Z) or epoch seconds, got '${echo(v)}'.`)
  }
  return at
}

/**
 * What a message may repeat of an argument the user gave: at most its first 12 characters (of its first
 * line) — it may be a token, a key or an API key given in the wrong place.
 */
export function echo(arg: string): string {
  const firstLine = arg.split(/[\r\n]/, 1)[0] ?? ''
  return firstLine.length <= ECHO_MAX && firstLine === arg ? arg : `${firstLine.slice(0, ECHO_MAX)}…`
}
export const ECHO_MAX = 12
