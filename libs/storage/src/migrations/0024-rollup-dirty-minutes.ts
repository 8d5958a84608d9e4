import { ROLLUPS } from '../rollups';
import { DIRTY_MINUTES, stagedRollupDdl } from '../staged-rollups';
import { Migration, run } from './migration';

/**
 * Plain PostgreSQL (issue 19): the hourly KPI rollups are summed from minutely stages again, now
 * fed by the minutes the database itself records as written (`staged-rollups.ts`): a statement
 * trigger on the raw tables adds them to `rollup_dirty_minutes` in the writing statement, and any
 * recorder's refresh consumes them. 0018's stage was dropped by 0022 because a stage minute was
 * recomputed only by the recorder that wrote it.
 *
 * The stages start empty; the history is one range to rebuild from the raw rows (the oldest row's
 * hour to the newest's), which the refreshers take an hour at a time, newest first. Until an hour
 * is rebuilt, the rollups keep the figures they have for it. The triggers are created first: from
 * then on every write is marked by them, and this migration's exclusive locks hold writers back
 * until it commits, so the range ends where the marked writes start.
 */
export const rollupDirtyMinutes: Migration = {
  id: '0024-rollup-dirty-minutes',
  description: 'plain PostgreSQL: minutely rollup stages fed by the minutes each write marks dirty (a statement trigger)',
  async up(db, dialect) {
    if (dialect.name !== 'postgres') return;
    // Behind a dashboard's long query, fail (the service's start is retried) rather than queue
    // every writer and reader behind the triggers' locks.
    await db.query(`SET LOCAL lock_timeout = '5s'`);
    await run(db, stagedRollupDdl(ROLLUPS.filter((r) => r.grain === 'hour')));
    for (const source of ['click_verdicts', 'decisions']) {
      await db.query(
        `INSERT INTO ${DIRTY_MINUTES} (source, minute, through)
         SELECT $1, date_bin('1 minute', first, TIMESTAMPTZ '2000-01-01 00:00:00+00'), greatest(last, now()) + INTERVAL '1 minute'
           FROM (SELECT min(ts) AS first, max(ts) AS last FROM ${source}) AS rows
          WHERE first IS NOT NULL`,
        [source],
      );
    }
  },
};
