import { Migration } from './migration';

/** The outcome tables whose rows carry `reasons` (JSONB: about 1.7 KB a verdict under load, rows of about 2 KB). */
const REASONS = ['click_verdicts', 'decisions'];

/**
 * Outcome rows are stored uncompressed up to a page's size wherever PostgreSQL would compress them
 * with pglz: TimescaleDB (the embedded PGlite, which has no LZ4, and TimescaleDB servers, whose
 * hypertables 0019 left on pglz) and plain PostgreSQL built without LZ4. A row over 2 KB (most
 * verdicts under load: their model and velocity reasons) was pglz-compressed as it was written, on
 * the embedded database's single thread about 15-17 % of the CPU a verdict's `COPY` costs it
 * (issue 19, measured by profile and by alternating the setting). `toast_tuple_target` only moves
 * the size from which PostgreSQL tries to compress or move a value out of line, up to 8160 bytes:
 * larger rows are still compressed and toasted, the column types and what queries read are the
 * same, and rows already stored stay as they are (readers decompress either). The cost is disk:
 * a verdict row of about 1.8 KB instead of 1.1 KB, until TimescaleDB's columnar compression takes
 * the chunk (past 7 days, on a server running its jobs; the embedded database runs none).
 * Plain PostgreSQL with LZ4 (0019) keeps compressing: LZ4 costs a fraction of pglz there.
 */
export const uncompressedReasons: Migration = {
  id: '0026-uncompressed-reasons',
  description: 'outcome rows stored uncompressed up to 8160 bytes where PostgreSQL would compress them with pglz',
  async up(db, dialect) {
    if (dialect.name === 'postgres') {
      const { rows } = await db.query<{ lz4: boolean }>(
        `SELECT 'lz4' = ANY (enumvals) AS lz4 FROM pg_settings WHERE name = 'default_toast_compression'`,
      );
      if (rows[0]?.lz4) return;
    }
    // Catalog-only (TimescaleDB passes it on to every chunk, and to the chunks it creates later), but
    // under an exclusive lock: fail (the service's start is retried) rather than queue the
    // recorder's writes and every reader behind a long query on these tables.
    await db.query(`SET LOCAL lock_timeout = '5s'`);
    for (const table of REASONS) await db.query(`ALTER TABLE ${table} SET (toast_tuple_target = 8160)`);
  },
};
