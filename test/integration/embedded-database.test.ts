import { Client, Pool } from 'pg';
import { EmbeddedDatabase } from '@app/storage';

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

  it('reports SQL errors to the caller and keeps serving', async () => {
    await expect(pool.query('SELECT * FROM no_such_table')).rejects.toThrow(/no_such_table/);
    const { rows } = await pool.query('SELECT 1 AS ok');
    expect(rows[0].ok).toBe(1);
  });
});
