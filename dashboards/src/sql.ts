import { CLICK_REASON_CODES, CONVERSION_REASON_CODES, reasonColumn } from '@app/storage';

/** The reason codes the rollups have a column for, per side. */
export { CLICK_REASON_CODES, CONVERSION_REASON_CODES };

/**
 * SQL shared by the dashboards and alert rules. Everything here is text Grafana's PostgreSQL
 * datasource expands (`$__timeFilter`, `$__timeGroupAlias`, template variables) and that runs
 * unchanged on TimescaleDB and on plain PostgreSQL: the KPI rollups have the same names on both.
 */

/**
 * The partner variables of the Partner value dashboard. "All" is a custom all value, inserted
 * unquoted: `'__all'`. It means "no filter" rather than "every catalog entry", so traffic for
 * publishers or offers the catalog does not know (UNKNOWN_PUBLISHER, UNKNOWN_OFFER) stays in.
 */
export const PARTNER_VARIABLES = [
  { name: 'advertiser', column: 'advertiser_id', label: 'Advertiser', table: 'advertisers' },
  { name: 'offer', column: 'offer_id', label: 'Offer', table: 'offers' },
  { name: 'publisher', column: 'publisher_id', label: 'Publisher', table: 'publishers' },
] as const;
export const ALL_VALUE = `'__all'`;

/** `AND`-ed conditions restricting rows to the selected partners (`alias.` prefixes the columns). */
export function partnerFilter(alias = ''): string {
  return PARTNER_VARIABLES.map((v) => `(${ALL_VALUE} IN ($${v.name}) OR ${alias}${v.column} IN ($${v.name}))`).join(' AND ');
}

/** `a / b` as a float, NULL when `b` is zero or NULL. */
export const ratio = (a: string, b: string) => `(${a})::float8 / nullif(${b}, 0)`;

/** The rollup measures panels sum; reason columns come from the same code list as the rollups. */
export const clickSums = (prefix = '') =>
  [
    `sum(clicks)::float8 AS ${prefix}clicks`,
    `sum(unique_clicks)::float8 AS ${prefix}unique_clicks`,
    `sum(invalid_clicks)::float8 AS ${prefix}invalid_clicks`,
    `sum(score_sum)::float8 AS ${prefix}click_score_sum`,
  ].join(', ');

export const conversionSums = (prefix = '') =>
  [
    `sum(conversions)::float8 AS ${prefix}conversions`,
    `sum(approved)::float8 AS ${prefix}approved`,
    `sum(rejected)::float8 AS ${prefix}rejected`,
    `sum(held)::float8 AS ${prefix}held`,
    `sum(amount)::float8 AS ${prefix}amount`,
    `sum(sale_amount)::float8 AS ${prefix}sale_amount`,
    `sum(revenue)::float8 AS ${prefix}revenue`,
    `sum(payout)::float8 AS ${prefix}payout`,
    `sum(saved_payout)::float8 AS ${prefix}saved_payout`,
    `sum(saved_cost)::float8 AS ${prefix}saved_cost`,
    `sum(rejected_amount)::float8 AS ${prefix}rejected_amount`,
    `sum(ctit_known)::float8 AS ${prefix}ctit_known`,
    `sum(ctit_under_15s)::float8 AS ${prefix}ctit_under_15s`,
    `sum(ctit_over_24h)::float8 AS ${prefix}ctit_over_24h`,
    `sum(score_sum)::float8 AS ${prefix}conversion_score_sum`,
  ].join(', ');

/** `sum(r_<code>) AS r_<code>` for each code: reason counts carried through a grouping. */
export const reasonSums = (codes: readonly string[]) =>
  codes.map((c) => `sum(${reasonColumn(c)})::float8 AS ${reasonColumn(c)}`).join(', ');

/**
 * A `VALUES` list of (reason code, count) pairs: turns the rollups' one-column-per-reason into rows,
 * so a panel gets one series per reason code without naming any by hand.
 */
export function reasonRows(codes: readonly string[], count: (column: string) => string): string {
  return `(VALUES ${codes.map((c) => `('${c}', ${count(reasonColumn(c))})`).join(', ')})`;
}

/** Every reason code on either side, each once, counted over clicks and conversions together. */
export function allReasonRows(click: (column: string) => string, conversion: (column: string) => string): string {
  const codes = [...new Set([...CLICK_REASON_CODES, ...CONVERSION_REASON_CODES])];
  const rows = codes.map((code) => {
    const column = reasonColumn(code);
    const counts = [
      (CLICK_REASON_CODES as readonly string[]).includes(code) ? `coalesce(${click(column)}, 0)` : null,
      (CONVERSION_REASON_CODES as readonly string[]).includes(code) ? `coalesce(${conversion(column)}, 0)` : null,
    ];
    return `('${code}', ${counts.filter(Boolean).join(' + ')})`;
  });
  return `(VALUES ${rows.join(', ')})`;
}

/**
 * Click-to-conversion-time buckets (upper bounds, seconds): log-spaced, so click injection (seconds)
 * and click spamming (days) both stand out; 15 s and 24 h are the KPI boundaries of DESIGN §7.
 */
const CTIT_BOUNDS: [seconds: number, label: string][] = [
  [5, '5 s'],
  [15, '15 s'],
  [60, '1 min'],
  [600, '10 min'],
  [3600, '1 h'],
  [6 * 3600, '6 h'],
  [86400, '24 h'],
  [7 * 86400, '7 d'],
];

/** CTIT histogram: one row per bucket (empty ones included), a column per decision status. */
export function ctitHistogramSql(filter: string): string {
  const labels = CTIT_BOUNDS.map(([, label], i) => (i === 0 ? `< ${label}` : `${CTIT_BOUNDS[i - 1][1]} – ${label}`));
  labels.push(`≥ ${CTIT_BOUNDS[CTIT_BOUNDS.length - 1][1]}`);
  return `
    WITH d AS (
      SELECT width_bucket(ctit_seconds, ARRAY[${CTIT_BOUNDS.map(([s]) => s).join(', ')}]::float8[]) AS b, status
        FROM decisions
       WHERE $__timeFilter(ts) AND ctit_seconds IS NOT NULL${filter ? ` AND ${filter}` : ''}
    )
    SELECT l.label AS "CTIT",
           count(d.b) FILTER (WHERE d.status = 'approved')::float8 AS approved,
           count(d.b) FILTER (WHERE d.status = 'hold')::float8 AS hold,
           count(d.b) FILTER (WHERE d.status = 'rejected')::float8 AS rejected
      FROM (VALUES ${labels.map((l, i) => `(${i}, '${l}')`).join(', ')}) AS l(b, label)
      LEFT JOIN d ON d.b = l.b
     GROUP BY l.b, l.label
     ORDER BY l.b`;
}

/** Risk-score histogram in twenty 0.05 bands: each band's share of clicks and of conversions. */
export function scoreDistributionSql(filter: string): string {
  const and = filter ? ` AND ${filter}` : '';
  return `
    WITH c AS (
      SELECT least(floor(score * 20), 19)::int AS b, count(*)::float8 AS n FROM click_verdicts WHERE $__timeFilter(ts)${and} GROUP BY 1
    ), v AS (
      SELECT least(floor(score * 20), 19)::int AS b, count(*)::float8 AS n FROM decisions WHERE $__timeFilter(ts)${and} GROUP BY 1
    )
    SELECT to_char(g.b * 0.05, 'FM0.00') || '–' || to_char((g.b + 1) * 0.05, 'FM0.00') AS score,
           coalesce(c.n, 0) / nullif(sum(c.n) OVER (), 0) AS clicks,
           coalesce(v.n, 0) / nullif(sum(v.n) OVER (), 0) AS conversions
      FROM generate_series(0, 19) AS g(b)
      LEFT JOIN c ON c.b = g.b
      LEFT JOIN v ON v.b = g.b
     ORDER BY g.b`;
}

/**
 * Where freshness comes from: each kind of stored row, its table and the column saying when it
 * arrived. Engine-minted clicks and their verdicts skip the `ingest_ledger` (they are idempotent on
 * their tables' own keys), so the tables themselves are read, not the ledger.
 */
export const FRESHNESS = [
  { kind: 'click', table: 'clicks', arrived: 'received_at' },
  { kind: 'conversion', table: 'conversions', arrived: 'received_at' },
  { kind: 'click_verdict', table: 'click_verdicts', arrived: 'decided_at' },
  { kind: 'decision', table: 'decisions', arrived: 'decided_at' },
] as const;

/**
 * When the newest stored row of a kind arrived: the row with the latest time (the `ts` index every
 * hypertable has, and migration 0015 gives plain PostgreSQL), within the last day; NULL when none.
 */
export function newestStored(kind: (typeof FRESHNESS)[number]['kind']): string {
  const f = FRESHNESS.find((x) => x.kind === kind)!;
  return `(SELECT ${f.arrived} FROM ${f.table} WHERE ts > now() - interval '1 day' ORDER BY ts DESC LIMIT 1)`;
}
