import { Migration } from './migration';

// The plain-PostgreSQL rollups and their dimensions as of this migration (frozen: a later change
// to ROLLUPS does not change what this did).
const DIMENSIONS = ['publisher_id', 'sub_id', 'offer_id', 'advertiser_id'];
const KEYS: [rollup: string, dimensions: string[]][] = [
  ['kpi_clicks_hourly', DIMENSIONS],
  ['kpi_clicks_daily', DIMENSIONS],
  ['kpi_conversions_hourly', [...DIMENSIONS, 'currency']],
  ['kpi_conversions_daily', [...DIMENSIONS, 'currency']],
];

/**
 * Plain PostgreSQL:
 * - The rollups' unique keys group as the refresh does. They were on `coalesce(dimension, '')`,
 *   one group for a sub-id sent empty (`/c/offer?pub=x&sub=`) and one not sent, where `GROUP BY`
 *   makes two: from the first such pair in an hour every refresh failed on a duplicate key, and
 *   all four rollups stopped for good. Now `NULLS NOT DISTINCT`, like the `GROUP BY` (and like
 *   TimescaleDB's continuous aggregates, which have no such key). Rows stored under the old key are
 *   unique under the new one too. The refresher recomputes from the oldest row with an empty
 *   dimension, which the rollups may be missing since then.
 * - The minutely stages of 0018 go: a stage minute was recomputed only by the recorder that wrote
 *   it, so a recorder that stopped behind the others left its last rows out of the KPIs for good.
 *   The refresh recomputes its hours from the raw rows again.
 */
export const rollupKeysNullsNotDistinct: Migration = {
  id: '0022-rollup-keys-nulls-not-distinct',
  description: 'plain PostgreSQL: rollup keys with NULLs not distinct (a sub-id sent empty stopped every refresh); minutely stages dropped',
  async up(db, dialect) {
    if (dialect.name !== 'postgres') return;
    // Where the refreshes may have stopped: the oldest row with an empty dimension (no row, no
    // backfill). Read first, before this migration locks the rollups.
    for (const [source, hourly, daily] of [
      ['click_verdicts', 'kpi_clicks_hourly', 'kpi_clicks_daily'],
      ['decisions', 'kpi_conversions_hourly', 'kpi_conversions_daily'],
    ]) {
      const dims = source === 'decisions' ? [...DIMENSIONS, 'currency'] : DIMENSIONS;
      const { rows } = await db.query<{ since: Date | null }>(
        `SELECT min(ts) AS since FROM ${source} WHERE ${dims.map((d) => `${d} = ''`).join(' OR ')}`,
      );
      if (!rows[0].since) continue;
      for (const rollup of [hourly, daily])
        await db.query(
          `INSERT INTO rollup_backfills (rollup, since) VALUES ($1, $2)
           ON CONFLICT (rollup) DO UPDATE SET since = least(rollup_backfills.since, EXCLUDED.since)`,
          [rollup, rows[0].since],
        );
    }
    // Behind a dashboard's long query, fail (the service's start is retried) rather than queue
    // every writer and reader behind this migration's exclusive locks.
    await db.query(`SET LOCAL lock_timeout = '5s'`);
    await db.query('DROP TABLE IF EXISTS kpi_clicks_minutely, kpi_conversions_minutely');
    for (const [name, dims] of KEYS) {
      await db.query(`DROP INDEX IF EXISTS ${name}_key`);
      await db.query(`CREATE UNIQUE INDEX ${name}_key ON ${name} (bucket, ${dims.join(', ')}) NULLS NOT DISTINCT`);
    }
  },
};
