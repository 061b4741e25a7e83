/**
 * How much work each figure does. The defaults are the issues' counts (2,000 requests each, one
 * million attachments, 10,000 concurrent callers); a full run takes about six minutes on 2 loaded cores;
 * `scale` shrinks or grows every count at once (the smoke test runs at a tiny scale).
 */
export interface BenchConfig {
  /** Multiplies every operation count. Default 1. */
  scale: number
  /** Interleaved rounds per comparison. Default 7. */
  rounds: number
  /** Where results.json goes; undefined = not written. */
  out: string | undefined
  /** Figure ids to run (e.g. ['1', '4']); undefined = all. */
  only: string[] | undefined
  /** Also print the README's Markdown table. */
  markdown: boolean
}

export const DEFAULT_ROUNDS = 7

/** The counts used at scale 1. */
export const BASE_COUNTS = {
  /** Uncached mints (and bare signs) per round. */
  mintOps: 1_000,
  /** Warm getToken calls per round. */
  warmOps: 50_000,
  /** inspect + preflight per round. */
  preflightOps: 100_000,
  /**
   * Distinct pre-minted tokens walked in a ring for the "never seen" variants: four times the largest memo
   * of the SDK (256), so that none of them helps, at any scale.
   */
  distinctTokens: 1024,
  /** authenticate (signature checked every time) per round. */
  verifyOps: 5_000,
  /** Requests per side, in total over all rounds (issue: 2,000 each). */
  requests: 2_000,
  /** Token attachments through the client's hot path (issue: one million). */
  attachments: 1_000_000,
  /** Concurrent getToken callers on a cold cache (issue: 10,000). */
  concurrent: 10_000,
  /** Child processes per side and round for the import cost (node alone, the SDK, jose). */
  importRuns: 2,
} as const

export type Counts = { -readonly [K in keyof typeof BASE_COUNTS]: number }

/** Lower bounds, so that a tiny scale still exercises every code path. */
const MIN_COUNTS: Counts = {
  mintOps: 3,
  warmOps: 50,
  preflightOps: 200,
  distinctTokens: 1024,
  verifyOps: 10,
  requests: 20,
  attachments: 1_000,
  concurrent: 50,
  importRuns: 1,
}

export function countsFor(scale: number): Counts {
  const out = {} as Counts
  for (const k of Object.keys(BASE_COUNTS) as (keyof Counts)[]) {
    out[k] = k === 'distinctTokens' ? BASE_COUNTS[k] : Math.max(MIN_COUNTS[k], Math.round(BASE_COUNTS[k] * scale))
  }
  return out
}

/**
 * Options from the command line (`--scale=0.1 --rounds=5 --out=path --only=1,4`, `--no-out`, `--markdown`) over the
 * environment (`BENCH_SCALE`, `BENCH_ROUNDS`, `BENCH_OUT`, `BENCH_ONLY`) over the defaults.
 */
export function parseConfig(argv: readonly string[], env: NodeJS.ProcessEnv, defaultOut: string): BenchConfig {
  const flags = new Map<string, string | true>()
  for (const arg of argv) {
    const m = /^--([a-z-]+)(?:=(.*))?$/.exec(arg)
    if (!m) throw new Error(`bench: unknown argument ${JSON.stringify(arg)}; use --scale=N --rounds=N --out=PATH --no-out --only=1,4 --markdown`)
    flags.set(m[1] as string, m[2] ?? true)
  }
  const str = (flag: string, name: string): string | undefined => {
    const v = flags.get(flag)
    if (v === true) throw new Error(`bench: --${flag} needs a value, e.g. --${flag}=...`)
    return v ?? env[name] ?? undefined
  }
  const scale = num(str('scale', 'BENCH_SCALE'), 1, 'scale')
  const rounds = Math.round(num(str('rounds', 'BENCH_ROUNDS'), DEFAULT_ROUNDS, 'rounds'))
  if (rounds < 1) throw new Error('bench: rounds must be at least 1')
  const out = flags.get('no-out') === true ? undefined : (str('out', 'BENCH_OUT') ?? defaultOut)
  const onlyText = str('only', 'BENCH_ONLY')
  const only = onlyText === undefined || onlyText === '' ? undefined : onlyText.split(',').map((s) => s.trim())
  for (const k of flags.keys()) {
    if (!['scale', 'rounds', 'out', 'no-out', 'only', 'markdown'].includes(k)) throw new Error(`bench: unknown option --${k}`)
  }
  if (flags.has('markdown') && flags.get('markdown') !== true) throw new Error('bench: --markdown takes no value')
  return { scale, rounds, out, only, markdown: flags.get('markdown') === true }
}

// ---------------------------------------------------------------------------------------------

function num(text: string | undefined, fallback: number, what: string): number {
  if (text === undefined || text === '') return fallback
  const n = Number(text)
  if (!Number.isFinite(n) || n <= 0) throw new Error(`bench: ${what} must be a positive number, got ${JSON.stringify(text)}`)
  return n
}
