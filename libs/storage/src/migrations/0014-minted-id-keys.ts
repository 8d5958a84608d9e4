import type { Queryable } from '../database';
import { Migration } from './migration';

/**
 * Clicks and click verdicts gain unique keys on (id, ts), the hypertables' own idempotency for
 * events whose id the engine minted (`idMinted`): such an id is only ever seen again as a
 * redelivery of the same message, with the same time, so `ON CONFLICT DO NOTHING` on the key makes
 * the write idempotent without an `ingest_ledger` row (which cost the recorder about half its
 * insert rate). Events whose id a sender chose keep the ledger: a sender may send the id again
 * days later with another time. TimescaleDB only allows unique keys that contain the time column.
 *
 * The keys replace the plain id indexes (same leading column, so every lookup by id still uses
 * one). Existing rows move forward as they are: the ledger made ids unique, so the keys hold; a
 * pair the ledger could not stop (an id re-sent with the same time after its ledger entry was
 * pruned) was a double count, and all but one copy is removed before the key is built.
 */
export const mintedIdKeys: Migration = {
  id: '0014-minted-id-keys',
  description: 'unique (id, ts) keys on clicks and click_verdicts: idempotency for engine-minted ids without the ledger',
  async up(db) {
    await uniqueKey(db, 'clicks', 'id', 'clicks_id_ts_key', 'clicks_id_idx');
    await uniqueKey(db, 'click_verdicts', 'click_id', 'click_verdicts_click_ts_key', 'click_verdicts_click_idx');
  },
};

async function uniqueKey(db: Queryable, table: string, id: string, key: string, replaces: string): Promise<void> {
  await db.query(`SAVEPOINT ${key}`);
  try {
    await db.query(`CREATE UNIQUE INDEX ${key} ON ${table} (${id}, ts)`);
  } catch (e) {
    if ((e as { code?: string }).code !== '23505') throw e;
    // unique_violation: the same (id, ts) stored twice before; keep one copy.
    await db.query(`ROLLBACK TO SAVEPOINT ${key}`);
    await db.query(
      `DELETE FROM ${table} t USING ${table} o
        WHERE o.${id} = t.${id} AND o.ts = t.ts AND o.tableoid = t.tableoid AND o.ctid < t.ctid`,
    );
    await db.query(`CREATE UNIQUE INDEX ${key} ON ${table} (${id}, ts)`);
  }
  await db.query(`RELEASE SAVEPOINT ${key}`);
  await db.query(`DROP INDEX IF EXISTS ${replaces}`);
}
