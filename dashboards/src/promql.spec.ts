import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { metrics, metricsRegistry } from '@app/observability';
import { ALERT_RULES_FILE, PROMETHEUS, dashboards } from '.';

/**
 * The Engine health panels and the Prometheus alert rules query only metrics the services export
 * (`libs/observability`), with labels those metrics have: a renamed metric or label fails here
 * instead of leaving an empty panel.
 */

/** Labels Prometheus adds to every scraped series (`service` comes from dashboards/prometheus/prometheus.yml). */
const TARGET_LABELS = ['job', 'instance', 'service'];
/** Series Prometheus itself produces for every target. */
const PROMETHEUS_SERIES: Record<string, string[]> = { up: [] };
const KEYWORDS = new Set([
  'and',
  'or',
  'unless',
  'bool',
  'offset',
  'by',
  'without',
  'on',
  'ignoring',
  'group_left',
  'group_right',
  'inf',
  'nan',
]);

/** Metric names an expression reads: identifiers that are not functions, keywords, labels or numbers. */
function metricNames(expr: string): string[] {
  const s = expr
    .replace(/"(?:[^"\\]|\\.)*"/g, '""')
    .replace(/\{[^}]*\}/g, '')
    .replace(/\[[^\]]*\]/g, '')
    .replace(/\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, '');
  const names = [...s.matchAll(/(?<![\w.$])([a-zA-Z_:][a-zA-Z0-9_:]*)(?![\w:]|\s*\()/g)].map((m) => m[1]).filter((n) => !KEYWORDS.has(n));
  return [...new Set(names)];
}

/** Label names an expression matches on or groups by, per metric where it says which. */
function labelUses(expr: string): { metric: string | null; label: string }[] {
  const uses: { metric: string | null; label: string }[] = [];
  for (const m of expr.matchAll(/([a-zA-Z_:][a-zA-Z0-9_:]*)\s*\{([^}]*)\}/g)) {
    for (const l of m[2].matchAll(/(\w+)\s*(?:=~|!~|!=|=)/g)) uses.push({ metric: m[1], label: l[1] });
  }
  for (const g of expr.matchAll(/\b(?:by|without)\s*\(([^)]*)\)/g)) {
    for (const label of g[1]
      .split(',')
      .map((x) => x.trim())
      .filter(Boolean))
      uses.push({ metric: null, label });
  }
  return uses;
}

/** Every exported series name with its labels (histograms as their _bucket, _sum and _count series). */
function exportedSeries(): Map<string, string[]> {
  for (const name of Object.keys(metrics)) void (metrics as Record<string, unknown>)[name]; // created on first use
  const series = new Map<string, string[]>(
    Object.entries(PROMETHEUS_SERIES).map(([name, labels]) => [name, [...labels, ...TARGET_LABELS]]),
  );
  for (const m of metricsRegistry.getMetricsAsArray()) {
    const labels = [...(((m as unknown as { labelNames?: string[] }).labelNames ?? []) as string[]), ...TARGET_LABELS];
    const type = (m as unknown as { type: string }).type;
    if (type === 'histogram') {
      series.set(`${m.name}_bucket`, [...labels, 'le']);
      series.set(`${m.name}_sum`, labels);
      series.set(`${m.name}_count`, labels);
    } else series.set(m.name, labels);
  }
  return series;
}

/** What is wrong with an expression: unknown metrics, labels its metrics do not have. */
function promqlProblems(expr: string, series: Map<string, string[]>): string[] {
  const problems: string[] = [];
  const names = metricNames(expr);
  if (names.length === 0) problems.push(`reads no metric`);
  for (const n of names) if (!series.has(n)) problems.push(`unknown metric ${n}`);
  const available = new Set(names.flatMap((n) => series.get(n) ?? []));
  for (const use of labelUses(expr)) {
    const labels = use.metric ? series.get(use.metric) : [...available];
    if (labels && !labels.includes(use.label)) problems.push(`${use.metric ?? 'grouping'} has no label ${use.label}`);
  }
  return problems;
}

const DIR = join(__dirname, '..');
const expressions: [string, string][] = [
  ...dashboards().flatMap(({ dashboard }) =>
    (dashboard.panels ?? []).flatMap((p: any) =>
      (p.targets ?? [])
        .filter((t: any) => (t.datasource ?? p.datasource)?.uid === PROMETHEUS.uid)
        .map((t: any): [string, string] => [`${dashboard.title} › ${p.title} (${t.refId})`, t.expr]),
    ),
  ),
  ...parse(readFileSync(join(DIR, ALERT_RULES_FILE), 'utf8')).groups.flatMap((g: any) =>
    g.rules.flatMap((r: any) =>
      r.data.filter((q: any) => q.datasourceUid === PROMETHEUS.uid).map((q: any): [string, string] => [`alert ${r.title}`, q.model.expr]),
    ),
  ),
];

describe('PromQL of the dashboards and alert rules', () => {
  const series = exportedSeries();

  it('covers the engine health panels and the Prometheus alert rules', () => {
    expect(expressions.length).toBeGreaterThan(15);
    expect(expressions.some(([name]) => name.startsWith('alert '))).toBe(true);
  });

  // Metrics that say the engine is quietly wrong (a model not loaded, revisions unpublished, stale
  // rollups): each is read by an alert rule and by an Engine health panel that explains it.
  it.each([
    'arbiter_model_load_failing',
    'arbiter_model_version',
    'arbiter_scorer_owed_revisions',
    'arbiter_rollups_refreshed_timestamp_seconds',
    'arbiter_rollups_lag_bound_seconds',
    'arbiter_rollup_refreshes_deferred_total',
    'arbiter_stream_fill_ratio',
    'arbiter_dead_letters',
  ])('%s is exported, alerted on and shown on Engine health', (metric) => {
    expect(series.has(metric)).toBe(true);
    const readers = expressions.filter(([, expr]) => metricNames(expr).includes(metric)).map(([name]) => name);
    expect(readers.filter((n) => n.startsWith('alert '))).not.toEqual([]);
    expect(readers.filter((n) => n.startsWith('Arbiter — Engine health › '))).not.toEqual([]);
  });

  it.each(expressions)('%s reads exported metrics with their labels', (_, expr) => {
    expect(promqlProblems(expr, series)).toEqual([]);
  });

  it('finds the metrics and labels of an expression (and catches what does not exist)', () => {
    expect(
      metricNames(
        'sum by (consumer) (rate(arbiter_batch_size_sum[$__rate_interval])) / sum(rate(arbiter_batch_size_count{consumer="x"}[5m]))',
      ),
    ).toEqual(['arbiter_batch_size_sum', 'arbiter_batch_size_count']);
    expect(metricNames('histogram_quantile(0.99, sum by (le) (rate(arbiter_decision_latency_seconds_bucket[5m]))) > 1e3')).toEqual([
      'arbiter_decision_latency_seconds_bucket',
    ]);
    expect(promqlProblems('sum(rate(arbiter_events_ingested_totl[5m]))', series)).toEqual(['unknown metric arbiter_events_ingested_totl']);
    expect(promqlProblems('sum by (topic) (rate(arbiter_outcomes_total{kind="click"}[5m]))', series)).toEqual([
      'grouping has no label topic',
    ]);
    expect(promqlProblems('arbiter_consumer_pending{durable="scorer"}', series)).toEqual(['arbiter_consumer_pending has no label durable']);
  });
});
