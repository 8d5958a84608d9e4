import { metricsRegistry } from '@app/observability';
import { Heartbeat } from './embedded-database';

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
});
