import { randomBytes } from 'node:crypto';
import { mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from 'pg';
import { EmbeddedDatabase } from '@app/storage';

/**
 * PGlite is single-user PostgreSQL: no checkpointer, and no checkpoint requested on WAL volume, so
 * `pg_wal` grew by every byte written while the engine ran (1 GB for 445,000 events) and a crash
 * replayed all of it at the next start. The embedded database checkpoints itself.
 */
describe('embedded database checkpoints while it serves', () => {
  const dirs: string[] = [];
  const dataDir = () => {
    const dir = mkdtempSync(join(tmpdir(), 'arbiter-pglite-ckpt-'));
    dirs.push(dir);
    return dir;
  };
  afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

  async function serve(checkpoints: { walMb: number; seconds: number }) {
    const dir = dataDir();
    const sut = await EmbeddedDatabase.start({ dataDir: dir, checkpoints });
    const client = new Client({ connectionString: sut.url });
    await client.connect();
    await client.query('CREATE TABLE t (id bigserial PRIMARY KEY, payload text)');
    return { dir, sut, client };
  }

  const redo = async (client: Client): Promise<string> =>
    (await client.query<{ redo: string }>('SELECT redo_lsn::text AS redo FROM pg_control_checkpoint()')).rows[0].redo;
  const walWritten = async (client: Client): Promise<number> =>
    Number((await client.query<{ b: string }>(`SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), '0/0')::bigint AS b`)).rows[0].b);
  /** Bytes of WAL segment files in `pg_wal`. */
  const walOnDisk = (dir: string): number =>
    readdirSync(join(dir, 'pg_wal'))
      .filter((f) => /^[0-9A-F]{24}$/.test(f))
      .reduce((sum, f) => sum + statSync(join(dir, 'pg_wal', f)).size, 0);
  /** About 1.1 MB of WAL per call (1,000 rows of 700 random bytes, base64). */
  const write = (client: Client) =>
    client.query('INSERT INTO t (payload) SELECT unnest($1::text[])', [
      Array.from({ length: 1000 }, () => randomBytes(700).toString('base64')),
    ]);
  /** Polls `check` (up to 20 s: a checkpoint that never comes fails the test's expectation, not its timeout). */
  async function until(check: () => Promise<boolean>): Promise<boolean> {
    for (const end = Date.now() + 20_000; Date.now() < end; await new Promise((r) => setTimeout(r, 100))) if (await check()) return true;
    return false;
  }

  it('keeps pg_wal bounded while far more WAL is written', async () => {
    const { dir, sut, client } = await serve({ walMb: 16, seconds: 3600 });
    try {
      const first = await redo(client);
      const start = await walWritten(client);
      // 300 MB of WAL, in steps that leave the checkpoint its turn between transactions.
      while ((await walWritten(client)) - start < 300 * 1024 * 1024) await write(client);
      expect(await until(async () => (await redo(client)) !== first)).toBe(true);
      // PostgreSQL keeps recycled segments for reuse up to min_wal_size (80 MB) or about twice the WAL
      // between two checkpoints; without checkpoints every one of the 300 segments stayed.
      expect(walOnDisk(dir)).toBeLessThan(160 * 1024 * 1024);
      expect(Number((await client.query('SELECT count(*) AS n FROM t')).rows[0].n)).toBeGreaterThan(250_000);
    } finally {
      await client.end();
      await sut.stop();
    }
  });

  it('checkpoints after its interval when WAL was written, and never inside a connection’s transaction', async () => {
    const { sut, client } = await serve({ walMb: 1024, seconds: 1 });
    try {
      await write(client);
      await client.query('BEGIN');
      const before = await redo(client);
      await write(client);
      // Several intervals pass inside the transaction: the checkpoint waits for its end.
      await new Promise((r) => setTimeout(r, 3_000));
      expect(await redo(client)).toBe(before);
      await client.query('COMMIT');
      expect(await until(async () => (await redo(client)) !== before)).toBe(true);
    } finally {
      await client.end();
      await sut.stop();
    }
  });
});
