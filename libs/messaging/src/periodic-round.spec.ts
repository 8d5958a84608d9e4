import { PeriodicRound } from './periodic-round';

describe('PeriodicRound', () => {
  beforeEach(() => jest.useFakeTimers());
  afterEach(() => jest.useRealTimers());

  /** A round that stays in flight until the test ends it. */
  function gatedRound(): { round: () => Promise<void>; started: () => number; finish: () => void } {
    let started = 0;
    let release: (() => void) | undefined;
    return {
      round: () => {
        started++;
        return new Promise<void>((resolve) => (release = resolve));
      },
      started: () => started,
      finish: () => release?.(),
    };
  }

  it('runs a round at start and then every interval, one at a time', async () => {
    const gate = gatedRound();
    const rounds = new PeriodicRound(1_000, gate.round);
    rounds.start();
    expect(gate.started()).toBe(1);
    // Ticks while the first round is in flight are skipped, not queued.
    jest.advanceTimersByTime(3_500);
    expect(gate.started()).toBe(1);
    gate.finish();
    await Promise.resolve();
    await Promise.resolve();
    await Promise.resolve();
    jest.advanceTimersByTime(1_000);
    expect(gate.started()).toBe(2);
    gate.finish();
    await rounds.stop();
  });

  it('stop waits for the round in flight and no round runs after it', async () => {
    const gate = gatedRound();
    const rounds = new PeriodicRound(1_000, gate.round);
    rounds.start();
    let stopped = false;
    const stopping = rounds.stop().then(() => (stopped = true));
    await Promise.resolve();
    expect(stopped).toBe(false);
    gate.finish();
    await stopping;
    expect(stopped).toBe(true);
    jest.advanceTimersByTime(10_000);
    expect(gate.started()).toBe(1);
  });

  it('a round that rejects does not stop the next one', async () => {
    let calls = 0;
    const rounds = new PeriodicRound(1_000, () => {
      calls++;
      return Promise.reject(new Error('NATS away'));
    });
    rounds.start();
    for (let i = 0; i < 5; i++) await Promise.resolve();
    jest.advanceTimersByTime(1_000);
    expect(calls).toBe(2);
    await rounds.stop();
  });
});
