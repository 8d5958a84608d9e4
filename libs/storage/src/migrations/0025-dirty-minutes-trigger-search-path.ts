import { DIRTY_MINUTES } from '../staged-rollups';
import { Migration } from './migration';

/**
 * Plain PostgreSQL: 0024's trigger function names `rollup_dirty_minutes` without a schema, so a
 * writer whose `search_path` does not hold the table's schema failed its write (or marked a table of
 * the same name elsewhere). The function now runs with its own `search_path`: the table's schema
 * (then `pg_temp`, last, so that no temporary table can stand in for it).
 */
export const dirtyMinutesTriggerSearchPath: Migration = {
  id: '0025-dirty-minutes-trigger-search-path',
  description: "plain PostgreSQL: the dirty-minutes trigger function runs with its table's schema as its search_path",
  async up(db, dialect) {
    if (dialect.name !== 'postgres') return;
    const { rows } = await db.query<{ schema: string }>(
      `SELECT quote_ident(n.nspname) AS schema FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.oid = $1::regclass`,
      [DIRTY_MINUTES],
    );
    const schema = rows[0].schema;
    await db.query(`ALTER FUNCTION ${schema}.rollup_mark_dirty_minutes() SET search_path = ${schema}, pg_temp`);
  },
};
