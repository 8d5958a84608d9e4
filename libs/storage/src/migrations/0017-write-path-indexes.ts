import { Migration, run } from './migration';

/** The tables that have had a btree time index beside their BRIN one on plain PostgreSQL since 0015. */
const TIME_INDEXED = ['clicks', 'conversions', 'click_verdicts', 'decisions'];

/**
 * Indexes that every recorded row paid for and no query reads (issue 19: index upkeep is most of
 * what the recorder's write costs beyond a bare insert):
 * - `clicks_publisher_ts_idx`: nothing reads clicks by publisher. A publisher's clicks are read
 *   through their verdicts (`click_verdicts_publisher_ts_idx`, the API's rejections) and the KPI
 *   rollups; a click is looked up by id (its (id, ts) key) or by time (`clicks_ts_idx`).
 * - on plain PostgreSQL, the BRIN time index of the tables that gained a btree one in 0015: the
 *   btree serves every time range the BRIN did, and the newest row besides.
 */
export const writePathIndexes: Migration = {
  id: '0017-write-path-indexes',
  description: 'drops indexes no query reads: clicks by publisher, and the BRIN time indexes a btree one replaced on plain PostgreSQL',
  async up(db, dialect) {
    await run(db, [
      `DROP INDEX IF EXISTS clicks_publisher_ts_idx`,
      ...(dialect.name === 'postgres' ? TIME_INDEXED.map((t) => `DROP INDEX IF EXISTS ${t}_ts_brin`) : []),
    ]);
  },
};
