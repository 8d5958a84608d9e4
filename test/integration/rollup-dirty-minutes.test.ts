import { Pool } from 'pg';
import type { ArbiterConfig } from '@app/config';
import { ClickVerdict, Decision } from '@app/contracts';
import { MIGRATIONS, OutcomeRepository, PostgresDialect, ROLLUPS, createPool, inTransaction, migrate, refreshStaged } from '@app/storage';
import { createTestDatabase, uid } from '@app/testing';
import { RollupRefresherService } from '../../apps/recorder/src/rollup-refresher.service';
import { RollupHarness, clickVerdict, recentOutcomes } from './support/rollup-harness';

/**
 * Plain PostgreSQL's rollups through minutely stages fed by the minutes each write marks dirty
 * (migration 0024, issue 19): whichever recorders write and refresh, whenever one stops, whatever
 * the rows' times, the rollups are those of a recomputation from every raw row, and a refresh
 * reads what was written since the last one, not the hour.
 */
const dialect = new PostgresDialect();
const cfg = { ROLLUP_REFRESH_SECONDS: 0 } as ArbiterConfig;
const HOURLY = ROLLUPS.find((r) => r.name === 'kpi_clicks_hourly')!;
const DAILY = ROLLUPS.find((r) => r.name === 'kpi_clicks_daily')!;

describe('Rollups through dirty minutes on PostgreSQL 15', () => {
  let pool: Pool;
  let drop: () => Promise<void>;
  let harness: RollupHarness;
  let repository: OutcomeRepository;
  let outcomes: Awaited<ReturnType<typeof recentOutcomes>>;

  beforeAll(async () => {
    const db = await createTestDatabase();
    drop = db.drop;
    pool = createPool({ url: db.url, max: 8, applicationName: 'rollup-dirty-minutes' });
    await migrate(pool);
    harness = new RollupHarness(pool, dialect);
    repository = harness.repository;
    outcomes = await recentOutcomes();
  });
  afterAll(async () => {
    await pool.end();
    await drop();
  });

  async function expectRecomputed() {
    for (const r of ROLLUPS) {
      const { stored, recomputed } = await harness.compare(r.name);
      expect(stored.length).toBeGreaterThan(0);
      expect(stored).toEqual(recomputed);
    }
  }

  it('several recorders writing and refreshing at once', async () => {
    const recorders = Array.from({ length: 3 }, () => new RollupRefresherService(cfg, pool));
    for (const r of recorders) await r.onApplicationBootstrap();
    const all: (ClickVerdict | Decision)[] = [...outcomes.verdicts, ...outcomes.decisions.values()];
    // Each recorder takes every third batch of 200, refreshing after every other batch of its own.
    const batches: (ClickVerdict | Decision)[][] = [];
    for (let i = 0; i < all.length; i += 200) batches.push(all.slice(i, i + 200));
    await Promise.all(
      recorders.map(async (r, k) => {
        let n = 0;
        for (let i = k; i < batches.length; i += recorders.length) {
          await repository.insert(batches[i]);
          if (n++ % 2 === 1) await r.refresh();
        }
      }),
    );
    // One last refresh by any of them.
    await recorders[1].refresh();
    await expectRecomputed();
    for (const r of recorders) await r.onApplicationShutdown();
  });

  it("a recorder that stops behind the others, and a refresh that dies after its claim: the others' refreshes count their rows", async () => {
    const hour = Math.floor(Date.now() / 3600_000) * 3600_000 - 3600_000;
    const a = new RollupRefresherService(cfg, pool);
    const b = new RollupRefresherService(cfg, pool);
    await a.onApplicationBootstrap();
    await b.onApplicationBootstrap();
    await repository.insert([clickVerdict(hour + 10 * 60_000, uid('clk'), 'pub-behind', null)]);
    await b.refresh();
    // A stores clicks of minute 20 and stops before its next refresh.
    await repository.insert(Array.from({ length: 5 }, () => clickVerdict(hour + 20 * 60_000, uid('clk'), 'pub-behind', null)));
    await a.onApplicationShutdown();
    // A refresh (B's) that claims them and dies before it commits.
    await expect(
      inTransaction(pool, async (client) => {
        await refreshStaged(client, HOURLY, DAILY);
        throw new Error('killed');
      }),
    ).rejects.toThrow('killed');
    // B goes on storing (minute 30) and refreshing.
    await repository.insert([clickVerdict(hour + 30 * 60_000, uid('clk'), 'pub-behind', null)]);
    await b.refresh();
    const n = (await pool.query(`SELECT sum(clicks)::int AS n FROM kpi_clicks_hourly WHERE publisher_id = 'pub-behind'`)).rows[0].n;
    expect(n).toBe(7);
    await expectRecomputed();
    await b.onApplicationShutdown();
  });

  it('late rows for an old minute, and a recorder of the previous version refreshing from the raw rows beside (a rolling upgrade)', async () => {
    const r = new RollupRefresherService(cfg, pool);
    await r.onApplicationBootstrap();
    await r.refresh();
    const now = Date.now();
    // Late: three hours and two days back, into minutes already rolled up.
    const late = [now - 3 * 3600_000, now - 2 * 86_400_000, now - 2 * 86_400_000 + 1000].map((t) =>
      clickVerdict(t, uid('clk'), 'pub-late', 'late-sub'),
    );
    await repository.insert(late);
    // The previous version's refresh (from the raw rows, from two days back) runs in between.
    await inTransaction(pool, async (client) => {
      for (const r of ROLLUPS.filter((x) => x.source === 'click_verdicts' || x.source === HOURLY.name))
        for (const s of dialect.refresh(r, new Date(now - 2 * 86_400_000))) await client.query(s.sql, s.params);
    });
    await repository.insert([clickVerdict(now - 2 * 86_400_000 + 2000, uid('clk'), 'pub-late', 'late-sub')]);
    await r.refresh();
    const n = (await pool.query(`SELECT sum(clicks)::int AS n FROM kpi_clicks_daily WHERE publisher_id = 'pub-late'`)).rows[0].n;
    expect(n).toBe(4);
    await expectRecomputed();
    await r.onApplicationShutdown();
  });

  it("reads the rows written since the last refresh, not the hour's", async () => {
    const r = new RollupRefresherService(cfg, pool);
    await r.onApplicationBootstrap();
    await r.refresh();
    const last = outcomes.verdicts.reduce((a, b) => (a.ts > b.ts ? a : b));
    const ts = Date.parse(last.ts) + 1000;
    const hourRows = (
      await pool.query(`SELECT count(*)::int AS n FROM click_verdicts WHERE ts >= $1 AND ts < $1::timestamptz + INTERVAL '1 hour'`, [
        new Date(Math.floor(ts / 3600_000) * 3600_000),
      ])
    ).rows[0].n;
    expect(hourRows).toBeGreaterThan(1000);
    await repository.insert(outcomes.verdicts.slice(0, 20).map((v) => ({ ...v, clickId: uid('fresh'), ts: new Date(ts).toISOString() })));
    // The refresh, counting the raw rows it reads (PostgreSQL 15 shows a backend's counts not yet
    // flushed, earlier transactions' included: a difference).
    const { read, report } = await inTransaction(pool, async (client) => {
      const rowsRead = async () =>
        Number(
          (
            await client.query(
              `SELECT coalesce(seq_tup_read, 0) + coalesce(idx_tup_fetch, 0) AS n FROM pg_stat_xact_user_tables WHERE relname = 'click_verdicts'`,
            )
          ).rows[0].n,
        );
      const before = await rowsRead();
      const report = await refreshStaged(client, HOURLY, DAILY);
      return { read: (await rowsRead()) - before, report };
    });
    expect(report).toMatchObject({ minutes: 1, hours: 1, days: 1, rebuiltHours: 0 });
    // The fresh rows' minute (it may hold a few of the simulated ones too).
    expect(read).toBeLessThan(200);
    await expectRecomputed();
    await r.onApplicationShutdown();
  });
});

describe('Migration 0024 on PostgreSQL 15, on rollups refreshed the previous way', () => {
  let pool: Pool;
  let drop: () => Promise<void>;
  beforeAll(async () => {
    const db = await createTestDatabase();
    drop = db.drop;
    pool = createPool({ url: db.url, max: 3, applicationName: 'rollup-dirty-0024' });
  });
  afterAll(async () => {
    await pool.end();
    await drop();
  });

  it('fills the stages from the history, newest hours first, and keeps the figures exact meanwhile and after', async () => {
    const at = MIGRATIONS.findIndex((m) => m.id === '0024-rollup-dirty-minutes');
    // This version's repository writes decision_transitions.feedback_id (0027, a column of its own,
    // independent of 0024): applied up front so the history can be written with it.
    const feedbackColumn = MIGRATIONS.find((m) => m.id === '0027-feedback-on-revisions')!;
    await migrate(pool, [...MIGRATIONS.slice(0, at), feedbackColumn]);
    const harness = new RollupHarness(pool, dialect);
    const { verdicts, decisions } = await recentOutcomes();
    const all: (ClickVerdict | Decision)[] = [...verdicts, ...decisions.values()];
    // Written and refreshed as before 0024, plus a click two days back.
    const old = Math.floor(Date.now() / 3600_000) * 3600_000 - 2 * 86_400_000;
    for (let i = 0; i < all.length; i += 500) await harness.repository.insert(all.slice(i, i + 500));
    await harness.repository.insert([clickVerdict(old + 5 * 60_000, uid('clk'), 'pub-old', null)]);
    for (const r of ROLLUPS) for (const s of dialect.refresh(r, new Date(old))) await pool.query(s.sql, s.params);
    const before = await Promise.all(ROLLUPS.map((r) => harness.compare(r.name)));
    for (const b of before) expect(b.stored).toEqual(b.recomputed);

    expect((await migrate(pool)).applied).toEqual(
      MIGRATIONS.slice(at)
        .filter((m) => m !== feedbackColumn)
        .map((m) => m.id),
    );
    const range = (await pool.query(`SELECT source, minute, through FROM rollup_dirty_minutes ORDER BY source`)).rows;
    expect(range.map((x) => [x.source, x.minute.getTime()])).toEqual([
      ['click_verdicts', old + 5 * 60_000],
      ['decisions', expect.any(Number)],
    ]);
    // A late click in an old hour while the history is rebuilt an hour per refresh (no budget).
    await harness.repository.insert([clickVerdict(old + 6 * 60_000, uid('clk'), 'pub-old', null)]);
    let pending = Infinity;
    let refreshes = 0;
    while (pending > 0) {
      const report = await inTransaction(pool, (client) => refreshStaged(client, HOURLY, DAILY, { budgetMs: 0 }));
      expect(report.pendingHours).toBeLessThan(pending);
      pending = report.pendingHours;
      refreshes++;
    }
    expect(refreshes).toBeGreaterThan(24);
    const refresher = new RollupRefresherService(cfg, pool);
    await refresher.onApplicationBootstrap();
    await refresher.refresh();
    // Another late click two days back, now into a stage that holds that hour.
    await harness.repository.insert([clickVerdict(old + 7 * 60_000, uid('clk'), 'pub-old', null)]);
    await refresher.refresh();
    for (const r of ROLLUPS) {
      const { stored, recomputed } = await harness.compare(r.name);
      expect(stored).toEqual(recomputed);
    }
    const n = (await pool.query(`SELECT sum(clicks)::int AS n FROM kpi_clicks_hourly WHERE publisher_id = 'pub-old'`)).rows[0].n;
    expect(n).toBe(3);
    expect((await pool.query(`SELECT count(*)::int AS n FROM rollup_dirty_minutes`)).rows[0].n).toBe(0);
    await refresher.onApplicationShutdown();
  });
});

describe('Rollups through dirty minutes in a database whose TimeZone has summer time (Europe/Berlin)', () => {
  let pool: Pool;
  let drop: () => Promise<void>;
  beforeAll(async () => {
    const db = await createTestDatabase();
    drop = db.drop;
    const setup = createPool({ url: db.url, max: 1, applicationName: 'rollup-dirty-tz-setup' });
    await migrate(setup);
    await setup.query(`ALTER DATABASE "${db.name}" SET timezone = 'Europe/Berlin'`);
    await setup.end();
    pool = createPool({ url: db.url, max: 3, applicationName: 'rollup-dirty-tz' });
  });
  afterAll(async () => {
    await pool.end();
    await drop();
  });

  it('the days holding the changes to and from summer time (23 and 25 hours in that zone) are the sums of their 24 UTC hours, late rows included', async () => {
    expect((await pool.query(`SHOW timezone`)).rows[0].TimeZone).toBe('Europe/Berlin');
    const harness = new RollupHarness(pool, dialect);
    const click = (iso: string) => clickVerdict(Date.parse(iso), uid('clk'), 'pub-dst', null);
    const refresh = () => inTransaction(pool, (client) => refreshStaged(client, HOURLY, DAILY));
    const expectExact = async () => {
      for (const name of [HOURLY.name, DAILY.name]) {
        const { stored, recomputed } = await harness.compare(name);
        expect(stored).toEqual(recomputed);
      }
    };
    // The last UTC hour of 2026-03-29 (spring forward), and both sides of the midnight after 2026-10-25 (fall back).
    await harness.repository.insert(
      ['2026-03-29T22:30:00Z', '2026-03-29T23:30:00Z', '2026-10-25T23:30:00Z', '2026-10-26T00:30:00Z'].map(click),
    );
    await refresh();
    await expectExact();
    const daily = async (day: string) =>
      (await pool.query(`SELECT clicks::int AS n FROM kpi_clicks_daily WHERE publisher_id = 'pub-dst' AND bucket = $1`, [day])).rows[0]?.n;
    expect(await daily('2026-03-29T00:00:00Z')).toBe(2);
    expect(await daily('2026-10-25T00:00:00Z')).toBe(1);
    expect(await daily('2026-10-26T00:00:00Z')).toBe(1);
    // A late row into the fall-back day alone, then a click now: each refresh succeeds and counts it.
    await harness.repository.insert([click('2026-10-25T12:00:00Z')]);
    await refresh();
    expect(await daily('2026-10-25T00:00:00Z')).toBe(2);
    expect(await daily('2026-10-26T00:00:00Z')).toBe(1);
    await harness.repository.insert([clickVerdict(Date.now(), uid('clk'), 'pub-dst', null)]);
    await refresh();
    await expectExact();
    expect((await pool.query(`SELECT count(*)::int AS n FROM rollup_dirty_minutes`)).rows[0].n).toBe(0);
  });
});

describe('Rollups through dirty minutes with rows a sender dated far ahead', () => {
  let pool: Pool;
  let drop: () => Promise<void>;
  beforeAll(async () => {
    const db = await createTestDatabase();
    drop = db.drop;
    pool = createPool({ url: db.url, max: 3, applicationName: 'rollup-dirty-ahead' });
  });
  afterAll(async () => {
    await pool.end();
    await drop();
  });

  it('history with clicks dated 2100 and 9999-12-31 when 0024 runs: the current hour is rebuilt first, every refresh succeeds, the figures end exact', async () => {
    const at = MIGRATIONS.findIndex((m) => m.id === '0024-rollup-dirty-minutes');
    await migrate(pool, MIGRATIONS.slice(0, at));
    const harness = new RollupHarness(pool, dialect);
    const hour = Math.floor(Date.now() / 3600_000) * 3600_000;
    const click = (t: number) => clickVerdict(t, uid('clk'), 'pub-ahead', null);
    await harness.repository.insert(
      [hour - 50 * 3600_000, Date.parse('2100-01-01T00:10:00Z'), Date.parse('9999-12-31T23:30:00Z')].map(click),
    );
    await migrate(pool);
    // Written after 0024: inside the range to rebuild.
    await harness.repository.insert([click(Date.now())]);
    const refresh = () => inTransaction(pool, (client) => refreshStaged(client, HOURLY, DAILY, { budgetMs: 0 }));
    const now = async () =>
      (await pool.query(`SELECT count(*)::int AS n FROM kpi_clicks_hourly WHERE bucket >= $1`, [new Date(hour - 3600_000)])).rows[0];
    // The current hour (or the one before, should the clock have passed an hour) comes first.
    let report = await refresh();
    if (report.pendingHours > 0 && (await now()).n === 0) report = await refresh();
    expect(
      (
        await pool.query(`SELECT sum(clicks)::int AS n FROM kpi_clicks_hourly WHERE bucket >= $1 AND bucket < $2`, [
          new Date(hour - 3600_000),
          new Date(hour + 7200_000),
        ])
      ).rows[0].n,
    ).toBe(1);
    for (let i = 0; report.pendingHours > 0; i++) {
      expect(i).toBeLessThan(60);
      report = await refresh();
    }
    for (const name of [HOURLY.name, DAILY.name]) {
      const { stored, recomputed } = await harness.compare(name);
      expect(stored.length).toBe(4);
      expect(stored).toEqual(recomputed);
    }
    // A late click dated far ahead, and a backfill asked from two days back (a migration's): served the same way.
    await harness.repository.insert([click(Date.parse('9999-12-31T23:59:59Z'))]);
    await pool.query(`INSERT INTO rollup_backfills (rollup, since) VALUES ($1, $2)`, [HOURLY.name, new Date(hour - 50 * 3600_000)]);
    report = await refresh();
    for (let i = 0; report.pendingHours > 0; i++) {
      expect(i).toBeLessThan(60);
      report = await refresh();
    }
    const { stored, recomputed } = await harness.compare(DAILY.name);
    expect(stored).toEqual(recomputed);
    expect((await pool.query(`SELECT clicks::int AS n FROM kpi_clicks_daily WHERE bucket = '9999-12-31Z'`)).rows[0].n).toBe(2);
  });
});

describe('Rollups through dirty minutes after a backlog', () => {
  let pool: Pool;
  let drop: () => Promise<void>;
  beforeAll(async () => {
    const db = await createTestDatabase();
    drop = db.drop;
    pool = createPool({ url: db.url, max: 3, applicationName: 'rollup-dirty-backlog' });
    await migrate(pool);
  });
  afterAll(async () => {
    await pool.end();
    await drop();
  });

  it('more dirty minutes than a refresh takes: the newest first, the rest left dirty, exact figures after a few refreshes', async () => {
    const harness = new RollupHarness(pool, dialect);
    const minute = Math.floor(Date.now() / 60_000) * 60_000;
    // 500 minutes written, none refreshed (say the refresh failed for hours), in statements of 50.
    const clicks = Array.from({ length: 500 }, (_, k) =>
      [0, 1].map(() => clickVerdict(minute - k * 60_000 + 1000, uid('clk'), 'pub-backlog', null)),
    ).flat();
    for (let i = 0; i < clicks.length; i += 100) await harness.repository.insert(clicks.slice(i, i + 100));
    const refresh = () => inTransaction(pool, (client) => refreshStaged(client, HOURLY, DAILY, { maxMinutes: 120 }));
    let report = await refresh();
    expect(report).toMatchObject({ minutes: 120, pendingMinutes: 380 });
    const newest = (await pool.query(`SELECT clicks::int AS n FROM kpi_clicks_minutely WHERE bucket = $1`, [new Date(minute)])).rows[0]?.n;
    expect(newest).toBe(2);
    let refreshes = 1;
    while (report.pendingMinutes > 0) {
      report = await refresh();
      refreshes++;
    }
    expect(refreshes).toBe(5);
    expect((await pool.query(`SELECT count(*)::int AS n FROM rollup_dirty_minutes WHERE source = 'click_verdicts'`)).rows[0].n).toBe(0);
    for (const name of [HOURLY.name, DAILY.name]) {
      const { stored, recomputed } = await harness.compare(name);
      expect(stored).toEqual(recomputed);
    }
    expect((await pool.query(`SELECT sum(clicks)::int AS n FROM kpi_clicks_daily WHERE publisher_id = 'pub-backlog'`)).rows[0].n).toBe(
      1000,
    );
  });

  it("marks the minutes of a writer whose search_path does not hold the tables' schema", async () => {
    await inTransaction(pool, async (client) => {
      const { rows } = await client.query(`SELECT current_schema() AS schema`);
      const schema = rows[0].schema as string;
      await client.query(`SET LOCAL search_path = pg_catalog`);
      await client.query(
        `UPDATE "${schema}".click_verdicts SET ts = ts WHERE click_id = (SELECT min(click_id) FROM "${schema}".click_verdicts)`,
      );
    });
    expect((await pool.query(`SELECT count(*)::int AS n FROM rollup_dirty_minutes WHERE source = 'click_verdicts'`)).rows[0].n).toBe(1);
  });
});

describe('The dirty-minutes table with autovacuum off', () => {
  let pool: Pool;
  let drop: () => Promise<void>;
  beforeAll(async () => {
    const db = await createTestDatabase();
    drop = db.drop;
    pool = createPool({ url: db.url, max: 3, applicationName: 'rollup-dirty-vacuum' });
    await migrate(pool);
    await pool.query(`ALTER TABLE rollup_dirty_minutes SET (autovacuum_enabled = false)`);
  });
  afterAll(async () => {
    await pool.end();
    await drop();
  });

  it("stays the size of what is written between two refreshes: the refresher vacuums the claims' dead rows itself", async () => {
    const refresher = new RollupRefresherService(cfg, pool);
    await refresher.onApplicationBootstrap();
    const minute = new Date(Math.floor(Date.now() / 60_000) * 60_000);
    const sizes: number[] = [];
    // Five times what writers' statements mark between refreshes (one row each), then a refresh.
    for (let round = 0; round < 5; round++) {
      await pool.query(`INSERT INTO rollup_dirty_minutes (source, minute) SELECT 'click_verdicts', $1 FROM generate_series(1, 20000)`, [
        minute,
      ]);
      sizes.push(Number((await pool.query(`SELECT pg_relation_size('rollup_dirty_minutes') AS n`)).rows[0].n));
      await refresher.refresh();
      expect((await pool.query(`SELECT count(*)::int AS n FROM rollup_dirty_minutes`)).rows[0].n).toBe(0);
    }
    expect(sizes[0]).toBeGreaterThan(0);
    expect(Math.max(...sizes)).toBeLessThanOrEqual(sizes[0] * 1.2);
    await refresher.onApplicationShutdown();
  });
});
