import type { Pool } from 'pg';
import type { ArbiterConfig } from '@app/config';
import type { ClickVerdict, Decision } from '@app/contracts';
import { ScoringEngine } from '@app/decisions';
import { OfflineRunner } from '@app/evaluation';
import { DEFAULT_RULESET } from '@app/rules';
import { Simulator, catalogLine } from '@app/simulator';
import { Dialect, OutcomeRepository, ROLLUPS, rollupSelect } from '@app/storage';
import { RollupRefresherService } from '../../../apps/recorder/src/rollup-refresher.service';

/** Simulated traffic's outcomes, scored offline by the default rule set: holds, revisions and feedback included. */
export async function scoredOutcomes(
  options: ConstructorParameters<typeof Simulator>[0],
): Promise<{ verdicts: ClickVerdict[]; decisions: Map<string, Decision> }> {
  const verdicts: ClickVerdict[] = [];
  const decisions = new Map<string, Decision>();
  const sim = new Simulator(options);
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
  return { verdicts, decisions };
}

/** Outcomes of 6,000 simulated events from 100 to 40 minutes ago (over two clock hours). */
export function recentOutcomes(): Promise<{ verdicts: ClickVerdict[]; decisions: Map<string, Decision> }> {
  const hour = Math.floor(Date.now() / 3600_000) * 3600_000;
  return scoredOutcomes({ seed: 5, events: 6000, hours: 1, start: new Date(hour - 100 * 60_000), partitions: 1 });
}

/** A valid click's verdict on offer-1 of adv-1 at `ts`, for rollup fixtures. */
export function clickVerdict(ts: number, clickId: string, publisherId: string, subId: string | null): ClickVerdict {
  return {
    kind: 'click',
    clickId,
    ts: new Date(ts).toISOString(),
    offerId: 'offer-1',
    publisherId,
    advertiserId: 'adv-1',
    subId,
    valid: true,
    score: 0.5,
    category: null,
    reasons: [],
    rulesetVersion: 'builtin-1',
    modelVersion: null,
    modelScore: null,
    shadowModelVersion: null,
    shadowScore: null,
    decidedAt: new Date(ts + 10).toISOString(),
    latencyMs: 10,
  };
}

/**
 * The recorder's write-and-refresh path on `pool` (a migrated database), and a rollup compared with
 * the same rollup recomputed from every raw row.
 */
export class RollupHarness {
  readonly repository: OutcomeRepository;
  readonly refresher: RollupRefresherService;

  constructor(
    private readonly pool: Pool,
    private readonly dialect: Dialect,
  ) {
    this.repository = new OutcomeRepository(pool);
    this.refresher = new RollupRefresherService({ ROLLUP_REFRESH_SECONDS: 0 } as ArbiterConfig, pool);
  }

  start(): Promise<void> {
    return this.refresher.onApplicationBootstrap();
  }

  stop(): Promise<void> {
    return this.refresher.onApplicationShutdown();
  }

  /** Writes outcomes as the recorder does: insert, note their times, refresh. */
  async record(outcomes: (ClickVerdict | Decision)[]): Promise<void> {
    for (let i = 0; i < outcomes.length; i += 500) {
      const batch = outcomes.slice(i, i + 500);
      await this.repository.insert(batch);
      this.refresher.touched(batch);
    }
    await this.refresher.refresh();
  }

  /** A rollup's rows, and the same rollup recomputed from every raw row (sums equal to within 1e-5, relative). */
  async compare(name: string): Promise<{ stored: string[]; recomputed: string[] }> {
    const bucket = (i: string, c: string) => this.dialect.bucket(i, c);
    const r = ROLLUPS.find((x) => x.name === name)!;
    // A daily rollup sums the hourly one: recompute the hourly one from the raw rows first.
    const from =
      r.grain === 'hour'
        ? rollupSelect(r, bucket)
        : rollupSelect(
            {
              ...r,
              source: `(${rollupSelect(
                ROLLUPS.find((x) => x.name === r.source)!,
                bucket,
              )}) AS hourly`,
            },
            bucket,
          );
    const rows = async (sql: string) => (await this.pool.query(sql)).rows.map((row) => Object.entries(row as Record<string, unknown>));
    const recomputed = await rows(from);
    // A row's group: everything but its numbers.
    const group = (row: [string, unknown][]) => JSON.stringify(row.filter(([, v]) => typeof v !== 'number'));
    const byGroup = new Map(recomputed.map((row) => [group(row), row]));
    // The rollups keep sums as `real` and add them in another order than the recomputation, so they
    // differ in their last bits (rounding both to a fixed precision still split some: 76.0500499…
    // against 76.05005…). A stored number within 1e-5 (relative) of the recomputed one is taken as
    // that one; any larger difference, and every count, shows.
    const snapped = (await rows(`SELECT * FROM ${name}`)).map((row) => {
      const twin = byGroup.get(group(row));
      return row.map(([k, v], i): [string, unknown] => {
        const w = twin?.[i]?.[0] === k ? twin[i][1] : undefined;
        return typeof v === 'number' &&
          typeof w === 'number' &&
          !(Number.isInteger(v) && Number.isInteger(w)) &&
          Math.abs(v - w) <= 1e-5 * Math.max(1, Math.abs(w))
          ? [k, w]
          : [k, v];
      });
    });
    const text = (all: [string, unknown][][]) => all.map((row) => JSON.stringify(row)).sort();
    return { stored: text(snapped), recomputed: text(recomputed) };
  }

  /**
   * Half the outcomes recorded and refreshed, then the other half (most of it older than the last
   * refresh): every rollup then has the figures of a recomputation from every raw row.
   */
  async expectLateRowsAndRevisionsRecomputed(verdicts: ClickVerdict[], decisions: Map<string, Decision>): Promise<void> {
    const all: (ClickVerdict | Decision)[] = [...verdicts, ...decisions.values()];
    expect(verdicts.length).toBeGreaterThan(3000);
    expect([...decisions.values()].some((d) => d.revision > 0)).toBe(true);
    await this.record(all.filter((_, i) => i % 2 === 0));
    const first = await this.compare('kpi_clicks_hourly');
    expect(first.stored).toEqual(first.recomputed);
    await this.record(all.filter((_, i) => i % 2 === 1));
    for (const r of ROLLUPS) {
      const { stored, recomputed } = await this.compare(r.name);
      expect(stored.length).toBeGreaterThan(0);
      expect(stored).toEqual(recomputed);
    }
  }
}
