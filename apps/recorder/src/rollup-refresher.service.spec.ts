import type { JsMsg } from '@nats-io/jetstream';
import type { Pool } from 'pg';
import { loadConfig } from '@app/config';
import { metrics } from '@app/observability';
import { TimescaleDialect } from '@app/storage';
import { RollupRefresherService } from './rollup-refresher.service';

/**
 * The deferral of the TimescaleDB refresh during a backlog (review of issue 19): bounded from the
 * start of a recorder's life, on a clock NTP cannot step, and decided without comparing the
 * recorder's clock with the NATS server's. No database: the dialect is TimescaleDB's, the pool
 * records the statements (or fails them, "database down"), and both clocks are moved by hand.
 * The same behaviour on the embedded database: test/integration/rollup-refresh-timescaledb.test.ts.
 */
describe('RollupRefresherService: deferral during a backlog (TimescaleDB)', () => {
  const config = loadConfig({ ROLLUP_REFRESH_SECONDS: '30', ROLLUP_BACKLOG_REFRESH_SECONDS: '120', RECORDER_BATCH: '1000' });
  let wall: number;
  let mono: number;
  let down: boolean;
  let statements: string[];
  const pool = {
    query: async (sql: string) => {
      if (down) throw new Error('connection refused');
      statements.push(sql);
      return { rows: [] };
    },
  } as unknown as Pool;
  const refreshes = () => statements.filter((s) => /refresh_continuous_aggregate/i.test(s)).length;
  /** The timer's tick; whether it refreshed. */
  const tick = async (r: RollupRefresherService) => {
    const before = refreshes();
    await r.tick();
    return refreshes() > before;
  };
  /** A recorder (re)started now, on TimescaleDB. */
  const start = () => {
    const r = new RollupRefresherService(config, pool);
    (r as unknown as { dialect: TimescaleDialect }).dialect = new TimescaleDialect(true);
    return r;
  };
  /**
   * A batch written now; `pending` messages wait behind it; the server stored it `ago` ms before the recorder's clock.
   * `itemsPerMessage`: its deliveries come that many to a message (a batch message's items share it), 1000 in all.
   */
  const batch = (r: RollupRefresherService, pending: number, ago: number, itemsPerMessage = 1) => {
    r.touched([{ kind: 'click', ts: new Date(wall - 1_000).toISOString() }]);
    const deliveries: { msg: JsMsg }[] = [];
    for (let m = 0; m < 1000 / itemsPerMessage; m++) {
      const msg = { info: { pending: pending + 1000 / itemsPerMessage - m - 1 }, timestampNanos: BigInt(wall - ago) * 1_000_000n };
      for (let i = 0; i < itemsPerMessage; i++) deliveries.push({ msg: msg as unknown as JsMsg });
    }
    r.progress('recorder-verdicts', deliveries);
  };
  const advance = (ms: number) => {
    wall += ms;
    mono += ms;
  };
  const gauge = async () => (await metrics.rollupsRefreshed.get()).values[0]?.value;

  beforeEach(() => {
    wall = Date.UTC(2026, 11, 3, 12);
    mono = 1_000_000;
    down = false;
    statements = [];
    jest.spyOn(Date, 'now').mockImplementation(() => wall);
    jest.spyOn(performance, 'now').mockImplementation(() => mono);
  });
  afterEach(() => jest.restoreAllMocks());

  it('refreshes at the first tick after a (re)start, backlog or not: a crash-looping recorder still refreshes', async () => {
    for (let life = 0; life < 5; life++) {
      const r = start();
      advance(30_000);
      batch(r, 50_000, 60_000);
      expect(await tick(r)).toBe(true);
      // The next ones wait, within the bound.
      advance(30_000);
      batch(r, 50_000, 60_000);
      expect(await tick(r)).toBe(false);
      await r.onApplicationShutdown();
    }
  });

  it('keeps the bound when the wall clock is stepped back an hour', async () => {
    const r = start();
    expect(await tick(r)).toBe(true);
    wall -= 3_600_000;
    const ticks: boolean[] = [];
    for (let t = 0; t < 4; t++) {
      advance(30_000);
      batch(r, 50_000, 60_000);
      ticks.push(await tick(r));
    }
    // 120 s after the last refresh: refreshed although still behind.
    expect(ticks).toEqual([false, false, false, true]);
  });

  it('does not take a recorder that keeps up for a backlog when its clock runs ahead of the server', async () => {
    const r = start();
    expect(await tick(r)).toBe(true);
    // Recorder 10 s ahead: a batch the server stored 50 ms ago looks 10.05 s old; 5 behind it.
    for (let t = 0; t < 3; t++) {
      advance(30_000);
      batch(r, 5, 10_050);
      expect(await tick(r)).toBe(true);
    }
  });

  it('takes ten batches or more waiting behind a batch for a backlog, however old the batch looks', async () => {
    const r = start();
    expect(await tick(r)).toBe(true);
    advance(30_000);
    // The recorder's clock behind the server's: the batch looks as if it were written before it was stored.
    batch(r, 10_000, -5_000);
    expect(await tick(r)).toBe(false);
    // Fewer than ten batches behind, however old: keeping up (the deferral ends).
    advance(30_000);
    batch(r, 9_999, 60_000);
    expect(await tick(r)).toBe(true);
  });

  it('counts the items of the batch messages waiting, not the messages: 100 messages of 100 items are ten batches', async () => {
    // The scorer and the gateway put up to ITEMS_PER_MESSAGE (100) outcomes or minted events in a
    // message, and the server's pending count is of messages: a drain of a million events has about
    // 10,000 messages waiting at its start, which as messages never made ten batches of 1,000.
    const r = start();
    expect(await tick(r)).toBe(true);
    advance(30_000);
    batch(r, 100, 60_000, 100);
    expect(await tick(r)).toBe(false);
    advance(30_000);
    batch(r, 99, 60_000, 100);
    expect(await tick(r)).toBe(true);
    // Single-item messages (one delivery each) count as before.
    advance(30_000);
    batch(r, 10_000, 60_000, 1);
    expect(await tick(r)).toBe(false);
    advance(30_000);
    batch(r, 9_999, 60_000, 1);
    expect(await tick(r)).toBe(true);
  });

  it('advances arbiter_rollups_refreshed_timestamp_seconds only when the rollups hold every row this recorder wrote', async () => {
    const r = start();
    expect(await tick(r)).toBe(true);
    expect(await gauge()).toBe(wall / 1000);
    const refreshedAt = wall;
    // Rows written, then the database goes down: the refresh fails and the gauge stays.
    advance(30_000);
    batch(r, 0, 50);
    down = true;
    await r.tick();
    expect(await gauge()).toBe(refreshedAt / 1000);
    // Deferred: the gauge stays too.
    down = false;
    advance(30_000);
    await r.tick();
    const refreshedAgain = wall;
    expect(await gauge()).toBe(refreshedAgain / 1000);
    advance(30_000);
    batch(r, 50_000, 60_000);
    await r.tick();
    expect(await gauge()).toBe(refreshedAgain / 1000);
    // Nothing written since the last refresh: the rollups hold every row this recorder wrote, so
    // the gauge advances without a statement (the database down or not). Several recorders, or
    // an embedded engine's threads: each is behind by its own gauge, so the fleet's is the minimum.
    advance(30_000);
    expect(await tick(r)).toBe(true);
    down = true;
    advance(30_000);
    await r.tick();
    expect(await gauge()).toBe(wall / 1000);
    expect((metrics.rollupsRefreshed as unknown as { aggregator: string }).aggregator).toBe('min');
  });

  it('reports a recorder whose refreshes fail from its start as behind since its start, not as absent', async () => {
    // Absent, the "KPI rollups lagging" alert (min over recorders) would never see it.
    metrics.rollupsRefreshed.reset();
    down = true;
    const started = wall;
    const r = start();
    advance(30_000);
    batch(r, 0, 50);
    await r.tick();
    expect(await gauge()).toBe(started / 1000);
    // ROLLUP_REFRESH_SECONDS=0 (TimescaleDB's policies only): this recorder never refreshes and says nothing.
    advance(30_000);
    new RollupRefresherService(loadConfig({ ROLLUP_REFRESH_SECONDS: '0' }), pool);
    expect(await gauge()).toBe(started / 1000);
  });

  // "KPI rollups lagging" compares each recorder's lag with the bound its own configuration allows,
  // not with the defaults' (a deployment with ROLLUP_BACKLOG_REFRESH_SECONDS=900 paged at 300 s).
  it('exports the lag its configuration allows: the deferral bound (or one tick) plus one tick', async () => {
    const bound = async () => (await metrics.rollupsLagBound.get()).values[0]?.value;
    new RollupRefresherService(loadConfig({ ROLLUP_REFRESH_SECONDS: '60', ROLLUP_BACKLOG_REFRESH_SECONDS: '900' }), pool);
    expect(await bound()).toBe(960);
    new RollupRefresherService(loadConfig({ ROLLUP_REFRESH_SECONDS: '30', ROLLUP_BACKLOG_REFRESH_SECONDS: '0' }), pool);
    expect(await bound()).toBe(60);
    new RollupRefresherService(config, pool);
    expect(await bound()).toBe(150);
  });

  // A recorder's first refresh since its start covers the startup window and any history a migration
  // asked to rebuild (rollup_backfills): it may run for many minutes, while the timestamp gauge still
  // holds the recorder's start. The alert leaves a recorder alone while that refresh runs (up to a grace).
  it('says when its first refresh since start began while that refresh runs, and 0 once it ended (done or failed)', async () => {
    const firstStarted = async () => (await metrics.rollupsFirstRefreshStarted.get()).values[0]?.value;
    let release!: () => void;
    let blocked = true;
    const slow = {
      query: async (sql: string) => {
        if (blocked) await new Promise<void>((resolve) => (release = resolve));
        statements.push(sql);
        return { rows: [] };
      },
    } as unknown as Pool;
    const r = new RollupRefresherService(config, slow);
    (r as unknown as { dialect: TimescaleDialect }).dialect = new TimescaleDialect(true);
    expect(await firstStarted()).toBe(0);
    advance(30_000);
    const began = wall;
    const first = r.tick();
    await Promise.resolve();
    advance(20 * 60_000);
    expect(await firstStarted()).toBe(began / 1000);
    blocked = false;
    release();
    await first;
    expect(await firstStarted()).toBe(0);
    // Later refreshes are routine: a long one is a lag like any other.
    advance(30_000);
    batch(r, 0, 50);
    down = true;
    await r.tick();
    expect(await firstStarted()).toBe(0);
    // A first refresh that fails ends the grace too: the recorder is behind since its start.
    const failing = start();
    advance(30_000);
    await failing.tick();
    expect(await firstStarted()).toBe(0);
  });

  // A refresh before bootstrap (no dialect yet: a backlog tick, shutdown's last refresh) does nothing,
  // so the real first refresh after it still counts as the first and is spared while it runs.
  it('does not count a refresh before bootstrap as the first', async () => {
    const firstStarted = async () => (await metrics.rollupsFirstRefreshStarted.get()).values[0]?.value;
    let release!: () => void;
    let blocked = true;
    const slow = {
      query: async (sql: string) => {
        if (blocked) await new Promise<void>((resolve) => (release = resolve));
        statements.push(sql);
        return { rows: [] };
      },
    } as unknown as Pool;
    const r = new RollupRefresherService(config, slow);
    await r.refresh();
    expect(await firstStarted()).toBe(0);
    (r as unknown as { dialect: TimescaleDialect }).dialect = new TimescaleDialect(true);
    batch(r, 0, 50);
    advance(30_000);
    const first = r.refresh();
    await Promise.resolve();
    expect(await firstStarted()).toBe(wall / 1000);
    blocked = false;
    release();
    await first;
    expect(await firstStarted()).toBe(0);
  });
});
