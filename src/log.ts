/**
 * Logging. Users pass the logger they already have — pino, console, or anything with pino's signature
 * `logger.info(obj, msg)` — and the SDK adapts it once, at the factory that receives it, to its own shape: an
 * event name and its fields (`log.warn('gateway.retry', { status, retry })`). Every field reaches the user's
 * logger as a member of `obj`, with the event as `obj.event`; `msg` is the event's human message when it has
 * one, else the event name. Without a logger, `DEBUG=cloud-connector` logs every event as one line on stderr.
 * No field is ever a token, an Authorization header, an API key or key material.
 */
import { visible } from './visible.js'

/** A logger users already have: pino (`pino()`), `console`, or any object with pino's signature. */
export interface Logger {
  debug?(obj: Record<string, unknown>, msg?: string): void
  info?(obj: Record<string, unknown>, msg?: string): void
  warn?(obj: Record<string, unknown>, msg?: string): void
  error?(obj: Record<string, unknown>, msg?: string): void
}

/** The SDK's own shape (internal): a method per level the user's logger has, taking the event and its fields. */
export interface Log {
  debug?(event: string, fields: Record<string, unknown>): void
  info?(event: string, fields: Record<string, unknown>): void
  warn?(event: string, fields: Record<string, unknown>): void
  error?(event: string, fields: Record<string, unknown>): void
}

const LEVELS = ['debug', 'info', 'warn', 'error'] as const
type Level = (typeof LEVELS)[number]

/**
 * The factory's `logger` option in the SDK's shape; without one, the stderr logger when `DEBUG` names
 * cloud-connector, else `undefined` (so the hot paths skip building fields nobody reads). A logger that
 * throws never changes what the SDK does.
 */
export function toLog(logger: Logger | undefined, env: NodeJS.ProcessEnv = process.env): Log | undefined {
  const target = logger ?? debugLogger(env)
  if (target === undefined) return undefined
  const log: Log = {}
  let any = false
  for (const level of LEVELS) {
    if (typeof target[level] !== 'function') continue
    any = true
    log[level] = (event, fields) => {
      const { message, ...rest } = fields
      try {
        // a method call: pino's methods need their `this`
        target[level]?.({ event, ...(typeof message === 'string' ? rest : fields) }, typeof message === 'string' ? message : event)
      } catch {
        // the user's logger failed: nothing the SDK decides depends on it
      }
    }
  }
  return any ? log : undefined
}

/** Whether `DEBUG` (comma- or space-separated, as the `debug` package reads it) names cloud-connector. */
export function debugEnabled(env: NodeJS.ProcessEnv = process.env): boolean {
  const value = env.DEBUG
  if (value === undefined || value === '') return false
  return value.split(/[\s,]+/).some((p) => p === '*' || p === 'cloud-connector' || p === 'cloud-connector:*')
}

/** The `DEBUG=cloud-connector` logger: every level, one line per event on stderr. */
export function debugLogger(env: NodeJS.ProcessEnv = process.env): Logger | undefined {
  return debugEnabled(env) ? lineLogger((line) => process.stderr.write(line)) : undefined
}

/**
 * A logger that writes each event as one line: `cloud-connector <level> <event> [<message>] <fields as JSON>`,
 * with control characters made visible (a field may hold text a server sent). The CLI's `--verbose` uses it too.
 */
export function lineLogger(write: (line: string) => void): Logger {
  const at = (level: Level) => (obj: Record<string, unknown>, msg?: string) => write(formatLine(level, obj, msg))
  return { debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') }
}

function formatLine(level: Level, obj: Record<string, unknown>, msg: string | undefined): string {
  const { event, ...fields } = obj
  const name = typeof event === 'string' ? event : 'event'
  const text = msg !== undefined && msg !== name ? ` ${msg}` : ''
  return `${visible(`cloud-connector ${level} ${name}${text} ${json(fields)}`)}\n`
}

function json(value: unknown): string {
  const seen = new WeakSet<object>()
  try {
    return JSON.stringify(value, (_key, v: unknown) => {
      if (typeof v === 'bigint') return v.toString()
      if (v instanceof Error) return v.name
      if (v !== null && typeof v === 'object') {
        if (seen.has(v)) return '[Circular]'
        seen.add(v)
      }
      return v
    })
  } catch {
    return '{}'
  }
}
