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

// A time as exact epoch microseconds, as text (extract's numeric is exact; a float8 is not past 2^53 µs).
const us = (column: string) => `(extract(epoch FROM ${column}) * 1000000)::numeric(20, 0)::text`;

// Times as epoch milliseconds (a number parses far faster than a timestamp string; floor, as a Date truncates).
const ms = (column: string) => `floor(extract(epoch FROM ${column}) * 1000)::float8`;

/**
 * One table's next events after the key ($3 receipt, $4 bare id, $5 kind, $6 id, $7 ts; $4 NULL on the
 * first page) up to the window's newest receipt ($8), at most $9, with `ts` between `lo` and `hi` (the
 * span the window's events of this table held when the read began: `stream`). The receipt bounds make
 * this a range scan of the table's receipt index (0028), sorted only within one receipt time; the ts
 * bounds exclude every chunk outside the window and, in a compressed chunk (which has no receipt index),
 * every batch whose ts range misses it, so a page decompresses its window, not the rest of the range.
 */
const branch = (table: string, t: string, kind: string, lo: string, hi: string, columns: string) => `
    (SELECT '${kind}'::text AS kind, ${t}.id, ${bare(`${t}.id`)} AS bare, ${t}.received_at AS at, ${t}.ts AS at_ts, ${columns}
       FROM ${table} ${t}
      WHERE ${t}.ts >= $1 AND ${t}.ts < $2 AND ${t}.ts >= ${lo}::timestamptz AND ${t}.ts <= ${hi}::timestamptz
        AND ${t}.received_at >= $3 AND ${t}.received_at <= $8
        AND ($4::text IS NULL OR (${t}.received_at, ${bare(`${t}.id`)}, '${kind}'::text, ${t}.id, ${t}.ts) > ($3, $4, $5, $6, $7))
      ORDER BY ${t}.received_at, ${bare(`${t}.id`)}, ${t}.id, ${t}.ts
      LIMIT $9)`;

const PAGE_SQL = `
  WITH page AS (
    SELECT * FROM (${branch(
      'clicks',
      'c',
      'click',
      '$10',
      '$11',
      `c.offer_id, c.publisher_id, c.sub_id, c.sub_ids, c.ip, c.user_agent, c.referrer, c.device_id, c.country, c.ip_country,
              c.partition, NULL::text AS click_id, NULL::text AS order_id, NULL::numeric AS amount, NULL::numeric AS payout,
              NULL::text AS currency, NULL::text AS type, c.label`,
    )}
    UNION ALL${branch(
      'conversions',
      'v',
      'conversion',
      '$12',
      '$13',
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
         e.at::text AS key_at, ${us('e.at')} AS key_at_us, e.bare AS key_bare, e.at_ts::text AS key_ts
    FROM page e ORDER BY e.at, e.bare, e.kind, e.id, e.at_ts`;

/**
 * The range's events by receipt time, in buckets of $3 (a ten-thousandth of the range): how many, their
 * first and last receipt, and the span of each table's `ts` (all as text: exact to the microsecond, as
 * the keys are compared). One pass over the range, through the ts index (a bare min/max of receipt would
 * walk the receipt index from one end, past every event outside the range). `stream` cuts the read
 * into receipt windows of about a page each from it, and bounds each page's `ts` by what its window
 * holds: no contract bounds how far a receipt is from its event's time (an admin may assert any time, a
 * partner's conversion may be reported days late), so the bounds are read, not assumed.
 */
const BUCKETS_SQL = `
  SELECT count(*)::float8 AS n, min(at)::text AS first, max(at)::text AS last, ${us('min(at)')} AS first_us, ${us('max(at)')} AS last_us,
         ${us(`min(ts) FILTER (WHERE kind = 'c')`)} AS click_lo, ${us(`max(ts) FILTER (WHERE kind = 'c')`)} AS click_hi,
         ${us(`min(ts) FILTER (WHERE kind = 'v')`)} AS conversion_lo, ${us(`max(ts) FILTER (WHERE kind = 'v')`)} AS conversion_hi
    FROM ((SELECT 'c' AS kind, received_at AS at, ts FROM clicks WHERE ts >= $1 AND ts < $2 OFFSET 0)
          UNION ALL
          (SELECT 'v', received_at, ts FROM conversions WHERE ts >= $1 AND ts < $2 OFFSET 0)) e
   GROUP BY date_bin($3::interval, at, $1) ORDER BY date_bin($3::interval, at, $1)`;

/**
 * One bucket that holds too much of a page (`BUCKETS_SQL`) cut again into buckets of $3 from its first
 * receipt: its events only (receipts $4 to $5, times $6 to $7, the span the bucket holds), so a burst of
 * receipts costs a second look at the burst, not at the range.
 */
const FINER_SQL = `
  SELECT count(*)::float8 AS n, min(at)::text AS first, max(at)::text AS last, ${us('min(at)')} AS first_us, ${us('max(at)')} AS last_us,
         ${us(`min(ts) FILTER (WHERE kind = 'c')`)} AS click_lo, ${us(`max(ts) FILTER (WHERE kind = 'c')`)} AS click_hi,
         ${us(`min(ts) FILTER (WHERE kind = 'v')`)} AS conversion_lo, ${us(`max(ts) FILTER (WHERE kind = 'v')`)} AS conversion_hi
    FROM ((SELECT 'c' AS kind, received_at AS at, ts FROM clicks
            WHERE ts >= $1 AND ts < $2 AND ts >= $6::timestamptz AND ts <= $7::timestamptz AND received_at >= $4::timestamptz AND received_at <= $5::timestamptz OFFSET 0)
          UNION ALL
          (SELECT 'v', received_at, ts FROM conversions
            WHERE ts >= $1 AND ts < $2 AND ts >= $6::timestamptz AND ts <= $7::timestamptz AND received_at >= $4::timestamptz AND received_at <= $5::timestamptz OFFSET 0)) e
   GROUP BY date_bin($3::interval, at, $4::timestamptz) ORDER BY date_bin($3::interval, at, $4::timestamptz)`;

/** One receipt bucket of the range (`BUCKETS_SQL`); ts bounds in epoch microseconds. */
interface Bucket {
  n: number;
  first: string;
  last: string;
  first_us: string;
  last_us: string;
  click_lo: string | null;
  click_hi: string | null;
  conversion_lo: string | null;
  conversion_hi: string | null;
}

/** How many receipt buckets a range is cut into first: a bucket holds a few hundred events of a million, evenly spread. */
const BUCKETS_PER_RANGE = 10_000;

/**
 * A bucket may hold at most this share of a page; one that holds more (a burst of receipts, a long range
 * at a high rate) is cut finer, so that a window, and the `ts` span a page reads, is about a page
 * whatever the distribution. Only a bucket of one receipt time stays whole: equal receipts are never
 * split between windows (the key orders them).
 */
const PAGE_SHARE_PER_BUCKET = 1 / 4;

/** The earlier and later of two epoch-microsecond times (either may be absent). */
const earlier = (a: bigint | null, b: string | null) => (b === null ? a : a === null || BigInt(b) < a ? BigInt(b) : a);
const later = (a: bigint | null, b: string | null) => (b === null ? a : a === null || BigInt(b) > a ? BigInt(b) : a);

/** An epoch-microsecond time as an ISO timestamp, exact (a Date holds milliseconds only). */
function isoMicros(us: bigint): string {
  const ms = us >= 0n ? us / 1000n : -((-us + 999n) / 1000n);
  return new Date(Number(ms)).toISOString().replace('Z', `${String(us - ms * 1000n).padStart(3, '0')}Z`);
}

/**
 * Stored clicks and conversions read back as the events the scorer consumed, in stream order, a page
 * at a time: a backtest of a year holds one page in memory, not the year.
 *
 * Each page is its own statement, keyed on the last event of the page before (keyset pagination), with
 * no transaction between pages: on the embedded database one connection at a time holds the database
 * while it is in a transaction, and a read held open for a whole backtest made the recorder and every
 * other service wait, then time out.
 *
 * A page reads a window of receipt times of about a page of events, found by one pass over the range
 * first (`BUCKETS_SQL`), and only the `ts` span its window held then: on TimescaleDB a compressed chunk
 * has no receipt index, and a page bounded by receipt alone decompressed every event of the range after
 * it (a read of n events in pages of p: about n²/2p rows; now about n, plus the batches a window shares
 * with its neighbours).
 *
 * What a read sees of writes made while it runs: each page is one snapshot. An event stored after the
 * read began is read if it is stored before the page that reaches its place, comes after the last event
 * already read, was received no later than the range's newest receipt when the read began, and its time
 * lies within the span of times of its table's events received around it (its receipt window) when the
 * read began; otherwise it is not read. No event is read twice or out of order either way. A label or
 * recorded status is as of its page's statement.
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
    const buckets = await this.buckets(range, pageSize);
    if (!buckets.length) return;
    // Events up to the end of each bucket, for sizing a window; the window's own bounds come from the key.
    const upTo: number[] = [];
    buckets.reduce((sum, b, i) => (upTo[i] = sum + Number(b.n)), 0);
    let key: [string, string | null, string | null, string | null, string | null] = [buckets[0].first, null, null, null, null];
    let from = 0; // the first bucket not wholly read: the key's (the first whose last receipt is not before it)
    let read = 0;
    while (from < buckets.length) {
      const page: PageRow[] = [];
      while (page.length < pageSize && from < buckets.length) {
        const want = pageSize - page.length;
        let to = from;
        while (to < buckets.length - 1 && upTo[to] < read + want) to++;
        let click: [bigint | null, bigint | null] = [null, null];
        let conversion: [bigint | null, bigint | null] = [null, null];
        for (let i = from; i <= to; i++) {
          const b = buckets[i];
          click = [earlier(click[0], b.click_lo), later(click[1], b.click_hi)];
          conversion = [earlier(conversion[0], b.conversion_lo), later(conversion[1], b.conversion_hi)];
        }
        const bound = (t: bigint | null) => (t === null ? null : isoMicros(t));
        const { rows } = await this.pool.query<PageRow>(PAGE_SQL, [
          range.from,
          range.to,
          ...key,
          buckets[to].last,
          want,
          bound(click[0]),
          bound(click[1]),
          bound(conversion[0]),
          bound(conversion[1]),
        ]);
        page.push(...rows);
        read += rows.length;
        if (rows.length) {
          const end = rows[rows.length - 1];
          key = [end.key_at, end.key_bare, end.kind, end.id, end.key_ts];
        }
        if (rows.length < want)
          from = to + 1; // the window is read to its end
        else while (from < to && BigInt(buckets[from].last_us) < BigInt(rows[rows.length - 1].key_at_us)) from++;
      }
      if (!page.length) return;
      yield page.map(toHistorical);
    }
  }

  /**
   * The range's receipt buckets in receipt order (`BUCKETS_SQL`), each that holds more than
   * `PAGE_SHARE_PER_BUCKET` of a page replaced by finer ones over its own receipts (`FINER_SQL`), again
   * until each holds little enough or a single receipt time. A pass reads only the overfull buckets'
   * events, so the passes together read about the range's events once more at each level of burst.
   */
  private async buckets(range: HistoryRange, pageSize: number): Promise<Bucket[]> {
    const width = Math.max(1, Math.ceil((range.to.getTime() - range.from.getTime()) / BUCKETS_PER_RANGE));
    const { rows } = await this.pool.query<Bucket>(BUCKETS_SQL, [range.from, range.to, `${width} milliseconds`]);
    const most = Math.max(1, Math.floor(pageSize * PAGE_SHARE_PER_BUCKET));
    const out: Bucket[] = [];
    const finer = async (b: Bucket): Promise<void> => {
      const span = BigInt(b.last_us) - BigInt(b.first_us);
      if (b.n <= most || span === 0n) {
        out.push(b);
        return;
      }
      // Enough buckets for each to hold a quarter of the limit if spread evenly; at least two, at least 1 µs.
      const parts = BigInt(Math.max(2, Math.ceil((4 * b.n) / most)));
      const step = (span + parts) / parts;
      const lo = earlier(earlier(null, b.click_lo), b.conversion_lo);
      const hi = later(later(null, b.click_hi), b.conversion_hi);
      const { rows: cut } = await this.pool.query<Bucket>(FINER_SQL, [
        range.from,
        range.to,
        `${step} microseconds`,
        b.first,
        b.last,
        isoMicros(lo!),
        isoMicros(hi!),
      ]);
      for (const p of cut) await finer(p);
    };
    for (const b of rows) await finer(b);
    return out;
  }
}

/**
 * A row of `PAGE_SQL` as `pg` returns it. The other kind's columns are NULL: `toHistorical` reads a
 * click's from a click row and a conversion's from a conversion row only.
 */
interface PageRow {
  kind: 'click' | 'conversion';
  id: string;
  ts: number;
  received_at: number;
  partition: number;
  offer_id: string;
  publisher_id: string;
  sub_id: string | null;
  sub_ids: NonNullable<ClickEvent['subIds']> | null;
  ip: string;
  user_agent: string;
  referrer: string | null;
  device_id: string | null;
  country: string | null;
  ip_country: string | null;
  click_id: string;
  order_id: string | null;
  amount: number;
  payout: number | null;
  currency: string | null;
  type: NonNullable<ConversionEvent['type']> | null;
  label: string | null;
  recorded: HistoricalEvent['recorded'];
  key_at: string;
  key_at_us: string;
  key_bare: string;
  key_ts: string;
}

function iso(v: number): string {
  return new Date(v).toISOString();
}

function toHistorical(r: PageRow): HistoricalEvent {
  // Absent fields are undefined, never null, as on the wire (the engine reads `x ?? default`); not
  // deleted either: one object shape keeps the scoring hot path fast.
  const opt = <T>(v: T | null): T | undefined => (v === null ? undefined : v);
  const base = { id: r.id, ts: iso(r.ts), receivedAt: iso(r.received_at), partition: r.partition };
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
