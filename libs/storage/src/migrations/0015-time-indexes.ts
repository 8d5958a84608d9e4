import { Migration, run } from './migration';

/** The tables whose newest row says how fresh the stored data is (Engine health, "Ingestion stalled"). */
const TABLES = ['clicks', 'conversions', 'click_verdicts', 'decisions'];

/**
 * A time index on the event and outcome tables on plain PostgreSQL, as TimescaleDB gives every
 * hypertable (`<table>_ts_idx`): freshness is read from the newest row of each table, since
 * engine-minted clicks and their verdicts no longer pass through the `ingest_ledger` (0014).
 */
export const timeIndexes: Migration = {
  id: '0015-time-indexes',
  description: 'ts indexes on clicks, conversions, click_verdicts and decisions on plain PostgreSQL (freshness from the tables)',
  async up(db, dialect) {
    if (dialect.name === 'timescaledb') return;
    await run(
      db,
      TABLES.map((t) => `CREATE INDEX IF NOT EXISTS ${t}_ts_idx ON ${t} (ts DESC)`),
    );
  },
};
