import { Dashboard, DashboardBuilder, DashboardCursorSync, RowBuilder } from '@grafana/grafana-foundation-sdk/dashboard';
import { DASHBOARD_UIDS } from './datasources';
import { arbiterLinks, barsPanel, dashboardUrl, field, finish, rightAxis, seriesPanel, statPanel, tablePanel, traffic } from './panels';
import { seriesSql, tableSql } from './sql-target';
import {
  CLICK_REASON_CODES,
  CONVERSION_REASON_CODES,
  allReasonRows,
  clickSums,
  conversionSums,
  ctitHistogramSql,
  ratio,
  reasonRows,
  reasonSums,
  scoreDistributionSql,
} from './sql';

/** Precision below these turns a cell orange, then red. */
const PRECISION_COLOURS = [
  { value: null, color: 'red' },
  { value: 0.5, color: 'orange' },
  { value: 0.8, color: 'green' },
];

/** Rates above these turn a cell orange, then red (share of clicks or conversions). */
const RATE_COLOURS = traffic(0.1, 0.25);

/** Drill-down from a row to the Partner value dashboard, filtered to the row's publisher. */
/**
 * Enforcement blocks in force: the latest rule-set version's `blocks`, neither lifted nor past
 * their end (DESIGN §12). The configuration is the record of truth; each block is one JSON entry.
 */
export const ENFORCEMENT_BLOCKS_SQL = `
  SELECT b->>'publisherId' AS publisher_id, coalesce(b->>'subId', '(all)') AS sub_id,
         coalesce('offer ' || (b->>'offerId'), 'network') AS scope, b->>'policy' AS policy,
         CASE b->'evidence'->>'metric' WHEN 'invalidRate' THEN 'invalid click rate' ELSE 'rejection rate' END AS metric,
         (b->'evidence'->>'rate')::float8 AS rate, (b->'evidence'->>'maxRate')::float8 AS "limit",
         (b->'evidence'->>'sample')::float8 AS sample,
         (b->>'createdAt')::timestamptz AS since, (b->>'until')::timestamptz AS until, b->>'id' AS block_id
    FROM jsonb_array_elements(coalesce((SELECT config->'blocks' FROM ruleset_versions ORDER BY version DESC LIMIT 1), '[]'::jsonb)) b
   WHERE b->>'liftedAt' IS NULL AND (b->>'until')::timestamptz > now()
   ORDER BY since DESC
   LIMIT 100`;

const toPartner = {
  title: 'Partner value of ${__data.fields.publisher_id}',
  url: dashboardUrl(DASHBOARD_UIDS.partnerValue, 'partner-value', { publisher: field('publisher_id') }),
};

/** One time series per reason code that fired in the range (long form: time, metric, value). */
function reasonSeriesSql(rollup: string, codes: readonly string[]): string {
  return `
    SELECT "time", metric, value FROM (
      SELECT $__timeGroupAlias(bucket, $__interval), r.code AS metric, sum(r.n)::float8 AS value,
             sum(sum(r.n)) OVER (PARTITION BY r.code) AS total
        FROM ${rollup}
       CROSS JOIN LATERAL ${reasonRows(codes, (column) => column)} AS r(code, n)
       WHERE $__timeFilter(bucket)
       GROUP BY 1, 2
    ) s
    WHERE total > 0
    ORDER BY 1, 2`;
}

/**
 * The riskiest partners over the range: flagged traffic (invalid clicks plus rejected conversions)
 * first, with the rates that explain it and the reason code that fired most.
 */
function riskiestSql(keys: string[], limit: number): string {
  // FULL JOIN needs a hashable condition: NULL keys (no sub-id) match through coalesce.
  const on = keys.map((k) => `coalesce(v.${k}, '') = coalesce(c.${k}, '')`).join(' AND ');
  const select = keys.map((k) => `coalesce(c.${k}, v.${k}) AS ${k}`).join(', ');
  return `
    WITH c AS (
      SELECT ${keys.join(', ')}, ${clickSums()}, ${reasonSums(CLICK_REASON_CODES)}
        FROM kpi_clicks_hourly
       WHERE $__timeFilter(bucket)
       GROUP BY ${keys.join(', ')}
    ), v AS (
      SELECT ${keys.join(', ')}, ${conversionSums()}, ${reasonSums(CONVERSION_REASON_CODES)}
        FROM kpi_conversions_hourly
       WHERE $__timeFilter(bucket) AND publisher_id IS NOT NULL
       GROUP BY ${keys.join(', ')}
    )
    SELECT ${select},
           p.name AS publisher,
           coalesce(c.invalid_clicks, 0) + coalesce(v.rejected, 0) AS flagged,
           coalesce(c.clicks, 0) AS clicks,
           ${ratio('c.invalid_clicks', 'c.clicks')} AS invalid_rate,
           coalesce(v.conversions, 0) AS conversions,
           ${ratio('v.rejected', 'v.conversions')} AS fraud_rate,
           ${ratio('v.rejected_amount', 'v.amount')} AS fraud_rate_amount,
           coalesce(v.saved_payout, 0) AS saved_payout,
           coalesce(v.saved_cost, 0) AS saved_cost,
           ${ratio('c.click_score_sum', 'c.clicks')} AS avg_click_score,
           top.code AS top_reason
      FROM c
      FULL JOIN v ON ${on}
      LEFT JOIN publishers p ON p.id = coalesce(c.publisher_id, v.publisher_id)
      LEFT JOIN LATERAL (
        SELECT r.code
          FROM ${allReasonRows(
            (column) => `c.${column}`,
            (column) => `v.${column}`,
          )} AS r(code, n)
         WHERE r.n > 0
         ORDER BY r.n DESC, r.code
         LIMIT 1
      ) top ON true
     ORDER BY flagged DESC, clicks DESC
     LIMIT ${limit}`;
}

const riskColumns = {
  publisher: { title: 'Publisher name' },
  flagged: { title: 'Flagged events', decimals: 0 },
  clicks: { title: 'Clicks', decimals: 0 },
  invalid_rate: { title: 'Invalid clicks', unit: 'percentunit', decimals: 1, thresholds: RATE_COLOURS },
  conversions: { title: 'Conversions', decimals: 0 },
  fraud_rate: { title: 'Rejected conv.', unit: 'percentunit', decimals: 1, thresholds: RATE_COLOURS },
  fraud_rate_amount: { title: 'Rejected amount', unit: 'percentunit', decimals: 1 },
  saved_payout: { title: 'Saved payout', decimals: 2 },
  saved_cost: { title: 'Saved adv. cost', decimals: 2 },
  avg_click_score: { title: 'Avg click risk', decimals: 2 },
  top_reason: { title: 'Top reason' },
};

/** Open holds: the decisions waiting for their timer, the advertiser or an analyst. */
const OPEN_HOLDS = `FROM decisions WHERE status = 'hold'`;

/**
 * Size of the hold queue over the range. A hold opens with its decision (the conversion's time)
 * and closes with its first transition out of `hold`; only holds open at some point of the range
 * are read: the ones still open, and the ones closed since the range began.
 */
const HOLD_QUEUE_SQL = `
  WITH holds AS (
    SELECT ts AS opened, NULL::timestamptz AS closed FROM decisions WHERE status = 'hold'
    UNION ALL
    SELECT d.ts, x.decided_at
      FROM decision_transitions x
      JOIN decisions d ON d.conversion_id = x.conversion_id
     WHERE x.from_status = 'hold' AND x.decided_at >= $__timeFrom()
  ), changes AS (
    SELECT $__timeFrom()::timestamptz AS at, count(*)::float8 AS delta
      FROM holds WHERE opened < $__timeFrom() AND (closed IS NULL OR closed >= $__timeFrom())
    UNION ALL
    SELECT opened, 1 FROM holds WHERE opened >= $__timeFrom() AND opened <= $__timeTo()
    UNION ALL
    SELECT closed, -1 FROM holds WHERE closed >= $__timeFrom() AND closed <= $__timeTo()
  )
  SELECT "time", sum(delta) OVER (ORDER BY "time") AS "open holds"
    FROM (SELECT $__timeGroupAlias(at, $__interval), sum(delta) AS delta FROM changes GROUP BY 1) s
   ORDER BY 1`;

/**
 * Labelled outcomes of the range, one row per labelled click or conversion with the codes that fired:
 * a conversion's truth is its latest feedback (advertiser or analyst), else its stored label (admin
 * files); a click's is its stored label. The same rule as GET /v1/admin/rulesets/quality.
 */
const LABELLED = `
  SELECT * FROM (
    SELECT 'conversion' AS kind, d.ts, d.reason_codes,
           coalesce((SELECT CASE f.status WHEN 'rejected' THEN 'fraud' ELSE 'legit' END FROM feedback f
                      WHERE f.conversion_id = d.conversion_id ORDER BY f.ts DESC, f.received_at DESC LIMIT 1), c.label) AS label
      FROM decisions d LEFT JOIN conversions c ON c.id = d.conversion_id AND c.ts = d.ts
     WHERE $__timeFilter(d.ts)
    UNION ALL
    SELECT 'click', c.ts, v.reason_codes, c.label
      FROM clicks c JOIN click_verdicts v ON v.click_id = c.id AND v.ts = c.ts
     WHERE $__timeFilter(c.ts) AND c.label IS NOT NULL
  ) o WHERE label IN ('fraud', 'legit')`;

/** Codes that are the human verdict itself, not a detector. */
const HUMAN_CODES = `('ANALYST_OVERRIDE', 'ADVERTISER_REJECTED')`;

const RULE_QUALITY_SQL = `
  WITH l AS (${LABELLED}),
       fraud AS (SELECT kind, count(*) FILTER (WHERE label = 'fraud') AS n FROM l GROUP BY 1)
  SELECT l.kind, r.code, count(*)::float8 AS fired,
         (count(*) FILTER (WHERE l.label = 'fraud'))::float8 AS true_positives,
         (count(*) FILTER (WHERE l.label = 'fraud'))::float8 / count(*) AS precision,
         (count(*) FILTER (WHERE l.label = 'fraud'))::float8 / nullif(min(fraud.n), 0) AS recall
    FROM l
   CROSS JOIN LATERAL unnest(l.reason_codes) AS r(code)
    JOIN fraud ON fraud.kind = l.kind
   WHERE r.code NOT IN ${HUMAN_CODES}
   GROUP BY 1, 2
   ORDER BY 1, 3 DESC, 2
   LIMIT 60`;

const RULE_PRECISION_SQL = `
  WITH l AS (${LABELLED})
  SELECT $__timeGroupAlias(l.ts, $__interval), r.code AS metric,
         (count(*) FILTER (WHERE l.label = 'fraud'))::float8 / count(*) AS value
    FROM l
   CROSS JOIN LATERAL unnest(l.reason_codes) AS r(code)
   WHERE l.kind = 'conversion' AND r.code NOT IN ${HUMAN_CODES}
   GROUP BY 1, 2
   ORDER BY 1, 2`;

/** Risk overview: the whole network's traffic quality, who drives it, what it saves, what waits. */
export function riskOverview(): Dashboard {
  const hourly = { interval: '1h' };
  const builder = new DashboardBuilder('Arbiter — Risk overview')
    .uid(DASHBOARD_UIDS.riskOverview)
    .description('Traffic quality across the network: invalid traffic, rejection reasons, the riskiest partners, saved payout, hold queue.')
    .tags(['arbiter', 'fraud', 'risk'])
    .time({ from: 'now-24h', to: 'now' })
    .refresh('1m')
    .timezone('browser')
    .tooltip(DashboardCursorSync.Crosshair)
    .link(arbiterLinks())

    .withPanel(
      statPanel('Clicks', tableSql(`SELECT sum(clicks)::float8 AS "Clicks" FROM kpi_clicks_hourly WHERE $__timeFilter(bucket)`), {
        w: 4,
        decimals: 0,
      }),
    )
    .withPanel(
      statPanel(
        'Invalid click rate',
        tableSql(
          `SELECT ${ratio('sum(invalid_clicks)', 'sum(clicks)')} AS "Invalid click rate" FROM kpi_clicks_hourly WHERE $__timeFilter(bucket)`,
        ),
        { w: 4, unit: 'percentunit', decimals: 1, thresholds: RATE_COLOURS },
      ),
    )
    .withPanel(
      statPanel(
        'Conversions',
        tableSql(`SELECT sum(conversions)::float8 AS "Conversions" FROM kpi_conversions_hourly WHERE $__timeFilter(bucket)`),
        {
          w: 4,
          decimals: 0,
        },
      ),
    )
    .withPanel(
      statPanel(
        'Conversion rejection rate',
        tableSql(
          `SELECT ${ratio('sum(rejected)', 'sum(conversions)')} AS "Rejected" FROM kpi_conversions_hourly WHERE $__timeFilter(bucket)`,
        ),
        {
          w: 4,
          unit: 'percentunit',
          decimals: 1,
          thresholds: RATE_COLOURS,
          description: 'Fraud rate by count: rejected conversions over all conversions.',
        },
      ),
    )
    .withPanel(
      statPanel(
        'Saved payout',
        tableSql(`SELECT sum(saved_payout)::float8 AS "Saved payout" FROM kpi_conversions_hourly WHERE $__timeFilter(bucket)`),
        {
          w: 4,
          decimals: 2,
          description: 'Publisher payout withheld on rejected conversions, in the conversions’ currency.',
        },
      ),
    )
    .withPanel(
      statPanel('Open holds', tableSql(`SELECT count(*)::float8 AS "Open holds" ${OPEN_HOLDS}`), {
        w: 4,
        decimals: 0,
        description: 'Conversions on hold now, whatever the time range.',
      }),
    )

    .withRow(new RowBuilder('Traffic quality'))
    .withPanel(
      rightAxis(
        seriesPanel(
          'Traffic',
          [
            seriesSql(`
              SELECT $__timeGroupAlias(bucket, $__interval), sum(clicks)::float8 AS clicks, sum(invalid_clicks)::float8 AS "invalid clicks"
                FROM kpi_clicks_hourly WHERE $__timeFilter(bucket) GROUP BY 1 ORDER BY 1`),
            seriesSql(
              `
              SELECT $__timeGroupAlias(bucket, $__interval), sum(conversions)::float8 AS conversions, sum(rejected)::float8 AS "rejected conversions"
                FROM kpi_conversions_hourly WHERE $__timeFilter(bucket) GROUP BY 1 ORDER BY 1`,
              'B',
            ),
          ],
          { ...hourly, decimals: 0, description: 'Clicks (left axis) and conversions (right axis) per interval, from the hourly rollups.' },
        ),
        'conversions',
      ),
    )
    .withPanel(
      seriesPanel(
        'Invalid and rejection rates',
        [
          seriesSql(`
            SELECT $__timeGroupAlias(bucket, $__interval), ${ratio('sum(invalid_clicks)', 'sum(clicks)')} AS "invalid clicks"
              FROM kpi_clicks_hourly WHERE $__timeFilter(bucket) GROUP BY 1 ORDER BY 1`),
          seriesSql(
            `
            SELECT $__timeGroupAlias(bucket, $__interval), ${ratio('sum(rejected)', 'sum(conversions)')} AS "rejected conversions",
                   ${ratio('sum(rejected_amount)', 'sum(amount)')} AS "rejected amount"
              FROM kpi_conversions_hourly WHERE $__timeFilter(bucket) GROUP BY 1 ORDER BY 1`,
            'B',
          ),
        ],
        {
          ...hourly,
          unit: 'percentunit',
          decimals: 1,
          description: 'Share of clicks judged invalid; share of conversions (and of their amount) rejected.',
        },
      ),
    )
    .withPanel(
      seriesPanel('Reason codes on clicks', [seriesSql(reasonSeriesSql('kpi_clicks_hourly', CLICK_REASON_CODES))], {
        ...hourly,
        bars: true,
        stacked: true,
        decimals: 0,
        legendCalcs: ['sum'],
        h: 10,
        description: 'Clicks each reason code fired on (a click can carry several). Codes that never fired in the range are left out.',
      }),
    )
    .withPanel(
      seriesPanel('Reason codes on conversions', [seriesSql(reasonSeriesSql('kpi_conversions_hourly', CONVERSION_REASON_CODES))], {
        ...hourly,
        bars: true,
        stacked: true,
        decimals: 0,
        legendCalcs: ['sum'],
        h: 10,
        description: 'Conversions each reason code fired on, whatever their final status.',
      }),
    )

    .withRow(new RowBuilder('Riskiest partners'))
    .withPanel(
      tablePanel(
        'Riskiest publishers',
        tableSql(riskiestSql(['publisher_id'], 25)),
        { publisher_id: { title: 'Publisher', link: toPartner }, ...riskColumns },
        {
          w: 24,
          description:
            'Publishers with the most flagged traffic (invalid clicks + rejected conversions). Click a publisher for its partner value.',
        },
      ),
    )
    .withPanel(
      tablePanel(
        'Riskiest sub-ids',
        tableSql(riskiestSql(['publisher_id', 'sub_id'], 25)),
        { publisher_id: { title: 'Publisher', link: toPartner }, sub_id: { title: 'Sub-id', link: toPartner }, ...riskColumns },
        { w: 24, description: 'The same by publisher and sub-id: the placement inside a publisher that sends the bad traffic.' },
      ),
    )
    .withPanel(
      tablePanel(
        'Enforcement blocks',
        tableSql(ENFORCEMENT_BLOCKS_SQL),
        {
          publisher_id: { title: 'Publisher', link: toPartner },
          sub_id: { title: 'Sub-id' },
          scope: { title: 'Blocked on' },
          policy: { title: 'Policy' },
          metric: { title: 'Measured' },
          rate: { title: 'Rate', unit: 'percentunit', decimals: 1 },
          limit: { title: 'Limit', unit: 'percentunit', decimals: 1 },
          sample: { title: 'Sample', decimals: 0 },
          since: { title: 'Since', unit: 'dateTimeAsIso' },
          until: { title: 'Until', unit: 'dateTimeAsIso' },
          block_id: { title: 'Block' },
        },
        {
          w: 24,
          h: 8,
          description:
            'Publishers and sub-ids the rule sets’ enforcement policies block now, with the rate that blocked them. Lift one with POST /v1/admin/enforcement/blocks/{id}/lift.',
        },
      ),
    )

    .withRow(new RowBuilder('Money and behaviour'))
    .withPanel(
      seriesPanel(
        'Payout paid and saved, advertiser cost saved',
        [
          seriesSql(`
            SELECT $__timeGroupAlias(bucket, $__interval), sum(payout)::float8 AS "payout (approved)", sum(saved_payout)::float8 AS "saved payout (rejected)", sum(saved_cost)::float8 AS "saved advertiser cost (rejected)"
              FROM kpi_conversions_hourly WHERE $__timeFilter(bucket) GROUP BY 1 ORDER BY 1`),
        ],
        {
          ...hourly,
          bars: true,
          decimals: 2,
          w: 8,
          description: 'Payout on approved conversions; payout withheld and advertiser revenue not billed on rejected ones.',
        },
      ),
    )
    .withPanel(
      barsPanel('CTIT distribution', tableSql(ctitHistogramSql('')), 'CTIT', {
        stacked: true,
        decimals: 0,
        w: 8,
        description:
          'Click-to-conversion time of conversions in the range, by final status. A peak under 15 s is click injection; a long flat tail past 24 h is click spamming.',
      }),
    )
    .withPanel(
      barsPanel('Risk score distribution', tableSql(scoreDistributionSql('')), 'score', {
        unit: 'percentunit',
        decimals: 1,
        w: 8,
        description: 'Share of clicks and of conversions in each 0.05 band of the risk score.',
      }),
    )

    .withRow(new RowBuilder('Rules: quality and shadow'))
    .withPanel(
      tablePanel(
        'Rule precision and recall',
        tableSql(RULE_QUALITY_SQL),
        {
          kind: { title: 'On', width: 100 },
          code: { title: 'Reason code' },
          fired: { title: 'Fired on labelled', decimals: 0 },
          true_positives: { title: 'On fraud', decimals: 0 },
          precision: { title: 'Precision', unit: 'percentunit', decimals: 1, thresholds: PRECISION_COLOURS },
          recall: { title: 'Recall', unit: 'percentunit', decimals: 1 },
        },
        {
          description:
            'Each reason code on labelled traffic of the range (advertiser feedback, analyst decisions, admin labels): precision = share of the labelled events it fired on that were fraud; recall = share of the labelled fraud it fired on. Monitor-only firings count: this is how a rule earns enforcement. API: GET /v1/admin/rulesets/quality.',
        },
      ),
    )
    .withPanel(
      seriesPanel('Rule precision over time (conversions)', [seriesSql(RULE_PRECISION_SQL)], {
        interval: '1h',
        unit: 'percentunit',
        decimals: 1,
        description: 'Per reason code, the share of labelled conversions it fired on that were fraud, per interval.',
      }),
    )
    .withPanel(
      seriesPanel(
        'Shadow rule set: disagreement rate',
        [
          seriesSql(`
            SELECT $__timeGroupAlias(decided_at, $__interval), shadow_version AS metric,
                   avg(CASE WHEN agree THEN 0 ELSE 1 END)::float8 AS value
              FROM shadow_outcomes
             WHERE $__timeFilter(decided_at)
             GROUP BY 1, 2
             ORDER BY 1, 2`),
        ],
        {
          interval: '5m',
          unit: 'percentunit',
          decimals: 2,
          description:
            'Share of live clicks and conversions a shadow rule set would have judged differently from the active one (PUT /v1/admin/rulesets/shadow; promote with POST /v1/admin/rulesets/shadow/promote).',
        },
      ),
    )
    .withPanel(
      tablePanel(
        'Shadow rule set: latest disagreements',
        tableSql(`
          SELECT decided_at, shadow_version, kind, event_id, publisher_id, offer_id, active_status, shadow_status,
                 array_to_string(active_codes, ', ') AS active_reasons, array_to_string(shadow_codes, ', ') AS shadow_reasons,
                 coalesce(payout, 0)::float8 AS payout
            FROM shadow_outcomes
           WHERE $__timeFilter(decided_at) AND NOT agree
           ORDER BY decided_at DESC, event_id
           LIMIT 50`),
        {
          decided_at: { title: 'Decided', unit: 'dateTimeAsIso' },
          shadow_version: { title: 'Shadow' },
          kind: { title: 'On' },
          event_id: { title: 'Event' },
          publisher_id: { title: 'Publisher', link: toPartner },
          offer_id: { title: 'Offer' },
          active_status: { title: 'Active' },
          shadow_status: { title: 'Shadow would' },
          active_reasons: { title: 'Active reasons' },
          shadow_reasons: { title: 'Shadow reasons' },
          payout: { title: 'Payout (0 on clicks)', decimals: 2 },
        },
        {
          description:
            'What the shadow rule set would have changed, newest first. Recorded only: nothing here reached an advertiser or a publisher.',
        },
      ),
    )

    .withRow(new RowBuilder('Hold queue'))
    .withPanel(
      statPanel('Payout on hold', tableSql(`SELECT coalesce(sum(payout), 0)::float8 AS "Payout on hold" ${OPEN_HOLDS}`), {
        w: 4,
        decimals: 2,
      }),
    )
    .withPanel(
      statPanel('Oldest open hold', tableSql(`SELECT extract(epoch FROM now() - min(ts))::float8 AS "Oldest open hold" ${OPEN_HOLDS}`), {
        w: 4,
        unit: 's',
        description: 'Time since the oldest open hold’s conversion.',
      }),
    )
    .withPanel(
      statPanel('Overdue holds', tableSql(`SELECT count(*)::float8 AS "Overdue holds" ${OPEN_HOLDS} AND hold_until < now()`), {
        w: 4,
        decimals: 0,
        thresholds: [
          { value: null, color: 'green' },
          { value: 1, color: 'red' },
        ],
        description: 'Holds whose timer has passed but that are still open: the scorer is not resolving them.',
      }),
    )
    .withPanel(
      seriesPanel('Hold queue size', [seriesSql(HOLD_QUEUE_SQL)], {
        interval: '5m',
        stepped: true,
        decimals: 0,
        w: 12,
        description: 'Conversions on hold at each moment of the range.',
      }),
    )
    .withPanel(
      tablePanel(
        'Oldest open holds',
        tableSql(`
          SELECT conversion_id, ts AS held_since, hold_until, publisher_id, sub_id, offer_id, advertiser_id,
                 score::float8 AS score, payout::float8 AS payout, array_to_string(reason_codes, ', ') AS reasons
            ${OPEN_HOLDS}
           ORDER BY ts, conversion_id
           LIMIT 50`),
        {
          conversion_id: { title: 'Conversion' },
          held_since: { title: 'Held since', unit: 'dateTimeAsIso' },
          hold_until: { title: 'Resolves', unit: 'dateTimeAsIso' },
          publisher_id: { title: 'Publisher', link: toPartner },
          sub_id: { title: 'Sub-id' },
          offer_id: { title: 'Offer' },
          advertiser_id: { title: 'Advertiser' },
          score: { title: 'Risk', decimals: 2 },
          payout: { title: 'Payout', decimals: 2 },
          reasons: { title: 'Reasons' },
        },
        {
          w: 12,
          h: 8,
          description: 'Review them in the API’s queue (GET /v1/review/queue); approve or reject with POST /v1/review/decisions.',
        },
      ),
    )
    .withPanel(
      seriesPanel(
        'Holds resolved',
        [
          seriesSql(`
            SELECT $__timeGroupAlias(decided_at, $__interval), to_status || ' by ' || resolved_by AS metric, count(*)::float8 AS value
              FROM decision_transitions
             WHERE from_status = 'hold' AND $__timeFilter(decided_at)
             GROUP BY 1, 2
             ORDER BY 1, 2`),
        ],
        {
          interval: '5m',
          bars: true,
          stacked: true,
          decimals: 0,
          w: 12,
          h: 8,
          description: 'Holds leaving the queue: to which status, and who decided (timer, advertiser, analyst).',
        },
      ),
    );
  return finish(builder);
}
