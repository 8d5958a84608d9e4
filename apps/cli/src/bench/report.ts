import { median } from './percentiles';

/** DESIGN §10's targets, as the bench checks them. */
export interface Figure {
  figure: string;
  value: number | null;
  unit: string;
  target: string;
  met: boolean | null;
  /** What the figure is compared with, measured in the same run. */
  baseline?: string;
  baselineValue?: number | null;
  ratio?: number | null;
}

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

/**
 * The median of several runs of one scenario, figure by figure: every numeric leaf is the median of
 * that leaf over the runs; anything else is the first run's.
 */
export function medianOfRuns<T>(runs: T[]): T {
  if (runs.length === 1) return runs[0];
  const merge = (values: Json[]): Json => {
    const first = values[0];
    if (typeof first === 'number') return median(values.filter((v): v is number => typeof v === 'number'));
    if (first && typeof first === 'object' && !Array.isArray(first)) {
      const out: Record<string, Json> = {};
      for (const key of Object.keys(first)) out[key] = merge(values.map((v) => (v as Record<string, Json>)[key]));
      return out;
    }
    return first;
  };
  return merge(runs as unknown as Json[]) as T;
}

export function ratio(value: number | null | undefined, baseline: number | null | undefined): number | null {
  if (value == null || !baseline) return null;
  return Math.round((value / baseline) * 100) / 100;
}

export const atLeast = (value: number | null | undefined, target: number) => (value == null ? null : value >= target);
export const atMost = (value: number | null | undefined, target: number) => (value == null ? null : value <= target);

/** The figures as a fixed-width table for a terminal. */
export function renderTable(figures: Figure[]): string {
  const fmt = (n: number | null | undefined) =>
    n == null ? '—' : Math.abs(n) >= 100 ? Math.round(n).toLocaleString('en-US') : String(Math.round(n * 100) / 100);
  const rows = figures.map((f) => [
    f.figure,
    `${fmt(f.value)} ${f.unit}`,
    f.target,
    f.met == null ? '—' : f.met ? 'met' : 'NOT MET',
    f.baseline ? `${fmt(f.baselineValue)} (${f.baseline})` : '',
    f.ratio == null ? '' : `${f.ratio}×`,
  ]);
  const header = ['figure', 'value', 'target', '', 'baseline (same run)', 'ratio'];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => (i === 1 ? c.padStart(widths[i]) : c.padEnd(widths[i])))
      .join('  ')
      .trimEnd();
  return [line(header), widths.map((w) => '─'.repeat(w)).join('  '), ...rows.map(line)].join('\n');
}
