import type { Pool } from 'pg';
import type { ClickEvent, ConversionEvent } from '@app/contracts';

/** One stored event as the scorer received it, with what is known about it now. */
export interface HistoricalEvent {
  event: ClickEvent | ConversionEvent;
  /** The truth where the network knows it: a conversion's latest feedback or analyst word, else its stored label. */
  label: 'fraud' | 'legit' | null;
  /** What the engine decided at the time: a click's validity, a conversion's first (revision 0) status. */
  recorded: 'valid' | 'invalid' | 'approved' | 'hold' | 'rejected' | null;
}

export interface HistoryRange {
  /** Events with `ts` from here are read (warm-up included). */
  from: Date;
  /** … up to here, excluded. */
  to: Date;
}

// Stream order: the gateway stamps receipt time and mints time-ordered ids (UUIDv7, clicks behind a
// `c<partition>.` prefix), so (received_at, bare id) is the order the scorer consumed them in.
const ORDER = `received_at, regexp_replace(id, '^c[0-9]+[.]', '')`;

// Times as epoch milliseconds (a number parses far faster than a timestamp string; floor, as a Date truncates).
const ms = (column: string) => `floor(extract(epoch FROM ${column}) * 1000)::float8`;

const HISTORY_SQL = `
  SELECT * FROM (
    SELECT 'click' AS kind, c.id, ${ms('c.ts')} AS ts, ${ms('c.received_at')} AS received_at, c.offer_id, c.publisher_id, c.sub_id, c.sub_ids, c.ip, c.user_agent,
           c.referrer, c.device_id, c.country, c.ip_country, c.partition,
           NULL::text AS click_id, NULL::text AS order_id, NULL::float8 AS amount, NULL::float8 AS payout, NULL::text AS currency,
           NULL::text AS type, c.label,
           (SELECT CASE WHEN v.valid THEN 'valid' ELSE 'invalid' END FROM click_verdicts v WHERE v.click_id = c.id LIMIT 1) AS recorded
      FROM clicks c WHERE c.ts >= $1 AND c.ts < $2
    UNION ALL
    SELECT 'conversion', v.id, ${ms('v.ts')}, ${ms('v.received_at')}, v.offer_id, NULL, NULL, NULL, v.ip, v.user_agent,
           NULL, v.device_id, v.country, v.ip_country, v.partition,
           v.click_id, v.order_id, v.amount::float8, v.payout::float8, v.currency, v.type,
           coalesce((SELECT CASE f.status WHEN 'rejected' THEN 'fraud' ELSE 'legit' END FROM feedback f
                      WHERE f.conversion_id = v.id ORDER BY f.ts DESC, f.received_at DESC LIMIT 1), v.label),
           (SELECT CASE WHEN d.revision = 0 THEN d.status
                        ELSE (SELECT t.from_status FROM decision_transitions t WHERE t.conversion_id = d.conversion_id AND t.revision = 1)
                   END
              FROM decisions d WHERE d.conversion_id = v.id LIMIT 1)
      FROM conversions v WHERE v.ts >= $1 AND v.ts < $2
  ) e ORDER BY ${ORDER}`;

/**
 * Stored clicks and conversions read back as the events the scorer consumed, in stream order,
 * through a server-side cursor: a backtest of a year holds one page in memory, not the year.
 */
export class EventHistoryRepository {
  constructor(private readonly pool: Pool) {}

  /** How many clicks and conversions the range holds (the progress total). */
  async count(range: HistoryRange): Promise<number> {
    const { rows } = await this.pool.query(
      `SELECT (SELECT count(*) FROM clicks WHERE ts >= $1 AND ts < $2) + (SELECT count(*) FROM conversions WHERE ts >= $1 AND ts < $2) AS n`,
      [range.from, range.to],
    );
    return Number(rows[0].n);
  }

  /** Pages of `pageSize` events in stream order; stop iterating to close the cursor. */
  async *stream(range: HistoryRange, pageSize = 5000): AsyncGenerator<HistoricalEvent[]> {
    const client = await this.pool.connect();
    let failure: Error | undefined;
    // A checked-out client is not watched by the pool: keep a lost connection's error (see inTransaction).
    const onError = (e: Error) => (failure ??= e);
    client.on('error', onError);
    let open = false;
    try {
      // The cursor lives in one read-only transaction; one page is in memory at a time.
      await client.query('BEGIN READ ONLY');
      open = true;
      await client.query(`DECLARE history NO SCROLL CURSOR FOR ${HISTORY_SQL}`, [range.from, range.to]);
      for (;;) {
        const { rows } = await client.query(`FETCH ${pageSize} FROM history`);
        if (!rows.length) break;
        yield rows.map(toHistorical);
      }
    } catch (e) {
      failure ??= e as Error;
      throw e;
    } finally {
      // Also reached when the reader stops early (a cancelled job): the transaction ends either way.
      // A ROLLBACK that fails (timed out: the cursor's transaction may still be open) discards the client too.
      if (open) await client.query('ROLLBACK').catch((e: Error) => (failure ??= e));
      client.off('error', onError);
      client.release(failure);
    }
  }
}

function iso(v: unknown): string {
  return new Date(v as number).toISOString();
}

function toHistorical(r: Record<string, any>): HistoricalEvent {
  // Absent fields are undefined, never null, as on the wire (the engine reads `x ?? default`); not
  // deleted either: one object shape keeps the scoring hot path fast.
  const opt = <T>(v: T | null): T | undefined => (v === null ? undefined : v);
  const base = { id: r.id as string, ts: iso(r.ts), receivedAt: iso(r.received_at), partition: r.partition as number };
  const event =
    r.kind === 'click'
      ? ({
          ...base,
          kind: 'click',
          offerId: r.offer_id,
          publisherId: r.publisher_id,
          subId: opt(r.sub_id),
          subIds: opt(r.sub_ids),
          ip: r.ip,
          userAgent: r.user_agent,
          referrer: opt(r.referrer),
          deviceId: opt(r.device_id),
          country: opt(r.country),
          ipCountry: r.ip_country ?? null,
        } satisfies ClickEvent)
      : ({
          ...base,
          kind: 'conversion',
          clickId: r.click_id,
          offerId: opt(r.offer_id),
          orderId: opt(r.order_id),
          amount: r.amount,
          payout: opt(r.payout),
          currency: opt(r.currency),
          type: opt(r.type),
          ip: opt(r.ip),
          userAgent: opt(r.user_agent),
          deviceId: opt(r.device_id),
          country: opt(r.country),
          ipCountry: r.ip_country ?? null,
        } satisfies ConversionEvent);
  return { event, label: r.label === 'fraud' || r.label === 'legit' ? r.label : null, recorded: r.recorded ?? null };
}
