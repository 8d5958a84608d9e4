import { Migration, run } from './migration';

/**
 * A receipt-time index on clicks and conversions: history is read in stream order (receipt time, then
 * id) a page per statement, each the next `pageSize` events after the last one read (keyset
 * pagination, `EventHistoryRepository`). Without it each page sorted every event of the range: a
 * read of n events in pages of p cost n²/p. With it a page is a range scan from the last event read,
 * sorted only within one receipt time. A receipt time is stamped at the gateway, so live rows arrive
 * in its order and the index grows at its right edge, as the ts one does.
 *
 * Cost an operator must plan for on plain PostgreSQL: built without CONCURRENTLY, so clicks (then
 * conversions) writes wait for each build, which `lock_timeout` does not bound. Measured on PostgreSQL
 * 15, 5 million clicks (823 MB, receipts in order, a loaded 2-core machine): 1.3-1.5 s for the clicks
 * index. On TimescaleDB it is built chunk by chunk under the same lock (unmeasured).
 */
export const receiptIndexes: Migration = {
  id: '0028-receipt-indexes',
  description: 'received_at indexes on clicks and conversions: history read in stream order a page at a time',
  async up(db) {
    // SHARE lock (writes wait, reads do not) for the build; behind a long writer it would queue every
    // later one. After 5 s it fails instead, and the start fails (as 0027).
    await db.query(`SET LOCAL lock_timeout = '5s'`);
    await run(db, [
      `CREATE INDEX IF NOT EXISTS clicks_received_at_idx ON clicks (received_at)`,
      `CREATE INDEX IF NOT EXISTS conversions_received_at_idx ON conversions (received_at)`,
    ]);
  },
};
