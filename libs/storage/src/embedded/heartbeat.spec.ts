import { metricsRegistry } from '@app/observability';
import { Heartbeat, RunningStatement } from './embedded-database';
import { simpleQuery } from './pglite-server';

const stuck = async () => (await metricsRegistry.getSingleMetric('arbiter_embedded_db_thread_stuck')?.get())?.values[0]?.value ?? 0;

describe('Heartbeat (the embedded database thread answers a ping)', () => {
  beforeEach(() => jest.useFakeTimers());
  afterEach(() => jest.useRealTimers());

  it('reports a thread silent past the limit once, confirmed at a second look, and clears it when the thread answers', async () => {
    const pings: number[] = [];
    const sut = new Heartbeat(1_000, () => void pings.push(Date.now()));
    sut.start();
    // Answered: never reported, however long.
    for (let i = 0; i < 20; i++) {
      jest.advanceTimersByTime(250);
      sut.pong();
    }
    expect(await stuck()).toBe(0);
    expect(pings.length).toBe(20);
    // Silent: past the limit at one look (1,000 ms), reported at the next.
    jest.advanceTimersByTime(1_000);
    expect(await stuck()).toBe(0);
    jest.advanceTimersByTime(250);
    expect(await stuck()).toBe(1);
    jest.advanceTimersByTime(5_000);
    expect(await stuck()).toBe(1);
    sut.pong();
    expect(await stuck()).toBe(0);
    sut.stop();
  });

  it('does not report a silence of one look past the limit (this thread may itself have been busy)', async () => {
    const sut = new Heartbeat(1_000, () => undefined);
    sut.start();
    jest.advanceTimersByTime(1_000);
    sut.pong();
    jest.advanceTimersByTime(250);
    expect(await stuck()).toBe(0);
    sut.stop();
  });

  it('says the thread is busy or stuck, with the first words of the statement it runs (no literal)', () => {
    const running = new RunningStatement();
    const sut = new Heartbeat(
      1_000,
      () => undefined,
      () => running.read(),
    );
    const warn = jest.spyOn(sut['log'], 'warn').mockImplementation(() => undefined);
    running.write(simpleQuery(`CALL refresh_continuous_aggregate('hourly', NULL, '2026-12-01')`));
    sut.start();
    jest.advanceTimersByTime(1_250);
    expect(warn).toHaveBeenCalledWith(
      expect.objectContaining({ statement: 'CALL refresh_continuous_aggregate' }),
      expect.stringMatching(
        /^PGlite's thread has not answered for 1 s: a long statement or a stuck one \(CALL refresh_continuous_aggregate\);.*restarting during a first-start refresh starts it over$/,
      ),
    );
    expect(JSON.stringify(warn.mock.calls)).not.toContain('hourly');
    sut.pong();
    sut.stop();
  });
});

describe('RunningStatement (the request the embedded database thread runs, shared with the engine)', () => {
  it('is read from another view of the same memory, as a statement given as text too', () => {
    const written = new RunningStatement();
    const read = new RunningStatement(written.shared);
    expect(read.read()).toBeUndefined();
    written.write(simpleQuery(`INSERT INTO events VALUES ('${'x'.repeat(1_000)}')`));
    expect(read.read()).toBe('INSERT INTO events VALUES');
    written.write('COPY click_verdicts (id, reasons) FROM STDIN');
    expect(read.read()).toBe('COPY click_verdicts');
  });
});
