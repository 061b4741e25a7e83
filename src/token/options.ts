import type { z } from 'zod'
import { InvalidOptionsError } from '../errors.js'
import { zod } from '../zod.js'

/**
 * Validate a factory's options with zod and fail fast with one InvalidOptionsError whose message
 * names every bad field as `options.<path>` after the factory's name, so the fix is obvious from the
 * message alone. Values are never echoed: options may hold keys and tokens.
 */
export function parseOptions<S extends z.ZodType>(where: string, schema: S, input: unknown, known: readonly string[]): z.output<S> {
  if (input === null || typeof input !== 'object' || Array.isArray(input)) {
    throw new InvalidOptionsError(`${where}: options must be an object.`, [{ path: 'options', message: 'must be an object' }])
  }
  const result = schema.safeParse(input)
  if (result.success) return result.data
  throw invalidOptions(where, result.error.issues.flatMap((issue) => describeIssue(issue, known)))
}

/** One invalid option: its path, what is wrong, and the environment variable that stood in for it (or could). */
export interface OptionIssue {
  path: string
  message: string
  variable?: string
}

/**
 * The error for a list of issues, one line each: `options.x <message>`, or `VAR (for options.x) <message>` when
 * the value came from the environment variable.
 */
export function invalidOptions(where: string, issues: readonly OptionIssue[]): InvalidOptionsError {
  const lines = issues.map((i) => (i.variable === undefined || i.message.includes(i.variable) ? `${i.path} ${i.message}` : `${i.variable} (for ${i.path}) ${i.message}`))
  const message =
    lines.length === 1 ? `${where}: ${lines[0]}` : `${where}: ${lines.length} invalid options:\n  - ${lines.join('\n  - ')}`
  return new InvalidOptionsError(message, issues)
}

/** `z.custom` for callbacks: zod 4's z.function() is not a plain schema. */
export function fn<T extends (...args: never[]) => unknown>(message: string) {
  return zod().custom<T>((v) => typeof v === 'function', { error: message })
}

export const UUID_PATTERN = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i

function describeIssue(issue: z.core.$ZodIssue, known: readonly string[]): { path: string; message: string }[] {
  const path = ['options', ...issue.path.map(String)].join('.')
  if (issue.code === 'unrecognized_keys') {
    return issue.keys.map((key) => {
      const guess = closest(key, known)
      const hint = guess ? `did you mean "${guess}"?` : `known options: ${known.join(', ')}.`
      return { path: `${path}.${key}`, message: `is not an option: ${hint}` }
    })
  }
  return [{ path, message: issue.message }]
}

function closest(key: string, known: readonly string[]): string | undefined {
  const k = key.toLowerCase()
  return known.find((c) => {
    const l = c.toLowerCase()
    return l === k || l.startsWith(k) || k.startsWith(l) || (k.length >= 3 && l.includes(k))
  })
}
