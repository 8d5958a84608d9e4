import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { Client, Pool, PoolClient } from 'pg';
import { from as copyFrom } from 'pg-copy-streams';
import { EmbeddedDatabase } from '@app/storage';

/** `COPY … FROM STDIN` of `text` through one pooled connection; resolves with the rows copied. */
async function copyIn(client: PoolClient | Client, sql: string, chunks: string[]): Promise<number> {
  const stream = client.query(copyFrom(sql));
  await pipeline(Readable.from(chunks.map((c) => Buffer.from(c))), stream);
  return stream.rowCount;
}

describe('embedded database (TimescaleDB PGlite over the wire protocol)', () => {
  let sut: EmbeddedDatabase;
  let pool: Pool;

  beforeAll(async () => {
    sut = await EmbeddedDatabase.start();
    pool = new Pool({ connectionString: sut.url, max: 4 });
  });
  afterAll(async () => {
    await pool.end();
    await sut.stop();
  });

  it('has the timescaledb extension available', async () => {
    await pool.query('CREATE EXTENSION IF NOT EXISTS timescaledb');
    const { rows } = await pool.query(`SELECT extversion FROM pg_extension WHERE extname = 'timescaledb'`);
    expect(rows).toHaveLength(1);
  });

  it('takes a batch insert far larger than one TCP chunk', async () => {
    await pool.query('CREATE TABLE big_insert (id text, ts timestamptz, pad text)');
    const n = 20_000;
    const ids = Array.from({ length: n }, (_, i) => `row-${i}`);
    const ts = ids.map((_, i) => new Date(Date.UTC(2026, 0, 1) + i * 1000));
    const pad = ids.map(() => 'x'.repeat(100));
    await pool.query('INSERT INTO big_insert SELECT * FROM unnest($1::text[], $2::timestamptz[], $3::text[])', [ids, ts, pad]);
    const { rows } = await pool.query('SELECT count(*)::int AS n FROM big_insert');
    expect(rows[0].n).toBe(n);
  });

  it('serves several pooled connections at once', async () => {
    const results = await Promise.all(Array.from({ length: 50 }, (_, i) => pool.query('SELECT $1::int AS i, pg_sleep(0.001)', [i])));
    expect(results.map((r) => r.rows[0].i)).toEqual(Array.from({ length: 50 }, (_, i) => i));
  });

  it('keeps a transaction to one connection until it ends', async () => {
    await pool.query('CREATE TABLE tx_probe (v int)');
    const a = await pool.connect();
    const b = await pool.connect();
    try {
      await a.query('BEGIN');
      await a.query('INSERT INTO tx_probe VALUES (1)');
      // b's statement must wait for a's commit, then see the row.
      const seen = b.query('SELECT count(*)::int AS n FROM tx_probe');
      await new Promise((r) => setTimeout(r, 50));
      await a.query('INSERT INTO tx_probe VALUES (2)');
      await a.query('COMMIT');
      expect((await seen).rows[0].n).toBe(2);
    } finally {
      a.release();
      b.release();
    }
  });

  it('rolls back the transaction of a client that disconnects', async () => {
    await pool.query('CREATE TABLE abandoned (v int)');
    const client = new Client({ connectionString: sut.url });
    client.on('error', () => undefined);
    await client.connect();
    await client.query('BEGIN');
    await client.query('INSERT INTO abandoned VALUES (1)');
    (client as unknown as { connection: { stream: { destroy(): void } } }).connection.stream.destroy();
    const { rows } = await pool.query('SELECT count(*)::int AS n FROM abandoned');
    expect(rows[0].n).toBe(0);
  });

  it('takes COPY FROM STDIN, in many CopyData messages, as PostgreSQL does', async () => {
    await pool.query('CREATE TABLE copied (id text PRIMARY KEY, ts timestamptz, note text, tags jsonb)');
    const rows = Array.from({ length: 5_000 }, (_, i) => `c-${i}\t2026-01-01T00:00:0${i % 10}.123Z\tx\\ty\\nz\t{"i": ${i}}\n`);
    // Several rows a message, and one message larger than a TCP chunk.
    const chunks = [rows.slice(0, 7).join(''), rows.slice(7, 4_000).join(''), ...rows.slice(4_000)];
    const client = await pool.connect();
    try {
      expect(await copyIn(client, 'COPY copied (id, ts, note, tags) FROM STDIN', chunks)).toBe(5_000);
    } finally {
      client.release();
    }
    const { rows: stored } = await pool.query(`SELECT count(*)::int AS n, min(note) AS note, max((tags->>'i')::int) AS i FROM copied`);
    expect(stored[0]).toEqual({ n: 5_000, note: 'x\ty\nz', i: 4_999 });
    const ts = await pool.query(`SELECT ts FROM copied WHERE id = 'c-3'`);
    expect(ts.rows[0].ts).toEqual(new Date('2026-01-01T00:00:03.123Z'));
  });

  it('refuses a COPY whose rows break a key, with the error, rolls it back whole and keeps serving', async () => {
    await pool.query('CREATE TABLE copied_once (id text PRIMARY KEY)');
    await pool.query(`INSERT INTO copied_once VALUES ('b')`);
    const client = await pool.connect();
    try {
      await expect(copyIn(client, 'COPY copied_once FROM STDIN', ['a\nb\nc\n'])).rejects.toMatchObject({ code: '23505' });
      // The same connection goes on, inside a transaction too.
      await client.query('BEGIN');
      expect(await copyIn(client, 'COPY copied_once (id) FROM STDIN', ['d\n'])).toBe(1);
      await client.query('ROLLBACK');
    } finally {
      client.release();
    }
    const { rows } = await pool.query('SELECT id FROM copied_once ORDER BY id');
    expect(rows.map((r) => r.id)).toEqual(['b']);
  });

  it('answers a COPY the client gives up on with an error, and writes none of it', async () => {
    await pool.query('CREATE TABLE copy_failed (id text)');
    const client = await pool.connect();
    try {
      const stream = client.query(copyFrom('COPY copy_failed FROM STDIN'));
      const failed = new Promise((_, reject) => stream.on('error', reject));
      stream.write(Buffer.from('a\n'));
      stream.destroy(new Error('the source broke'));
      await expect(failed).rejects.toThrow(/the source broke/);
      expect((await client.query('SELECT 1 AS ok')).rows[0].ok).toBe(1);
    } finally {
      client.release();
    }
    expect((await pool.query('SELECT count(*)::int AS n FROM copy_failed')).rows[0].n).toBe(0);
  });

  it('reports SQL errors to the caller and keeps serving', async () => {
    await expect(pool.query('SELECT * FROM no_such_table')).rejects.toThrow(/no_such_table/);
    const { rows } = await pool.query('SELECT 1 AS ok');
    expect(rows[0].ok).toBe(1);
  });
});
