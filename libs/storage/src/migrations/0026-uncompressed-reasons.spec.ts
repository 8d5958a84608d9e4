import type { Queryable } from '../database';
import { PostgresDialect, TimescaleDialect } from '../dialect';
import { uncompressedReasons } from './0026-uncompressed-reasons';

/** Where 0026 stores outcome rows uncompressed: wherever they would otherwise be compressed with pglz. */
describe('migration 0026 (outcome rows uncompressed where pglz would compress them)', () => {
  const server = (lz4: boolean) => {
    const statements: string[] = [];
    const db = {
      query: async (sql: string) => {
        statements.push(sql);
        return { rows: sql.includes('default_toast_compression') ? [{ lz4 }] : [], rowCount: 0 };
      },
    } as unknown as Queryable;
    return { db, statements };
  };
  const altered = [
    `SET LOCAL lock_timeout = '5s'`,
    'ALTER TABLE click_verdicts SET (toast_tuple_target = 8160)',
    'ALTER TABLE decisions SET (toast_tuple_target = 8160)',
  ];

  it('on plain PostgreSQL built with LZ4 (0019 compresses with it): asks, and changes nothing', async () => {
    const { db, statements } = server(true);
    await uncompressedReasons.up(db, new PostgresDialect());
    expect(statements).toHaveLength(1);
  });

  it('on plain PostgreSQL built without LZ4: both tables, behind a lock timeout', async () => {
    const { db, statements } = server(false);
    await uncompressedReasons.up(db, new PostgresDialect());
    expect(statements.slice(1)).toEqual(altered);
  });

  it('on TimescaleDB (the embedded database, or a server: its hypertables compress with pglz): both tables', async () => {
    const { db, statements } = server(true);
    await uncompressedReasons.up(db, new TimescaleDialect());
    expect(statements).toEqual(altered);
  });
});
