import { isEmbeddedDatabase } from '../dialect';
import { Migration } from './migration';

/** The outcome tables whose rows carry `reasons` (JSONB: about 1.7 KB a verdict under load, rows of about 2 KB). */
const REASONS = ['click_verdicts', 'decisions'];
/**
 * Up to where a row is stored as it is. A row over 4080 bytes is still compressed (and toasted): with a
 * larger target a row of 4-8 KB would take a page of its own where pglz packs several into it.
 */
const TARGET = 4080;

/**
 * The embedded database (PGlite): outcome rows stored uncompressed up to 4080 bytes. A row over 2 KB
 * (most verdicts under load: their model and velocity reasons) was compressed with pglz as it was
 * written, on the embedded database's single thread about 15-17 % of the CPU a verdict's `COPY`
 * costs it (issue 19, measured by profile and by alternating the setting; PGlite has no LZ4).
 * `toast_tuple_target` only moves the size from which PostgreSQL tries to compress or move a value
 * out of line: larger rows are still compressed and toasted, the column types and what queries read
 * are the same, and rows already stored stay as they are (readers decompress either). The cost is
 * disk, for good: the embedded database runs no compression or retention job (see README).
 *
 * Every other database keeps PostgreSQL's default: plain PostgreSQL has LZ4 (0019) or, without it,
 * no compression job either, so the trade would be permanent there too; a TimescaleDB server
 * compresses chunks after days, and its disk was not measured under it. One that ran this
 * migration's first version (toast_tuple_target = 8160 wherever pglz compressed, under the id
 * `0026-uncompressed-reasons`, on main for a few hours of 2026-12-03 and in no release) gets the
 * setting reset; so this version has a new id, and runs there too.
 */
export const uncompressedReasons: Migration = {
  id: '0026-embedded-uncompressed-reasons',
  description: 'embedded database: outcome rows stored uncompressed up to 4080 bytes (elsewhere the default, reset where set)',
  async up(db) {
    const embedded = await isEmbeddedDatabase(db);
    const { rows } = await db.query<{ name: string; target: string | null }>(
      `SELECT t AS name, (SELECT split_part(o, '=', 2) FROM unnest(c.reloptions) AS o WHERE o LIKE 'toast_tuple_target=%') AS target
         FROM unnest($1::text[]) AS t JOIN pg_class c ON c.oid = to_regclass(t)`,
      [REASONS],
    );
    const changes = rows.flatMap((r) =>
      embedded
        ? r.target === String(TARGET)
          ? []
          : [`ALTER TABLE ${r.name} SET (toast_tuple_target = ${TARGET})`]
        : r.target === null
          ? []
          : [`ALTER TABLE ${r.name} RESET (toast_tuple_target)`],
    );
    if (!changes.length) return;
    // Catalog-only, under SHARE UPDATE EXCLUSIVE on the table (on TimescaleDB on every chunk and every
    // chunk's toast table too): the recorder's writes and readers go on, but (auto)vacuum, ANALYZE,
    // CREATE INDEX and TimescaleDB's compression jobs (compress_chunk/decompress_chunk) conflict with
    // it. After 5 s the migration fails instead of waiting; nothing retries a failed migrate in
    // process: the start fails, and whatever supervises it must start it again.
    await db.query(`SET LOCAL lock_timeout = '5s'`);
    for (const sql of changes) await db.query(sql);
  },
};
