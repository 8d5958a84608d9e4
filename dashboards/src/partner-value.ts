import { REASON_CODES, ReasonCode } from '@app/contracts';
import { reasonColumn } from '@app/storage';
import {
  Dashboard,
  DashboardBuilder,
  DashboardCursorSync,
  QueryVariableBuilder,
  RowBuilder,
  VariableRefresh,
  VariableSort,
} from '@grafana/grafana-foundation-sdk/dashboard';
import { DASHBOARD_UIDS, TIMESCALEDB } from './datasources';
import {
  ColumnOptions,
  arbiterLinks,
  barsPanel,
  dashboardUrl,
  field,
  finish,
  rightAxis,
  seriesPanel,
  statPanel,
  tablePanel,
  traffic,
} from './panels';
import { seriesSql, tableSql } from './sql-target';
import {
  ALL_VALUE,
  CLICK_REASON_CODES,
  CONVERSION_REASON_CODES,
  PARTNER_VARIABLES,
  allReasonRows,
  clickSums,
  conversionSums,
  ctitHistogramSql,
  partnerFilter,
  ratio,
  reasonSums,
  scoreDistributionSql,
} from './sql';

const F = partnerFilter();
const RATE_COLOURS = traffic(0.1, 0.25);

/** Catalog entries as `__value` (the id the SQL filters on) and `__text` (what the picker shows). */
function variable(v: (typeof PARTNER_VARIABLES)[number]): QueryVariableBuilder {
  // Offers narrow to the selected advertisers.
  const where = v.name === 'offer' ? ` WHERE (${ALL_VALUE} IN ($advertiser) OR advertiser_id IN ($advertiser))` : '';
  const sql = `SELECT id AS __value, name || ' (' || id || ')' AS __text FROM ${v.table}${where} ORDER BY name, id`;
  return new QueryVariableBuilder(v.name)
    .label(v.label)
    .datasource(TIMESCALEDB)
    .query(sql)
    .definition(sql)
    .multi(true)
    .includeAll(true)
    .allValue(ALL_VALUE)
    .current({ selected: true, text: ['All'], value: ['$__all'] })
    .refresh(VariableRefresh.OnDashboardLoad)
    .sort(VariableSort.Disabled);
}

/** The KPIs of DESIGN §7 over the whole range: click side and conversion side, one row. */
function totalsSql(select: string): string {
  return `
    SELECT ${select}
      FROM (SELECT ${clickSums()} FROM kpi_clicks_hourly WHERE $__timeFilter(bucket) AND ${F}) c
     CROSS JOIN (SELECT ${conversionSums()} FROM kpi_conversions_hourly WHERE $__timeFilter(bucket) AND ${F}) v`;
}

/** The same per interval: the two hourly rollups bucketed alike and joined on the bucket. */
function seriesOverTimeSql(select: string): string {
  return `
    WITH c AS (
      SELECT $__timeGroup(bucket, $__interval) AS t, ${clickSums()}
        FROM kpi_clicks_hourly WHERE $__timeFilter(bucket) AND ${F} GROUP BY 1
    ), v AS (
      SELECT $__timeGroup(bucket, $__interval) AS t, ${conversionSums()}
        FROM kpi_conversions_hourly WHERE $__timeFilter(bucket) AND ${F} GROUP BY 1
    )
    SELECT coalesce(c.t, v.t) AS "time", ${select}
      FROM c FULL JOIN v ON v.t = c.t
     ORDER BY 1`;
}

/** The KPIs by a grouping of the rollups' dimensions; optionally catalog names or the reason code that fired most. */
function breakdownSql(keys: string[], o: { names?: boolean; topReason?: boolean; order: string; limit: number }): string {
  // FULL JOIN needs a hashable condition: NULL keys (no sub-id) match through coalesce.
  const on = keys.map((k) => `coalesce(v.${k}, '') = coalesce(c.${k}, '')`).join(' AND ');
  const withReasons = o.topReason ?? false;
  const extra = [o.names ? 'p.name AS publisher, o.name AS offer,' : '', withReasons ? 'top.code AS top_reason,' : ''].join(' ');
  return `
    WITH c AS (
      SELECT ${keys.join(', ')}, ${clickSums()}${withReasons ? `, ${reasonSums(CLICK_REASON_CODES)}` : ''}
        FROM kpi_clicks_hourly WHERE $__timeFilter(bucket) AND ${F} GROUP BY ${keys.join(', ')}
    ), v AS (
      SELECT ${keys.join(', ')}, ${conversionSums()}${withReasons ? `, ${reasonSums(CONVERSION_REASON_CODES)}` : ''}
        FROM kpi_conversions_hourly WHERE $__timeFilter(bucket) AND ${F} GROUP BY ${keys.join(', ')}
    )
    SELECT ${keys.map((k) => `coalesce(c.${k}, v.${k}) AS ${k}`).join(', ')}, ${extra}
           coalesce(c.clicks, 0) AS clicks,
           ${ratio('c.invalid_clicks', 'c.clicks')} AS invalid_rate,
           coalesce(v.conversions, 0) AS conversions,
           ${ratio('v.conversions', 'c.clicks')} AS cr,
           ${ratio('v.approved', 'v.conversions')} AS approval_rate,
           coalesce(v.revenue, 0) AS revenue,
           coalesce(v.payout, 0) AS payout,
           coalesce(v.revenue, 0) - coalesce(v.payout, 0) AS margin,
           ${ratio('v.revenue - v.payout', 'v.revenue')} AS margin_rate,
           ${ratio('coalesce(v.payout, 0)', 'c.clicks')} AS epc,
           ${ratio('coalesce(v.revenue, 0)', 'c.clicks')} AS rpc,
           ${ratio('v.rejected', 'v.conversions')} AS fraud_rate,
           coalesce(v.saved_payout, 0) AS saved_payout,
           coalesce(v.saved_cost, 0) AS saved_cost
      FROM c FULL JOIN v ON ${on}
      ${o.names ? 'LEFT JOIN publishers p ON p.id = coalesce(c.publisher_id, v.publisher_id) LEFT JOIN offers o ON o.id = coalesce(c.offer_id, v.offer_id)' : ''}
      ${
        withReasons
          ? `LEFT JOIN LATERAL (SELECT r.code FROM ${allReasonRows(
              (x) => `c.${x}`,
              (x) => `v.${x}`,
            )} AS r(code, n) WHERE r.n > 0 ORDER BY r.n DESC, r.code LIMIT 1) top ON true`
          : ''
      }
     ORDER BY ${o.order}
     LIMIT ${o.limit}`;
}

const kpiColumns: Record<string, ColumnOptions> = {
  clicks: { title: 'Clicks', decimals: 0 },
  invalid_rate: { title: 'Invalid', unit: 'percentunit', decimals: 1, thresholds: RATE_COLOURS },
  conversions: { title: 'Conv.', decimals: 0 },
  cr: { title: 'CR', unit: 'percentunit', decimals: 2 },
  approval_rate: { title: 'Approved', unit: 'percentunit', decimals: 1 },
  revenue: { title: 'Revenue', decimals: 2 },
  payout: { title: 'Payout', decimals: 2 },
  margin: { title: 'Margin', decimals: 2 },
  margin_rate: { title: 'Margin %', unit: 'percentunit', decimals: 1 },
  epc: { title: 'EPC', decimals: 4 },
  rpc: { title: 'RPC', decimals: 4 },
  fraud_rate: { title: 'Rejected', unit: 'percentunit', decimals: 1, thresholds: RATE_COLOURS },
  saved_payout: { title: 'Saved payout', decimals: 2 },
  saved_cost: { title: 'Saved adv. cost', decimals: 2 },
};

const here = (vars: Record<string, string>) => dashboardUrl(DASHBOARD_UIDS.partnerValue, 'partner-value', vars);
const byPublisher = { title: 'Only ${__data.fields.publisher_id}', url: here({ publisher: field('publisher_id') }) };
const byOffer = { title: 'Only ${__data.fields.offer_id}', url: here({ offer: field('offer_id') }) };
const byAdvertiser = { title: 'Only ${__data.fields.advertiser_id}', url: here({ advertiser: field('advertiser_id') }) };

/** Reason codes fired for the selection, with what each means (from the code's own metadata). */
function reasonsSql(): string {
  const codes = [...new Set([...CLICK_REASON_CODES, ...CONVERSION_REASON_CODES])] as ReasonCode[];
  const quote = (s: string) => `'${s.replace(/'/g, "''")}'`;
  const rows = codes.map((code) => {
    const spec = REASON_CODES[code];
    const on = (codes: readonly string[], alias: string) => (codes.includes(code) ? `coalesce(${alias}.${reasonColumn(code)}, 0)` : '0');
    return `(${quote(code)}, ${quote(spec.title)}, ${quote(spec.category)}, ${quote(spec.severity)}, ${on(CLICK_REASON_CODES, 'c')}, ${on(CONVERSION_REASON_CODES, 'v')})`;
  });
  return `
    SELECT r.code AS reason, r.title AS meaning, r.category, r.severity, r.clicks, r.conversions
      FROM (SELECT ${reasonSums(CLICK_REASON_CODES)} FROM kpi_clicks_hourly WHERE $__timeFilter(bucket) AND ${F}) c
     CROSS JOIN (SELECT ${reasonSums(CONVERSION_REASON_CODES)} FROM kpi_conversions_hourly WHERE $__timeFilter(bucket) AND ${F}) v
     CROSS JOIN LATERAL (VALUES ${rows.join(', ')}) AS r(code, title, category, severity, clicks, conversions)
     WHERE r.clicks + r.conversions > 0
     ORDER BY r.clicks + r.conversions DESC, r.code`;
}

/** Partner value: what the selected publishers, offers and advertisers earn, cost and risk. */
export function partnerValue(): Dashboard {
  const hourly = { interval: '1h' };
  const stat = (title: string, select: string, o: Parameters<typeof statPanel>[2] = {}) => statPanel(title, tableSql(totalsSql(select)), o);
  const builder = new DashboardBuilder('Arbiter — Partner value')
    .uid(DASHBOARD_UIDS.partnerValue)
    .description('DESIGN §7 KPIs for the selected publishers, offers and advertisers, from the hourly and daily rollups.')
    .tags(['arbiter', 'kpi', 'partners'])
    .time({ from: 'now-7d', to: 'now' })
    .refresh('5m')
    .timezone('browser')
    .tooltip(DashboardCursorSync.Crosshair)
    .link(arbiterLinks());
  for (const v of PARTNER_VARIABLES) builder.withVariable(variable(v));

  builder
    .withRow(new RowBuilder('Volume and quality'))
    .withPanel(stat('Clicks', `c.clicks AS "Clicks"`, { decimals: 0 }))
    .withPanel(
      stat('Invalid click rate', `${ratio('c.invalid_clicks', 'c.clicks')} AS "Invalid"`, {
        unit: 'percentunit',
        decimals: 1,
        thresholds: RATE_COLOURS,
      }),
    )
    .withPanel(stat('Conversions', `v.conversions AS "Conversions"`, { decimals: 0 }))
    .withPanel(stat('Conversion rate', `${ratio('v.conversions', 'c.clicks')} AS "CR"`, { unit: 'percentunit', decimals: 2 }))
    .withPanel(stat('Approval rate', `${ratio('v.approved', 'v.conversions')} AS "Approved"`, { unit: 'percentunit', decimals: 1 }))
    .withPanel(
      stat('Fraud rate (count)', `${ratio('v.rejected', 'v.conversions')} AS "Rejected"`, {
        unit: 'percentunit',
        decimals: 1,
        thresholds: RATE_COLOURS,
        description: 'Rejected conversions over all conversions.',
      }),
    )
    .withPanel(
      stat('Fraud rate (amount)', `${ratio('v.rejected_amount', 'v.amount')} AS "Rejected amount"`, {
        unit: 'percentunit',
        decimals: 1,
        thresholds: RATE_COLOURS,
        description: 'Advertiser amount of rejected conversions over the amount of all conversions.',
      }),
    )
    .withPanel(
      stat('Saved payout', `v.saved_payout AS "Saved payout"`, { decimals: 2, description: 'Payout withheld on rejected conversions.' }),
    )
    .withPanel(
      stat('Saved advertiser cost', `v.saved_cost AS "Saved advertiser cost"`, {
        decimals: 2,
        description: 'Revenue not billed to advertisers because their conversions were rejected.',
      }),
    )
    .withRow(new RowBuilder('Money'))
    .withPanel(
      stat('Sale amount', `v.sale_amount AS "Sale amount"`, {
        decimals: 2,
        description: 'What shoppers paid advertisers, on approved conversions.',
      }),
    )
    .withPanel(
      stat('Revenue', `v.revenue AS "Revenue"`, {
        decimals: 2,
        description: 'What advertisers owe the network for approved conversions (each offer’s revenue model: fixed CPA or % of sale).',
      }),
    )
    .withPanel(
      stat('Payout', `v.payout AS "Payout"`, {
        decimals: 2,
        description: 'What the network owes publishers for approved conversions (offer or publisher payout: fixed or % of sale).',
      }),
    )
    .withPanel(stat('Margin', `v.revenue - v.payout AS "Margin"`, { decimals: 2, description: 'Revenue − payout.' }))
    .withPanel(stat('Margin %', `${ratio('v.revenue - v.payout', 'v.revenue')} AS "Margin %"`, { unit: 'percentunit', decimals: 1 }))
    .withPanel(stat('EPC', `${ratio('v.payout', 'c.clicks')} AS "EPC"`, { decimals: 4, description: 'Earnings (payout) per click.' }))
    .withPanel(stat('RPC', `${ratio('v.revenue', 'c.clicks')} AS "RPC"`, { decimals: 4, description: 'Revenue per click.' }))
    .withPanel(
      statPanel(
        'CTIT median',
        tableSql(`
          SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY ctit_seconds) AS "CTIT median"
            FROM decisions
           WHERE $__timeFilter(ts) AND ctit_seconds IS NOT NULL AND ${F}`),
        { unit: 's', description: 'Median click-to-conversion time of the conversions in the range.' },
      ),
    )
    .withPanel(
      stat(
        'Average risk score',
        `${ratio('c.click_score_sum', 'c.clicks')} AS clicks, ${ratio('v.conversion_score_sum', 'v.conversions')} AS conversions`,
        {
          decimals: 3,
          description: 'Mean risk score (0–1) of clicks and of conversions.',
        },
      ),
    )

    .withRow(new RowBuilder('Over time'))
    .withPanel(
      seriesPanel(
        'Revenue, payout and margin',
        [
          seriesSql(
            seriesOverTimeSql(
              `coalesce(v.revenue, 0) AS revenue, coalesce(v.payout, 0) AS payout, coalesce(v.revenue, 0) - coalesce(v.payout, 0) AS margin, coalesce(v.saved_payout, 0) AS "saved payout", coalesce(v.saved_cost, 0) AS "saved advertiser cost"`,
            ),
          ),
        ],
        { ...hourly, decimals: 2 },
      ),
    )
    .withPanel(
      seriesPanel(
        'EPC and RPC',
        [
          seriesSql(
            seriesOverTimeSql(
              `${ratio('coalesce(v.payout, 0)', 'c.clicks')} AS "EPC", ${ratio('coalesce(v.revenue, 0)', 'c.clicks')} AS "RPC"`,
            ),
          ),
        ],
        { ...hourly, decimals: 4 },
      ),
    )
    .withPanel(
      seriesPanel(
        'Conversion, approval and fraud rates',
        [
          seriesSql(
            seriesOverTimeSql(
              [
                `${ratio('v.conversions', 'c.clicks')} AS "conversion rate"`,
                `${ratio('v.approved', 'v.conversions')} AS "approval rate"`,
                `${ratio('v.rejected', 'v.conversions')} AS "fraud rate (count)"`,
                `${ratio('v.rejected_amount', 'v.amount')} AS "fraud rate (amount)"`,
                `${ratio('c.invalid_clicks', 'c.clicks')} AS "invalid click rate"`,
              ].join(', '),
            ),
          ),
        ],
        { ...hourly, unit: 'percentunit', decimals: 1 },
      ),
    )
    .withPanel(
      rightAxis(
        seriesPanel(
          'Click-to-conversion time',
          [
            seriesSql(`
              SELECT $__timeGroupAlias(bucket, $__interval), ${ratio('sum(ctit_under_15s)', 'sum(ctit_known)')} AS "share < 15 s",
                     ${ratio('sum(ctit_over_24h)', 'sum(ctit_known)')} AS "share > 24 h"
                FROM kpi_conversions_hourly WHERE $__timeFilter(bucket) AND ${F} GROUP BY 1 ORDER BY 1`),
            seriesSql(
              `
              SELECT $__timeGroupAlias(ts, $__interval), percentile_cont(0.5) WITHIN GROUP (ORDER BY ctit_seconds) AS median
                FROM decisions WHERE $__timeFilter(ts) AND ctit_seconds IS NOT NULL AND ${F} GROUP BY 1 ORDER BY 1`,
              'B',
            ),
          ],
          {
            ...hourly,
            unit: 'percentunit',
            decimals: 1,
            description: 'Shares of conversions under 15 s and over 24 h (left), median CTIT (right).',
          },
        ),
        '^median$',
        's',
      ),
    )
    .withPanel(
      seriesPanel(
        'Risk score over time',
        [
          seriesSql(
            seriesOverTimeSql(
              `${ratio('c.click_score_sum', 'c.clicks')} AS clicks, ${ratio('v.conversion_score_sum', 'v.conversions')} AS conversions`,
            ),
          ),
        ],
        { ...hourly, decimals: 3 },
      ),
    )
    .withPanel(
      seriesPanel(
        'Revenue and payout per day',
        [
          seriesSql(`
            SELECT $__timeGroupAlias(bucket, $__interval), sum(revenue)::float8 AS revenue, sum(payout)::float8 AS payout, sum(saved_payout)::float8 AS "saved payout"
              FROM kpi_conversions_daily
             WHERE bucket >= date_bin('1 day', $__timeFrom()::timestamptz, TIMESTAMPTZ '2000-01-01 00:00:00+00') AND bucket <= $__timeTo() AND ${F}
             GROUP BY 1 ORDER BY 1`),
        ],
        {
          interval: '1d',
          bars: true,
          decimals: 2,
          description: 'From the daily rollup: whole UTC days, including the day the range starts in.',
        },
      ),
    )

    .withRow(new RowBuilder('Breakdown'))
    .withPanel(
      tablePanel(
        'By publisher and offer',
        tableSql(
          breakdownSql(['publisher_id', 'offer_id', 'advertiser_id'], { names: true, order: 'revenue DESC, clicks DESC', limit: 200 }),
        ),
        {
          publisher_id: { title: 'Publisher', link: byPublisher },
          publisher: { title: 'Publisher name' },
          offer_id: { title: 'Offer', link: byOffer },
          offer: { title: 'Offer name' },
          advertiser_id: { title: 'Advertiser', link: byAdvertiser },
          ...kpiColumns,
        },
        { w: 24, h: 12, description: 'Click an id to narrow the dashboard to it.' },
      ),
    )
    .withPanel(
      tablePanel(
        'By sub-id',
        tableSql(breakdownSql(['publisher_id', 'sub_id'], { topReason: true, order: 'clicks DESC', limit: 100 })),
        {
          publisher_id: { title: 'Publisher', link: byPublisher },
          sub_id: { title: 'Sub-id' },
          top_reason: { title: 'Top reason' },
          ...kpiColumns,
        },
        { w: 24, h: 10, description: 'Placements inside the selected publishers, busiest first.' },
      ),
    )
    .withPanel(
      tablePanel(
        'Reason codes',
        tableSql(reasonsSql()),
        {
          reason: { title: 'Code' },
          meaning: { title: 'Meaning' },
          category: { title: 'Category', width: 90 },
          severity: { title: 'Severity', width: 90 },
          clicks: { title: 'Clicks', decimals: 0, width: 90 },
          conversions: { title: 'Conversions', decimals: 0, width: 110 },
        },
        {
          w: 12,
          h: 10,
          description: 'How often each reason code fired on the selection’s clicks and conversions (docs/reason-codes.md explains them).',
        },
      ),
    )
    .withPanel(
      barsPanel('CTIT distribution', tableSql(ctitHistogramSql(F)), 'CTIT', {
        stacked: true,
        decimals: 0,
        w: 12,
        h: 10,
        description: 'By final status.',
      }),
    )
    .withPanel(
      barsPanel('Risk score distribution', tableSql(scoreDistributionSql(F)), 'score', {
        unit: 'percentunit',
        decimals: 1,
        w: 24,
        h: 8,
        description: 'Share of the selection’s clicks and conversions in each 0.05 band of the risk score.',
      }),
    );
  return finish(builder);
}
