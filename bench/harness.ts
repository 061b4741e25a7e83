/**
 * Measuring on a shared, noisy 2-core machine: every figure is a candidate and its baseline timed in
 * the same process, in short alternating blocks (A B B A A B ...) within each round, each round after a
 * full GC, so that a slow moment hits both sides. Figures are medians of the per-round values, with
 * their min and max as the spread.
 *
 * Throughput is counted in CPU time of the bench process (`process.cpuUsage()`: user + system, all its
 * threads, so work a side hands to libuv's pool or to the GC's helpers counts too), not in elapsed time:
 * when other processes share the cores, a block that loses its core for a time slice would otherwise
 * count that slice as its own, and one such block swings a round's ratio by several times. The elapsed-time
 * ratio is kept beside it (`wallRatio`) for comparison.
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

/** What a block of operations cost: CPU seconds of the process (user + system) and elapsed seconds. */
export interface Elapsed {
  cpu: number
  wall: number
}

/** Time `ops` calls of a synchronous function. */
export function timeSync(ops: number, fn: (i: number) => unknown): Elapsed {
  let sink: unknown
  const t = start()
  for (let i = 0; i < ops; i++) sink = fn(i)
  const e = stop(t)
  keep(sink)
  return e
}

/** Time `ops` sequential awaited calls of an async function. */
export async function timeAsync(ops: number, fn: (i: number) => Promise<unknown>): Promise<Elapsed> {
  let sink: unknown
  const t = start()
  for (let i = 0; i < ops; i++) sink = await fn(i)
  const e = stop(t)
  keep(sink)
  return e
}

/** One side of a comparison: runs `ops` operations, returns what they cost. */
export type Side = (ops: number) => Elapsed | Promise<Elapsed>

/** Two sides' throughput per round (operations per CPU second), their ratio, and the elapsed-time ratio. */
export interface Throughput {
  candidate: Summary
  baseline: Summary
  ratio: Summary
  wallRatio: Summary
}

/**
 * Throughput of a candidate and its baseline over `rounds` rounds (after a warm-up of both). Each
 * round runs `ops` operations of each side in `blocks` alternating blocks (A B B A A B ...), after a
 * full GC, so that a slow moment of the machine hits both sides; the round's figure is ops ÷ the
 * summed CPU time of its blocks, and its ratio is candidate ÷ baseline.
 */
export async function compareThroughput(opts: {
  rounds: number
  candidate: { ops: number; run: Side }
  baseline: { ops: number; run: Side }
  warmup?: number
  blocks?: number
}): Promise<Throughput> {
  const { rounds, candidate, baseline } = opts
  const warm = opts.warmup ?? 0.2
  const blocks = Math.max(1, Math.min(opts.blocks ?? 10, candidate.ops, baseline.ops))
  await candidate.run(Math.max(1, Math.ceil(candidate.ops * warm)))
  await baseline.run(Math.max(1, Math.ceil(baseline.ops * warm)))
  const c: number[] = []
  const b: number[] = []
  const r: number[] = []
  const w: number[] = []
  for (let round = 0; round < rounds; round++) {
    fullGc()
    const cs: Elapsed = { cpu: 0, wall: 0 }
    const bs: Elapsed = { cpu: 0, wall: 0 }
    const add = (sum: Elapsed, e: Elapsed) => {
      sum.cpu += e.cpu
      sum.wall += e.wall
    }
    for (let block = 0; block < blocks; block++) {
      // ops of this block: an even split of `ops`, so that the round does exactly `ops` of each side
      const cOps = share(candidate.ops, blocks, block)
      const bOps = share(baseline.ops, blocks, block)
      if ((block + round) % 2 === 0) {
        add(cs, await candidate.run(cOps))
        add(bs, await baseline.run(bOps))
      } else {
        add(bs, await baseline.run(bOps))
        add(cs, await candidate.run(cOps))
      }
    }
    const cr = candidate.ops / cs.cpu
    const br = baseline.ops / bs.cpu
    c.push(cr)
    b.push(br)
    r.push(cr / br)
    w.push(candidate.ops / cs.wall / (baseline.ops / bs.wall))
  }
  return { candidate: summarize(c), baseline: summarize(b), ratio: summarize(r), wallRatio: summarize(w) }
}

/** Yield to the event loop (lets timers and I/O callbacks run between blocks). */
export function tick(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve))
}

// ---------------------------------------------------------------------------------------------

function start(): { cpu: NodeJS.CpuUsage; wall: bigint } {
  return { cpu: process.cpuUsage(), wall: process.hrtime.bigint() }
}

function stop(t: { cpu: NodeJS.CpuUsage; wall: bigint }): Elapsed {
  const wall = Number(process.hrtime.bigint() - t.wall) / 1e9
  const used = process.cpuUsage(t.cpu)
  // cpuUsage counts in microseconds: a block shorter than that reads 0, which would divide by zero
  return { cpu: Math.max(1, used.user + used.system) / 1e6, wall }
}

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
