/**
 * The Python behaviours python-jose's messages depend on. Every expected value here was produced by
 * CPython (3.11, same json/base64/codec code paths as the gateway's 3.12) and python-jose 3.3.0.
 */
import { describe, expect, it } from 'vitest'
import { gatewayBytes, pyBase64UrlDecode, pyContains, pyInt, pyJsonLoads, pyTruthy, pyUtf8Decode } from '../src/inspect/python.js'

describe('pyBase64UrlDecode (python-jose base64url_decode)', () => {
  it.each([
    ['', ''],
    ['A', null],
    ['AB', '00'],
    ['ABC', '0010'],
    ['ABCD', '001083'],
    ['ABCDE', null],
    ['AB=C', null],
    ['AB==', '00'],
    ['A===', null],
    ['ABC=D', '0010'],
    ['AB CD', '001083'],
    ['QUJD!RA', null],
    ['-_-_', 'fbffbf'],
    ['+/+/', 'fbffbf'],
    ['QQ', '41'],
    ['QR', '41'],
  ])('%j', (input, hex) => {
    const out = pyBase64UrlDecode(input)
    expect(out === undefined ? null : out.toString('hex')).toBe(hex)
  })
})

describe('pyUtf8Decode (bytes.decode("utf-8") error text)', () => {
  it.each([
    ['ff', "'utf-8' codec can't decode byte 0xff in position 0: invalid start byte"],
    ['61c3', "'utf-8' codec can't decode byte 0xc3 in position 1: unexpected end of data"],
    ['e08080', "'utf-8' codec can't decode byte 0xe0 in position 0: invalid continuation byte"],
    ['eda080', "'utf-8' codec can't decode byte 0xed in position 0: invalid continuation byte"],
    ['f09080', "'utf-8' codec can't decode bytes in position 0-2: unexpected end of data"],
    ['f4908080', "'utf-8' codec can't decode byte 0xf4 in position 0: invalid continuation byte"],
    ['c328', "'utf-8' codec can't decode byte 0xc3 in position 0: invalid continuation byte"],
    ['6162e282', "'utf-8' codec can't decode bytes in position 2-3: unexpected end of data"],
  ])('%s', (hex, message) => {
    expect(pyUtf8Decode(Buffer.from(hex, 'hex'))).toEqual({ ok: false, message })
  })

  it('keeps a BOM, as Python does', () => {
    expect(pyUtf8Decode(Buffer.from('efbbbf7b7d', 'hex'))).toEqual({ ok: true, text: '\ufeff{}' })
  })
})

describe('pyJsonLoads (json.loads error text)', () => {
  it.each([
    ['', 'Expecting value: line 1 column 1 (char 0)'],
    [' ', 'Expecting value: line 1 column 2 (char 1)'],
    ['{"a":1,}', 'Expecting property name enclosed in double quotes: line 1 column 8 (char 7)'],
    ['[1,]', 'Expecting value: line 1 column 4 (char 3)'],
    ['{"a" 1}', "Expecting ':' delimiter: line 1 column 6 (char 5)"],
    ['{"a":1 "b":2}', "Expecting ',' delimiter: line 1 column 8 (char 7)"],
    ['{"a":"\\x"}', 'Invalid \\escape: line 1 column 7 (char 6)'],
    ['{"a":"\\u12"}', 'Invalid \\uXXXX escape: line 1 column 8 (char 7)'],
    ['"\\uZZZZ"', 'Invalid \\uXXXX escape: line 1 column 3 (char 2)'],
    ['\ufeff{}', 'Unexpected UTF-8 BOM (decode using utf-8-sig): line 1 column 1 (char 0)'],
    ['{}x', 'Extra data: line 1 column 3 (char 2)'],
    ['{}\n\n  x', 'Extra data: line 3 column 3 (char 6)'],
    ['"abc', 'Unterminated string starting at: line 1 column 1 (char 0)'],
    ['"a\u0001"', 'Invalid control character at: line 1 column 3 (char 2)'],
    ['01', 'Extra data: line 1 column 2 (char 1)'],
    ['1.', 'Extra data: line 1 column 2 (char 1)'],
    ['-', 'Expecting value: line 1 column 1 (char 0)'],
    // positions count code points, not UTF-16 units
    ['{"\u{1d7d9}":1,}', 'Expecting property name enclosed in double quotes: line 1 column 8 (char 7)'],
    ['{"a":\n tru}', 'Expecting value: line 2 column 2 (char 7)'],
    ['1'.repeat(4301), 'Exceeds the limit (4300 digits) for integer string conversion: value has 4301 digits; use sys.set_int_max_str_digits() to increase the limit'],
  ])('%j', (text, message) => {
    expect(pyJsonLoads(text)).toEqual({ ok: false, message })
  })

  it('accepts what Python accepts', () => {
    expect(pyJsonLoads('{"a":NaN,"b":-Infinity,"c":Infinity}')).toEqual({ ok: true, value: { a: Number.NaN, b: Number.NEGATIVE_INFINITY, c: Number.POSITIVE_INFINITY } })
    expect(pyJsonLoads('{"é":"\\ud83d\\ude00"}')).toEqual({ ok: true, value: { é: '😀' } })
    expect(pyJsonLoads('"\\ud800"')).toEqual({ ok: true, value: '\ud800' })
    expect(pyJsonLoads('{"__proto__":{"x":1}}')).toEqual({ ok: true, value: JSON.parse('{"__proto__":{"x":1}}') })
  })

  it('keeps huge integers finite (Python ints are exact) but lets float overflow be infinite', () => {
    const big = pyJsonLoads(`{"exp":${'9'.repeat(400)}}`)
    expect(big).toEqual({ ok: true, value: { exp: Number.MAX_VALUE } })
    expect(pyJsonLoads('{"exp":1e400}')).toEqual({ ok: true, value: { exp: Number.POSITIVE_INFINITY } })
  })

  it('nesting beyond Python\'s recursion limit is a RecursionError, not a ValueError', () => {
    const r = pyJsonLoads('['.repeat(3000))
    expect(r).toEqual({ ok: false, fatal: true, message: 'maximum recursion depth exceeded while decoding a JSON array from a unicode string' })
  })
})

describe('pyInt, pyContains, pyTruthy', () => {
  it.each([
    ['12', 12],
    [' 12 ', 12],
    ['1_000', 1000],
    ['+5', 5],
    ['-5', -5],
    ['１２', 12],
    ['٣', 3],
    ['\u00a012\u2003', 12],
    [1.9, 1],
    [-1.9, -1],
    [true, 1],
  ])('int(%j) = %j', (v, n) => {
    expect(pyInt(v)).toEqual({ ok: true, value: n })
  })

  it.each(['1__0', '_1', '1.5', '', 'x', '\ufeff12'])('int(%j) raises ValueError', (v) => {
    expect(pyInt(v)).toMatchObject({ ok: false, error: 'ValueError' })
  })

  it('TypeError and OverflowError, as python-jose lets them escape', () => {
    expect(pyInt(null)).toEqual({ ok: false, error: 'TypeError', message: "int() argument must be a string, a bytes-like object or a real number, not 'NoneType'" })
    expect(pyInt([])).toEqual({ ok: false, error: 'TypeError', message: "int() argument must be a string, a bytes-like object or a real number, not 'list'" })
    expect(pyInt({})).toEqual({ ok: false, error: 'TypeError', message: "int() argument must be a string, a bytes-like object or a real number, not 'dict'" })
    expect(pyInt(Number.POSITIVE_INFINITY)).toEqual({ ok: false, error: 'OverflowError', message: 'cannot convert float infinity to integer' })
    expect(pyInt(Number.NaN)).toEqual({ ok: false, error: 'ValueError', message: 'cannot convert float NaN to integer' })
  })

  it('`in` on the JSON types', () => {
    expect(pyContains(['complete_code'], 'complete_code')).toEqual({ ok: true, value: true })
    expect(pyContains('xcomplete_codex', 'complete_code')).toEqual({ ok: true, value: true })
    expect(pyContains({ complete_code: 1 }, 'complete_code')).toEqual({ ok: true, value: true })
    expect(pyContains({}, 'constructor')).toEqual({ ok: true, value: false })
    expect(pyContains(null, 'x')).toEqual({ ok: false, error: 'TypeError', message: "argument of type 'NoneType' is not iterable" })
    expect(pyContains(5, 'x')).toEqual({ ok: false, error: 'TypeError', message: "argument of type 'int' is not iterable" })
    expect(pyContains(5.5, 'x')).toEqual({ ok: false, error: 'TypeError', message: "argument of type 'float' is not iterable" })
    expect(pyContains(true, 'x')).toEqual({ ok: false, error: 'TypeError', message: "argument of type 'bool' is not iterable" })
  })

  it('truthiness', () => {
    expect([null, '', 0, false, [], {}].map(pyTruthy)).toEqual([false, false, false, false, false, false])
    expect(['x', 1, Number.NaN, true, [0], { a: 0 }].map(pyTruthy)).toEqual([true, true, true, true, true, true])
  })
})

describe('gatewayBytes', () => {
  it('ASCII passes through; latin-1 characters become two UTF-8 bytes; others their UTF-8 bytes, each re-encoded', () => {
    expect(gatewayBytes('ab').toString('hex')).toBe('6162')
    expect(gatewayBytes('é').toString('hex')).toBe('c3a9')
    // U+2026 is e2 80 a6 on the wire, read as three latin-1 characters, each re-encoded
    expect(gatewayBytes('…').toString('hex')).toBe('c3a2c280c2a6')
  })
})
