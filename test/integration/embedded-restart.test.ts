import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ClickVerdict, Decision } from '@app/contracts';
import { ScoringEngine } from '@app/decisions';
import { OfflineRunner } from '@app/evaluation';
import { DEFAULT_RULESET } from '@app/rules';
import { Simulator, catalogLine } from '@app/simulator';
import { EmbeddedDatabase, OutcomeRepository, ROLLUPS, createPool, detectDialect, migrate } from '@app/storage';

/**
 * `npm start`, Ctrl-C, `npm start` on the same `.arbiter/`: the embedded TimescaleDB must open the
 * same data directory again with hypertable inserts, continuous-aggregate invalidation and refresh
 * working (they failed with "not supported under the current \"timescale\" license" from the second
 * start on, because the TimescaleDB loader was never loaded).
 */
describe('embedded TimescaleDB opened again on the same data directory', () => {
  const dir = mkdtempSync(join(tmpdir(), 'arbiter-pglite-'));
  const outcomes: (ClickVerdict | Decision)[] = [];

  beforeAll(async () => {
    const sim = new Simulator({ seed: 9, events: 1500, hours: 6, start: new Date(Date.UTC(2026, 9, 1)), partitions: 1 });
    const lines = (async function* () {
      yield { line: 0, value: catalogLine(sim.catalog) };
      let n = 1;
      for (const e of sim.events()) yield { line: n++, value: e };
    })();
    const decisions = new Map<string, Decision>();
    await new OfflineRunner(new ScoringEngine(DEFAULT_RULESET)).run(lines, {
      verdict: (v) => outcomes.push(v),
      decision: (d) => decisions.set(d.conversionId, d),
      revision: (d) => decisions.set(d.conversionId, d),
    });
    outcomes.push(...decisions.values());
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  /** One start of the engine's database: migrate, write a share of the outcomes, refresh every rollup. */
  async function session(share: readonly (ClickVerdict | Decision)[]) {
    const db = await EmbeddedDatabase.start({ dataDir: dir });
    const pool = createPool({ url: db.url, max: 3, applicationName: 'restart-test' });
    try {
      await migrate(pool);
      await new OutcomeRepository(pool).insert(share);
      const dialect = await detectDialect(pool);
      for (const r of ROLLUPS)
        for (const step of dialect.refresh(r, new Date(Date.UTC(2026, 8, 1)))) await pool.query(step.sql, step.params);
      const { rows } = await pool.query(
        `SELECT (SELECT coalesce(sum(clicks), 0)::int FROM kpi_clicks_hourly) AS clicks,
                (SELECT coalesce(sum(conversions), 0)::int FROM kpi_conversions_hourly) AS conversions,
                (SELECT count(*)::int FROM decisions) AS decisions`,
      );
      return rows[0] as { clicks: number; conversions: number; decisions: number };
    } finally {
      await pool.end();
      await db.stop();
    }
  }

  it('writes outcomes and refreshes the rollups on the first, second and third start', async () => {
    const thirds = [0, 1, 2].map((i) => outcomes.filter((_, n) => n % 3 === i));
    const seen = [];
    for (const share of thirds) seen.push(await session(share));
    const clicks = (upTo: number) =>
      thirds
        .slice(0, upTo)
        .flat()
        .filter((o) => !('conversionId' in o)).length;
    const decisions = (upTo: number) =>
      thirds
        .slice(0, upTo)
        .flat()
        .filter((o) => 'conversionId' in o).length;
    expect(seen).toEqual([1, 2, 3].map((n) => ({ clicks: clicks(n), conversions: decisions(n), decisions: decisions(n) })));
    expect(decisions(1)).toBeGreaterThan(0);
  }, 300_000);
});
