import {
  CLICK_REASON_CODES,
  CLICK_REASON_CODES_0004,
  CLICK_REASON_CODES_0011,
  CONVERSION_REASON_CODES,
  CONVERSION_REASON_CODES_0004,
  CONVERSION_REASON_CODES_0011,
} from './reason-columns';

/**
 * The KPI rollups of DESIGN §7: hourly, and daily on top of hourly, for clicks (from click
 * verdicts) and conversions (from decisions), by publisher, sub-id, offer and advertiser, with a
 * column per reason code. One definition, two targets under the same names: a TimescaleDB
 * continuous aggregate, or on plain PostgreSQL a table refreshed incrementally by the recorder. On
 * TimescaleDB an hourly rollup sums a minutely continuous aggregate of the same measures
 * (`minutelyStage`, migration 0020), so a refresh re-aggregates the minutes written to since the
 * last one rather than the whole current hour.
 */
export interface Rollup {
  name: string;
  /** `hour` rollups read a raw hypertable; `day` rollups read their hourly rollup. */
  grain: 'hour' | 'day';
  source: string;
  timeColumn: string;
  dimensions: string[];
  /** `expression AS column` for the hourly rollup; the daily one sums them. */
  measures: [column: string, expression: string][];
}

export const reasonColumn = (code: string) => `r_${code.toLowerCase()}`;

const DIMENSIONS = ['publisher_id', 'sub_id', 'offer_id', 'advertiser_id'];

const reasonMeasures = (codes: readonly string[]): Rollup['measures'] =>
  codes.map((c) => [reasonColumn(c), `count(*) FILTER (WHERE '${c}' = ANY (reason_codes))`]);

const clickBase: Rollup['measures'] = [
  ['clicks', 'count(*)'],
  // "Unique" clicks in the affiliate sense: gross minus the repeats DUPLICATE_CLICK caught.
  ['unique_clicks', `count(*) FILTER (WHERE NOT ('DUPLICATE_CLICK' = ANY (reason_codes)))`],
  ['invalid_clicks', 'count(*) FILTER (WHERE NOT valid)'],
  ['givt_clicks', `count(*) FILTER (WHERE category = 'GIVT')`],
  ['sivt_clicks', `count(*) FILTER (WHERE category = 'SIVT')`],
  ['score_sum', 'sum(score)'],
];
const clickMeasures = [...clickBase, ...reasonMeasures(CLICK_REASON_CODES)];

// Money has three figures (DESIGN §7): the sale amount the advertiser reported, the network's
// revenue (what the advertiser owes it) and the publisher's payout, both computed by the network
// when it decided. Revenue, payout and sale count on approved conversions; what a rejection
// withheld is saved.
const conversionBase: Rollup['measures'] = [
  ['conversions', 'count(*)'],
  ['approved', `count(*) FILTER (WHERE status = 'approved')`],
  ['rejected', `count(*) FILTER (WHERE status = 'rejected')`],
  ['held', `count(*) FILTER (WHERE status = 'hold')`],
  ['amount', 'sum(amount)'],
  ['sale_amount', `coalesce(sum(amount) FILTER (WHERE status = 'approved'), 0)`],
  ['revenue', `coalesce(sum(revenue) FILTER (WHERE status = 'approved'), 0)`],
  ['payout', `coalesce(sum(payout) FILTER (WHERE status = 'approved'), 0)`],
  // Payout the network did not pay out because the conversion was rejected.
  ['saved_payout', `coalesce(sum(payout) FILTER (WHERE status = 'rejected'), 0)`],
  // What the advertiser was not billed because the conversion was rejected.
  ['saved_cost', `coalesce(sum(revenue) FILTER (WHERE status = 'rejected'), 0)`],
  ['rejected_amount', `coalesce(sum(amount) FILTER (WHERE status = 'rejected'), 0)`],
  ['ctit_known', 'count(ctit_seconds)'],
  ['ctit_under_15s', 'count(*) FILTER (WHERE ctit_seconds < 15)'],
  ['ctit_over_24h', 'count(*) FILTER (WHERE ctit_seconds > 86400)'],
  ['ctit_sum', 'sum(ctit_seconds)'],
  ['score_sum', 'sum(score)'],
];
const conversionMeasures = [...conversionBase, ...reasonMeasures(CONVERSION_REASON_CODES)];

export const ROLLUPS: readonly Rollup[] = [
  { name: 'kpi_clicks_hourly', grain: 'hour', source: 'click_verdicts', timeColumn: 'ts', dimensions: DIMENSIONS, measures: clickMeasures },
  {
    name: 'kpi_clicks_daily',
    grain: 'day',
    source: 'kpi_clicks_hourly',
    timeColumn: 'bucket',
    dimensions: DIMENSIONS,
    measures: clickMeasures,
  },
  {
    name: 'kpi_conversions_hourly',
    grain: 'hour',
    source: 'decisions',
    timeColumn: 'ts',
    dimensions: [...DIMENSIONS, 'currency'],
    measures: conversionMeasures,
  },
  {
    name: 'kpi_conversions_daily',
    grain: 'day',
    source: 'kpi_conversions_hourly',
    timeColumn: 'bucket',
    dimensions: [...DIMENSIONS, 'currency'],
    measures: conversionMeasures,
  },
];

/** The rollup's SELECT, given how the dialect buckets time (`time_bucket` or `date_bin`). */
export function rollupSelect(r: Rollup, bucket: (interval: string, column: string) => string, where = ''): string {
  return aggregateSelect(r, {
    interval: r.grain === 'hour' ? '1 hour' : '1 day',
    source: r.source,
    timeColumn: r.timeColumn,
    summed: r.grain === 'day',
    bucket,
    where,
  });
}

/**
 * `SELECT bucket, dimensions, measures FROM source GROUP BY …` in buckets of `interval`: the measures
 * as their expressions over raw rows, or (`summed`) as sums of the same columns of a finer rollup —
 * every measure is a count or a sum, so a coarser bucket is the sum of the finer ones.
 */
export function aggregateSelect(
  r: Pick<Rollup, 'dimensions' | 'measures'>,
  o: {
    interval: string;
    source: string;
    timeColumn: string;
    summed: boolean;
    bucket: (interval: string, column: string) => string;
    where?: string;
  },
): string {
  const measures = o.summed ? r.measures.map(([c]) => `sum(${c}) AS ${c}`) : r.measures.map(([c, e]) => `${e} AS ${c}`);
  const dims = r.dimensions.join(', ');
  return `SELECT ${o.bucket(o.interval, o.timeColumn)} AS bucket, ${dims}, ${measures.join(', ')}
    FROM ${o.source} ${o.where ?? ''}
    GROUP BY 1, ${r.dimensions.map((_, i) => i + 2).join(', ')}`;
}

/** The conversion measures as migration 0004 created them (revenue was the sale amount); frozen. */
const conversionMeasuresV1: Rollup['measures'] = [
  ['conversions', 'count(*)'],
  ['approved', `count(*) FILTER (WHERE status = 'approved')`],
  ['rejected', `count(*) FILTER (WHERE status = 'rejected')`],
  ['held', `count(*) FILTER (WHERE status = 'hold')`],
  ['amount', 'sum(amount)'],
  ['revenue', `coalesce(sum(amount) FILTER (WHERE status = 'approved'), 0)`],
  ['payout', `coalesce(sum(payout) FILTER (WHERE status = 'approved'), 0)`],
  // Payout the network did not pay out because the conversion was rejected.
  ['saved_payout', `coalesce(sum(payout) FILTER (WHERE status = 'rejected'), 0)`],
  ['rejected_amount', `coalesce(sum(amount) FILTER (WHERE status = 'rejected'), 0)`],
  ['ctit_known', 'count(ctit_seconds)'],
  ['ctit_under_15s', 'count(*) FILTER (WHERE ctit_seconds < 15)'],
  ['ctit_over_24h', 'count(*) FILTER (WHERE ctit_seconds > 86400)'],
  ['ctit_sum', 'sum(ctit_seconds)'],
  ['score_sum', 'sum(score)'],
  ...reasonMeasures(CONVERSION_REASON_CODES_0004),
];

/**
 * The rollups exactly as migration 0004 created them, before decisions carried a revenue column:
 * applied migrations never change, so 0004 keeps building these and 0011 replaces every rollup with
 * the current definitions.
 */
export const ROLLUPS_V1: readonly Rollup[] = ROLLUPS.map((r) => ({
  ...r,
  measures: r.measures === conversionMeasures ? conversionMeasuresV1 : [...clickBase, ...reasonMeasures(CLICK_REASON_CODES_0004)],
}));

/**
 * The rollups exactly as migration 0011 created them: the current measures with the reason codes
 * known then. 0011 keeps building these; 0013 replaces them with the current definitions.
 */
export const ROLLUPS_0011: readonly Rollup[] = ROLLUPS.map((r) => ({
  ...r,
  measures:
    r.measures === conversionMeasures
      ? [...conversionBase, ...reasonMeasures(CONVERSION_REASON_CODES_0011)]
      : [...clickBase, ...reasonMeasures(CLICK_REASON_CODES_0011)],
}));
