import type { Pool } from 'pg';
import { componentLogger } from '@app/observability';
import { inTransaction } from './database';
import { Dialect, detectDialect } from './dialect';
import { MIGRATIONS, Migration } from './migrations';

// Any fixed number: every service migrating at start takes this lock, so one runs at a time.
const MIGRATION_LOCK = 0x4172_6269; // "Arbi"

export interface MigrationReport {
  dialect: Dialect['name'];
  applied: string[];
  alreadyApplied: string[];
}

/**
 * Applies pending forward-only migrations, each in its own transaction, under an advisory lock.
 * Safe to run from several services at once and to run again.
 */
export async function migrate(pool: Pool, migrations: readonly Migration[] = MIGRATIONS): Promise<MigrationReport> {
  const log = componentLogger('migrate');
  const client = await pool.connect();
  try {
    await client.query('SELECT pg_advisory_lock($1)', [MIGRATION_LOCK]);
    try {
      const dialect = await detectDialect(client);
      await client.query(
        `CREATE TABLE IF NOT EXISTS schema_migrations (
           id text PRIMARY KEY,
           description text NOT NULL,
           dialect text NOT NULL,
           applied_at timestamptz NOT NULL DEFAULT now())`,
      );
      const done = new Set((await client.query<{ id: string }>('SELECT id FROM schema_migrations')).rows.map((r) => r.id));
      const applied: string[] = [];
      for (const m of migrations) {
        if (done.has(m.id)) continue;
        await client.query('BEGIN');
        try {
          await m.up(client, dialect);
          await client.query('INSERT INTO schema_migrations (id, description, dialect) VALUES ($1, $2, $3)', [
            m.id,
            m.description,
            dialect.name,
          ]);
          await client.query('COMMIT');
        } catch (e) {
          await client.query('ROLLBACK');
          throw new Error(`migration ${m.id} failed: ${(e as Error).message}`, { cause: e });
        }
        applied.push(m.id);
        log.info({ migration: m.id, dialect: dialect.name }, 'applied');
      }
      return { dialect: dialect.name, applied, alreadyApplied: [...done] };
    } finally {
      await client.query('SELECT pg_advisory_unlock($1)', [MIGRATION_LOCK]);
    }
  } finally {
    client.release();
  }
}

export { inTransaction };
