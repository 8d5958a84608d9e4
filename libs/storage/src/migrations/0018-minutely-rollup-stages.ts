import { ROLLUPS } from '../rollups';
import { Migration, run } from './migration';

/**
 * Plain PostgreSQL: the hourly KPI rollups gain a minutely stage (see `PostgresDialect.stage`), so
 * the recorder's routine refresh aggregates the rows written since the last one rather than every
 * row of the current hour (issue 19). Filled here from the raw rows of the hours it covers; the
 * rollups' figures do not change. TimescaleDB's continuous aggregates have nothing to gain.
 */
export const minutelyRollupStages: Migration = {
  id: '0018-minutely-rollup-stages',
  description: 'plain PostgreSQL: minutely stages under the hourly KPI rollups, refreshed incrementally',
  async up(db, dialect) {
    if (dialect.name !== 'postgres') return;
    for (const r of ROLLUPS) await run(db, dialect.stage(r));
    // Every bucket the stage covers (its horizon is two hours back), and the hour before it.
    const since = new Date(Date.now() - 4 * 3600_000);
    for (const r of ROLLUPS) for (const step of dialect.refresh(r, since)) await db.query(step.sql, step.params);
  },
};
