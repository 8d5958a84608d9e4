import type { Queryable } from '../database';
import { uncompressedReasons } from './0026-uncompressed-reasons';

/** Where 0026 stores outcome rows uncompressed: on the embedded database only; elsewhere it resets an earlier setting. */
describe('migration 0026 (outcome rows uncompressed up to 4080 bytes on the embedded database)', () => {
  /** A database answering `version()` and the tables' current `toast_tuple_target` (null: not set). */
  const database = (version: string, target: string | null) => {
    const statements: string[] = [];
    const db = {
      query: async (sql: string) => {
        statements.push(sql);
        if (sql.includes('version()')) return { rows: [{ embedded: /emscripten/i.test(version) }], rowCount: 1 };
        if (sql.includes('reloptions')) return { rows: ['click_verdicts', 'decisions'].map((name) => ({ name, target })), rowCount: 2 };
        return { rows: [], rowCount: 0 };
      },
    } as unknown as Queryable;
    return { db, changes: () => statements.slice(2) };
  };
  const PGLITE =
    'PostgreSQL 17.5 on aarch64-unknown-linux-gnu, compiled by emcc (Emscripten gcc/clang-like replacement + linker emulating GNU ld) 3.1.74 (1092ec30a3fb1d46b1782ff1b4db5094d3d06ae5), 32-bit';
  const SERVER =
    'PostgreSQL 15.20 (Debian 15.20-0+deb12u1) on x86_64-pc-linux-gnu, compiled by gcc (Debian 12.2.0-14+deb12u1) 12.2.0, 64-bit';

  it('on the embedded database: both tables get 4080, behind a lock timeout', async () => {
    const { db, changes } = database(PGLITE, null);
    await uncompressedReasons.up(db, undefined as never);
    expect(changes()).toEqual([
      `SET LOCAL lock_timeout = '5s'`,
      'ALTER TABLE click_verdicts SET (toast_tuple_target = 4080)',
      'ALTER TABLE decisions SET (toast_tuple_target = 4080)',
    ]);
  });

  it('on an embedded database that ran the first 0026 (8160): 4080; already 4080: nothing', async () => {
    const old = database(PGLITE, '8160');
    await uncompressedReasons.up(old.db, undefined as never);
    expect(old.changes().slice(1)).toEqual([
      'ALTER TABLE click_verdicts SET (toast_tuple_target = 4080)',
      'ALTER TABLE decisions SET (toast_tuple_target = 4080)',
    ]);
    const done = database(PGLITE, '4080');
    await uncompressedReasons.up(done.db, undefined as never);
    expect(done.changes()).toEqual([]);
  });

  it('on a server (PostgreSQL or TimescaleDB) without the setting: changes nothing, takes no lock', async () => {
    const { db, changes } = database(SERVER, null);
    await uncompressedReasons.up(db, undefined as never);
    expect(changes()).toEqual([]);
  });

  it('on a server that ran the first 0026 (8160): resets it on both tables', async () => {
    const { db, changes } = database(SERVER, '8160');
    await uncompressedReasons.up(db, undefined as never);
    expect(changes()).toEqual([
      `SET LOCAL lock_timeout = '5s'`,
      'ALTER TABLE click_verdicts RESET (toast_tuple_target)',
      'ALTER TABLE decisions RESET (toast_tuple_target)',
    ]);
  });
});
