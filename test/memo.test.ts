/** TextMemo, the bounded memo behind the verifier's token memo, inspect's reports and the header and signature memos. */
import { createHash } from 'node:crypto'
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { TextMemo } from '../src/memo.js'

describe('TextMemo', () => {
  it('answers only for the very same text: texts that end alike (the same hash) never share an entry', () => {
    const memo = new TextMemo<string>(64)
    const sig = 'SIGNATURE-SEGMENT-SHARED-BY-BOTH'
    memo.set(`h1.p1.${sig}`, 'genuine')
    expect(memo.get(`h2.p2.${sig}`)).toBeUndefined()
    memo.set(`h2.p2.${sig}`, 'forged')
    expect(memo.get(`h1.p1.${sig}`)).toBe('genuine')
    expect(memo.get(`h2.p2.${sig}`)).toBe('forged')
    // an equal text built separately is the same key
    expect(memo.get(['h1', 'p1', sig].join('.'))).toBe('genuine')
  })

  it('setting a text again replaces its value; clear forgets everything', () => {
    const memo = new TextMemo<number>(8)
    memo.set('a', 1)
    memo.set('a', 2)
    expect(memo.get('a')).toBe(2)
    memo.clear()
    expect(memo.get('a')).toBeUndefined()
  })

  it('a full bucket drops its least recently used entry', () => {
    // capacity 4: one bucket of four slots, so the order of use alone decides
    const memo = new TextMemo<string>(4)
    for (const t of ['a', 'b', 'c', 'd']) memo.set(t, t)
    expect(memo.get('a')).toBe('a')
    memo.set('e', 'e')
    expect(memo.get('b')).toBeUndefined()
    expect(['a', 'c', 'd', 'e'].map((t) => memo.get(t))).toEqual(['a', 'c', 'd', 'e'])
  })

  it('capacity 1 remembers the last text only', () => {
    const memo = new TextMemo<string>(1)
    memo.set('x', 'x')
    memo.set('y', 'y')
    expect([memo.get('x'), memo.get('y')]).toEqual([undefined, 'y'])
  })

  it('any sequence of sets and gets: an answer is the last value set for that exact text, and at most `capacity` texts answer', () => {
    const text = fc.oneof(
      fc.string({ maxLength: 12 }),
      // texts that differ only before their hashed tail
      fc.tuple(fc.string({ maxLength: 4 }), fc.constantFrom('.same-tail-0123456789', '.other-tail-abcdefghi')).map(([a, b]) => a + b),
    )
    const op = fc.oneof(fc.record({ set: text, value: fc.nat() }), fc.record({ get: text }))
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 12 }), fc.array(op, { maxLength: 80 }), (capacity, ops) => {
        const memo = new TextMemo<number>(capacity)
        const last = new Map<string, number>()
        for (const o of ops) {
          if ('set' in o) {
            memo.set(o.set, o.value)
            last.set(o.set, o.value)
          } else {
            const got = memo.get(o.get)
            if (got !== undefined) expect(got).toBe(last.get(o.get))
          }
          // the most recent set is always there
          if ('set' in o) expect(memo.get(o.set)).toBe(o.value)
        }
        const answering = [...last.keys()].filter((t) => memo.get(t) !== undefined)
        expect(answering.length).toBeLessThanOrEqual(capacity)
      }),
      { numRuns: 1000 },
    )
  })

  it('spreads tokens over its buckets: nearly all of a half-full memo answers, most of a full one', () => {
    const tokens = Array.from({ length: 1024 }, (_, i) => `eyJhbGciOiJSUzI1NiJ9.payload${i}.${createHash('sha256').update(String(i)).digest('base64url')}`)
    const kept = (memo: TextMemo<number>, n: number) => {
      tokens.slice(0, n).forEach((t, i) => memo.set(t, i))
      return tokens.slice(0, n).filter((t, i) => memo.get(t) === i).length
    }
    // texts land in buckets of 8 by their last characters (a hash of the first ones would put every token in one)
    expect(kept(new TextMemo(1024), 512)).toBeGreaterThanOrEqual(500)
    expect(kept(new TextMemo(1024), 1024)).toBeGreaterThanOrEqual(820)
  })
})
