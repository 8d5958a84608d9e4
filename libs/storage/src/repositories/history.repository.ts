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
// `c<partition>.` prefix), so (received_at, bare id) is the order the scorer consumed them in. Kind, id
// and ts follow only to make the key unique (an id is unique with its ts), so that a page ends exactly.
const bare = (id: string) => `regexp_replace(${id}, '^c[0-9]+[.]', '')`;

// Times as epoch milliseconds (a number parses far faster than a timestamp string; floor, as a Date truncates).
const ms = (column: string) => `floor(extract(epoch FROM ${column}) * 1000)::float8`;

/**
 * One table's next events after the key ($3 receipt, $4 bare id, $5 kind, $6 id, $7 ts; $4 NULL on the
 * first page) up to the newest receipt of the range ($8), at most $9. The receipt bounds make this a
 * range scan of the table's receipt index (0028), sorted only within one receipt time.
 */
const branch = (table: string, t: string, kind: string, columns: string) => `
    (SELECT '${kind}'::text AS kind, ${t}.id, ${bare(`${t}.id`)} AS bare, ${t}.received_at AS at, ${t}.ts AS at_ts, ${columns}
       FROM ${table} ${t}
      WHERE ${t}.ts >= $1 AND ${t}.ts < $2 AND ${t}.received_at >= $3 AND ${t}.received_at <= $8
        AND ($4::text IS NULL OR (${t}.received_at, ${bare(`${t}.id`)}, '${kind}'::text, ${t}.id, ${t}.ts) > ($3, $4, $5, $6, $7))
      ORDER BY ${t}.received_at, ${bare(`${t}.id`)}, ${t}.id, ${t}.ts
      LIMIT $9)`;

const PAGE_SQL = `
  WITH page AS (
    SELECT * FROM (${branch(
      'clicks',
      'c',
      'click',
      `c.offer_id, c.publisher_id, c.sub_id, c.sub_ids, c.ip, c.user_agent, c.referrer, c.device_id, c.country, c.ip_country,
              c.partition, NULL::text AS click_id, NULL::text AS order_id, NULL::numeric AS amount, NULL::numeric AS payout,
              NULL::text AS currency, NULL::text AS type, c.label`,
    )}
    UNION ALL${branch(
      'conversions',
      'v',
      'conversion',
      `v.offer_id, NULL, NULL, NULL, v.ip, v.user_agent, NULL, v.device_id, v.country, v.ip_country,
              v.partition, v.click_id, v.order_id, v.amount, v.payout, v.currency, v.type, v.label`,
    )}
    ) b ORDER BY at, bare, kind, id, at_ts LIMIT $9)
  SELECT e.kind, e.id, ${ms('e.at_ts')} AS ts, ${ms('e.at')} AS received_at, e.offer_id, e.publisher_id, e.sub_id, e.sub_ids, e.ip,
         e.user_agent, e.referrer, e.device_id, e.country, e.ip_country, e.partition, e.click_id, e.order_id,
         e.amount::float8 AS amount, e.payout::float8 AS payout, e.currency, e.type,
         CASE e.kind WHEN 'click' THEN e.label
           ELSE coalesce((SELECT CASE f.status WHEN 'rejected' THEN 'fraud' ELSE 'legit' END FROM feedback f
                           WHERE f.conversion_id = e.id ORDER BY f.ts DESC, f.received_at DESC LIMIT 1), e.label) END AS label,
         CASE e.kind WHEN 'click' THEN (SELECT CASE WHEN cv.valid THEN 'valid' ELSE 'invalid' END FROM click_verdicts cv WHERE cv.click_id = e.id LIMIT 1)
           ELSE (SELECT CASE WHEN d.revision = 0 THEN d.status
                             ELSE (SELECT t.from_status FROM decision_transitions t WHERE t.conversion_id = d.conversion_id AND t.revision = 1)
                        END
                   FROM decisions d WHERE d.conversion_id = e.id LIMIT 1) END AS recorded,
         e.at::text AS key_at, e.bare AS key_bare, e.at_ts::text AS key_ts
    FROM page e ORDER BY e.at, e.bare, e.kind, e.id, e.at_ts`;

/**
 * The first and last receipt of the range's events (text: exact to the microsecond, as the keys are
 * compared). Read through the ts index, as `count`: a bare min/max would walk the receipt index from
 * one end, past every event outside the range (a month in a year: the eleven others).
 */
const BOUNDS_SQL = `
  SELECT min(at)::text AS first, max(at)::text AS last FROM (
    (SELECT received_at AS at FROM clicks WHERE ts >= $1 AND ts < $2 OFFSET 0)
    UNION ALL
    (SELECT received_at FROM conversions WHERE ts >= $1 AND ts < $2 OFFSET 0)) e`;

/**
 * Stored clicks and conversions read back as the events the scorer consumed, in stream order, a page
 * at a time: a backtest of a year holds one page in memory, not the year.
 *
 * Each page is its own statement, keyed on the last event of the page before (keyset pagination), with
 * no transaction between pages: on the embedded database one connection at a time holds the database
 * while it is in a transaction, and a read held open for a whole backtest made the recorder and every
 * other service wait, then time out. What a read sees of writes made while it runs: each page is one
 * snapshot. An event stored after the read began is read if it is stored before the page that reaches
 * its place, comes after the last event already read, and was received no later than the range's
 * newest receipt when the read began; otherwise it is not read. No event is read twice or out of
 * order either way. A label or recorded status is as of its page's statement.
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

  /** Pages of `pageSize` events in stream order; stop iterating at any time (nothing is held between pages). */
  async *stream(range: HistoryRange, pageSize = 5000): AsyncGenerator<HistoricalEvent[]> {
    const { rows: bounds } = await this.pool.query(BOUNDS_SQL, [range.from, range.to]);
    const { first, last } = bounds[0] as { first: string | null; last: string | null };
    if (first === null || last === null) return;
    let key: [string, string | null, string | null, string | null, string | null] = [first, null, null, null, null];
    for (;;) {
      const { rows } = await this.pool.query(PAGE_SQL, [range.from, range.to, ...key, last, pageSize]);
      if (!rows.length) return;
      const end = rows[rows.length - 1];
      key = [end.key_at, end.key_bare, end.kind, end.id, end.key_ts];
      yield rows.map(toHistorical);
      if (rows.length < pageSize) return;
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
