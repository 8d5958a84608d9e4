import { Pool } from 'pg';
import type { ArbiterConfig } from '@app/config';
import { ClickVerdict, Decision } from '@app/contracts';
import { ScoringEngine } from '@app/decisions';
import { OfflineRunner } from '@app/evaluation';
import { DEFAULT_RULESET } from '@app/rules';
import { Simulator, catalogLine } from '@app/simulator';
import { OutcomeRepository, PostgresDialect, ROLLUPS, createPool, inTransaction, migrate, rollupSelect } from '@app/storage';
import { createTestDatabase, uid } from '@app/testing';
import { RollupRefresherService } from '../../apps/recorder/src/rollup-refresher.service';

/**
 * The recorder's routine refresh of the KPI rollups on plain PostgreSQL (issue 19), on traffic of
 * the last two hours: the figures are those of a recomputation from every raw row, whatever order
 * the rows came in, and a refresh reads the rows written since the last one, not the whole hour.
 */
describe('Routine rollup refresh on PostgreSQL 15', () => {
  let pool: Pool;
  let drop: () => Promise<void>;
  let refresher: RollupRefresherService;
  let repository: OutcomeRepository;
  const verdicts: ClickVerdict[] = [];
  const decisions = new Map<string, Decision>();
  const dialect = new PostgresDialect();

  beforeAll(async () => {
    const db = await createTestDatabase();
    drop = db.drop;
    pool = createPool({ url: db.url, max: 3, applicationName: 'rollup-refresh-test' });
    await migrate(pool);
    // Traffic from 100 to 40 minutes ago: over two hours, inside the minutely stage's horizon.
    const hour = Math.floor(Date.now() / 3600_000) * 3600_000;
    const sim = new Simulator({ seed: 5, events: 6000, hours: 1, start: new Date(hour - 100 * 60_000), partitions: 1 });
    const lines = (async function* () {
      yield { line: 0, value: catalogLine(sim.catalog) };
      let n = 1;
      for (const e of sim.events()) yield { line: n++, value: e };
    })();
    await new OfflineRunner(new ScoringEngine(DEFAULT_RULESET)).run(lines, {
      verdict: (v) => verdicts.push(v),
      decision: (d) => decisions.set(d.conversionId, d),
      revision: (d) => decisions.set(d.conversionId, d),
    });
    repository = new OutcomeRepository(pool);
    refresher = new RollupRefresherService({ ROLLUP_REFRESH_SECONDS: 0 } as ArbiterConfig, pool);
    await refresher.onApplicationBootstrap();
  });

  afterAll(async () => {
    await refresher.onApplicationShutdown();
    await pool.end();
    await drop();
  });

  /** Writes outcomes as the recorder does: insert, note their times, refresh. */
  async function record(outcomes: (ClickVerdict | Decision)[]) {
    for (let i = 0; i < outcomes.length; i += 500) {
      const batch = outcomes.slice(i, i + 500);
      await repository.insert(batch);
      refresher.touched(batch.map((o) => o.ts));
    }
    await refresher.refresh();
  }

  /** A rollup's rows, and the same rollup recomputed from every raw row (floats to 6 significant digits). */
  async function compare(name: string) {
    const r = ROLLUPS.find((x) => x.name === name)!;
    // A daily rollup sums the hourly one: recompute the hourly one from the raw rows first.
    const from =
      r.grain === 'hour'
        ? rollupSelect(r, (i, c) => dialect.bucket(i, c))
        : rollupSelect(
            {
              ...r,
              source: `(${rollupSelect(
                ROLLUPS.find((x) => x.name === r.source)!,
                (i, c) => dialect.bucket(i, c),
              )}) AS hourly`,
            },
            (i, c) => dialect.bucket(i, c),
          );
    const rows = async (sql: string) =>
      (await pool.query(sql)).rows
        .map((row) => JSON.stringify(Object.entries(row).map(([k, v]) => [k, typeof v === 'number' ? Number(v.toPrecision(6)) : v])))
        .sort();
    return { stored: await rows(`SELECT * FROM ${name}`), recomputed: await rows(from) };
  }

  it('gives the figures of a recomputation from every raw row, late rows and revisions included', async () => {
    const all: (ClickVerdict | Decision)[] = [...verdicts, ...decisions.values()];
    expect(verdicts.length).toBeGreaterThan(3000);
    expect([...decisions.values()].some((d) => d.revision > 0)).toBe(true);
    // Half the outcomes, refreshed; then the other half: most of it older than the last refresh.
    await record(all.filter((_, i) => i % 2 === 0));
    const first = await compare('kpi_clicks_hourly');
    expect(first.stored).toEqual(first.recomputed);
    await record(all.filter((_, i) => i % 2 === 1));
    for (const r of ROLLUPS) {
      const { stored, recomputed } = await compare(r.name);
      expect(stored.length).toBeGreaterThan(0);
      expect(stored).toEqual(recomputed);
    }
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
    await repository.insert(fresh);
    // The refresher's own steps, in one transaction, counting the raw rows they read (PostgreSQL 15
    // shows a backend's counts not yet flushed, earlier transactions' included: a difference).
    const read = await inTransaction(pool, async (client) => {
      const rowsRead = async () =>
        Number(
          (
            await client.query(
              `SELECT coalesce(seq_tup_read, 0) + coalesce(idx_tup_fetch, 0) AS n FROM pg_stat_xact_user_tables WHERE relname = 'click_verdicts'`,
            )
          ).rows[0].n,
        );
      const before = await rowsRead();
      for (const step of dialect.refresh(
        ROLLUPS.find((r) => r.name === 'kpi_clicks_hourly')!,
        new Date(ts),
      ))
        await client.query(step.sql, step.params);
      return (await rowsRead()) - before;
    });
    expect(read).toBeLessThan(200);
    const { stored, recomputed } = await compare('kpi_clicks_hourly');
    expect(stored).toEqual(recomputed);
  });
});
