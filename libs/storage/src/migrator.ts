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
  // Why the client cannot go back to the pool: it lost its connection, or a statement failed in a way
  // that leaves it unknown (a timed-out one may still run, inside the migration's transaction). Such a
  // client is released with the error, which ends its connection: PostgreSQL rolls back and frees the
  // lock with the session. The embedded database is one session for every connection: there its
  // server rolls back, but the session-level lock stays taken; harmless, since that same session takes
  // it again at once (a lock is re-entrant within a session), and one PGlite has no other migrator to
  // exclude. A checked-out client is not watched by the pool: without this listener a connection lost
  // mid-migration would throw from the client's 'error' event and end the process.
  let broken: Error | undefined;
  /** A migration failed and its ROLLBACK answered: the client is sound (the lock given back, it goes back to the pool). */
  let rolledBack = false;
  const onError = (e: Error) => (broken ??= e);
  client.on('error', onError);
  try {
    await client.query('SELECT pg_advisory_lock($1)', [MIGRATION_LOCK]).catch((lockError: Error) => {
      // It may still be waiting for the lock on the server, and take it after the caller gave up.
      broken ??= lockError;
      throw lockError;
    });
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
        try {
          // Inside: a BEGIN that fails (the connection lost between two migrations) is reported by this id too.
          await client.query('BEGIN');
          await m.up(client, dialect);
          await client.query('INSERT INTO schema_migrations (id, description, dialect) VALUES ($1, $2, $3)', [
            m.id,
            m.description,
            dialect.name,
          ]);
          await client.query('COMMIT');
        } catch (e) {
          // The migration's own error is the one reported, whatever the ROLLBACK does.
          await client.query('ROLLBACK').then(
            () => (rolledBack = true),
            (rollbackError: Error) => (broken ??= rollbackError),
          );
          throw new Error(`migration ${m.id} failed: ${(e as Error).message}`, { cause: e });
        }
        applied.push(m.id);
        log.info({ migration: m.id, dialect: dialect.name }, 'applied');
      }
      return { dialect: dialect.name, applied, alreadyApplied: [...done] };
    } catch (e) {
      // Any other failure (the dialect, the bookkeeping table) may leave the client
      // mid-statement too.
      if (!rolledBack) broken ??= e as Error;
      throw e;
    } finally {
      // A broken client's lock goes with its connection; an unlock there would fail and hide the error.
      if (!broken)
        await client.query('SELECT pg_advisory_unlock($1)', [MIGRATION_LOCK]).catch((unlockError: Error) => {
          broken ??= unlockError;
          log.warn({ err: unlockError }, 'could not release the migration lock; the connection is closed instead');
        });
    }
  } finally {
    client.off('error', onError);
    client.release(broken);
  }
}

export { inTransaction };
