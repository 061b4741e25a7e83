/**
 * A small validator that reports errors the way FastAPI (pydantic v2) does, so that a 422 from the
 * emulator has the same body a client sees from the real gateway:
 * `{"detail":[{"type","loc","msg","input","ctx"?}]}`.
 *
 * Only what the gateway's request models use is here: strings with a max length, lax booleans and
 * integers, dicts, lists, literals, URLs, nested models and (smart-mode) unions of models.
 */

/** One pydantic error, as FastAPI serialises it (FastAPI drops pydantic's `url` member). */
export interface ValidationIssue {
  type: string
  loc: (string | number)[]
  msg: string
  input: unknown
  ctx?: Record<string, unknown>
}

export type Schema =
  | { kind: 'any' }
  | { kind: 'str'; maxLength?: number }
  | { kind: 'bool' }
  | { kind: 'int' }
  | { kind: 'dict' }
  | { kind: 'list'; items: Schema; minLength?: number }
  | { kind: 'literal'; value: string }
  | { kind: 'enum'; values: readonly string[] }
  | { kind: 'url'; maxLength?: number }
  | { kind: 'model'; name: string; fields: Record<string, Field> }
  | { kind: 'union'; members: Schema[] }
  | { kind: 'optional'; inner: Schema }

export interface Field {
  schema: Schema
  required: boolean
}

/** Builders, so that the route table reads like the gateway's pydantic models. */
export const s = {
  any: (): Schema => ({ kind: 'any' }),
  str: (maxLength?: number): Schema => (maxLength === undefined ? { kind: 'str' } : { kind: 'str', maxLength }),
  bool: (): Schema => ({ kind: 'bool' }),
  int: (): Schema => ({ kind: 'int' }),
  dict: (): Schema => ({ kind: 'dict' }),
  list: (items: Schema, minLength?: number): Schema =>
    minLength === undefined ? { kind: 'list', items } : { kind: 'list', items, minLength },
  literal: (value: string): Schema => ({ kind: 'literal', value }),
  /** A Python `StrEnum` field. */
  enumOf: (values: readonly string[]): Schema => ({ kind: 'enum', values }),
  url: (maxLength?: number): Schema => (maxLength === undefined ? { kind: 'url' } : { kind: 'url', maxLength }),
  model: (name: string, fields: Record<string, Field>): Schema => ({ kind: 'model', name, fields }),
  union: (...members: Schema[]): Schema => ({ kind: 'union', members }),
  optional: (inner: Schema): Schema => ({ kind: 'optional', inner }),
  required: (schema: Schema): Field => ({ schema, required: true }),
  /** A field with a default: may be absent; `null` only if the schema is optional. */
  absent: (schema: Schema): Field => ({ schema, required: false }),
}

/**
 * Validate `value` against `schema`; `loc` is the path so far (FastAPI starts it with "body").
 * Returns the errors in pydantic's order (fields in declaration order, depth first).
 */
export function validate(schema: Schema, value: unknown, loc: (string | number)[]): ValidationIssue[] {
  switch (schema.kind) {
    case 'any':
      return []
    case 'optional':
      return value === null ? [] : validate(schema.inner, value, loc)
    case 'str': {
      if (typeof value !== 'string') return [issue('string_type', loc, 'Input should be a valid string', value)]
      if (schema.maxLength !== undefined && [...value].length > schema.maxLength) {
        return [
          issue('string_too_long', loc, `String should have at most ${schema.maxLength} characters`, value, {
            max_length: schema.maxLength,
          }),
        ]
      }
      return []
    }
    case 'bool':
      return validateBool(value, loc)
    case 'int':
      return validateInt(value, loc)
    case 'dict':
      return isPlainObject(value) ? [] : [issue('dict_type', loc, 'Input should be a valid dictionary', value)]
    case 'list': {
      if (!Array.isArray(value)) return [issue('list_type', loc, 'Input should be a valid list', value)]
      if (schema.minLength !== undefined && value.length < schema.minLength) {
        return [
          issue(
            'too_short',
            loc,
            `List should have at least ${schema.minLength} item${schema.minLength === 1 ? '' : 's'} after validation, not ${value.length}`,
            value,
            { field_type: 'List', min_length: schema.minLength, actual_length: value.length },
          ),
        ]
      }
      return value.flatMap((item, i) => validate(schema.items, item, [...loc, i]))
    }
    case 'literal':
      return value === schema.value
        ? []
        : [issue('literal_error', loc, `Input should be '${schema.value}'`, value, { expected: `'${schema.value}'` })]
    case 'enum': {
      if (typeof value === 'string' && schema.values.includes(value)) return []
      const expected = orList(schema.values.map((v) => `'${v}'`))
      return [issue('enum', loc, `Input should be ${expected}`, value, { expected })]
    }
    case 'url':
      return validateUrl(value, loc, schema.maxLength)
    case 'model': {
      if (!isPlainObject(value)) {
        return [issue('model_attributes_type', loc, 'Input should be a valid dictionary or object to extract fields from', value)]
      }
      const out: ValidationIssue[] = []
      for (const [name, field] of Object.entries(schema.fields)) {
        if (!Object.prototype.hasOwnProperty.call(value, name)) {
          if (field.required) out.push(issue('missing', [...loc, name], 'Field required', value))
          continue
        }
        out.push(...validate(field.schema, value[name], [...loc, name]))
      }
      return out
    }
    case 'union': {
      // pydantic's smart union: valid if any member is; otherwise every member's errors, each
      // located under the member's class name.
      const perMember = schema.members.map((m) => validate(m, value, loc))
      if (perMember.some((errs) => errs.length === 0)) return []
      return perMember.flatMap((errs, i) => {
        const member = schema.members[i]
        const tag = member?.kind === 'model' ? member.name : member?.kind ?? 'member'
        return errs.map((e) => ({ ...e, loc: [...loc, tag, ...e.loc.slice(loc.length)] }))
      })
    }
  }
}

export function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}

const TRUE_STRINGS = new Set(['1', 'on', 't', 'true', 'y', 'yes'])
const FALSE_STRINGS = new Set(['0', 'off', 'f', 'false', 'n', 'no'])

function validateBool(value: unknown, loc: (string | number)[]): ValidationIssue[] {
  if (typeof value === 'boolean') return []
  // pydantic's lax mode takes 0/1 and a handful of words
  if (typeof value === 'number' && (value === 0 || value === 1)) return []
  if (typeof value === 'string') {
    const v = value.toLowerCase()
    if (TRUE_STRINGS.has(v) || FALSE_STRINGS.has(v)) return []
    return [issue('bool_parsing', loc, 'Input should be a valid boolean, unable to interpret input', value)]
  }
  return [issue('bool_type', loc, 'Input should be a valid boolean', value)]
}

function validateInt(value: unknown, loc: (string | number)[]): ValidationIssue[] {
  if (typeof value === 'number') {
    if (Number.isInteger(value)) return []
    return [issue('int_from_float', loc, 'Input should be a valid integer, got a number with a fractional part', value)]
  }
  if (typeof value === 'string') {
    if (/^\s*[+-]?\d+\s*$/.test(value)) return []
    return [issue('int_parsing', loc, 'Input should be a valid integer, unable to parse string as an integer', value)]
  }
  return [issue('int_type', loc, 'Input should be a valid integer', value)]
}

function validateUrl(value: unknown, loc: (string | number)[], maxLength?: number): ValidationIssue[] {
  if (typeof value !== 'string') return [issue('url_type', loc, 'URL input should be a string or URL', value)]
  if (maxLength !== undefined && value.length > maxLength) {
    return [issue('url_too_long', loc, `URL should have at most ${maxLength} characters`, value, { max_length: maxLength })]
  }
  // The reasons are rust-url's (pydantic-core parses with it); WHATWG URL agrees on what is valid
  // for the http(s) URLs a model endpoint has.
  let reason: string | undefined
  if (value.length === 0) reason = 'input is empty'
  else if (!/^[A-Za-z][A-Za-z0-9+.-]*:/.test(value)) reason = 'relative URL without a base'
  else {
    try {
      const u = new URL(value)
      if ((u.protocol === 'http:' || u.protocol === 'https:') && u.hostname === '') reason = 'empty host'
    } catch {
      reason = /^[A-Za-z][A-Za-z0-9+.-]*:\/\/\/?(?:[/?#]|$)/.test(value) ? 'empty host' : 'invalid domain character'
    }
  }
  if (reason === undefined) return []
  return [issue('url_parsing', loc, `Input should be a valid URL, ${reason}`, value, { error: reason })]
}

/** pydantic's "'a', 'b' or 'c'". */
function orList(items: string[]): string {
  if (items.length <= 1) return items.join('')
  return `${items.slice(0, -1).join(', ')} or ${items[items.length - 1]}`
}

function issue(
  type: string,
  loc: (string | number)[],
  msg: string,
  input: unknown,
  ctx?: Record<string, unknown>,
): ValidationIssue {
  return ctx === undefined ? { type, loc, msg, input } : { type, loc, msg, input, ctx }
}
