import { Client, Pool } from 'pg';
import { PGlite } from '@electric-sql/pglite';
import { ApiKeyRepository, Migration, createPool, inTransaction, migrate } from '@app/storage';
import { createTestDatabase, eventually } from '@app/testing';
import { PGliteServer } from '../../libs/storage/src/embedded/pglite-server';

/**
 * A pooled client whose transaction failed must not go back to its pool still inside that
 * transaction (or with a statement still running): the pool's next user would run in it, a later
 * COMMIT would commit the half of it, and on the embedded database the connection would keep the
 * database (PGliteServer's hand-over) with nothing running while every other connection waits.
 */
const advertiser = () => `adv_${Math.random().toString(36).slice(2, 10)}`;

/** Waits `ms` (a statement still running on the server ends meanwhile). */
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('a client whose transaction failed, on PostgreSQL', () => {
  let db: Awaited<ReturnType<typeof createTestDatabase>>;
  let admin: Pool;

  beforeAll(async () => {
    db = await createTestDatabase();
    admin = createPool({ url: db.url, max: 4, applicationName: 'release-test-admin' });
    await migrate(admin);
  });
  afterAll(async () => {
    await admin.end();
    await db.drop();
  });

  it('rotatePostbackToken whose statement outlasts the query timeout: the rotation is not committed by the next user of the pool', async () => {
    const adv = advertiser();
    const old = await new ApiKeyRepository(admin).rotatePostbackToken(adv);
    // One client, so the next user of the pool gets the one the rotation had.
    const pool = createPool({ url: db.url, max: 1, applicationName: 'release-test', queryTimeoutMs: 300 });
    const locker = await admin.connect();
    try {
      // The old token's row is locked: the rotation's UPDATE waits past the query timeout.
      await locker.query('BEGIN');
      await locker.query('SELECT 1 FROM api_keys WHERE id = $1 FOR UPDATE', [old.id]);
      await expect(new ApiKeyRepository(pool).rotatePostbackToken(adv)).rejects.toThrow(/timeout/i);
      await locker.query('COMMIT');
      // The UPDATE, still running on the server, now ends (inside the rotation's transaction, if its client came back).
      await sleep(300);
      await inTransaction(pool, (c) => c.query('SELECT 1'));
      expect(await new ApiKeyRepository(admin).authenticate(old.token)).toMatchObject({ keyId: old.id, scope: 'postback' });
      const { rows } = await admin.query(
        `SELECT count(*)::int AS n FROM pg_stat_activity WHERE application_name = 'release-test' AND state LIKE 'idle in transaction%'`,
      );
      expect(rows[0].n).toBe(0);
    } finally {
      locker.release();
      await pool.end();
    }
  });

  it('rotatePostbackToken whose connection is killed mid-transaction: fails (the process goes on), keeps the old token, and the pool serves', async () => {
    const adv = advertiser();
    const old = await new ApiKeyRepository(admin).rotatePostbackToken(adv);
    const pool = createPool({ url: db.url, max: 1, applicationName: 'release-test-killed' });
    const locker = await admin.connect();
    try {
      await locker.query('BEGIN');
      await locker.query('SELECT 1 FROM api_keys WHERE id = $1 FOR UPDATE', [old.id]);
      const rotation = new ApiKeyRepository(pool).rotatePostbackToken(adv);
      rotation.catch(() => undefined);
      const pid = await eventually(async () => {
        const { rows } = await admin.query(
          `SELECT pid FROM pg_stat_activity WHERE application_name = 'release-test-killed' AND wait_event_type = 'Lock'`,
        );
        return rows[0]?.pid as number | undefined;
      });
      await admin.query('SELECT pg_terminate_backend($1)', [pid]);
      await expect(rotation).rejects.toThrow(/terminat/i);
      await locker.query('ROLLBACK');
      expect(await new ApiKeyRepository(admin).authenticate(old.token)).toMatchObject({ keyId: old.id });
      expect((await pool.query('SELECT 1 AS ok')).rows[0].ok).toBe(1);
    } finally {
      locker.release();
      await pool.end();
    }
  });

  it('migrate, a migration that outlasts the query timeout: reported by name, not committed by the next user of the pool, the lock free', async () => {
    const table = `half_${Math.random().toString(36).slice(2, 10)}`;
    const slow: Migration = {
      id: `9999-${table}`,
      description: 'creates a table, then runs past the query timeout',
      up: async (c) => {
        await c.query(`CREATE TABLE ${table} (v int)`);
        await c.query('SELECT pg_sleep(2.5)');
      },
    };
    // Long enough for the bookkeeping before the migration on a loaded machine; the migration sleeps past it.
    const pool = createPool({ url: db.url, max: 1, applicationName: 'release-test-migrate', queryTimeoutMs: 1_000 });
    try {
      await expect(migrate(pool, [slow])).rejects.toThrow(new RegExp(`migration ${slow.id} failed: .*timeout`, 'i'));
      await sleep(2_000);
      await inTransaction(pool, (c) => c.query('SELECT 1'));
      const { rows } = await admin.query('SELECT to_regclass($1) AS t', [table]);
      expect(rows[0].t).toBeNull();
      const ids = (await admin.query('SELECT id FROM schema_migrations WHERE id = $1', [slow.id])).rows;
      expect(ids).toEqual([]);
      // Another migrator can take the lock (the failed one's session let it go).
      expect((await migrate(admin, [])).applied).toEqual([]);
    } finally {
      await pool.end();
    }
  });

  it('migrate, a migration that fails and rolls back: its client, sound, goes back to the pool', async () => {
    const failing: Migration = {
      id: `9999-failing-${Math.random().toString(36).slice(2, 10)}`,
      description: 'fails with a SQL error',
      up: async (c) => void (await c.query('SELECT * FROM no_such_table_at_all')),
    };
    const pool = createPool({ url: db.url, max: 1, applicationName: 'release-test-migrate-failing' });
    try {
      const before = (await pool.query('SELECT pg_backend_pid() AS pid')).rows[0].pid;
      await expect(migrate(pool, [failing])).rejects.toThrow(new RegExp(`migration ${failing.id} failed: .*no_such_table_at_all`));
      expect((await pool.query('SELECT pg_backend_pid() AS pid')).rows[0].pid).toBe(before);
      expect((await migrate(admin, [])).applied).toEqual([]);
    } finally {
      await pool.end();
    }
  });

  it('migrate, a migration whose connection is killed: reported by name (the process goes on), the pool serves', async () => {
    const killed: Migration = {
      id: `9999-killed-${Math.random().toString(36).slice(2, 10)}`,
      description: 'its connection is terminated',
      up: async (c) => void (await c.query('SELECT pg_terminate_backend(pg_backend_pid())')),
    };
    const pool = createPool({ url: db.url, max: 1, applicationName: 'release-test-migrate-killed' });
    try {
      await expect(migrate(pool, [killed])).rejects.toThrow(new RegExp(`migration ${killed.id} failed: .*terminat`, 'i'));
      expect((await pool.query('SELECT 1 AS ok')).rows[0].ok).toBe(1);
      expect((await migrate(pool, [])).applied).toEqual([]);
    } finally {
      await pool.end();
    }
  });
});

describe('a client whose transaction failed, on the embedded database (PGliteServer)', () => {
  let pglite: PGlite;
  let server: PGliteServer;
  let url: string;
  let admin: Pool;

  beforeAll(async () => {
    pglite = await PGlite.create();
    server = new PGliteServer(pglite);
    url = `postgres://postgres@127.0.0.1:${await server.listen()}/postgres`;
    admin = createPool({ url, max: 2, applicationName: 'release-test-admin' });
    await migrate(admin);
  });
  afterAll(async () => {
    await admin.end();
    await server.close();
    await pglite.close();
  });

  /** A statement on a connection of its own answers (nobody keeps the database). */
  const answers = async () => {
    const probe = new Client({ connectionString: url, connectionTimeoutMillis: 5_000, query_timeout: 5_000 });
    probe.on('error', () => undefined);
    await probe.connect();
    try {
      return (await probe.query('SELECT 1 AS ok')).rows[0].ok;
    } finally {
      await probe.end().catch(() => undefined);
    }
  };

  it('rotatePostbackToken whose BEGIN waits for the hand-over past the query timeout: no connection keeps the database afterwards', async () => {
    const adv = advertiser();
    const old = await new ApiKeyRepository(admin).rotatePostbackToken(adv);
    const pool = createPool({ url, max: 1, applicationName: 'release-test', queryTimeoutMs: 300 });
    const holder = new Client({ connectionString: url });
    await holder.connect();
    // The pool's connection is open before the database is kept (a startup waits for the hand-over too).
    await pool.query('SELECT 1');
    try {
      // Another connection's transaction keeps the database: the rotation's BEGIN waits for it.
      await holder.query('BEGIN');
      await holder.query('SELECT 1');
      await expect(new ApiKeyRepository(pool).rotatePostbackToken(adv)).rejects.toThrow(/timeout/i);
      await holder.query('COMMIT');
      expect(await answers()).toBe(1);
      expect(await new ApiKeyRepository(admin).authenticate(old.token)).toMatchObject({ keyId: old.id });
    } finally {
      await holder.end();
      await pool.end();
    }
  });

  it("migrate, a connection lost before a migration's BEGIN: reported by that migration's id; the next migrate takes the lock at once", async () => {
    const suffix = Math.random().toString(36).slice(2, 10);
    const first: Migration = { id: `9999-first-${suffix}`, description: 'applies', up: async (c) => void (await c.query('SELECT 1')) };
    const second: Migration = {
      id: `9999-second-${suffix}`,
      description: 'its BEGIN fails',
      up: async (c) => void (await c.query('SELECT 1')),
    };
    const pool = createPool({ url, max: 1, applicationName: 'release-test-migrate-begin' });
    // PGlite fails the second BEGIN (as a trapped WebAssembly call would): the server closes that connection.
    const exec = server.exec.bind(server);
    let begins = 0;
    const spy = jest.spyOn(server, 'exec').mockImplementation(async (bytes) => {
      if (Buffer.from(bytes).includes('BEGIN') && ++begins === 2) throw new Error('injected: PGlite failed the request');
      return exec(bytes);
    });
    const warn = jest.spyOn(server, 'warn').mockImplementation(() => undefined);
    try {
      await expect(migrate(pool, [first, second])).rejects.toThrow(new RegExp(`migration ${second.id} failed: `));
      spy.mockRestore();
      // PGlite is one session: the lock the closed connection held is not freed, but the same session takes it again.
      expect((await migrate(admin, [first, second])).applied).toEqual([second.id]);
    } finally {
      spy.mockRestore();
      warn.mockRestore();
      await pool.end();
    }
  });

  it('rotatePostbackToken whose connection the server closes mid-transaction: fails (the process goes on), rolled back, and the server serves', async () => {
    const adv = advertiser();
    const old = await new ApiKeyRepository(admin).rotatePostbackToken(adv);
    const pool = createPool({ url, max: 1, applicationName: 'release-test' });
    // PGlite fails the rotation's INSERT (as a trapped WebAssembly call would): the server closes that connection.
    const exec = server.exec.bind(server);
    const spy = jest.spyOn(server, 'exec').mockImplementation(async (bytes) => {
      if (Buffer.from(bytes).includes('INSERT INTO api_keys')) throw new Error('injected: PGlite failed the request');
      return exec(bytes);
    });
    const warn = jest.spyOn(server, 'warn').mockImplementation(() => undefined);
    try {
      await expect(new ApiKeyRepository(pool).rotatePostbackToken(adv)).rejects.toThrow();
      spy.mockRestore();
      expect(await answers()).toBe(1);
      expect(await new ApiKeyRepository(admin).authenticate(old.token)).toMatchObject({ keyId: old.id });
      expect((await pool.query('SELECT 1 AS ok')).rows[0].ok).toBe(1);
    } finally {
      spy.mockRestore();
      warn.mockRestore();
      await pool.end();
    }
  });
});
