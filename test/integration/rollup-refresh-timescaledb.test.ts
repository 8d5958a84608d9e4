import type { JsMsg } from '@nats-io/jetstream';
import { Pool } from 'pg';
import type { ArbiterConfig } from '@app/config';
import { ClickVerdict, Decision } from '@app/contracts';
import { Dialect, EmbeddedDatabase, MIGRATIONS, ROLLUPS, TimescaleDialect, createPool, detectDialect, migrate } from '@app/storage';
import { metrics } from '@app/observability';
import { uid } from '@app/testing';
import { RollupRefresherService } from '../../apps/recorder/src/rollup-refresher.service';
import { RollupHarness, clickVerdict, recentOutcomes } from './support/rollup-harness';

const targets = [
  {
    name: 'TimescaleDB (PGlite)',
    setup: async () => {
      const db = await EmbeddedDatabase.start();
      return { url: db.url, teardown: () => db.stop() };
    },
  },
];

/**
 * The recorder's routine refresh of the KPI rollups on TimescaleDB (issue 19; the embedded PGlite
 * build), on traffic of the last two hours: the figures are those of a recomputation from every raw
 * row, whatever order the rows came in, and a refresh re-aggregates the raw rows written since the
 * last one, not the whole hour (hourly continuous aggregates on minutely ones, migration 0020).
 * Plain PostgreSQL's refresh: rollup-refresh.test.ts.
 */
describe.each(targets)('Routine rollup refresh on $name', ({ setup }) => {
  let pool: Pool;
  let drop: () => Promise<void>;
  let harness: RollupHarness;
  let verdicts: ClickVerdict[];
  let decisions: Map<string, Decision>;
  let dialect: Dialect;

  beforeAll(async () => {
    const target = await setup();
    drop = target.teardown;
    pool = createPool({ url: target.url, max: 3, applicationName: 'rollup-refresh-test' });
    await migrate(pool);
    dialect = await detectDialect(pool);
    // Traffic from 100 to 40 minutes ago: over two hours, inside the minutely stage's horizon.
    ({ verdicts, decisions } = await recentOutcomes());
    harness = new RollupHarness(pool, dialect);
    await harness.start();
  });

  afterAll(async () => {
    await harness.stop();
    await pool.end();
    await drop();
  });

  it('gives the figures of a recomputation from every raw row, late rows and revisions included', async () => {
    await harness.expectLateRowsAndRevisionsRecomputed(verdicts, decisions);
  });

  it('reads the rows written since the last refresh, not every row of the hour', async () => {
    const last = verdicts.reduce((a, b) => (a.ts > b.ts ? a : b));
    const ts = new Date(Date.parse(last.ts) + 1000).toISOString();
    const hourRows = (
      await pool.query(
        `SELECT count(*)::int AS n FROM click_verdicts WHERE ts >= date_bin('1 hour', $1::timestamptz, TIMESTAMPTZ '2000-01-01')`,
        [ts],
      )
    ).rows[0].n;
    expect(hourRows).toBeGreaterThan(1000);
    const fresh = verdicts.slice(0, 20).map((v) => ({ ...v, clickId: uid('late-in-hour'), ts }));
    await harness.repository.insert(fresh);
    const read = await rawRowsAggregated(
      pool,
      dialect,
      ROLLUPS.find((r) => r.name === 'kpi_clicks_hourly')!,
      new Date(ts),
    );
    expect(read).toBeLessThan(200);
    const { stored, recomputed } = await harness.compare('kpi_clicks_hourly');
    expect(stored).toEqual(recomputed);
  });
});

/**
 * Migration 0020 on an embedded database that already holds data and rollups: the hourly rollups
 * move onto minutely continuous aggregates and the recorder's refresher recomputes their history,
 * to the same figures. A database whose raw rows were already pruned keeps its rollups unstaged.
 */
describe('Minutely stages on TimescaleDB (PGlite)', () => {
  const before = MIGRATIONS.findIndex((m) => m.id === '0020-minutely-rollup-caggs');
  const figures = async (pool: Pool, name: string) =>
    (
      await pool.query(
        `SELECT bucket, publisher_id, sum(${name.startsWith('kpi_clicks') ? 'clicks' : 'conversions'})::int AS n, sum(score_sum)::float8 AS s
           FROM ${name} GROUP BY 1, 2 ORDER BY 1, 2`,
      )
    ).rows.map((r) => ({ ...r, s: Number(r.s.toPrecision(6)) }));

  /** A fresh embedded database before 0020, with 2,000 clicks and 200 decisions over three days, rolled up. */
  async function oldDatabase() {
    const db = await EmbeddedDatabase.start();
    const pool = createPool({ url: db.url, max: 2, applicationName: 'rollup-stage-migration-test' });
    await migrate(pool, MIGRATIONS.slice(0, before));
    await pool.query(
      `INSERT INTO click_verdicts (click_id, ts, decided_at, offer_id, publisher_id, sub_id, valid, score, reason_codes, reasons, ruleset_version, latency_ms)
       SELECT 'c' || g, now() - g * interval '2 minutes', now(), 'o' || (g % 3), 'p' || (g % 4), 's', g % 5 <> 0, (g % 10) / 10.0,
              CASE WHEN g % 5 = 0 THEN '{DUPLICATE_CLICK}'::text[] ELSE '{}' END, '[]', 'v1', 1
         FROM generate_series(1, 2000) g`,
    );
    await pool.query(
      `INSERT INTO decisions (conversion_id, ts, click_id, offer_id, publisher_id, advertiser_id, status, score, reason_codes, reasons,
                              amount, revenue, payout, currency, ruleset_version, decided_at, latency_ms)
       SELECT 'v' || g, now() - g * interval '20 minutes', 'c' || g, 'o', 'p' || (g % 4), 'a', 'approved', 0.1, '{}', '[]', 50, 50, 5, 'USD', 'v1', now(), 1
         FROM generate_series(1, 200) g`,
    );
    const old = new TimescaleDialect(false);
    for (const r of ROLLUPS)
      for (const step of old.refresh(r, new Date(Date.now() - 4 * 86_400_000))) await pool.query(step.sql, step.params);
    return { db, pool };
  }

  it('rebuilds the hourly rollups on minutely ones; the refresher restores the same figures', async () => {
    const { db, pool } = await oldDatabase();
    try {
      const old = Object.fromEntries(await Promise.all(ROLLUPS.map(async (r) => [r.name, await figures(pool, r.name)])));
      expect(old.kpi_clicks_hourly.length).toBeGreaterThan(50);
      await migrate(pool);
      const dialect = await detectDialect(pool);
      expect(dialect).toMatchObject({ name: 'timescaledb', staged: true });
      const { rows } = await pool.query(`SELECT rollup FROM rollup_backfills ORDER BY 1`);
      expect(rows.map((r) => r.rollup)).toEqual(ROLLUPS.map((r) => r.name).sort());
      const refresher = new RollupRefresherService({ ROLLUP_REFRESH_SECONDS: 0 } as ArbiterConfig, pool);
      await refresher.onApplicationBootstrap();
      await refresher.refresh();
      await refresher.onApplicationShutdown();
      for (const r of ROLLUPS) expect(await figures(pool, r.name)).toEqual(old[r.name]);
      // Materialised, not computed at read time: the backfill ran and was cleared.
      expect((await pool.query(`SELECT count(*)::int AS n FROM rollup_backfills`)).rows[0].n).toBe(0);
      // A later click is rolled up through its minute.
      await pool.query(
        `INSERT INTO click_verdicts (click_id, ts, decided_at, offer_id, publisher_id, valid, score, reason_codes, reasons, ruleset_version, latency_ms)
         VALUES ('late', now() - interval '3 hours', now(), 'o0', 'p0', true, 0.5, '{}', '[]', 'v1', 1)`,
      );
      const read = await rawRowsAggregated(pool, dialect, ROLLUPS[0], new Date(Date.now() - 3 * 3600_000));
      expect(read).toBeLessThan(10);
      for (const step of dialect.refresh(ROLLUPS[1], new Date(Date.now() - 3 * 3600_000))) await pool.query(step.sql, step.params);
      const clicks = await pool.query(`SELECT sum(clicks)::int AS n FROM kpi_clicks_daily`);
      expect(clicks.rows[0].n).toBe(2001);
    } finally {
      await pool.end();
      await db.stop();
    }
  });

  it("sums an hour from every minute written to, another recorder's not yet refreshed included", async () => {
    const db = await EmbeddedDatabase.start();
    const pool = createPool({ url: db.url, max: 2, applicationName: 'rollup-stage-recorders-test' });
    try {
      await migrate(pool);
      const dialect = await detectDialect(pool);
      const clicksHourly = ROLLUPS.find((r) => r.name === 'kpi_clicks_hourly')!;
      // An hour to come (a refresh's open end reaches it), refreshed once.
      const hour = Math.floor(Date.now() / 3600_000) * 3600_000 + 3600_000;
      const write = (id: string, at: number) =>
        pool.query(
          `INSERT INTO click_verdicts (click_id, ts, decided_at, offer_id, publisher_id, valid, score, reason_codes, reasons, ruleset_version, latency_ms)
           VALUES ($1, $2, now(), 'o', 'p', true, 0.5, '{}', '[]', 'v1', 1)`,
          [id, new Date(at)],
        );
      await write('first', hour + 5 * 60_000);
      for (const step of dialect.refresh(clicksHourly, new Date(hour))) await pool.query(step.sql, step.params);
      // One recorder writes a click at minute 1 and stops before its refresh; another writes at
      // minute 30 and refreshes from there.
      await write('stopped-recorder', hour + 60_000);
      await write('live-recorder', hour + 30 * 60_000);
      for (const step of dialect.refresh(clicksHourly, new Date(hour + 30 * 60_000))) await pool.query(step.sql, step.params);
      const { rows } = await pool.query(`SELECT sum(clicks)::int AS n FROM kpi_clicks_hourly WHERE bucket = $1`, [new Date(hour)]);
      expect(rows).toEqual([{ n: 3 }]);
    } finally {
      await pool.end();
      await db.stop();
    }
  });

  it('leaves the rollups of a database whose raw rows were pruned as they are', async () => {
    const { db, pool } = await oldDatabase();
    try {
      // What the retention policy does to raw chunks: the rollups keep counting those rows.
      await pool.query(`DELETE FROM click_verdicts WHERE ts < now() - interval '1 day'`);
      const old = await figures(pool, 'kpi_clicks_daily');
      await migrate(pool);
      expect(await detectDialect(pool)).toMatchObject({ name: 'timescaledb', staged: false });
      expect((await pool.query(`SELECT count(*)::int AS n FROM rollup_backfills`)).rows[0].n).toBe(0);
      expect(await figures(pool, 'kpi_clicks_daily')).toEqual(old);
    } finally {
      await pool.end();
      await db.stop();
    }
  });
});

/**
 * While the recorder has a backlog, the timer's refresh on TimescaleDB waits, at most
 * ROLLUP_BACKLOG_REFRESH_SECONDS after the last refresh (issue 19: each refresh re-read every row
 * of the minutes drained so far). Readers never count a row twice, and get every row once the
 * backlog is over or the bound is reached. The clock is moved by hand.
 */
describe('Rollup refresh deferred during a backlog, on TimescaleDB (PGlite)', () => {
  let db: EmbeddedDatabase;
  let pool: Pool;
  let harness: RollupHarness;
  let refresher: RollupRefresherService;
  let clock: number;
  const config = { ROLLUP_REFRESH_SECONDS: 30, ROLLUP_BACKLOG_REFRESH_SECONDS: 120, RECORDER_BATCH: 1000 } as ArbiterConfig;
  const clicks = async () =>
    (await pool.query<{ n: number }>(`SELECT coalesce(sum(clicks), 0)::int AS n FROM kpi_clicks_hourly`)).rows[0].n;
  const deferred = async () => (await metrics.rollupRefreshesDeferred.get()).values[0]?.value ?? 0;
  /** When the clicks happened: all in one minute, as in the drain of a backlog. */
  let ts: number;
  /** A batch of `n` clicks, written and noted as the verdicts consumer does. */
  const write = async (n: number, behind: { pending: number; publishedAgoMs: number }) => {
    const batch = Array.from({ length: n }, () => clickVerdict(ts, uid('backlog'), 'pub-1', null));
    await harness.repository.insert(batch);
    refresher.touched(batch);
    const published = BigInt(clock - behind.publishedAgoMs) * 1_000_000n;
    // One message per delivery (single outcomes); `pending` behind the last one.
    refresher.progress(
      'recorder-verdicts',
      batch.map(() => ({ msg: { info: { pending: behind.pending }, timestampNanos: published } as unknown as JsMsg })),
    );
  };

  beforeAll(async () => {
    db = await EmbeddedDatabase.start();
    pool = createPool({ url: db.url, max: 2, applicationName: 'rollup-deferral-test' });
    await migrate(pool);
    clock = Date.now();
    ts = clock - 1_000;
    jest.spyOn(Date, 'now').mockImplementation(() => clock);
    // The bound is measured on the monotonic clock: moved by hand too.
    jest.spyOn(performance, 'now').mockImplementation(() => clock);
    harness = new RollupHarness(pool, await detectDialect(pool));
    refresher = new RollupRefresherService(config, pool);
    await refresher.onApplicationBootstrap();
  });

  afterAll(async () => {
    jest.restoreAllMocks();
    await refresher.onApplicationShutdown();
    await pool.end();
    await db.stop();
  });

  it('skips the routine refresh while behind, up to the bound, and then counts every row once', async () => {
    await write(50, { pending: 0, publishedAgoMs: 100 });
    await refresher.refresh();
    expect(await clicks()).toBe(50);
    // Behind: 10,000 messages waiting (ten batches), the batch published a minute ago. Its rows go
    // into the minute already materialised, so readers see them only at the next refresh (they
    // undercount meanwhile), and never twice.
    const skippedBefore = await deferred();
    await write(30, { pending: 10_000, publishedAgoMs: 60_000 });
    for (const _ of [30, 60, 90]) {
      clock += 30_000;
      await write(10, { pending: 10_000, publishedAgoMs: 60_000 });
      await refresher.tick();
      expect(await clicks()).toBe(50);
    }
    expect((await deferred()) - skippedBefore).toBe(3);
    // 120 s after the last refresh: refreshed although still behind.
    clock += 30_000;
    await refresher.tick();
    expect(await clicks()).toBe(110);
    const { stored, recomputed } = await harness.compare('kpi_clicks_hourly');
    expect(stored).toEqual(recomputed);
  });

  it('refreshes at the next tick once the backlog is over, or when the backlog reports stop', async () => {
    clock += 30_000;
    await write(5, { pending: 10_000, publishedAgoMs: 60_000 });
    await refresher.tick();
    expect(await clicks()).toBe(110);
    // Caught up: nothing waits behind the last batch.
    clock += 30_000;
    await write(5, { pending: 0, publishedAgoMs: 60_000 });
    await refresher.tick();
    expect(await clicks()).toBe(120);
    // A backlog's batch, then no batch for a whole interval (the recorder stalled, or stopped
    // consuming): not a reason to wait.
    clock += 30_000;
    await write(5, { pending: 10_000, publishedAgoMs: 60_000 });
    await refresher.tick();
    expect(await clicks()).toBe(120);
    clock += 30_000;
    await refresher.tick();
    expect(await clicks()).toBe(125);
    // A few messages waiting behind a batch: a recorder that keeps up, not a backlog.
    clock += 30_000;
    await write(5, { pending: 3, publishedAgoMs: 200 });
    await refresher.tick();
    expect(await clicks()).toBe(130);
    const { stored, recomputed } = await harness.compare('kpi_clicks_hourly');
    expect(stored).toEqual(recomputed);
  });

  it('reports when the rollups were last refreshed', async () => {
    expect((await metrics.rollupsRefreshed.get()).values[0].value).toBe(clock / 1000);
  });
});

/**
 * Runs the refresher's steps for one rollup from `since` on and counts the raw clicks they
 * aggregated: the clicks counted by the buckets the refresh rewrote in the continuous aggregate that
 * reads the raw rows (a refresh deletes and writes again every bucket it materialises, so they are
 * newer row versions). TimescaleDB's refresh cannot run in a transaction, and PGlite keeps no table
 * statistics.
 */
async function rawRowsAggregated(pool: Pool, dialect: Dialect, r: (typeof ROLLUPS)[number], since: Date): Promise<number> {
  const { rows } = await pool.query<{ table: string }>(
    `SELECT format('%I.%I', materialization_hypertable_schema, materialization_hypertable_name) AS table
       FROM timescaledb_information.continuous_aggregates WHERE hypertable_name = $1`,
    [r.source],
  );
  expect(rows).toHaveLength(1);
  const before = (await pool.query<{ xid: string }>(`SELECT txid_current()::text AS xid`)).rows[0].xid;
  for (const step of dialect.refresh(r, since)) await pool.query(step.sql, step.params);
  const { rows: rewritten } = await pool.query<{ n: number }>(
    `SELECT coalesce(sum(clicks), 0)::int AS n FROM ${rows[0].table} WHERE xmin::text::bigint > $1::bigint`,
    [before],
  );
  return rewritten[0].n;
}
