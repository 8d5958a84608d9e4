import type { Pool } from 'pg';

/** Which traffic a policy measures and how it groups it. */
export interface PolicyStatsQuery {
  metric: 'invalidRate' | 'rejectionRate';
  /** Group by sub-id too (a sub-id policy), else per publisher. */
  bySubId: boolean;
  /** Group by offer too (a policy that blocks per offer), else across the traffic it covers. */
  byOffer: boolean;
  advertiserId?: string;
  offerId?: string;
  from: Date;
  to: Date;
  minSample: number;
  maxRate: number;
  /** Traffic of a target up to `before` was answered for by a block that ended: it does not count again. */
  consumed: { publisherId: string; subId: string | null; offerId: string | null; before: string }[];
}

export interface PolicyStatRow {
  publisherId: string;
  subId: string | null;
  offerId: string | null;
  sample: number;
  hits: number;
}

/**
 * The figures enforcement policies read: invalid clicks (click verdicts) or rejected conversions
 * (decisions) per publisher or sub-id over a window, from the raw hypertables by time (exact windows
 * of any length, where the hourly rollups would round them). Traffic a block itself refused
 * (ENFORCEMENT_BLOCK) is left out: it says nothing new about the publisher.
 */
export class EnforcementRepository {
  constructor(private readonly pool: Pool) {}

  /** The groups over the policy's sample whose rate exceeds its limit. */
  async offenders(q: PolicyStatsQuery): Promise<PolicyStatRow[]> {
    const table = q.metric === 'invalidRate' ? 'click_verdicts' : 'decisions';
    const hit = q.metric === 'invalidRate' ? 'NOT t.valid' : `t.status = 'rejected'`;
    const sub = q.bySubId ? 't.sub_id' : 'NULL::text';
    const offer = q.byOffer ? 't.offer_id' : 'NULL::text';
    const { rows } = await this.pool.query<PolicyStatRow>(
      `WITH consumed AS (
         SELECT * FROM jsonb_to_recordset($1::jsonb) AS c("publisherId" text, "subId" text, "offerId" text, before timestamptz))
       SELECT t.publisher_id AS "publisherId", ${sub} AS "subId", ${offer} AS "offerId",
              count(*)::integer AS sample, (count(*) FILTER (WHERE ${hit}))::integer AS hits
         FROM ${table} t
        WHERE t.ts > $2 AND t.ts <= $3
          AND t.publisher_id IS NOT NULL
          AND NOT ('ENFORCEMENT_BLOCK' = ANY (t.reason_codes))
          AND ($4::text IS NULL OR t.advertiser_id = $4)
          AND ($5::text IS NULL OR t.offer_id = $5)
          ${q.bySubId ? 'AND t.sub_id IS NOT NULL' : ''}
          ${q.byOffer ? 'AND t.offer_id IS NOT NULL' : ''}
          AND NOT EXISTS (
            SELECT 1 FROM consumed c
             WHERE c."publisherId" = t.publisher_id
               AND (c."subId" IS NULL OR c."subId" = t.sub_id)
               AND (c."offerId" IS NULL OR c."offerId" = t.offer_id)
               AND t.ts <= c.before)
        GROUP BY 1, 2, 3
       HAVING count(*) >= $6::integer AND count(*) FILTER (WHERE ${hit}) > $7::double precision * count(*)
        ORDER BY 1, 2, 3`,
      [JSON.stringify(q.consumed), q.from, q.to, q.advertiserId ?? null, q.offerId ?? null, q.minSample, q.maxRate],
    );
    return rows;
  }
}
