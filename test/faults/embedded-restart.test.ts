import { EmbeddedEngine, Sender, seedCatalog, settleAndAccount, simulate, reportExactlyOnce } from './support';

/**
 * The default a new user runs (issue 12): `arbiter start` without DATABASE_URL, on the embedded
 * TimescaleDB, stopped under traffic and started again on the same data directory — twice with
 * SIGTERM (Ctrl-C), twice with SIGKILL (a crash). Every later open must keep every TimescaleDB
 * feature the schema uses: nothing may be dead-lettered, and every accepted event is stored,
 * decided and published exactly once.
 */
describe.each([
  ['SIGTERM', 1201],
  ['SIGKILL', 1202],
] as const)('fault: embedded engine %s under traffic, restarted on the same data directory', (signal, seed) => {
  let engine: EmbeddedEngine;
  beforeAll(async () => {
    engine = await EmbeddedEngine.start({ fault: `embedded-${signal.toLowerCase()}` });
  });
  afterAll(() => engine?.close());

  it('stores and decides every accepted event exactly once, and dead-letters nothing', async () => {
    const started = Date.now();
    const { catalog, events } = simulate({ seed, events: 2000 });
    await seedCatalog(engine, catalog);
    const sender = new Sender(engine.gateway);
    const batches = Math.ceil(events.length / 100);
    const stopAt = [Math.floor(batches / 4), Math.floor((batches * 2) / 3)];
    await sender.send(events, {
      batch: 100,
      pauseMs: 20,
      onBatch: async (n) => {
        if (!stopAt.includes(n)) return;
        // Let the batch just sent get into the pipeline, then stop the whole engine and start it again.
        await new Promise((r) => setTimeout(r, 15));
        await engine.kill(signal);
        await engine.restart();
      },
    });

    const row = await settleAndAccount(engine, `embedded engine ${signal} ×2 + restart`, sender, { timeoutMs: 180_000 });
    reportExactlyOnce(row, { accepted: events.length, startedAt: started });
    expect((await engine.get('/v1/admin/dead-letters')).items).toEqual([]);
    expect(engine.logText()).not.toMatch(/not supported under the current "timescale" license|dead-lettered/);
    const health = (await (await fetch(`${engine.api}/health`)).json()) as { status: string };
    expect(health.status).toBe('up');
  });
});
