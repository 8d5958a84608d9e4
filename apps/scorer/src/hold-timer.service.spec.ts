import { loadConfig } from '@app/config';
import { degradations, metrics } from '@app/observability';
import { HoldTimerService } from './hold-timer.service';
import type { ScoringService } from './scoring.service';

/**
 * The hold timer publishes resolved holds and the revisions owed (whose publish failed before). While
 * VERDICTS keeps refusing (full, NATS down) it backs off instead of publishing them again every tick,
 * and says so: on /health (degraded) and in `arbiter_scorer_owed_revisions`.
 */
describe('HoldTimerService: when publishing keeps failing', () => {
  const TICK = 5_000;
  let attempts: number[];
  let failing: boolean;
  let owed: number;
  let sut: HoldTimerService;
  const degraded = () => degradations.list().find((d) => d.component === 'scorer hold timer');
  const gauge = async () => (await metrics.owedRevisions.get()).values[0]?.value;

  beforeEach(() => {
    attempts = [];
    failing = true;
    owed = 3;
    const scoring = {
      resolveHolds: async (now: number) => {
        attempts.push(now);
        if (failing) throw new Error('maximum bytes exceeded');
        owed = 0;
        return 1;
      },
      get owedRevisions() {
        return owed;
      },
    };
    sut = new HoldTimerService(loadConfig({ SCORER_HOLD_TICK_MS: String(TICK) }), scoring as unknown as ScoringService);
  });
  afterEach(() => degradations.clear('scorer hold timer'));

  it('tries again after a back-off that doubles (ticks skipped meanwhile), reports it on /health and the gauge, and is back to every tick once it succeeds', async () => {
    for (let i = 0; i < 20; i++) await sut.tick(i * TICK);

    // Tick 0 fails, then the next tries are 2, 4 and 8 ticks later (the next would be 12: a minute).
    expect(attempts.map((t) => t / TICK)).toEqual([0, 2, 6, 14]);
    expect(degraded()).toMatchObject({ cause: 'broker', reason: 'revisions owed, not published' });
    expect(await gauge()).toBe(3);

    failing = false;
    attempts = [];
    for (let i = 20; i < 40; i++) await sut.tick(i * TICK);
    // The fifth try waits out its back-off (a minute: capped), then every tick.
    expect(attempts.map((t) => t / TICK)).toEqual(Array.from({ length: 14 }, (_, k) => 26 + k));
    expect(degraded()).toBeUndefined();
    expect(await gauge()).toBe(0);
  });

  it('while backing off: the gauge follows what is kept, and once a feedback batch published it all the timer tries at once', async () => {
    await sut.tick(0); // fails: backing off for two ticks
    owed = 5; // a feedback batch's publish failed too meanwhile
    await sut.tick(TICK);
    expect(await gauge()).toBe(5);
    expect(attempts).toEqual([0]);

    owed = 0; // the next feedback batch published everything kept
    failing = false;
    await sut.tick(TICK + 1);
    expect(attempts).toEqual([0, TICK + 1]);
    expect(degraded()).toBeUndefined();
    expect(await gauge()).toBe(0);
  });

  it('backs off at most a minute (or one tick, when ticks are longer)', async () => {
    for (let i = 0; i < 200; i++) await sut.tick(i * TICK);
    const gaps = attempts.slice(1).map((t, i) => (t - attempts[i]) / TICK);
    expect(Math.max(...gaps)).toBe(60_000 / TICK);
  });
});
