import { Migration } from './migration';

/** The outcome tables whose `reasons` (JSONB, ~1.7 KB a verdict, over 2 KB for one in eight) PostgreSQL compresses. */
const REASONS = ['click_verdicts', 'decisions'];

/**
 * Plain PostgreSQL built with LZ4 (as the distributions' packages are): the outcomes' `reasons`
 * are compressed with it rather than pglz (issue 19: pglz was a fifth of the CPU a verdict's COPY
 * cost the database — 22.7 µs a row, 18.3 with LZ4, measured on 100,000 stored verdicts). Rows
 * already stored keep their compression; every reader decompresses either. TimescaleDB's
 * hypertables keep theirs (their compressed chunks have their own codecs).
 */
export const lz4Reasons: Migration = {
  id: '0019-lz4-reasons',
  description: 'plain PostgreSQL with LZ4: the outcomes’ reasons compressed with LZ4 instead of pglz',
  async up(db, dialect) {
    if (dialect.name !== 'postgres') return;
    const { rows } = await db.query<{ lz4: boolean }>(
      `SELECT 'lz4' = ANY (enumvals) AS lz4 FROM pg_settings WHERE name = 'default_toast_compression'`,
    );
    if (!rows[0]?.lz4) return;
    // Catalog-only, but under an exclusive lock: fail (the service's start is retried) rather than
    // queue the recorder's writes and every reader behind a long query on these tables.
    await db.query(`SET LOCAL lock_timeout = '5s'`);
    for (const table of REASONS) await db.query(`ALTER TABLE ${table} ALTER COLUMN reasons SET COMPRESSION lz4`);
  },
};
