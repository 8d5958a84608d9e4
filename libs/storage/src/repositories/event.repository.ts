import type { Pool } from 'pg';
import { ClickEvent, ConversionEvent, FeedbackEvent, hasMintedClickShape } from '@app/contracts';
import { Column, json, keyedInsert, ledgeredInsert, selectInput, splitBy, uniqueBy, unnestRows, writeKeyed } from '../bulk';
import { inTransaction } from '../database';

const CLICK_COLUMNS: Column<ClickEvent>[] = [
  { name: 'id', type: 'text', value: (e) => e.id },
  { name: 'ts', type: 'timestamptz', value: (e) => e.ts },
  { name: 'received_at', type: 'timestamptz', value: (e) => e.receivedAt },
  { name: 'offer_id', type: 'text', value: (e) => e.offerId },
  { name: 'publisher_id', type: 'text', value: (e) => e.publisherId },
  { name: 'sub_id', type: 'text', value: (e) => e.subId },
  { name: 'sub_ids', type: 'text', value: (e) => json(e.subIds), select: '$::jsonb' },
  { name: 'ip', type: 'text', value: (e) => e.ip },
  { name: 'user_agent', type: 'text', value: (e) => e.userAgent },
  { name: 'referrer', type: 'text', value: (e) => e.referrer },
  { name: 'device_id', type: 'text', value: (e) => e.deviceId },
  { name: 'country', type: 'text', value: (e) => e.country },
  { name: 'ip_country', type: 'text', value: (e) => e.ipCountry },
  { name: 'partition', type: 'smallint', value: (e) => e.partition },
  { name: 'label', type: 'text', value: (e) => e.label },
];

/** Clicks whose id the engine minted: idempotent on the table's (id, ts) key. */
const mintedClickInsert = keyedInsert<ClickEvent>('clicks', CLICK_COLUMNS);
/** Clicks whose id a sender chose: through the ledger (and not if the engine stored that id already). */
const clickInsert = ledgeredInsert<ClickEvent>('click', 'clicks', 'id', CLICK_COLUMNS, (e) => hasMintedClickShape(e.id));

/**
 * The same click rows as a bare `INSERT … SELECT FROM unnest(…)` into `table` (no ledger, no
 * deduplication): the database's raw batch-insert rate, the baseline `arbiter bench` compares with.
 */
export function rawClickInsert(table: string): { sql: string; params(rows: readonly ClickEvent[]): unknown[][] } {
  const input = unnestRows(CLICK_COLUMNS);
  return {
    sql: `INSERT INTO ${table} (${CLICK_COLUMNS.map((c) => c.name).join(', ')}) SELECT ${selectInput(CLICK_COLUMNS)} FROM (${input.sql}) AS input`,
    params: input.params,
  };
}

const conversionInsert = ledgeredInsert<ConversionEvent>('conversion', 'conversions', 'id', [
  { name: 'id', type: 'text', value: (e) => e.id },
  { name: 'ts', type: 'timestamptz', value: (e) => e.ts },
  { name: 'received_at', type: 'timestamptz', value: (e) => e.receivedAt },
  { name: 'click_id', type: 'text', value: (e) => e.clickId },
  { name: 'offer_id', type: 'text', value: (e) => e.offerId },
  { name: 'order_id', type: 'text', value: (e) => e.orderId },
  { name: 'amount', type: 'numeric', value: (e) => e.amount },
  { name: 'payout', type: 'numeric', value: (e) => e.payout },
  { name: 'currency', type: 'text', value: (e) => e.currency },
  { name: 'type', type: 'text', value: (e) => e.type },
  { name: 'ip', type: 'text', value: (e) => e.ip },
  { name: 'user_agent', type: 'text', value: (e) => e.userAgent },
  { name: 'device_id', type: 'text', value: (e) => e.deviceId },
  { name: 'country', type: 'text', value: (e) => e.country },
  { name: 'ip_country', type: 'text', value: (e) => e.ipCountry },
  { name: 'partition', type: 'smallint', value: (e) => e.partition },
  { name: 'label', type: 'text', value: (e) => e.label },
]);

const feedbackInsert = ledgeredInsert<FeedbackEvent>('feedback', 'feedback', 'id', [
  { name: 'id', type: 'text', value: (e) => e.id },
  { name: 'ts', type: 'timestamptz', value: (e) => e.ts },
  { name: 'received_at', type: 'timestamptz', value: (e) => e.receivedAt },
  { name: 'conversion_id', type: 'text', value: (e) => e.conversionId },
  { name: 'status', type: 'text', value: (e) => e.status },
  { name: 'reason', type: 'text', value: (e) => e.reason },
  { name: 'source', type: 'text', value: (e) => e.source },
  { name: 'actor', type: 'text', value: (e) => e.actor },
]);

export interface WriteCounts {
  clicks: number;
  conversions: number;
  feedback: number;
}

/** Raw events, written idempotently in batches. */
export class EventRepository {
  constructor(private readonly pool: Pool) {}

  /** Inserts the events not written before; returns how many rows each table gained. */
  async insert(events: readonly (ClickEvent | ConversionEvent | FeedbackEvent)[]): Promise<WriteCounts> {
    const clicks: ClickEvent[] = [];
    const conversions: ConversionEvent[] = [];
    const feedback: FeedbackEvent[] = [];
    for (const e of events) {
      if (e.kind === 'click') clicks.push(e);
      else if (e.kind === 'conversion') conversions.push(e);
      else feedback.push(e);
    }
    const [minted, chosen] = splitBy(
      uniqueBy(clicks, (e) => e.id),
      (e) => e.idMinted === true,
    );
    // The usual batch (clicks the engine minted ids for, nothing else) is one statement: no transaction.
    if (chosen.length === 0 && conversions.length === 0 && feedback.length === 0) {
      return {
        clicks: minted.length ? await writeKeyed(this.pool, mintedClickInsert, minted) : 0,
        conversions: 0,
        feedback: 0,
      };
    }
    return inTransaction(this.pool, async (client) => {
      const counts = { clicks: 0, conversions: 0, feedback: 0 };
      if (minted.length) counts.clicks += (await client.query(mintedClickInsert.sql, mintedClickInsert.params(minted))).rowCount ?? 0;
      if (chosen.length) counts.clicks += (await client.query(clickInsert.sql, clickInsert.params(chosen))).rowCount ?? 0;
      if (conversions.length)
        counts.conversions =
          (await client.query(conversionInsert.sql, conversionInsert.params(uniqueBy(conversions, (e) => e.id)))).rowCount ?? 0;
      if (feedback.length)
        counts.feedback = (await client.query(feedbackInsert.sql, feedbackInsert.params(uniqueBy(feedback, (e) => e.id)))).rowCount ?? 0;
      return counts;
    });
  }

  /** Deletes ledger entries older than `days`, in slices so no long lock is held. Returns how many. */
  async pruneLedger(days: number): Promise<number> {
    let total = 0;
    for (;;) {
      const { rowCount } = await this.pool.query(
        `DELETE FROM ingest_ledger WHERE ctid = ANY (ARRAY(
           SELECT ctid FROM ingest_ledger WHERE recorded_at < now() - make_interval(days => $1) LIMIT 10000))`,
        [days],
      );
      total += rowCount ?? 0;
      if ((rowCount ?? 0) < 10_000) return total;
    }
  }
}
