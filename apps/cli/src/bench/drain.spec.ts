import type { JetStreamManager } from '@nats-io/jetstream';
import type { Client } from 'pg';
import { Topology } from '@app/contracts';
import { awaitStored, DrainFailedError } from './drain';

/**
 * The drain's bounds on a stand-in NATS server and database (the real ones are in
 * test/integration/bench.test.ts): which consumers answer idle is scripted per poll.
 */
describe('awaitStored', () => {
  const topology = new Topology('');
  const run = { offerId: 'o1', since: new Date(0), accepted: 10 };

  /** A JetStreamManager whose consumers read busy while `busy()` says so, idle otherwise. */
  function nats(busy: () => boolean): JetStreamManager {
    const consumer = () => ({ num_pending: busy() ? 1 : 0, num_ack_pending: 0 });
    const fails = () => Promise.reject(new Error('no stream in this stand-in'));
    return {
      consumers: { list: async () => ({ next: async () => [consumer()] }) },
      streams: { info: fails },
      jetstream: () => ({}),
    } as unknown as JetStreamManager;
  }
  const rows = (clicks: number, verdicts: number) =>
    ({ query: async () => ({ rows: [{ clicks, verdicts }] }) }) as unknown as Pick<Client, 'query'>;

  it('counts an idle stretch from the last busy poll, not from the first idle one before it', async () => {
    const start = performance.now();
    // Idle for the first 100 ms, busy until 400 ms, idle after: rows never arrive.
    const busy = () => {
      const t = performance.now() - start;
      return t >= 100 && t < 400;
    };
    const error = await awaitStored(nats(busy), topology, rows(10, 5), run, {
      idleShortMs: 500,
      stalledMs: 60_000,
      maxMs: 60_000,
      countEveryMs: 60_000,
    }).catch((e: Error) => e);
    expect(error).toBeInstanceOf(DrainFailedError);
    // Without the reset the idle stretch began at 0 ms and the drain gave up near 500 ms.
    expect(performance.now() - start).toBeGreaterThanOrEqual(900);
    expect((error as Error).message).toMatch(/nothing pending or unacknowledged/);
  });

  it('fails with a diagnosis, not the bare error, when the rows cannot be counted', async () => {
    const db = { query: async () => Promise.reject(new Error('canceling statement due to statement timeout')) };
    const error = await awaitStored(
      nats(() => false),
      topology,
      db as unknown as Pick<Client, 'query'>,
      run,
    ).catch((e: Error) => e);
    expect(error).toBeInstanceOf(DrainFailedError);
    expect((error as Error).message).toMatch(/10 events accepted; the stored rows could not be counted: canceling statement/);
    expect((error as Error).message).toMatch(/stream .*could not be read/);
  });

  it('returns once every accepted event is stored and decided', async () => {
    await expect(
      awaitStored(
        nats(() => false),
        topology,
        rows(10, 10),
        run,
      ),
    ).resolves.toBeUndefined();
  });
});
