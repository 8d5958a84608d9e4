import { ROLLUPS } from '../rollups';
import { Migration, run } from './migration';

/**
 * Automatic enforcement (DESIGN §12): its blocks carry a reason code of their own
 * (ENFORCEMENT_BLOCK), so the rollups are rebuilt with its column, as 0011 did for the codes known
 * then (history recomputed inline on plain PostgreSQL, by the recorder's refresher on TimescaleDB).
 * A rule-set version the engine itself wrote (an enforcement block, its pruning) names the system
 * and the policy that made it, where a person's change names their API key.
 */
export const enforcement: Migration = {
  id: '0013-enforcement',
  description: 'rollups with ENFORCEMENT_BLOCK, rule-set versions made by the engine (changed_by_system)',
  async up(db, dialect) {
    await run(db, [`ALTER TABLE ruleset_versions ADD COLUMN changed_by_system jsonb`]);
    // Daily rollups read the hourly ones: drop them first, create them last.
    for (const r of [...ROLLUPS].reverse()) {
      await run(db, [dialect.name === 'timescaledb' ? `DROP MATERIALIZED VIEW IF EXISTS ${r.name}` : `DROP TABLE IF EXISTS ${r.name}`]);
    }
    for (const r of ROLLUPS) await run(db, dialect.rollup(r));
    const { rows } = await db.query<{ since: Date | null }>(
      `SELECT least((SELECT min(ts) FROM click_verdicts), (SELECT min(ts) FROM decisions)) AS since`,
    );
    const since = rows[0].since;
    if (!since) return;
    if (dialect.name === 'postgres') {
      for (const r of ROLLUPS) for (const step of dialect.refresh(r, since)) await db.query(step.sql, step.params);
    } else {
      for (const r of ROLLUPS) {
        // 0011's backfill may not have run yet (the recorder had not started): keep the earlier start.
        await db.query(
          `INSERT INTO rollup_backfills (rollup, since) VALUES ($1, $2)
           ON CONFLICT (rollup) DO UPDATE SET since = least(rollup_backfills.since, excluded.since), requested_at = now()`,
          [r.name, since],
        );
      }
    }
  },
};
