/**
 * Measuring on a shared, noisy 2-core machine: every figure is a candidate and its baseline timed in
 * the same process, in short alternating blocks (A B B A A B ...) within each round, each round after a
 * full GC, so that a slow moment hits both sides. Figures are medians of the per-round values, with
 * their min and max as the spread.
 */
import v8 from 'node:v8'
import vm from 'node:vm'

/** The median and spread of one series of per-round values. */
export interface Summary {
  median: number
  min: number
  max: number
  /** One value per round, in the order measured. */
  samples: number[]
}

export function summarize(samples: readonly number[]): Summary {
  if (samples.length === 0) return { median: Number.NaN, min: Number.NaN, max: Number.NaN, samples: [] }
  const sorted = [...samples].sort((a, b) => a - b)
  const mid = sorted.length >> 1
  const median = sorted.length % 2 === 1 ? (sorted[mid] as number) : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2
  return { median, min: sorted[0] as number, max: sorted[sorted.length - 1] as number, samples: [...samples] }
}

/** The median of a series (NaN when empty). */
export function median(values: readonly number[]): number {
  return summarize(values).median
}

/**
 * A full garbage collection. Uses `global.gc` when node runs with --expose-gc; otherwise turns the
 * flag on at run time and takes `gc` from a fresh context, so that `npm run bench` (plain tsx) and
 * vitest need no extra node flag. Undefined only if neither works.
 */
export const collectGarbage: (() => void) | undefined = resolveGc()

/** Two passes: the first may only move objects to old space (weak refs, finalizers). */
export function fullGc(): void {
  collectGarbage?.()
  collectGarbage?.()
}

/**
 * Heap in use after a full GC, in bytes. Yields to the event loop between collections so that
 * FinalizationRegistry callbacks run (undici ties each Request's AbortSignal to its source through
 * weak references that are only cleaned up that way) and what they release is collected too.
 */
export async function heapAfterGc(): Promise<number> {
  for (let i = 0; i < 2; i++) {
    collectGarbage?.()
    await tick()
  }
  collectGarbage?.()
  return process.memoryUsage().heapUsed
}

/** Time `ops` calls of a synchronous function, in seconds. */
export function timeSync(ops: number, fn: (i: number) => unknown): number {
  let sink: unknown
  const start = process.hrtime.bigint()
  for (let i = 0; i < ops; i++) sink = fn(i)
  const ns = process.hrtime.bigint() - start
  keep(sink)
  return Number(ns) / 1e9
}

/** Time `ops` sequential awaited calls of an async function, in seconds. */
export async function timeAsync(ops: number, fn: (i: number) => Promise<unknown>): Promise<number> {
  let sink: unknown
  const start = process.hrtime.bigint()
  for (let i = 0; i < ops; i++) sink = await fn(i)
  const ns = process.hrtime.bigint() - start
  keep(sink)
  return Number(ns) / 1e9
}

/** One side of a comparison: runs `ops` operations, returns the elapsed seconds. */
export type Side = (ops: number) => number | Promise<number>

/**
 * Throughput of a candidate and its baseline over `rounds` rounds (after a warm-up of both). Each
 * round runs `ops` operations of each side in `blocks` alternating blocks (A B B A A B ...), after a
 * full GC, so that a slow moment of the machine hits both sides; the round's figure is ops ÷ the
 * summed time of its blocks, and its ratio is candidate ÷ baseline.
 */
export async function compareThroughput(opts: {
  rounds: number
  candidate: { ops: number; run: Side }
  baseline: { ops: number; run: Side }
  warmup?: number
  blocks?: number
}): Promise<{ candidate: Summary; baseline: Summary; ratio: Summary }> {
  const { rounds, candidate, baseline } = opts
  const warm = opts.warmup ?? 0.2
  const blocks = Math.max(1, Math.min(opts.blocks ?? 10, candidate.ops, baseline.ops))
  await candidate.run(Math.max(1, Math.ceil(candidate.ops * warm)))
  await baseline.run(Math.max(1, Math.ceil(baseline.ops * warm)))
  const c: number[] = []
  const b: number[] = []
  const r: number[] = []
  for (let round = 0; round < rounds; round++) {
    fullGc()
    let cs = 0
    let bs = 0
    for (let block = 0; block < blocks; block++) {
      // ops of this block: an even split of `ops`, so that the round does exactly `ops` of each side
      const cOps = share(candidate.ops, blocks, block)
      const bOps = share(baseline.ops, blocks, block)
      if ((block + round) % 2 === 0) {
        cs += await candidate.run(cOps)
        bs += await baseline.run(bOps)
      } else {
        bs += await baseline.run(bOps)
        cs += await candidate.run(cOps)
      }
    }
    const cr = candidate.ops / cs
    const br = baseline.ops / bs
    c.push(cr)
    b.push(br)
    r.push(cr / br)
  }
  return { candidate: summarize(c), baseline: summarize(b), ratio: summarize(r) }
}

/** Yield to the event loop (lets timers and I/O callbacks run between blocks). */
export function tick(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve))
}

// ---------------------------------------------------------------------------------------------

let blackhole: unknown

/** Keep a result observable, so the optimiser cannot drop the work that produced it. */
function keep(value: unknown): void {
  blackhole = value
  if (blackhole === keep) throw new Error('unreachable')
}

/** Block `i` of `n` gets its share of `total` (the shares add up to `total`). */
function share(total: number, n: number, i: number): number {
  return Math.floor((total * (i + 1)) / n) - Math.floor((total * i) / n)
}

function resolveGc(): (() => void) | undefined {
  const exposed = (globalThis as { gc?: unknown }).gc
  if (typeof exposed === 'function') return exposed as () => void
  try {
    v8.setFlagsFromString('--expose-gc')
    const gc = vm.runInNewContext('gc') as unknown
    return typeof gc === 'function' ? (gc as () => void) : undefined
  } catch {
    return undefined
  }
}
