/**
 * The transport-free pieces of the emulator: uvicorn's path decoding, FastAPI's body reading and
 * pydantic's error shapes, Python's reason phrases, and the request log's redaction.
 */
import { describe, expect, it } from 'vitest'
import { normaliseHeaders, parseJsonBody, pyUnquote, pythonReasonPhrase, splitTarget } from '../src/emulator/http.js'
import { RequestLog, redactBody, redactCredential, redactHeaders } from '../src/emulator/record.js'
import { s, validate } from '../src/emulator/schema.js'
import { redact } from '../src/redact.js'

describe('path decoding (urllib.parse.unquote)', () => {
  it('decodes %2F and %2f, UTF-8 sequences, and keeps malformed escapes', () => {
    expect(pyUnquote('/v1/prompts/model_configuration%2Fcheck')).toBe('/v1/prompts/model_configuration/check')
    expect(pyUnquote('/v1/prompts/model_configuration%2fcheck')).toBe('/v1/prompts/model_configuration/check')
    expect(pyUnquote('/a%C3%A9b')).toBe('/aéb')
    expect(pyUnquote('/a%E0%A4%A')).toBe('/a\uFFFD%A')
    expect(pyUnquote('/100%')).toBe('/100%')
    expect(pyUnquote('/%zz')).toBe('/%zz')
  })

  it('splits origin-form and absolute targets without decoding them', () => {
    expect(splitTarget('/v1/x%2Fy?a=1#f')).toEqual({ rawPath: '/v1/x%2Fy', query: 'a=1#f' })
    expect(splitTarget('https://aigw.test/ai/v1/x%2Fy?q')).toEqual({ rawPath: '/ai/v1/x%2Fy', query: 'q' })
    expect(splitTarget('*')).toEqual({ rawPath: '*', query: '' })
  })
})

describe('headers', () => {
  it('lower-cases names and joins repeated values from every input form', () => {
    expect(normaliseHeaders({ Authorization: 'Bearer x', 'X-A': ['1', '2'], 'X-B': undefined })).toEqual({ authorization: 'Bearer x', 'x-a': '1, 2' })
    expect(normaliseHeaders([['X-A', '1'], ['x-a', '2']])).toEqual({ 'x-a': '1, 2' })
    expect(normaliseHeaders(new Headers({ 'X-Gitlab-Realm': 'saas' }))).toEqual({ 'x-gitlab-realm': 'saas' })
  })
})

describe('FastAPI body reading', () => {
  it('reports an empty body as missing, bad JSON with Python’s message and the position', () => {
    expect(parseJsonBody(null, 'application/json')).toMatchObject({ ok: false, issue: { type: 'missing', loc: ['body'], msg: 'Field required', input: null } })
    expect(parseJsonBody('{', undefined)).toMatchObject({
      ok: false,
      issue: { type: 'json_invalid', loc: ['body', 1], msg: 'JSON decode error', input: {}, ctx: { error: 'Expecting property name enclosed in double quotes' } },
    })
    expect(parseJsonBody('{"a": [1, ', 'application/json')).toMatchObject({ ok: false, issue: { loc: ['body', 10], ctx: { error: 'Expecting value' } } })
    expect(parseJsonBody('{"a": 1, ', 'application/json')).toMatchObject({
      ok: false,
      issue: { ctx: { error: 'Expecting property name enclosed in double quotes' } },
    })
  })

  it('parses JSON only for no content type, application/json and +json types', () => {
    expect(parseJsonBody('{"a":1}', 'application/json; charset=utf-8')).toMatchObject({ ok: true, value: { a: 1 } })
    expect(parseJsonBody('{"a":1}', 'application/vnd.api+json')).toMatchObject({ ok: true, value: { a: 1 } })
    expect(parseJsonBody(new TextEncoder().encode('{"a":1}'), undefined)).toMatchObject({ ok: true, value: { a: 1 } })
    expect(parseJsonBody('{"a":1}', 'text/plain;charset=UTF-8')).toMatchObject({ ok: true, value: '{"a":1}' })
  })
})

describe('pydantic error shapes', () => {
  const Model = s.model('M', {
    name: s.required(s.str(3)),
    count: s.absent(s.int()),
    flag: s.absent(s.optional(s.bool())),
    tags: s.absent(s.list(s.str(), 1)),
    kind: s.absent(s.enumOf(['a', 'b', 'c'])),
    url: s.absent(s.url(20)),
  })

  it('gives type, loc, msg, input and ctx as pydantic v2 does', () => {
    expect(validate(Model, [], ['body'])).toEqual([
      { type: 'model_attributes_type', loc: ['body'], msg: 'Input should be a valid dictionary or object to extract fields from', input: [] },
    ])
    const input = { name: 'abcd', count: 1.5, flag: 'perhaps', tags: [], kind: 'd', url: 'http://a-very-long-host.example/' }
    expect(validate(Model, input, ['body'])).toEqual([
      { type: 'string_too_long', loc: ['body', 'name'], msg: 'String should have at most 3 characters', input: 'abcd', ctx: { max_length: 3 } },
      { type: 'int_from_float', loc: ['body', 'count'], msg: 'Input should be a valid integer, got a number with a fractional part', input: 1.5 },
      { type: 'bool_parsing', loc: ['body', 'flag'], msg: 'Input should be a valid boolean, unable to interpret input', input: 'perhaps' },
      {
        type: 'too_short',
        loc: ['body', 'tags'],
        msg: 'List should have at least 1 item after validation, not 0',
        input: [],
        ctx: { field_type: 'List', min_length: 1, actual_length: 0 },
      },
      { type: 'enum', loc: ['body', 'kind'], msg: "Input should be 'a', 'b' or 'c'", input: 'd', ctx: { expected: "'a', 'b' or 'c'" } },
      { type: 'url_too_long', loc: ['body', 'url'], msg: 'URL should have at most 20 characters', input: 'http://a-very-long-host.example/', ctx: { max_length: 20 } },
    ])
  })

  it('accepts what pydantic’s lax mode accepts', () => {
    expect(validate(Model, { name: 'ab', count: '7', flag: 'yes', tags: ['x'], kind: 'b', url: 'http://h/' }, ['body'])).toEqual([])
    expect(validate(Model, { name: 'ab', flag: null }, ['body'])).toEqual([])
    expect(validate(s.str(3), 'ééé', [])).toEqual([])
  })

  it('explains URLs the way rust-url does for the usual mistakes', () => {
    expect(validate(s.url(), 'model:8000/v1', [])).toEqual([])
    expect(validate(s.url(), 'model-server/v1', [])[0]).toMatchObject({ type: 'url_parsing', msg: 'Input should be a valid URL, relative URL without a base' })
    expect(validate(s.url(), 'http://', [])[0]).toMatchObject({ type: 'url_parsing', msg: 'Input should be a valid URL, empty host' })
    expect(validate(s.url(), 42, [])[0]).toMatchObject({ type: 'url_type', msg: 'URL input should be a string or URL' })
  })
})

describe('Python reason phrases (what follows the status in a 421 detail)', () => {
  it('are Python 3.12’s, where they differ from Node’s', () => {
    expect(pythonReasonPhrase(503)).toBe('Service Unavailable')
    expect(pythonReasonPhrase(413)).toBe('Request Entity Too Large')
    expect(pythonReasonPhrase(422)).toBe('Unprocessable Entity')
    expect(pythonReasonPhrase(418)).toBe("I'm a Teapot")
    expect(pythonReasonPhrase(299)).toBe('Unknown')
  })
})

describe('request log', () => {
  it('redacts credentials, keeps the scheme, and counts by filter', () => {
    const token = 'eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJl'
    expect(redactCredential(`Bearer ${token}`)).toBe(`Bearer ${redact(token)}`)
    expect(redactCredential('Bearer')).toBe('Bearer')
    expect(redactCredential('glpat-secret')).toBe(redact('glpat-secret'))
    expect(redactHeaders({ authorization: `Bearer ${token}`, 'private-token': 'p', 'x-gitlab-realm': 'saas' })).toEqual({
      authorization: `Bearer ${redact(token)}`,
      'private-token': redact('p'),
      'x-gitlab-realm': 'saas',
    })
    expect(redactBody({ model_metadata: { api_key: 'sk-1', name: 'm' }, model_api_key: 'sk-2', list: [{ token: 't' }], none: { api_key: null } })).toEqual({
      model_metadata: { api_key: redact('sk-1'), name: 'm' },
      model_api_key: redact('sk-2'),
      list: [{ token: redact('t') }],
      none: { api_key: null },
    })

    const at = new Date('2026-03-01T12:00:00Z')
    const log = new RequestLog(() => at)
    const base = { method: 'GET', query: '', headers: {}, status: 200 } as const
    log.add({ ...base, side: 'instance', path: '/oauth/discovery/keys', decodedPath: '/oauth/discovery/keys', route: 'jwks' })
    log.add({ ...base, side: 'gateway', method: 'POST', path: '/v1/prompts/a%2Fb', decodedPath: '/v1/prompts/a/b', status: 403 })
    expect(log.list().map((r) => [r.seq, r.at])).toEqual([
      [1, at],
      [2, at],
    ])
    expect(log.count({ side: 'gateway' })).toBe(1)
    expect(log.count({ path: '/v1/prompts/a/b' })).toBe(1)
    expect(log.count({ path: '/v1/prompts/a%2Fb', method: 'post', status: 403 })).toBe(1)
    expect(log.count({ path: /discovery/ })).toBe(1)
    expect(log.count({ route: 'jwks', status: 404 })).toBe(0)
    expect(Object.isFrozen(log.list()[0])).toBe(true)
    log.clear()
    expect(log.count()).toBe(0)
  })
})
