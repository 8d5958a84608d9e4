import { randomBytes } from 'node:crypto';
import { mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from 'pg';
import { PGlite } from '@electric-sql/pglite';
import { EmbeddedDatabase } from '@app/storage';
import { EmbeddedCheckpoints } from '../../libs/storage/src/embedded/embedded-checkpoints';
import { PGliteServer } from '../../libs/storage/src/embedded/pglite-server';

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
  /** The WAL segment files in `pg_wal`, oldest first. */
  const segments = (dir: string): string[] =>
    readdirSync(join(dir, 'pg_wal'))
      .filter((f) => /^[0-9A-F]{24}$/.test(f))
      .sort();
  /** Bytes of WAL segment files in `pg_wal`. */
  const walOnDisk = (dir: string): number => segments(dir).reduce((sum, f) => sum + statSync(join(dir, 'pg_wal', f)).size, 0);
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

  it('keeps pg_wal bounded while far more WAL is written: its segments are recycled', async () => {
    const { dir, sut, client } = await serve({ walMb: 16, seconds: 3600 });
    try {
      const firstSegment = segments(dir)[0];
      const start = await walWritten(client);
      let checkpoints = 0;
      // 240 MB of WAL in steps of about 20 MB, each followed by the checkpoint it makes due: the WAL between
      // two checkpoints is at most walMb plus one step, whatever the machine's speed.
      while ((await walWritten(client)) - start < 240 * 1024 * 1024) {
        const before = await redo(client);
        const stepStart = await walWritten(client);
        while ((await walWritten(client)) - stepStart < 20 * 1024 * 1024) await write(client);
        expect(await until(async () => (await redo(client)) !== before)).toBe(true);
        checkpoints += 1;
      }
      expect(checkpoints).toBeGreaterThanOrEqual(10);
      // Segments were recycled (the first one is gone) and PostgreSQL keeps about max(min_wal_size = 80 MB,
      // twice the WAL between two checkpoints = under 80 MB here): without checkpoints all 240 stayed.
      expect(segments(dir)).not.toContain(firstSegment);
      expect(walOnDisk(dir)).toBeLessThan(160 * 1024 * 1024);
      expect(Number((await client.query('SELECT count(*) AS n FROM t')).rows[0].n)).toBeGreaterThan(200_000);
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

  it('stops at once while a connection sits in a transaction and a check waits behind it', async () => {
    const { sut, client } = await serve({ walMb: 1024, seconds: 1 });
    client.on('error', () => undefined);
    await client.query('BEGIN');
    await write(client);
    // A check is queued behind the transaction within the second. Before, stop awaited it, and it got the
    // database only when the holder was closed at the hold limit (120 s): a liveness bound, not a timing.
    await new Promise((r) => setTimeout(r, 1_500));
    const stopped = await Promise.race([
      sut.stop().then(() => 'stopped'),
      new Promise((r) => setTimeout(() => r('still stopping after 30 s'), 30_000).unref()),
    ]);
    expect(stopped).toBe('stopped');
    await client.end().catch(() => undefined);
  });
});

describe('embedded database checkpoints: a connection nobody waits for', () => {
  let db: PGlite;
  let server: PGliteServer;
  let checkpoints: EmbeddedCheckpoints;
  let url: string;

  beforeAll(async () => {
    db = await PGlite.create();
    // Warned after 100 ms, closed after 400 ms if a connection waits; a check is queued every second.
    server = new PGliteServer(db, 100, 400);
    url = `postgres://postgres@127.0.0.1:${await server.listen()}/postgres`;
    checkpoints = new EmbeddedCheckpoints(db, server, { walMb: 1024, seconds: 1 });
    checkpoints.start();
  });
  afterAll(async () => {
    const checked = checkpoints.stop();
    await server.close();
    await checked;
    await db.close();
  });

  it('is left alone past the limit although the server’s own check waits behind it, and warned of with nobody waiting', async () => {
    const warned: { waiting: number }[] = [];
    const warn = jest.spyOn(server, 'warnHold').mockImplementation((hold) => void warned.push(hold));
    const holder = new Client({ connectionString: url });
    await holder.connect();
    try {
      await holder.query('CREATE TABLE held_alone (v int)');
      await holder.query('BEGIN');
      await holder.query('INSERT INTO held_alone VALUES (1)');
      // Past the limit, and a check queued behind it (every second) for a while.
      await new Promise((r) => setTimeout(r, 2_000));
      await holder.query('COMMIT');
      expect((await holder.query('SELECT count(*)::int AS n FROM held_alone')).rows[0].n).toBe(1);
      expect(warned.length).toBeGreaterThan(0);
      expect(warned.every((w) => w.waiting === 0)).toBe(true);
    } finally {
      warn.mockRestore();
      await holder.end();
    }
  });
});
