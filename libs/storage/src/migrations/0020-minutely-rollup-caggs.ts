import { ROLLUPS } from '../rollups';
import { Migration, run } from './migration';

// The raw tables' retention (migration 0004): a stage is kept as long as the rows it is made of.
const KEEP_FOR: Record<string, string> = { click_verdicts: '90 days', decisions: '400 days' };

/**
 * TimescaleDB (the embedded PGlite build too): the hourly KPI rollups become continuous aggregates
 * on minutely ones (hierarchical continuous aggregates), so the recorder's routine refresh
 * materialises the minutes written since the last one and sums the current hour from its minutes,
 * instead of re-aggregating every raw row of the current hour every ROLLUP_REFRESH_SECONDS (issue
 * 19). Unlike plain PostgreSQL's stage tables (0018, dropped by 0022: a stage minute was recomputed
 * only by the recorder that wrote it), a continuous aggregate's invalidation log is the database's,
 * and the refresh re-materialises every minute written to in the hours it sums, whoever wrote it.
 * The figures do not change; the history is recomputed from
 * the raw rows by the recorder's refresher (a continuous aggregate cannot be refreshed inside a
 * transaction), as after 0011 and 0013.
 *
 * A server whose retention already dropped raw rows the rollups still count keeps its rollups as
 * they are (rebuilding them would lose that history): it stays on the unstaged refresh.
 */
export const minutelyRollupCaggs: Migration = {
  id: '0020-minutely-rollup-caggs',
  description: 'TimescaleDB: hourly KPI rollups on minutely continuous aggregates, refreshed incrementally',
  async up(db, dialect) {
    if (dialect.name !== 'timescaledb') return;
    for (const r of ROLLUPS.filter((x) => x.grain === 'hour')) {
      const { rows } = await db.query<{ pruned: boolean }>(
        `SELECT (SELECT min(bucket) FROM ${r.name}) < coalesce(time_bucket('1 hour', (SELECT min(${r.timeColumn}) FROM ${r.source})), 'infinity') AS pruned`,
      );
      if (rows[0].pruned) return;
    }
    // Daily rollups read the hourly ones: drop them first, create them last.
    for (const r of [...ROLLUPS].reverse()) await run(db, [`DROP MATERIALIZED VIEW IF EXISTS ${r.name}`]);
    for (const r of ROLLUPS) await run(db, [...dialect.stage(r, KEEP_FOR[r.source]), ...dialect.rollup(r, { staged: true })]);
    const { rows } = await db.query<{ since: Date | null }>(
      `SELECT least((SELECT min(ts) FROM click_verdicts), (SELECT min(ts) FROM decisions)) AS since`,
    );
    const since = rows[0].since;
    if (!since) return;
    for (const r of ROLLUPS) {
      await db.query(
        `INSERT INTO rollup_backfills (rollup, since) VALUES ($1, $2)
         ON CONFLICT (rollup) DO UPDATE SET since = least(rollup_backfills.since, excluded.since), requested_at = now()`,
        [r.name, since],
      );
    }
  },
};
