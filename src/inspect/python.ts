/**
 * The few Python behaviours the gateway's verdicts depend on, reproduced exactly: CPython's lenient
 * base64 decoder (`binascii.a2b_base64`, non-strict), its UTF-8 decoder errors, the `json` module's
 * error messages and extensions, `int()` and the `in` operator. python-jose logs these messages
 * verbatim ("Invalid header string: Expecting value: line 1 column 1 (char 0)"), so an approximation
 * would make our reasons disagree with the gateway's logs.
 *
 * Every function here is pure and never throws. Fast paths use Node's native decoders and fall back to
 * the exact emulation only when the input is unusual (bad characters, errors, huge numbers).
 */
import { isAscii as isAsciiBytes, isUtf8 } from 'node:buffer'
import { stripWhere } from './text.js'

// ---------------------------------------------------------------------------------------------------
// Bytes as the gateway sees them
// ---------------------------------------------------------------------------------------------------

const ASCII_ONLY = /^[\x00-\x7f]*$/

/**
 * The bytes python-jose works on for a header value we hold as a JS string.
 *
 * The ASGI server decodes header bytes as latin-1 and python-jose re-encodes the resulting str as
 * UTF-8, so every byte >= 0x80 on the wire becomes two bytes. We assume the wire bytes are the string's
 * latin-1 bytes (what Node's HTTP stack writes) and, for a code point above U+00FF (which no HTTP
 * client can send as such), its UTF-8 bytes.
 */
export function gatewayBytes(value: string): Buffer {
  if (ASCII_ONLY.test(value)) return Buffer.from(value, 'latin1')
  const out: number[] = []
  for (const ch of value) {
    const cp = ch.codePointAt(0) ?? 0
    const wire = cp <= 0xff ? [cp] : [...Buffer.from(ch, 'utf8')]
    for (const b of wire) {
      if (b < 0x80) out.push(b)
      else out.push(0xc0 | (b >> 6), 0x80 | (b & 0x3f))
    }
  }
  return Buffer.from(out)
}

export function isAscii(value: string): boolean {
  return ASCII_ONLY.test(value)
}

// ---------------------------------------------------------------------------------------------------
// base64: python-jose's base64url_decode = pad with '=' to a multiple of 4, then urlsafe_b64decode
// (non-strict a2b_base64: characters outside the alphabet are skipped, padding rules below)
// ---------------------------------------------------------------------------------------------------

const B64_CLEAN = /^[A-Za-z0-9_\-+/]*$/

/**
 * python-jose's `base64url_decode` of one segment (given as the JS string of that segment).
 * Returns undefined where Python raises `binascii.Error`.
 */
export function pyBase64UrlDecode(segment: string): Buffer | undefined {
  // Fast path: only alphabet characters, no '='. Python pads and decodes; the result equals Node's
  // lenient decoder, which also accepts both alphabets. A length of 4k+1 leaves one dangling
  // character, which Python refuses.
  if (B64_CLEAN.test(segment)) {
    if (segment.length % 4 === 1) return undefined
    return Buffer.from(segment, 'base64')
  }
  return a2bBase64Lenient(padded(isAscii(segment) ? Buffer.from(segment, 'latin1') : gatewayBytes(segment)))
}

function padded(bytes: Buffer): Uint8Array {
  const rem = bytes.length % 4
  if (rem === 0) return bytes
  const out = new Uint8Array(bytes.length + 4 - rem)
  out.set(bytes)
  out.fill(0x3d, bytes.length)
  return out
}

const B64_TABLE = (() => {
  const t = new Int8Array(256).fill(-1)
  const abc = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/'
  for (let i = 0; i < abc.length; i++) t[abc.charCodeAt(i)] = i
  // urlsafe_b64decode translates '-' and '_' to '+' and '/' before decoding
  t[0x2d] = 62
  t[0x5f] = 63
  return t
})()

/** CPython 3.12 `binascii.a2b_base64(data, strict_mode=False)`, transcribed. */
function a2bBase64Lenient(data: Uint8Array): Buffer | undefined {
  const out = Buffer.allocUnsafe(Math.ceil(data.length / 4) * 3)
  let o = 0
  let quadPos = 0
  let leftchar = 0
  let pads = 0
  for (let i = 0; i < data.length; i++) {
    const ch = data[i] as number
    if (ch === 0x3d) {
      // '=': only counts once two data characters of the quad are in; enough of them end the input
      if (quadPos >= 2 && quadPos + ++pads >= 4) return out.subarray(0, o)
      continue
    }
    const v = B64_TABLE[ch] as number
    if (v < 0) continue
    pads = 0
    switch (quadPos) {
      case 0:
        quadPos = 1
        leftchar = v
        break
      case 1:
        quadPos = 2
        out[o++] = ((leftchar << 2) | (v >> 4)) & 0xff
        leftchar = v & 0x0f
        break
      case 2:
        quadPos = 3
        out[o++] = ((leftchar << 4) | (v >> 2)) & 0xff
        leftchar = v & 0x03
        break
      default:
        quadPos = 0
        out[o++] = ((leftchar << 6) | v) & 0xff
        leftchar = 0
    }
  }
  return quadPos === 0 ? out.subarray(0, o) : undefined
}

// ---------------------------------------------------------------------------------------------------
// UTF-8: bytes.decode('utf-8') and the text of its UnicodeDecodeError
// ---------------------------------------------------------------------------------------------------

export type PyDecoded = { ok: true; text: string } | { ok: false; message: string }

/** `bytes.decode('utf-8')`; a BOM is kept, as Python keeps it. */
export function pyUtf8Decode(bytes: Uint8Array): PyDecoded {
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  // ASCII (every JWT header and nearly every payload) decodes as latin-1, the cheapest conversion
  if (isAsciiBytes(bytes)) return { ok: true, text: buf.toString('latin1') }
  if (isUtf8(bytes)) return { ok: true, text: buf.toString('utf8') }
  return { ok: false, message: utf8ErrorMessage(bytes) }
}

const isCont = (b: number | undefined): boolean => b !== undefined && b >= 0x80 && b <= 0xbf

/** The message of the first UnicodeDecodeError CPython raises for these bytes. */
function utf8ErrorMessage(s: Uint8Array): string {
  const end = s.length
  let i = 0
  while (i < end) {
    const ch = s[i] as number
    if (ch < 0x80) {
      i++
      continue
    }
    // CPython's decoder returns: 0 = unexpected end, 1 = invalid start, 2..4 = invalid continuation
    // at byte 1..3 of the sequence.
    let code = -1
    let len = 0
    if (ch < 0xc2) code = 1
    else if (ch < 0xe0) {
      len = 2
      if (end - i < 2) code = 0
      else if (!isCont(s[i + 1])) code = 2
    } else if (ch < 0xf0) {
      len = 3
      const c2 = s[i + 1]
      if (end - i < 3) {
        if (end - i >= 2 && (!isCont(c2) || ((c2 as number) < 0xa0 ? ch === 0xe0 : ch === 0xed))) code = 2
        else code = 0
      } else if (!isCont(c2) || (ch === 0xe0 && (c2 as number) < 0xa0) || (ch === 0xed && (c2 as number) >= 0xa0)) code = 2
      else if (!isCont(s[i + 2])) code = 3
    } else if (ch < 0xf5) {
      len = 4
      const c2 = s[i + 1]
      if (end - i < 4) {
        if (end - i >= 2 && (!isCont(c2) || ((c2 as number) < 0x90 ? ch === 0xf0 : ch === 0xf4))) code = 2
        else if (end - i >= 3 && !isCont(s[i + 2])) code = 3
        else code = 0
      } else if (!isCont(c2) || (ch === 0xf0 && (c2 as number) < 0x90) || (ch === 0xf4 && (c2 as number) >= 0x90)) code = 2
      else if (!isCont(s[i + 2])) code = 3
      else if (!isCont(s[i + 3])) code = 4
    } else code = 1
    if (code === -1) {
      i += len
      continue
    }
    let start = i
    let stop: number
    let reason: string
    if (code === 0) {
      reason = 'unexpected end of data'
      stop = end
    } else if (code === 1) {
      reason = 'invalid start byte'
      stop = start + 1
    } else {
      reason = 'invalid continuation byte'
      stop = start + code - 1
    }
    if (stop === start + 1) {
      const byte = (s[start] as number).toString(16).padStart(2, '0')
      return `'utf-8' codec can't decode byte 0x${byte} in position ${start}: ${reason}`
    }
    return `'utf-8' codec can't decode bytes in position ${start}-${stop - 1}: ${reason}`
  }
  /* c8 ignore next */
  return "'utf-8' codec can't decode bytes"
}

// ---------------------------------------------------------------------------------------------------
// json.loads (CPython 3.12, C scanner)
// ---------------------------------------------------------------------------------------------------

export type PyJsonResult =
  | { ok: true; value: unknown }
  /** A `ValueError` (JSONDecodeError or the integer-digits limit): python-jose reports it. */
  | { ok: false; message: string; fatal?: false }
  /** A `RecursionError`: not a ValueError, so it escapes python-jose and the gateway answers 500. */
  | { ok: false; message: string; fatal: true }

/**
 * How deep json.loads may nest before CPython raises RecursionError. CPython 3.12 counts C recursion
 * separately (limit 1500, minus the frames already on the C stack when the gateway calls json.loads):
 * this value is an approximation, exact only to a few levels.
 */
export const PY_JSON_MAX_DEPTH = 1490

/** Python's default limit on the digits of an int parsed from text (`sys.get_int_max_str_digits()`). */
const PY_INT_MAX_STR_DIGITS = 4300

/**
 * `json.loads(text)` with Python's semantics: NaN/Infinity accepted, integers of any size (kept as
 * the nearest double, clamped to ±Number.MAX_VALUE so that they never read as infinite), Python's
 * error messages and positions.
 */
export function pyJsonLoads(text: string): PyJsonResult {
  // Fast path: the native parser agrees with Python on every document it accepts, except for
  // nesting deeper than Python allows, integers longer than 4300 digits and integers that overflow a
  // double (which JSON.parse turns into Infinity). A short document can hold none of the first two;
  // non-finite numbers are rechecked by the exact parser.
  if (text.length < 2 * PY_JSON_MAX_DEPTH) {
    let value: unknown
    try {
      value = JSON.parse(text)
    } catch {
      return new PyJsonParser(text).run()
    }
    if (!hasNonFinite(value, 0)) return { ok: true, value }
  }
  return new PyJsonParser(text).run()
}

/**
 * A top-level value JSON.parse read as ±Infinity: a float literal that overflows (Python agrees) or an
 * integer literal too big for a double (Python keeps an exact int). Only top-level values matter to
 * the gateway (exp, nbf, iat go through int()); nested ones are truthy either way.
 */
function hasNonFinite(v: unknown, _depth: number): boolean {
  if (typeof v === 'number') return !Number.isFinite(v)
  if (v === null || typeof v !== 'object' || Array.isArray(v)) return false
  for (const k in v) {
    const x = (v as Record<string, unknown>)[k]
    if (typeof x === 'number' && !Number.isFinite(x)) return true
  }
  return false
}

class StopIteration {
  constructor(readonly pos: number) {}
}
class JsonError {
  constructor(
    readonly message: string,
    readonly fatal = false,
  ) {}
}

/** A transcription of CPython's Modules/_json.c scanner over code points (Python string indices). */
class PyJsonParser {
  private readonly cps: number[]
  private readonly end: number
  private depth = 0

  constructor(text: string) {
    this.cps = []
    for (const ch of text) this.cps.push(ch.codePointAt(0) ?? 0)
    this.end = this.cps.length
  }

  run(): PyJsonResult {
    try {
      if (this.cps[0] === 0xfeff) throw this.error('Unexpected UTF-8 BOM (decode using utf-8-sig)', 0)
      let idx = this.skipWs(0)
      let value: unknown
      try {
        ;[value, idx] = this.scanOnce(idx)
      } catch (e) {
        if (e instanceof StopIteration) throw this.error('Expecting value', e.pos)
        throw e
      }
      idx = this.skipWs(idx)
      if (idx !== this.end) throw this.error('Extra data', idx)
      return { ok: true, value }
    } catch (e) {
      if (e instanceof StopIteration) return { ok: false, message: this.format('Expecting value', e.pos) }
      if (e instanceof JsonError) return e.fatal ? { ok: false, message: e.message, fatal: true } : { ok: false, message: e.message }
      /* c8 ignore next */
      return { ok: false, message: 'Expecting value: line 1 column 1 (char 0)' }
    }
  }

  private format(msg: string, pos: number): string {
    let line = 1
    let lastNl = -1
    for (let i = 0; i < pos && i < this.end; i++) {
      if (this.cps[i] === 0x0a) {
        line++
        lastNl = i
      }
    }
    return `${msg}: line ${line} column ${pos - lastNl} (char ${pos})`
  }

  private error(msg: string, pos: number): JsonError {
    return new JsonError(this.format(msg, pos))
  }

  private skipWs(idx: number): number {
    while (idx < this.end) {
      const c = this.cps[idx]
      if (c === 0x20 || c === 0x09 || c === 0x0a || c === 0x0d) idx++
      else break
    }
    return idx
  }

  private matches(idx: number, word: string): boolean {
    if (idx + word.length > this.end) return false
    for (let i = 0; i < word.length; i++) if (this.cps[idx + i] !== word.charCodeAt(i)) return false
    return true
  }

  private scanOnce(idx: number): [unknown, number] {
    if (idx >= this.end) throw new StopIteration(idx)
    const c = this.cps[idx]
    switch (c) {
      case 0x22: // "
        return this.scanString(idx + 1)
      case 0x7b: // {
        return this.nested(() => this.parseObject(idx + 1), 'object')
      case 0x5b: // [
        return this.nested(() => this.parseArray(idx + 1), 'array')
      case 0x6e: // n
        if (this.matches(idx, 'null')) return [null, idx + 4]
        break
      case 0x74: // t
        if (this.matches(idx, 'true')) return [true, idx + 4]
        break
      case 0x66: // f
        if (this.matches(idx, 'false')) return [false, idx + 5]
        break
      case 0x4e: // N
        if (this.matches(idx, 'NaN')) return [Number.NaN, idx + 3]
        break
      case 0x49: // I
        if (this.matches(idx, 'Infinity')) return [Number.POSITIVE_INFINITY, idx + 8]
        break
      case 0x2d: // -
        if (this.matches(idx, '-Infinity')) return [Number.NEGATIVE_INFINITY, idx + 9]
        break
    }
    return this.matchNumber(idx)
  }

  private nested(parse: () => [unknown, number], what: 'object' | 'array'): [unknown, number] {
    if (++this.depth > PY_JSON_MAX_DEPTH) {
      throw new JsonError(`maximum recursion depth exceeded while decoding a JSON ${what} from a unicode string`, true)
    }
    try {
      return parse()
    } finally {
      this.depth--
    }
  }

  private isDigit(idx: number): boolean {
    const c = this.cps[idx]
    return c !== undefined && c >= 0x30 && c <= 0x39
  }

  private matchNumber(start: number): [unknown, number] {
    const endIdx = this.end - 1
    let idx = start
    if (this.cps[idx] === 0x2d) {
      idx++
      if (idx > endIdx) throw new StopIteration(start)
    }
    const first = this.cps[idx]
    if (first !== undefined && first >= 0x31 && first <= 0x39) {
      idx++
      while (idx <= endIdx && this.isDigit(idx)) idx++
    } else if (first === 0x30) {
      idx++
    } else {
      throw new StopIteration(start)
    }
    let isFloat = false
    if (idx < endIdx && this.cps[idx] === 0x2e && this.isDigit(idx + 1)) {
      isFloat = true
      idx += 2
      while (idx <= endIdx && this.isDigit(idx)) idx++
    }
    if (idx < endIdx && (this.cps[idx] === 0x65 || this.cps[idx] === 0x45)) {
      const eStart = idx
      idx++
      if (idx < endIdx && (this.cps[idx] === 0x2d || this.cps[idx] === 0x2b)) idx++
      while (idx <= endIdx && this.isDigit(idx)) idx++
      if (this.isDigit(idx - 1)) isFloat = true
      else idx = eStart
    }
    // A number is ASCII: build its literal from the code points it spans. (Mapping code point indices
    // back to string offsets by scanning from the start cost O(n) per number, O(n²) for a long array —
    // seconds of CPU for a 100 KB header, before any signature check.)
    let literal = ''
    for (let i = start; i < idx; i++) literal += String.fromCharCode(this.cps[i] as number)
    if (isFloat) return [Number(literal), idx]
    const digits = literal.startsWith('-') ? literal.length - 1 : literal.length
    if (digits > PY_INT_MAX_STR_DIGITS) {
      throw new JsonError(
        `Exceeds the limit (${PY_INT_MAX_STR_DIGITS} digits) for integer string conversion: value has ${digits} digits; use sys.set_int_max_str_digits() to increase the limit`,
      )
    }
    // Python ints are unbounded: keep the sign and the order of magnitude, never Infinity.
    const n = Number(literal)
    return [Number.isFinite(n) ? n : n > 0 ? Number.MAX_VALUE : -Number.MAX_VALUE, idx]
  }

  private scanString(startAfterQuote: number): [string, number] {
    const begin = startAfterQuote - 1
    let end = startAfterQuote
    const len = this.end
    let out = ''
    for (;;) {
      let next = end
      let c = 0
      for (; next < len; next++) {
        const d = this.cps[next] as number
        if (d === 0x22 || d === 0x5c) {
          c = d
          break
        }
        if (d <= 0x1f) throw this.error('Invalid control character at', next)
      }
      if (next >= len) c = 0
      if (!(c === 0x22 || c === 0x5c)) throw this.error('Unterminated string starting at', begin)
      for (let i = end; i < next; i++) out += String.fromCodePoint(this.cps[i] as number)
      next++
      if (c === 0x22) {
        end = next
        break
      }
      if (next === len) throw this.error('Unterminated string starting at', begin)
      c = this.cps[next] as number
      if (c !== 0x75) {
        end = next + 1
        const simple: Record<number, string> = { 0x22: '"', 0x5c: '\\', 0x2f: '/', 0x62: '\b', 0x66: '\f', 0x6e: '\n', 0x72: '\r', 0x74: '\t' }
        const s = simple[c]
        if (s === undefined) throw this.error('Invalid \\escape', end - 2)
        out += s
      } else {
        next++
        end = next + 4
        if (end >= len) throw this.error('Invalid \\uXXXX escape', next - 1)
        let cp = this.hex4(next, end - 5)
        next = end
        if (cp >= 0xd800 && cp <= 0xdbff && end + 6 < len && this.cps[next] === 0x5c && this.cps[next + 1] === 0x75) {
          const lowEnd = end + 6
          const c2 = this.hex4(next + 2, lowEnd - 5)
          if (c2 >= 0xdc00 && c2 <= 0xdfff) {
            cp = 0x10000 + ((cp - 0xd800) << 10) + (c2 - 0xdc00)
            end = lowEnd
          }
        }
        out += cp >= 0xd800 && cp <= 0xdfff ? String.fromCharCode(cp) : String.fromCodePoint(cp)
      }
    }
    return [out, end]
  }

  private hex4(at: number, errPos: number): number {
    let v = 0
    for (let i = at; i < at + 4; i++) {
      const d = this.cps[i] as number
      let x: number
      if (d >= 0x30 && d <= 0x39) x = d - 0x30
      else if (d >= 0x61 && d <= 0x66) x = d - 0x57
      else if (d >= 0x41 && d <= 0x46) x = d - 0x37
      else throw this.error('Invalid \\uXXXX escape', errPos)
      v = (v << 4) | x
    }
    return v
  }

  private parseObject(start: number): [unknown, number] {
    const endIdx = this.end - 1
    const obj: Record<string, unknown> = {}
    let idx = this.skipWs(start)
    if (idx > endIdx || this.cps[idx] !== 0x7d) {
      for (;;) {
        if (idx > endIdx || this.cps[idx] !== 0x22) throw this.error('Expecting property name enclosed in double quotes', idx)
        const [key, afterKey] = this.scanString(idx + 1)
        idx = this.skipWs(afterKey)
        if (idx > endIdx || this.cps[idx] !== 0x3a) throw this.error("Expecting ':' delimiter", idx)
        idx = this.skipWs(idx + 1)
        const [val, afterVal] = this.scanOnce(idx)
        defineOwn(obj, key, val)
        idx = this.skipWs(afterVal)
        if (idx <= endIdx && this.cps[idx] === 0x7d) break
        if (idx > endIdx || this.cps[idx] !== 0x2c) throw this.error("Expecting ',' delimiter", idx)
        idx = this.skipWs(idx + 1)
      }
    }
    return [obj, idx + 1]
  }

  private parseArray(start: number): [unknown, number] {
    const endIdx = this.end - 1
    const arr: unknown[] = []
    let idx = this.skipWs(start)
    if (idx > endIdx || this.cps[idx] !== 0x5d) {
      for (;;) {
        const [val, afterVal] = this.scanOnce(idx)
        arr.push(val)
        idx = this.skipWs(afterVal)
        if (idx <= endIdx && this.cps[idx] === 0x5d) break
        if (idx > endIdx || this.cps[idx] !== 0x2c) throw this.error("Expecting ',' delimiter", idx)
        idx = this.skipWs(idx + 1)
      }
    }
    return [arr, idx + 1]
  }
}

/** Like JSON.parse: a "__proto__" key becomes an own property, never the prototype. */
function defineOwn(obj: Record<string, unknown>, key: string, value: unknown): void {
  if (key === '__proto__') Object.defineProperty(obj, key, { value, enumerable: true, writable: true, configurable: true })
  else obj[key] = value
}

// ---------------------------------------------------------------------------------------------------
// Values: int(), truthiness, `in`, type names
// ---------------------------------------------------------------------------------------------------

export type PyIntResult =
  | { ok: true; value: number }
  | { ok: false; error: 'ValueError' | 'TypeError' | 'OverflowError'; message: string }

/**
 * Python's `int(value)` for a value decoded from JSON. python-jose calls it on iat/nbf/exp and only
 * catches ValueError: a TypeError (null, a list, an object) or OverflowError (Infinity) escapes.
 */
export function pyInt(value: unknown): PyIntResult {
  if (typeof value === 'number') {
    if (Number.isNaN(value)) return { ok: false, error: 'ValueError', message: 'cannot convert float NaN to integer' }
    if (!Number.isFinite(value)) return { ok: false, error: 'OverflowError', message: 'cannot convert float infinity to integer' }
    return { ok: true, value: Math.trunc(value) }
  }
  if (typeof value === 'boolean') return { ok: true, value: value ? 1 : 0 }
  if (typeof value === 'string') {
    const n = parsePyIntLiteral(value)
    if (n === undefined) return { ok: false, error: 'ValueError', message: `invalid literal for int() with base 10: ${pyRepr(value)}` }
    return { ok: true, value: n }
  }
  return {
    ok: false,
    error: 'TypeError',
    message: `int() argument must be a string, a bytes-like object or a real number, not '${pyTypeName(value)}'`,
  }
}

/** The characters `str.strip()` removes: Python's str.isspace() (JS's \s less U+FEFF, plus U+001C–U+001F and U+0085). */
function isPyWhitespace(c: number): boolean {
  if (c <= 0x20) return c === 0x20 || (c >= 0x09 && c <= 0x0d) || (c >= 0x1c && c <= 0x1f)
  if (c < 0x85) return false
  return (
    c === 0x85 || c === 0xa0 || c === 0x1680 || (c >= 0x2000 && c <= 0x200a) || c === 0x2028 || c === 0x2029 || c === 0x202f || c === 0x205f || c === 0x3000
  )
}

function parsePyIntLiteral(raw: string): number | undefined {
  // int() accepts surrounding whitespace, a sign, any Unicode decimal digits and single underscores
  // between digits ("1_000").
  const s = stripWhere(raw, isPyWhitespace)
  const m = /^([+-]?)((?:\p{Nd})+(?:_(?:\p{Nd})+)*)$/u.exec(s)
  if (!m) return undefined
  const digits = (m[2] ?? '').replace(/_/g, '')
  let ascii = ''
  for (const ch of digits) {
    // counted before converting: a non-ASCII digit costs a scan of its Unicode run
    if (ascii.length === PY_INT_MAX_STR_DIGITS) return undefined
    ascii += String(decimalValue(ch.codePointAt(0) ?? 0x30))
  }
  const n = Number(ascii)
  const clamped = Number.isFinite(n) ? n : Number.MAX_VALUE
  return m[1] === '-' ? -clamped : clamped
}

/**
 * The value of a Unicode decimal digit. Decimal digits come in contiguous runs whose length is a
 * multiple of ten, each ten starting at zero (the mathematical digits are five such tens in a row).
 */
function decimalValue(cp: number): number {
  if (cp >= 0x30 && cp <= 0x39) return cp - 0x30
  let start = cp
  while (start > 0 && /\p{Nd}/u.test(String.fromCodePoint(start - 1))) start--
  return (cp - start) % 10
}

/** Python truthiness of a JSON value. */
export function pyTruthy(value: unknown): boolean {
  if (value === null || value === undefined || value === false) return false
  if (typeof value === 'number') return value !== 0 // NaN is truthy in Python, and NaN !== 0
  if (typeof value === 'string') return value.length > 0
  if (Array.isArray(value)) return value.length > 0
  if (typeof value === 'object') return Object.keys(value).length > 0
  return true
}

/** Python's name for the type of a JSON value, as in TypeError messages. */
export function pyTypeName(value: unknown): string {
  if (value === null || value === undefined) return 'NoneType'
  if (typeof value === 'boolean') return 'bool'
  if (typeof value === 'number') return Number.isInteger(value) ? 'int' : 'float'
  if (typeof value === 'string') return 'str'
  if (Array.isArray(value)) return 'list'
  return 'dict'
}

export type PyContains = { ok: true; value: boolean } | { ok: false; error: 'TypeError'; message: string }

/** Python's `needle in container` for a string needle and a JSON container. */
export function pyContains(container: unknown, needle: string): PyContains {
  if (typeof container === 'string') return { ok: true, value: container.includes(needle) }
  // `in` on a list compares with ==: a str equals only an equal str, which is what includes() finds for a string needle
  if (Array.isArray(container)) return { ok: true, value: container.includes(needle) }
  if (container !== null && typeof container === 'object') return { ok: true, value: Object.hasOwn(container, needle) }
  return { ok: false, error: 'TypeError', message: `argument of type '${pyTypeName(container)}' is not iterable` }
}

/** Python `!=` between a JSON value and a header value (a str, or None when absent). */
export function pyNotEqual(value: unknown, header: string | undefined): boolean {
  if (header === undefined) return !(value === null || value === undefined)
  return value !== header
}

/** A short `repr()` of a string, for messages (never used on tokens). */
function pyRepr(s: string): string {
  const shown = s.length > 40 ? `${s.slice(0, 40)}…` : s
  return `'${shown.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`
}
