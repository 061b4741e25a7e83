/**
 * The printed table and results.json: each figure with its unit, runs, median and spread, its
 * baseline, the comparison, and whether the issue's target is met. Never a pass/fail exit code.
 */
import { cpus, totalmem } from 'node:os'
import type { BenchConfig } from './config.js'
import type { FigureResult, Measure } from './context.js'

export interface BenchResults {
  meta: {
    date: string
    node: string
    v8: string
    platform: string
    arch: string
    cpu: { model: string; cores: number }
    totalMemoryGB: number
    scale: number
    rounds: number
    durationSeconds: number
    /** A source file changed after the build that was measured, if any. */
    distStale: string | null
  }
  summary: { targets: number; targetsMet: number; targetsNotMet: string[]; proofsFailed: string[] }
  figures: FigureResult[]
}

export function buildResults(config: BenchConfig, figures: FigureResult[], durationSeconds: number, date: Date, distStale?: string): BenchResults {
  const cpu = cpus()
  const targets = figures.filter((f) => f.target !== null)
  return {
    meta: {
      date: date.toISOString(),
      node: process.version,
      v8: process.versions.v8,
      platform: process.platform,
      arch: process.arch,
      cpu: { model: cpu[0]?.model.trim() ?? 'unknown', cores: cpu.length },
      totalMemoryGB: Math.round((totalmem() / 1024 ** 3) * 10) / 10,
      scale: config.scale,
      rounds: config.rounds,
      durationSeconds: Math.round(durationSeconds * 10) / 10,
      distStale: distStale ?? null,
    },
    summary: {
      targets: targets.length,
      targetsMet: targets.filter((f) => f.target?.met === true).length,
      targetsNotMet: targets.filter((f) => f.target?.met === false).map((f) => f.id),
      proofsFailed: figures.flatMap((f) => f.proofs.filter((p) => !p.ok).map((p) => `${f.id}: ${p.name}`)),
    },
    figures,
  }
}

/** The table, then what each baseline is, then any proof that did not hold. */
export function formatReport(results: BenchResults): string {
  const head = ['#', 'Figure', 'Candidate (median)', 'Baseline (median)', 'vs baseline: median [min – max]', 'Runs', 'Target', 'Met']
  const rows = results.figures.map((f) => [
    f.id,
    f.title,
    formatMeasure(f.candidate),
    formatMeasure(f.baseline),
    formatComparison(f),
    String(f.runs),
    f.target?.text ?? '—',
    f.target === null ? 'info' : f.target.met ? 'yes' : 'NO',
  ])
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] as string).length)))
  const line = (cells: string[]) => cells.map((c, i) => c.padEnd(widths[i] as number)).join('  ').trimEnd()
  const out = [line(head), line(widths.map((w) => '-'.repeat(w))), ...rows.map(line), '']
  out.push('Baselines and work per run:')
  for (const f of results.figures) out.push(`  ${f.id}: ${f.candidate.label} vs ${f.baseline.label}; ${f.work}`)
  const m = results.meta
  out.push('', `${m.node}, ${m.cpu.model} (${m.cpu.cores} cores), ${m.date}, scale ${m.scale}, ${m.rounds} rounds, ${m.durationSeconds} s`)
  const s = results.summary
  out.push(`Targets met: ${s.targetsMet}/${s.targets}${s.targetsNotMet.length > 0 ? ` (not met: ${s.targetsNotMet.join(', ')})` : ''}`)
  if (s.proofsFailed.length > 0) out.push(`Proofs that did NOT hold:`, ...s.proofsFailed.map((p) => `  ${p}`))
  return out.join('\n')
}

/**
 * The README's table (section "Performance"): every row with its figures, its comparison and spread, and
 * its goal, so that the README is regenerated from a run (`npm run bench -- --markdown`).
 */
export function formatMarkdown(results: BenchResults): string {
  const cell = (text: string) => text.replaceAll('|', '\\|')
  const out = [
    '| # | Figure | SDK (median) | Baseline, same run (median) | SDK vs baseline: median [min – max] | Goal | Met |',
    '|---|---|---|---|---|---|---|',
  ]
  for (const f of results.figures) {
    const met = f.target === null ? 'info' : f.target.met ? 'yes' : '**no**'
    out.push(
      `| ${f.id} | ${cell(f.title)} | ${cell(f.candidate.label)}: ${formatMeasure(f.candidate)} | ${cell(f.baseline.label)}: ${formatMeasure(f.baseline)} | ${formatComparison(f)} | ${cell(f.target?.text ?? '—')} | ${met} |`,
    )
  }
  const m = results.meta
  const s = results.summary
  out.push('', `${m.node}, ${m.cpu.model} (${m.cpu.cores} cores), scale ${m.scale}, ${m.rounds} rounds, ${m.durationSeconds} s; goals met: ${s.targetsMet}/${s.targets}.`)
  return out.join('\n')
}

export function formatMeasure(m: Measure): string {
  return `${formatNumber(m.median, m.unit)} ${m.unit}`
}

export function formatComparison(f: FigureResult): string {
  const c = f.comparison
  const fmt = (v: number) => (c.kind === 'ratio' ? `${Math.abs(v) < 0.1 ? v.toPrecision(2) : v.toFixed(2)}×` : c.kind === 'overhead' ? `${v >= 0 ? '+' : ''}${v.toFixed(1)}%` : `${v.toFixed(2)} MB`)
  return `${fmt(c.median)} [${fmt(c.min)} – ${fmt(c.max)}]`
}

// ---------------------------------------------------------------------------------------------

function formatNumber(v: number, unit: string): string {
  if (!Number.isFinite(v)) return 'n/a'
  if (unit.startsWith('ops/s')) return Math.round(v).toLocaleString('en-US')
  if (unit === 'MB') return v.toFixed(1)
  return v.toFixed(1)
}
