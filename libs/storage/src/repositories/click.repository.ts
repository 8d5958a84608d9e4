import type { Pool } from 'pg';
import type { ClickRecord } from '@app/features';

/** A click as the scorer needs it to attribute a conversion it no longer holds in memory. */
export interface StoredClick {
  id: string;
  ts: string;
  offerId: string;
  publisherId: string;
  subId: string | null;
  ip: string;
  userAgent: string;
  deviceId: string | null;
  country: string | null;
  ipCountry: string | null;
  valid: boolean | null;
  /** The click's risk score and model probability (null until its verdict is recorded). */
  score: number | null;
  modelScore: number | null;
  referrer: boolean;
  reasonCodes: string[];
  /** Earlier conversions credited to this click (duplicates excluded). */
  conversions: number;
}

/**
 * A stored click as the scoring engine's attribution record, for a conversion whose click the engine
 * no longer holds (the live scorer and the backtest alike). Its recorded verdict stands in for a
 * fresh one; a click whose verdict is not recorded yet counts as valid (its own rules still ran).
 */
export function attributionRecord(c: StoredClick | undefined): ClickRecord | null {
  if (!c) return null;
  return {
    id: c.id,
    t: Date.parse(c.ts),
    offerId: c.offerId,
    publisherId: c.publisherId,
    subId: c.subId,
    ip: c.ip,
    userAgent: c.userAgent,
    deviceId: c.deviceId,
    country: c.ipCountry ?? c.country,
    declaredCountry: c.country,
    valid: c.valid ?? true,
    risk: c.score ?? 0,
    probability: c.modelScore,
    referrer: c.referrer,
    reasonCodes: c.reasonCodes,
    conversions: c.conversions,
  };
}

/** Stored clicks with their verdicts, for conversions whose click the engine no longer holds (scorer, backtest). */
export class ClickRepository {
  constructor(private readonly pool: Pool) {}

  async findClick(clickId: string): Promise<StoredClick | null> {
    return (await this.findClicks([clickId])).get(clickId) ?? null;
  }

  /**
   * Clicks by id, with their verdicts and how often each has converted (duplicates, and conversions
   * that were not the click's offer's to report, not counted: as the scoring engine credits them).
   */
  async findClicks(clickIds: readonly string[]): Promise<Map<string, StoredClick>> {
    if (!clickIds.length) return new Map();
    const { rows } = await this.pool.query(
      `SELECT c.id, c.ts, c.offer_id, c.publisher_id, c.sub_id, c.ip, c.user_agent, c.device_id, c.country, c.ip_country,
              c.referrer IS NOT NULL AS referrer, v.valid, v.score, v.model_score, coalesce(v.reason_codes, '{}') AS reason_codes,
              (SELECT count(*) FROM decisions d
                WHERE d.click_id = c.id AND NOT (d.reason_codes && '{DUPLICATE_CONVERSION,OFFER_MISMATCH}'::text[])) AS conversions
         FROM clicks c
         LEFT JOIN click_verdicts v ON v.click_id = c.id
        WHERE c.id = ANY ($1::text[])`,
      [clickIds],
    );
    return new Map(rows.map((r) => [r.id as string, toStoredClick(r)]));
  }
}

function toStoredClick(r: Record<string, any>): StoredClick {
  return {
    id: r.id,
    ts: (r.ts as Date).toISOString(),
    offerId: r.offer_id,
    publisherId: r.publisher_id,
    subId: r.sub_id,
    ip: r.ip,
    userAgent: r.user_agent,
    deviceId: r.device_id,
    country: r.country,
    ipCountry: r.ip_country,
    valid: r.valid,
    score: r.score,
    modelScore: r.model_score,
    referrer: r.referrer,
    reasonCodes: r.reason_codes,
    conversions: r.conversions,
  };
}
