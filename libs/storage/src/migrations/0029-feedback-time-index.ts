import { Migration, run } from './migration';

/**
 * A btree time index on feedback on plain PostgreSQL, as TimescaleDB gives the hypertable
 * (`feedback_ts_idx`) and 0015 gave the other event tables: `arbiter train --from-db` reads the history
 * in time order a page per statement (`databaseEvents`), each the next page after the last event
 * read. With only the BRIN index each page scanned and sorted every later feedback row: a read of n
 * events in pages of p cost about n²/2p rows. It replaces the BRIN one, as 0017 did for the others: the
 * btree serves every time range the BRIN did.
 *
 * Cost an operator must plan for: the index is built without CONCURRENTLY (a migration runs in a
 * transaction), so feedback writes wait for the whole build, which `lock_timeout` does not bound (it
 * bounds only the wait for the lock). Measured on PostgreSQL 15 with 10 million feedback rows (random
 * ts, a loaded 2-core machine): 6.8 s of blocked feedback writes; 100,000 rows: 74 ms. `migrate` runs
 * at start, so a deployment with a large feedback table upgrades with its postback writers waiting (or
 * builds `feedback_ts_idx` CONCURRENTLY by hand first: the migration then only drops the BRIN index).
 */
export const feedbackTimeIndex: Migration = {
  id: '0029-feedback-time-index',
  description: 'a ts index on feedback on plain PostgreSQL (training history read in time order a page at a time), replacing its BRIN one',
  async up(db, dialect) {
    if (dialect.name === 'timescaledb') return;
    // SHARE lock (writes wait, reads do not) for the build; behind a long writer it would queue every
    // later one. After 5 s it fails instead, and the start fails (as 0027, 0028).
    await db.query(`SET LOCAL lock_timeout = '5s'`);
    await run(db, [`CREATE INDEX IF NOT EXISTS feedback_ts_idx ON feedback (ts DESC)`, `DROP INDEX IF EXISTS feedback_ts_brin`]);
  },
};
