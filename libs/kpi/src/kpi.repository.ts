import type { Pool } from 'pg';
import { CLICK_REASON_CODES, CONVERSION_REASON_CODES, reasonColumn } from '@app/storage';

export type Grain = 'hour' | 'day';
export type Dimension = 'publisher_id' | 'sub_id' | 'offer_id' | 'advertiser_id';

export interface KpiQuery {
  from: Date;
  to: Date;
  grain: Grain;
  groupBy: Dimension[];
  /** Tenant scope: only this publisher's / advertiser's traffic. */
  publisherId?: string;
  advertiserId?: string;
  offerId?: string;
}

/** DESIGN §7, per bucket and group. Money is in the conversions' currency (one per network). */
export interface KpiRow {
  bucket: string;
  group: Partial<Record<Dimension, string | null>>;
  clicks: number;
  uniqueClicks: number;
  invalidClicks: number;
  invalidRate: number | null;
  conversions: number;
  approved: number;
  rejected: number;
  held: number;
  conversionRate: number | null;
  approvalRate: number | null;
  rejectionRate: number | null;
  /** Sale amount of approved conversions (what shoppers paid the advertisers). */
  saleAmount: number;
  /** What advertisers owe the network for approved conversions. */
  revenue: number;
  /** What the network owes publishers for approved conversions. */
  payout: number;
  /** Revenue − payout. */
  margin: number;
  marginRate: number | null;
  /** Earnings (payout) per click, revenue per click. */
  epc: number | null;
  rpc: number | null;
  fraudRateByCount: number | null;
  fraudRateByAmount: number | null;
  /** Payout withheld on rejected conversions. */
  savedPayout: number;
  /** Revenue not billed to advertisers on rejected conversions. */
  savedAdvertiserCost: number;
  ctitUnder15sShare: number | null;
  ctitOver24hShare: number | null;
  averageClickScore: number | null;
  averageConversionScore: number | null;
  /** Clicks and conversions each reason code fired on (non-zero only). */
  reasons: Record<string, number>;
}

const ratio = (a: number, b: number) => (b > 0 ? Math.round((a / b) * 10_000) / 10_000 : null);
const money = (x: number) => Math.round(x * 100) / 100;

const clickSums = ['clicks', 'unique_clicks', 'invalid_clicks', 'score_sum', ...CLICK_REASON_CODES.map(reasonColumn)];
const conversionSums = [
  'conversions',
  'approved',
  'rejected',
  'held',
  'amount',
  'sale_amount',
  'revenue',
  'payout',
  'saved_payout',
  'saved_cost',
  'rejected_amount',
  'ctit_known',
  'ctit_under_15s',
  'ctit_over_24h',
  'score_sum',
  ...CONVERSION_REASON_CODES.map(reasonColumn),
];

/** Partner-value KPIs from the hourly / daily rollups, for any grouping and tenant scope. */
export class KpiRepository {
  constructor(private readonly pool: Pool) {}

  async query(q: KpiQuery): Promise<KpiRow[]> {
    const dims = q.groupBy;
    const table = (kind: 'clicks' | 'conversions') => `kpi_${kind}_${q.grain === 'hour' ? 'hourly' : 'daily'}`;
    const where = `bucket >= $1 AND bucket < $2 AND ($3::text IS NULL OR publisher_id = $3) AND ($4::text IS NULL OR advertiser_id = $4) AND ($5::text IS NULL OR offer_id = $5)`;
    const side = (kind: 'clicks' | 'conversions', sums: string[], prefix: string) =>
      `SELECT bucket${dims.map((d) => `, ${d}`).join('')}, ${sums.map((s) => `sum(${s})::float8 AS ${prefix}${s}`).join(', ')}
         FROM ${table(kind)} WHERE ${where} GROUP BY bucket${dims.map((d) => `, ${d}`).join('')}`;
    const join = ['c.bucket = v.bucket', ...dims.map((d) => `c.${d} IS NOT DISTINCT FROM v.${d}`)].join(' AND ');
    const sql = `
      WITH c AS (${side('clicks', clickSums, 'c_')}), v AS (${side('conversions', conversionSums, 'v_')})
      SELECT coalesce(c.bucket, v.bucket) AS bucket${dims.map((d) => `, coalesce(c.${d}, v.${d}) AS ${d}`).join('')},
             ${clickSums.map((s) => `coalesce(c.c_${s}, 0) AS c_${s}`).join(', ')},
             ${conversionSums.map((s) => `coalesce(v.v_${s}, 0) AS v_${s}`).join(', ')}
        FROM c FULL JOIN v ON ${join}
       ORDER BY 1${dims.map((d) => `, ${d}`).join('')}`;
    const { rows } = await this.pool.query(sql, [q.from, q.to, q.publisherId ?? null, q.advertiserId ?? null, q.offerId ?? null]);
    return rows.map((r) => toKpi(r, dims));
  }
}

function toKpi(r: Record<string, any>, dims: Dimension[]): KpiRow {
  const c = (k: string) => Number(r[`c_${k}`] ?? 0);
  const v = (k: string) => Number(r[`v_${k}`] ?? 0);
  const reasons: Record<string, number> = {};
  for (const code of CLICK_REASON_CODES) if (c(reasonColumn(code))) reasons[code] = c(reasonColumn(code));
  for (const code of CONVERSION_REASON_CODES) if (v(reasonColumn(code))) reasons[code] = (reasons[code] ?? 0) + v(reasonColumn(code));
  const clicks = c('clicks');
  const revenue = v('revenue');
  const payout = v('payout');
  return {
    bucket: (r.bucket as Date).toISOString(),
    group: Object.fromEntries(dims.map((d) => [d, r[d] ?? null])),
    clicks,
    uniqueClicks: c('unique_clicks'),
    invalidClicks: c('invalid_clicks'),
    invalidRate: ratio(c('invalid_clicks'), clicks),
    conversions: v('conversions'),
    approved: v('approved'),
    rejected: v('rejected'),
    held: v('held'),
    conversionRate: ratio(v('conversions'), clicks),
    approvalRate: ratio(v('approved'), v('conversions')),
    rejectionRate: ratio(v('rejected'), v('conversions')),
    saleAmount: money(v('sale_amount')),
    revenue: money(revenue),
    payout: money(payout),
    margin: money(revenue - payout),
    marginRate: ratio(revenue - payout, revenue),
    epc: clicks > 0 ? Math.round((payout / clicks) * 10_000) / 10_000 : null,
    rpc: clicks > 0 ? Math.round((revenue / clicks) * 10_000) / 10_000 : null,
    fraudRateByCount: ratio(v('rejected'), v('conversions')),
    fraudRateByAmount: ratio(v('rejected_amount'), v('amount')),
    savedPayout: money(v('saved_payout')),
    savedAdvertiserCost: money(v('saved_cost')),
    ctitUnder15sShare: ratio(v('ctit_under_15s'), v('ctit_known')),
    ctitOver24hShare: ratio(v('ctit_over_24h'), v('ctit_known')),
    averageClickScore: ratio(c('score_sum'), clicks),
    averageConversionScore: ratio(v('score_sum'), v('conversions')),
    reasons,
  };
}
