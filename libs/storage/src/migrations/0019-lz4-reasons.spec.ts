import type { Queryable } from '../database';
import { PostgresDialect, TimescaleDialect } from '../dialect';
import { lz4Reasons } from './0019-lz4-reasons';

/** What 0019 asks of a server, by what the server was built with (the shared test server has LZ4). */
describe('migration 0019 (LZ4 reasons)', () => {
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

  it('on plain PostgreSQL built without LZ4: asks, and changes nothing', async () => {
    const { db, statements } = server(false);
    await lz4Reasons.up(db, new PostgresDialect());
    expect(statements).toHaveLength(1);
    expect(statements[0]).toMatch(/enumvals/);
  });

  it('on plain PostgreSQL built with LZ4: both tables, each ALTER behind a lock timeout', async () => {
    const { db, statements } = server(true);
    await lz4Reasons.up(db, new PostgresDialect());
    expect(statements.slice(1)).toEqual([
      `SET LOCAL lock_timeout = '5s'`,
      'ALTER TABLE click_verdicts ALTER COLUMN reasons SET COMPRESSION lz4',
      'ALTER TABLE decisions ALTER COLUMN reasons SET COMPRESSION lz4',
    ]);
  });

  it('on TimescaleDB: nothing', async () => {
    const { db, statements } = server(true);
    await lz4Reasons.up(db, new TimescaleDialect());
    expect(statements).toEqual([]);
  });
});
