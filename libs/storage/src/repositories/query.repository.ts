import type { Pool } from 'pg';
import { fullReasons } from '@app/contracts';
import type { Decision, Reason } from '@app/contracts';
import { toDecision } from './outcome.repository';

/** Keyset position: the last item's time and id (stable under concurrent inserts, unlike offsets). */
export interface Cursor {
  ts: string;
  id: string;
}

export interface Page<T> {
  items: T[];
  next: Cursor | null;
}

export interface Rejection {
  kind: 'click' | 'conversion';
  id: string;
  ts: string;
  offerId: string | null;
  subId: string | null;
  /** `invalid` for clicks, `rejected` for conversions. */
  status: string;
  reasons: Reason[];
  ip: string | null;
  country: string | null;
  userAgent: string | null;
  /** What the publisher would have earned (conversions). */
  payout: number | null;
}

export interface RejectionFilter {
  publisherId: string;
  from: Date;
  to: Date;
  offerId?: string;
  subId?: string;
  kind?: 'click' | 'conversion';
  limit: number;
  after?: Cursor;
}

export interface DecisionFilter {
  advertiserId?: string;
  publisherId?: string;
  offerId?: string;
  status?: Decision['status'];
  from: Date;
  to: Date;
  limit: number;
  after?: Cursor;
}

const FAR = { ts: '9999-12-31T00:00:00Z', id: '' };

/** The API's reads: always scoped by the caller's tenant, keyset-paginated, newest first. */
export class QueryRepository {
  constructor(private readonly pool: Pool) {}

  /** A publisher's invalid clicks and rejected conversions, with reasons and the visitor's data. */
  async rejections(f: RejectionFilter): Promise<Page<Rejection>> {
    const after = f.after ?? FAR;
    const { rows } = await this.pool.query(
      // Each branch is ordered and limited on its own and bounded by the cursor's time (`ts <=`, which the
      // row comparison alone does not give the planner), so that it walks its (publisher, ts) index from the
      // cursor and stops after one page instead of sorting the publisher's whole range for every page.
      `SELECT * FROM (
         (SELECT 'click' AS kind, v.click_id AS id, v.ts, v.offer_id, v.sub_id, 'invalid' AS status, v.reasons,
                 c.ip, coalesce(c.ip_country, c.country) AS country, c.user_agent, NULL::float8 AS payout
            FROM click_verdicts v LEFT JOIN clicks c ON c.id = v.click_id AND c.ts = v.ts
           WHERE v.publisher_id = $1 AND NOT v.valid AND v.ts >= $2 AND v.ts < $3
             AND ($4::text IS NULL OR v.offer_id = $4) AND ($5::text IS NULL OR v.sub_id = $5)
             AND ($6::text IS NULL OR $6 = 'click') AND v.ts <= $7::timestamptz AND (v.ts, v.click_id) < ($7::timestamptz, $8)
           ORDER BY v.ts DESC, v.click_id DESC LIMIT $9)
         UNION ALL
         (SELECT 'conversion', d.conversion_id, d.ts, d.offer_id, d.sub_id, d.status, d.reasons,
                 cv.ip, coalesce(cv.ip_country, cv.country), cv.user_agent, d.payout::float8
            FROM decisions d LEFT JOIN conversions cv ON cv.id = d.conversion_id AND cv.ts = d.ts
           WHERE d.publisher_id = $1 AND d.status = 'rejected' AND d.ts >= $2 AND d.ts < $3
             AND ($4::text IS NULL OR d.offer_id = $4) AND ($5::text IS NULL OR d.sub_id = $5)
             AND ($6::text IS NULL OR $6 = 'conversion') AND d.ts <= $7::timestamptz AND (d.ts, d.conversion_id) < ($7::timestamptz, $8)
           ORDER BY d.ts DESC, d.conversion_id DESC LIMIT $9)
       ) r ORDER BY ts DESC, id DESC LIMIT $9`,
      [f.publisherId, f.from, f.to, f.offerId ?? null, f.subId ?? null, f.kind ?? null, after.ts, after.id, f.limit + 1],
    );
    const items: Rejection[] = rows.slice(0, f.limit).map((r) => ({
      kind: r.kind,
      id: r.id,
      ts: (r.ts as Date).toISOString(),
      offerId: r.offer_id,
      subId: r.sub_id,
      status: r.status,
      // A click verdict's reasons are stored without what the catalogue gives back (`storedReasons`).
      reasons: fullReasons(r.reasons),
      ip: r.ip,
      country: r.country,
      userAgent: r.user_agent,
      payout: r.payout,
    }));
    return { items, next: rows.length > f.limit ? { ts: items[items.length - 1].ts, id: items[items.length - 1].id } : null };
  }

  /** Decisions, scoped to an advertiser or a publisher (or neither, for admins). */
  async decisions(f: DecisionFilter): Promise<Page<Decision>> {
    const after = f.after ?? FAR;
    const { rows } = await this.pool.query(
      `SELECT * FROM decisions
        WHERE ts >= $1 AND ts < $2
          AND ($3::text IS NULL OR advertiser_id = $3) AND ($4::text IS NULL OR publisher_id = $4)
          AND ($5::text IS NULL OR offer_id = $5) AND ($6::text IS NULL OR status = $6)
          AND (ts, conversion_id) < ($7::timestamptz, $8)
        ORDER BY ts DESC, conversion_id DESC LIMIT $9`,
      [f.from, f.to, f.advertiserId ?? null, f.publisherId ?? null, f.offerId ?? null, f.status ?? null, after.ts, after.id, f.limit + 1],
    );
    const items = rows.slice(0, f.limit).map(toDecision);
    return { items, next: rows.length > f.limit ? { ts: items[items.length - 1].ts, id: items[items.length - 1].conversionId } : null };
  }

  /** Open holds, the ones resolving soonest first. */
  async openHolds(f: { advertiserId?: string; publisherId?: string; limit: number; after?: Cursor }): Promise<Page<Decision>> {
    const after = f.after ?? { ts: '0001-01-01T00:00:00Z', id: '' };
    const { rows } = await this.pool.query(
      `SELECT * FROM decisions
        WHERE status = 'hold' AND ($1::text IS NULL OR advertiser_id = $1) AND ($2::text IS NULL OR publisher_id = $2)
          AND (hold_until, conversion_id) > ($3::timestamptz, $4)
        ORDER BY hold_until, conversion_id LIMIT $5`,
      [f.advertiserId ?? null, f.publisherId ?? null, after.ts, after.id, f.limit + 1],
    );
    const items = rows.slice(0, f.limit).map(toDecision);
    const last = items[items.length - 1];
    return { items, next: rows.length > f.limit ? { ts: last.holdUntil!, id: last.conversionId } : null };
  }
}
