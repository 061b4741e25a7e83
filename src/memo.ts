/**
 * A bounded memo keyed by text (a token, a header segment), for the memos the SDK keeps of what it decoded.
 *
 * Why not a `Map` with its oldest entry deleted on each insert: V8 rehashes a Map's table as entries come and
 * go, and each table it leaves keeps a link to the next one and its old entries. Once the first table is in
 * old space, every scavenge treats that chain as live, so every value the memo ever held since the last full
 * GC is copied, then promoted: with a stream of distinct tokens (a gateway's traffic), a memo of 16 decoded
 * claim sets tripled the cost of decoding them (about 6 µs → 16–19 µs per token, measured on Node 20). Here
 * the entries live in fixed arrays that are written in place, so what an entry drops is garbage at once.
 *
 * Entries are found by a hash of the text's last characters (for a token: its signature, which differs
 * between tokens and is cheap to hash where hashing the whole 2 KB text on every call is not) and used only
 * when the whole text is identical: two texts that share their end never share an entry. The table is
 * set-associative: a text can only live in the `WAYS` slots of its bucket, and a new one replaces the least
 * recently used of them. It holds at most `capacity` entries (at least `capacity − WAYS + 1` slots).
 */
export class TextMemo<V> {
  private readonly buckets: number
  private readonly ways: number
  private readonly texts: (string | undefined)[]
  private readonly values: (V | undefined)[]
  private readonly hashes: Int32Array
  private readonly used: Float64Array
  private clock = 0

  constructor(capacity: number) {
    const n = Math.max(1, Math.floor(capacity))
    this.ways = Math.min(WAYS, n)
    this.buckets = Math.floor(n / this.ways)
    const slots = this.buckets * this.ways
    this.texts = new Array<string | undefined>(slots).fill(undefined)
    this.values = new Array<V | undefined>(slots).fill(undefined)
    this.hashes = new Int32Array(slots)
    this.used = new Float64Array(slots)
  }

  /** The value remembered for exactly this text, if any. */
  get(text: string): V | undefined {
    const h = tailHash(text)
    const first = this.bucketOf(h)
    for (let i = first; i < first + this.ways; i++) {
      if (this.hashes[i] === h && this.texts[i] === text) {
        this.used[i] = ++this.clock
        return this.values[i]
      }
    }
    return undefined
  }

  /** Remember `value` for this text, replacing what the text had, else the least recently used entry of its bucket. */
  set(text: string, value: V): void {
    const h = tailHash(text)
    const first = this.bucketOf(h)
    let slot = first
    for (let i = first; i < first + this.ways; i++) {
      if (this.texts[i] === undefined || (this.hashes[i] === h && this.texts[i] === text)) {
        slot = i
        break
      }
      if ((this.used[i] as number) < (this.used[slot] as number)) slot = i
    }
    this.texts[slot] = text
    this.values[slot] = value
    this.hashes[slot] = h
    this.used[slot] = ++this.clock
  }

  /** Forget everything. */
  clear(): void {
    this.texts.fill(undefined)
    this.values.fill(undefined)
    this.hashes.fill(0)
    this.used.fill(0)
  }

  private bucketOf(hash: number): number {
    // an int31 modulo: `hash >>> 0` above 2^31 is a double, and a double modulo costs more than the rest of a lookup
    return ((hash & 0x7fffffff) % this.buckets) * this.ways
  }
}

/**
 * Slots per bucket: few enough to scan on every lookup, enough that a working set below capacity rarely
 * collides (texts spread at random: 99% of a half-full memo answers, 86% of a full one).
 */
const WAYS = 8

/**
 * How many characters from the end of a text its hash covers: a token's last 8 characters are 48 random bits
 * of its signature, and each character hashed costs a few ns on every lookup.
 */
const HASHED_CHARS = 8

/** FNV-1a over the last HASHED_CHARS UTF-16 units, mixed with the length. */
function tailHash(text: string): number {
  const end = text.length
  let h = 0x811c9dc5 ^ end
  for (let i = end > HASHED_CHARS ? end - HASHED_CHARS : 0; i < end; i++) h = Math.imul(h ^ text.charCodeAt(i), 0x01000193)
  return h | 0
}
