import type { JsMsg } from '@nats-io/jetstream';
import { Pool } from 'pg';
import type { ArbiterConfig } from '@app/config';
import { ClickVerdict, Decision } from '@app/contracts';
import { MIGRATIONS, OutcomeRepository, PostgresDialect, ROLLUPS, createPool, inTransaction, migrate, refreshStaged } from '@app/storage';
import { createTestDatabase, uid } from '@app/testing';
import { RollupRefresherService } from '../../apps/recorder/src/rollup-refresher.service';
import { RollupHarness, clickVerdict, recentOutcomes } from './support/rollup-harness';

/**
 * The recorder's routine refresh of the KPI rollups on plain PostgreSQL, on traffic of the last
 * two hours: the figures are those of a recomputation from every raw row, whatever order the rows
 * came in, whichever recorder wrote them, and whatever the rows' dimensions.
 */
describe('Routine rollup refresh on PostgreSQL 15', () => {
  let pool: Pool;
  let drop: () => Promise<void>;
  let harness: RollupHarness;
  let outcomes: Awaited<ReturnType<typeof recentOutcomes>>;

  beforeAll(async () => {
    const db = await createTestDatabase();
    drop = db.drop;
    pool = createPool({ url: db.url, max: 3, applicationName: 'rollup-refresh-test' });
    await migrate(pool);
    outcomes = await recentOutcomes();
    harness = new RollupHarness(pool, new PostgresDialect());
    await harness.start();
  });

  afterAll(async () => {
    await harness.stop();
    await pool.end();
    await drop();
  });

  it('gives the figures of a recomputation from every raw row, late rows and revisions included', async () => {
    await harness.expectLateRowsAndRevisionsRecomputed(outcomes.verdicts, outcomes.decisions);
  });
});

const dialect = new PostgresDialect();
const HOURLY = ROLLUPS.find((r) => r.name === 'kpi_clicks_hourly')!;
const cfg = { ROLLUP_REFRESH_SECONDS: 0 } as ArbiterConfig;

const click = (ts: number, publisherId: string, subId: string | null = null): ClickVerdict =>
  clickVerdict(ts, uid('clk'), publisherId, subId);

describe('Rollup refresh on PostgreSQL 15: several recorders, odd dimensions', () => {
  let pool: Pool;
  let drop: () => Promise<void>;
  let repository: OutcomeRepository;

  beforeAll(async () => {
    const db = await createTestDatabase();
    drop = db.drop;
    pool = createPool({ url: db.url, max: 6, applicationName: 'rollup-refresh-recorders' });
    await migrate(pool);
    repository = new OutcomeRepository(pool);
  });
  afterAll(async () => {
    await pool.end();
    await drop();
  });

  async function write(refresher: RollupRefresherService, batch: ClickVerdict[]) {
    await repository.insert(batch);
    refresher.touched(batch);
  }
  const hourlyClicks = async (publisherId: string, hour: number) =>
    Number(
      (
        await pool.query(`SELECT coalesce(sum(clicks), 0) AS n FROM kpi_clicks_hourly WHERE publisher_id = $1 AND bucket = $2`, [
          publisherId,
          new Date(hour).toISOString(),
        ])
      ).rows[0].n,
    );

  it('counts the last rows of a recorder that stopped before its next refresh (scale-in, or killed and not restarted)', async () => {
    const hour = Math.floor(Date.now() / 3600_000) * 3600_000 - 3600_000;
    const a = new RollupRefresherService(cfg, pool);
    const b = new RollupRefresherService(cfg, pool);
    await a.onApplicationBootstrap();
    await b.onApplicationBootstrap();
    await a.refresh();
    await b.refresh();
    await write(b, [click(hour + 10 * 60_000, 'pub-stop')]);
    await b.refresh();
    // A stores five clicks of minute 20 and stops before its next refresh.
    await write(
      a,
      Array.from({ length: 5 }, () => click(hour + 20 * 60_000, 'pub-stop')),
    );
    await a.onApplicationShutdown();
    // B goes on storing (minute 30 of the same hour) and refreshing.
    await write(b, [click(hour + 30 * 60_000, 'pub-stop')]);
    await b.refresh();
    expect(await hourlyClicks('pub-stop', hour)).toBe(7);
    await b.onApplicationShutdown();
  });

  it('refreshes on every tick while the recorder has a backlog (the deferral is TimescaleDB only)', async () => {
    const hour = Math.floor(Date.now() / 3600_000) * 3600_000 - 3600_000;
    const r = new RollupRefresherService({ ROLLUP_REFRESH_SECONDS: 3600, ROLLUP_BACKLOG_REFRESH_SECONDS: 3600 * 4 } as ArbiterConfig, pool);
    await r.onApplicationBootstrap();
    await r.refresh();
    await write(r, [click(hour + 5 * 60_000, 'pub-backlog')]);
    // 10,000 messages behind the batch, published a minute ago.
    r.progress('recorder-verdicts', [
      { msg: { info: { pending: 10_000 }, timestampNanos: BigInt(Date.now() - 60_000) * 1_000_000n } as unknown as JsMsg },
    ]);
    await r.tick();
    expect(await hourlyClicks('pub-backlog', hour)).toBe(1);
    await r.onApplicationShutdown();
  });

  it('rolls up a sub-id sent empty and one not sent, in the same minute, and goes on refreshing', async () => {
    const now = Date.now();
    const r = new RollupRefresherService(cfg, pool);
    await r.onApplicationBootstrap();
    await r.refresh();
    // `GET /c/offer-1?pub=pub-sub&sub=` and `GET /c/offer-1?pub=pub-sub`.
    await write(r, [click(now, 'pub-sub', ''), click(now, 'pub-sub', null)]);
    await r.refresh();
    const groups = async () =>
      (
        await pool.query(
          `SELECT sub_id, sum(clicks)::int AS n FROM kpi_clicks_hourly WHERE publisher_id = 'pub-sub' GROUP BY sub_id ORDER BY sub_id NULLS LAST`,
        )
      ).rows;
    expect(await groups()).toEqual([
      { sub_id: '', n: 1 },
      { sub_id: null, n: 1 },
    ]);
    const daily = (await pool.query(`SELECT sum(clicks)::int AS n FROM kpi_clicks_daily WHERE publisher_id = 'pub-sub'`)).rows[0].n;
    expect(daily).toBe(2);
    // And later clicks are still rolled up.
    await write(r, [click(now + 1, 'pub-sub', null)]);
    await r.refresh();
    expect(await groups()).toEqual([
      { sub_id: '', n: 1 },
      { sub_id: null, n: 2 },
    ]);
    await r.onApplicationShutdown();
  });

  it('marks the minute of a conversion decided a day ago when its hold expires, and recomputes the hour and day it falls in', async () => {
    const r = new RollupRefresherService(cfg, pool);
    await r.onApplicationBootstrap();
    await r.refresh();
    const now = Date.now();
    const held = click(now - 86_400_000, 'pub-hold');
    const decision = (status: Decision['status'], revision: number): Decision => ({
      kind: 'conversion',
      conversionId: `cnv-${held.clickId}`,
      clickId: held.clickId,
      // A revision keeps the conversion's time.
      ts: held.ts,
      offerId: held.offerId,
      publisherId: held.publisherId,
      advertiserId: held.advertiserId,
      subId: null,
      status,
      score: 0.5,
      amount: 100,
      revenue: 100,
      payout: 12.5,
      currency: 'EUR',
      ctitSeconds: 60,
      revision,
      previousStatus: revision ? 'hold' : null,
      resolvedBy: 'engine',
      holdUntil: null,
      note: null,
      actor: null,
      partition: 0,
      reasons: [],
      rulesetVersion: 'builtin-1',
      modelVersion: null,
      modelScore: null,
      shadowModelVersion: null,
      shadowScore: null,
      decidedAt: new Date(now).toISOString(),
      latencyMs: 50,
    });
    const written = [held, decision('hold', 0)];
    await repository.insert(written);
    r.touched(written);
    await r.refresh();
    // The hold expires (approved: an UPDATE of yesterday's row), and a click arrives.
    const batch = [decision('approved', 1), click(now, 'pub-hold')];
    await repository.insert(batch);
    r.touched(batch);
    const minute = (t: number) => new Date(Math.floor(t / 60_000) * 60_000);
    const dirty = (await pool.query(`SELECT source, minute FROM rollup_dirty_minutes ORDER BY source, minute`)).rows;
    expect(dirty).toEqual([
      { source: 'click_verdicts', minute: minute(now) },
      { source: 'decisions', minute: minute(now - 86_400_000) },
    ]);
    await r.refresh();
    const approved = (await pool.query(`SELECT sum(approved)::int AS n FROM kpi_conversions_daily WHERE publisher_id = 'pub-hold'`)).rows[0]
      .n;
    expect(approved).toBe(1);
    const hourly = (
      await pool.query(`SELECT sum(approved)::int AS a, sum(held)::int AS h FROM kpi_conversions_hourly WHERE publisher_id = 'pub-hold'`)
    ).rows[0];
    expect(hourly).toEqual({ a: 1, h: 0 });
    await r.onApplicationShutdown();
  });

  it('lets two recorders refresh at once: the second waits for the first, neither fails, nothing is lost', async () => {
    const now = Date.now();
    await repository.insert([click(now - 60_000, 'pub-race'), click(now, 'pub-race')]);
    const daily = ROLLUPS.find((r) => r.source === HOURLY.name)!;
    const a = await pool.connect();
    const b = await pool.connect();
    try {
      // Refresher A: everything but the commit.
      await a.query('BEGIN');
      await refreshStaged(a, HOURLY, daily);
      // Refresher B, another recorder, with a click of its own in the same minute.
      await repository.insert([click(now, 'pub-race')]);
      await b.query('BEGIN');
      const bDone = (async () => {
        await refreshStaged(b, HOURLY, daily);
        await b.query('COMMIT');
      })();
      await new Promise((r) => setTimeout(r, 300));
      await a.query('COMMIT');
      await bDone;
    } finally {
      a.release();
      b.release();
    }
    expect(await hourlyClicks('pub-race', Math.floor(now / 3600_000) * 3600_000)).toBe(
      now % 3600_000 < 60_000 ? 2 : 3, // the first click may fall in the previous hour
    );
  });
});

describe('Migration 0022 on PostgreSQL 15, on a database whose rollups had stopped', () => {
  let pool: Pool;
  let drop: () => Promise<void>;
  beforeAll(async () => {
    const db = await createTestDatabase();
    drop = db.drop;
    pool = createPool({ url: db.url, max: 3, applicationName: 'rollup-refresh-0022' });
  });
  afterAll(async () => {
    await pool.end();
    await drop();
  });

  it('drops the minutely stages, rekeys the rollups and has the refresher recompute from the first empty sub-id', async () => {
    const at = MIGRATIONS.findIndex((m) => m.id === '0022-rollup-keys-nulls-not-distinct');
    expect(at).toBeGreaterThan(0);
    await migrate(pool, MIGRATIONS.slice(0, at));
    // The keys as 0004/0011/0013 made them when they were applied (they call the live dialect, which
    // now makes the new keys) — and the stage 0018 made.
    for (const r of ROLLUPS)
      await pool.query(
        `DROP INDEX ${r.name}_key; CREATE UNIQUE INDEX ${r.name}_key ON ${r.name} (bucket, ${r.dimensions.map((d) => `coalesce(${d}, '')`).join(', ')})`,
      );
    expect((await pool.query(`SELECT to_regclass('kpi_clicks_minutely') AS t`)).rows[0].t).toBe('kpi_clicks_minutely');
    const repository = new OutcomeRepository(pool);
    // Two days ago, the pair that stopped every refresh; traffic since, never rolled up.
    const old = Math.floor(Date.now() / 3600_000) * 3600_000 - 2 * 86_400_000;
    await repository.insert([click(old, 'pub-frozen', ''), click(old, 'pub-frozen', null), click(Date.now() - 60_000, 'pub-frozen')]);
    await expect(
      inTransaction(pool, async (client) => {
        for (const s of dialect.refresh(HOURLY, new Date(old))) await client.query(s.sql, s.params);
      }),
    ).rejects.toThrow(/duplicate key/);
    expect((await migrate(pool, MIGRATIONS.slice(0, at + 1))).applied).toEqual([MIGRATIONS[at].id]);
    const stages = await pool.query(`SELECT relname FROM pg_class WHERE relname IN ('kpi_clicks_minutely', 'kpi_conversions_minutely')`);
    expect(stages.rows).toEqual([]);
    const backfills = (await pool.query(`SELECT rollup, since FROM rollup_backfills ORDER BY rollup`)).rows;
    expect(backfills).toEqual([
      { rollup: 'kpi_clicks_daily', since: new Date(old) },
      { rollup: 'kpi_clicks_hourly', since: new Date(old) },
    ]);
    // Later migrations (0024 brings stages back, fed by dirty minutes); a recorder starting on it recomputes from there.
    expect((await migrate(pool)).applied).toEqual(MIGRATIONS.slice(at + 1).map((m) => m.id));
    const refresher = new RollupRefresherService(cfg, pool);
    await refresher.onApplicationBootstrap();
    await refresher.refresh();
    const total = (await pool.query(`SELECT sum(clicks)::int AS n FROM kpi_clicks_hourly WHERE publisher_id = 'pub-frozen'`)).rows[0].n;
    expect(total).toBe(3);
    expect((await pool.query('SELECT count(*)::int AS n FROM rollup_backfills')).rows[0].n).toBe(0);
    expect((await migrate(pool)).applied).toEqual([]);
    await refresher.onApplicationShutdown();
  });
});
