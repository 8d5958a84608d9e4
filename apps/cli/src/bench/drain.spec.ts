import type { JetStreamManager } from '@nats-io/jetstream';
import type { Client } from 'pg';
import { Topology } from '@app/contracts';
import { awaitStored, DrainFailedError, parseRowsWritten, RowsWritten } from './drain';

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

  /** A database whose counts follow `counts()`, and which remembers how often it was asked. */
  function counting(counts: () => { clicks: number; verdicts: number }) {
    const db = { queries: 0, query: async () => ({ rows: [(db.queries++, counts())] }) };
    return db as typeof db & Pick<Client, 'query'>;
  }

  it('does not count while the engine says it is still writing, and confirms in the database when it says it is done', async () => {
    const start = performance.now();
    const writing = () => performance.now() - start < 600;
    const written = async (): Promise<RowsWritten> =>
      writing() ? { clicks: 5, verdicts: Math.floor(performance.now() - start) / 100 } : { clicks: 10, verdicts: 10 };
    const db = counting(() => (writing() ? { clicks: 5, verdicts: 5 } : { clicks: 10, verdicts: 10 }));
    await awaitStored(nats(writing), topology, db, run, { written, readEveryMs: 50, countEveryMs: 100, safetyCountEveryMs: 60_000 });
    // Counting every 100 ms while busy (as without the engine's own count) would have counted 6 times.
    expect(db.queries).toBe(1);
    expect(performance.now() - start).toBeGreaterThanOrEqual(600);
  });

  it('ends only when the database confirms, however early the engine says it wrote every row', async () => {
    const start = performance.now();
    const stored = () => performance.now() - start >= 500;
    const db = counting(() => (stored() ? { clicks: 10, verdicts: 10 } : { clicks: 10, verdicts: 9 }));
    await awaitStored(
      nats(() => true),
      topology,
      db,
      run,
      { written: async () => ({ clicks: 10, verdicts: 10 }), readEveryMs: 50, countEveryMs: 100 },
    );
    expect(performance.now() - start).toBeGreaterThanOrEqual(500);
    expect(db.queries).toBeGreaterThanOrEqual(2);
  });

  it('is not ended by an engine count that lies high: it fails with what the database holds, having counted rarely', async () => {
    const start = performance.now();
    const db = counting(() => ({ clicks: 10, verdicts: 5 }));
    const error = await awaitStored(
      nats(() => true),
      topology,
      db,
      run,
      { written: async () => ({ clicks: 1_000, verdicts: 1_000 }), readEveryMs: 50, countEveryMs: 60_000, stalledMs: 60_000, maxMs: 700 },
    ).catch((e: Error) => e);
    expect(error).toBeInstanceOf(DrainFailedError);
    expect(performance.now() - start).toBeGreaterThanOrEqual(700);
    expect((error as Error).message).toMatch(
      /10 events accepted, 10 clicks and 5 verdicts stored \(0 clicks and 5 verdicts missing\): the drain took/,
    );
    // Once when the claim was made, once when the drain gave up, once for the diagnosis (not every poll).
    expect(db.queries).toBe(3);
  });

  it('still finds a stall while the engine says it is writing, by its own count or the safety count', async () => {
    const db = counting(() => ({ clicks: 3, verdicts: 3 }));
    const error = await awaitStored(
      nats(() => true),
      topology,
      db,
      run,
      { written: async () => ({ clicks: 3, verdicts: 3 }), readEveryMs: 50, stalledMs: 400, maxMs: 60_000 },
    ).catch((e: Error) => e);
    expect((error as Error).message).toMatch(/3 clicks and 3 verdicts stored .*: no row was added for/);
  });
});

describe('parseRowsWritten', () => {
  it("reads the clicks and click_verdicts tables' counters, summing series, and 0 for one not there yet", () => {
    const text = [
      '# HELP arbiter_rows_written_total Rows the recorder inserted (after de-duplication)',
      '# TYPE arbiter_rows_written_total counter',
      'arbiter_rows_written_total{table="clicks"} 1200',
      'arbiter_rows_written_total{table="conversions"} 7',
      'arbiter_rows_written_total{table="clicks",recorder="2"} 300',
      'arbiter_rows_written_total_created{table="click_verdicts"} 99',
    ].join('\n');
    expect(parseRowsWritten(text)).toEqual({ clicks: 1500, verdicts: 0 });
  });
});
