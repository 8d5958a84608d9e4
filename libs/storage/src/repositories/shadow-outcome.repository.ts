import type { Pool } from 'pg';
import type { ShadowOutcome } from '@app/decisions';
import { Column, selectInput, unnestRows, uniqueBy } from '../bulk';
import { Queryable, inTransaction } from '../database';

/** A shadow rule set's outcome as the scoring core describes it (one definition, in `@app/decisions`). */
export type ShadowOutcomeRow = ShadowOutcome;

const columns: Column<ShadowOutcomeRow>[] = [
  { name: 'event_id', type: 'text', value: (o) => o.eventId },
  { name: 'kind', type: 'text', value: (o) => o.kind },
  { name: 'ts', type: 'timestamptz', value: (o) => o.ts },
  { name: 'decided_at', type: 'timestamptz', value: (o) => o.decidedAt },
  { name: 'publisher_id', type: 'text', value: (o) => o.publisherId },
  { name: 'offer_id', type: 'text', value: (o) => o.offerId },
  { name: 'advertiser_id', type: 'text', value: (o) => o.advertiserId },
  { name: 'active_version', type: 'text', value: (o) => o.activeVersion },
  { name: 'shadow_version', type: 'text', value: (o) => o.shadowVersion },
  { name: 'active_status', type: 'text', value: (o) => o.activeStatus },
  { name: 'shadow_status', type: 'text', value: (o) => o.shadowStatus },
  { name: 'agree', type: 'boolean', value: (o) => o.agree },
  { name: 'active_codes', type: 'text', value: (o) => o.activeCodes.join(','), select: "string_to_array($, ',')" },
  { name: 'shadow_codes', type: 'text', value: (o) => o.shadowCodes.join(','), select: "string_to_array($, ',')" },
  { name: 'payout', type: 'numeric', value: (o) => o.payout },
];
const input = unnestRows(columns);
const INSERT_SQL = `
  INSERT INTO shadow_outcomes (${columns.map((c) => c.name).join(', ')})
  SELECT ${selectInput(columns)} FROM (${input.sql}) AS input
  ON CONFLICT DO NOTHING`;

export interface ShadowSummary {
  events: number;
  disagreements: number;
  disagreementRate: number | null;
  clicks: { events: number; disagreements: number };
  conversions: { events: number; disagreements: number };
  /** `approved→rejected` and so on, among disagreements. */
  transitions: Record<string, number>;
  /** Payout of conversions the active rules approve and the shadow would not, and the reverse. */
  payoutWithheld: number;
  payoutReleased: number;
  first: string | null;
  last: string | null;
}

export interface ShadowExample {
  kind: 'click' | 'conversion';
  eventId: string;
  ts: string;
  publisherId: string | null;
  offerId: string | null;
  activeStatus: string;
  shadowStatus: string;
  activeCodes: string[];
  shadowCodes: string[];
  payout: number | null;
}

/** Outcomes of shadow rule sets: written by the scorer (idempotent per event), read by the admin API and Grafana. */
export class ShadowOutcomeRepository {
  constructor(private readonly pool: Pool) {}

  async insert(rows: readonly ShadowOutcomeRow[]): Promise<number> {
    if (!rows.length) return 0;
    const unique = uniqueBy(rows, (r) => `${r.eventId}:${r.shadowVersion}`);
    return (await this.pool.query(INSERT_SQL, input.params(unique))).rowCount ?? 0;
  }

  /**
   * The summary and the latest `limit` disagreements from one snapshot: read apart, a disagreement
   * recorded between the two reads was among the examples but not counted in the summary.
   */
  async report(shadowVersion: string, limit: number): Promise<{ summary: ShadowSummary; examples: ShadowExample[] }> {
    return inTransaction(
      this.pool,
      async (client) => ({
        summary: await this.summary(shadowVersion, client),
        examples: await this.examples(shadowVersion, limit, client),
      }),
      'BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY',
    );
  }

  async summary(shadowVersion: string, db: Queryable = this.pool): Promise<ShadowSummary> {
    const { rows } = await db.query(
      `SELECT count(*) AS events,
              count(*) FILTER (WHERE NOT agree) AS disagreements,
              count(*) FILTER (WHERE kind = 'click') AS clicks,
              count(*) FILTER (WHERE kind = 'click' AND NOT agree) AS click_disagreements,
              count(*) FILTER (WHERE kind = 'conversion') AS conversions,
              count(*) FILTER (WHERE kind = 'conversion' AND NOT agree) AS conversion_disagreements,
              coalesce(sum(payout) FILTER (WHERE kind = 'conversion' AND active_status = 'approved' AND shadow_status <> 'approved'), 0)::float8 AS withheld,
              coalesce(sum(payout) FILTER (WHERE kind = 'conversion' AND active_status <> 'approved' AND shadow_status = 'approved'), 0)::float8 AS released,
              min(decided_at) AS first, max(decided_at) AS last,
              (SELECT coalesce(jsonb_object_agg(t.k, t.n), '{}') FROM (
                 SELECT active_status || '→' || shadow_status AS k, count(*) AS n FROM shadow_outcomes
                  WHERE shadow_version = $1 AND NOT agree GROUP BY 1) t) AS transitions
         FROM shadow_outcomes WHERE shadow_version = $1`,
      [shadowVersion],
    );
    const r = rows[0];
    const events = Number(r.events);
    const disagreements = Number(r.disagreements);
    return {
      events,
      disagreements,
      disagreementRate: events ? Math.round((disagreements / events) * 10_000) / 10_000 : null,
      clicks: { events: Number(r.clicks), disagreements: Number(r.click_disagreements) },
      conversions: { events: Number(r.conversions), disagreements: Number(r.conversion_disagreements) },
      transitions: r.transitions,
      payoutWithheld: Math.round(r.withheld * 10_000) / 10_000,
      payoutReleased: Math.round(r.released * 10_000) / 10_000,
      first: r.first ? (r.first as Date).toISOString() : null,
      last: r.last ? (r.last as Date).toISOString() : null,
    };
  }

  /** The latest disagreements, newest first. */
  async examples(shadowVersion: string, limit: number, db: Queryable = this.pool): Promise<ShadowExample[]> {
    const { rows } = await db.query(
      `SELECT kind, event_id, ts, publisher_id, offer_id, active_status, shadow_status, active_codes, shadow_codes, payout::float8 AS payout
         FROM shadow_outcomes WHERE shadow_version = $1 AND NOT agree ORDER BY decided_at DESC, event_id LIMIT $2`,
      [shadowVersion, limit],
    );
    return rows.map((r) => ({
      kind: r.kind,
      eventId: r.event_id,
      ts: (r.ts as Date).toISOString(),
      publisherId: r.publisher_id,
      offerId: r.offer_id,
      activeStatus: r.active_status,
      shadowStatus: r.shadow_status,
      activeCodes: r.active_codes,
      shadowCodes: r.shadow_codes,
      payout: r.payout,
    }));
  }
}
