import { Cluster, Sender, seedCatalog, settleAndAccount, simulate, reportExactlyOnce, withMintedCopies } from './support';

/**
 * The recorder is SIGKILLed twice while it writes batches (events and verdicts, two batches in
 * flight each), and restarted each time: a batch whose transaction committed but whose acks never
 * left is redelivered and must be recognised by the idempotency ledger; one that did not commit
 * is redelivered and written once. A fifth of the clicks come without an id: the engine mints
 * theirs, stores a request's such clicks several to a message, and their rows are idempotent on
 * the tables' (id, ts) keys instead of the ledger.
 */
describe('fault: recorder SIGKILL mid-batch, restarted', () => {
  let cluster: Cluster;
  beforeAll(async () => {
    // Smaller batches: more of them in flight when the signal lands.
    cluster = await Cluster.start({ fault: 'recorder-kill', env: { RECORDER_BATCH: '200' } });
  });
  afterAll(() => cluster?.close());

  it('stores and decides every accepted event exactly once', async () => {
    const started = Date.now();
    const { catalog, events: simulated } = simulate({ seed: 202, events: 3000 });
    await seedCatalog(cluster, catalog);
    // Copies of every fourth click without their id (new events to the engine), spread through the traffic.
    const events = withMintedCopies(simulated);
    const sender = new Sender(cluster.gateway);
    const batches = Math.ceil(events.length / 100);
    const killAt = [Math.floor(batches / 4), Math.floor((batches * 2) / 3)];
    await sender.send(events, {
      batch: 100,
      pauseMs: 20,
      onBatch: async (n) => {
        if (killAt.includes(n)) {
          // Let the batch just sent reach the recorder's transaction, then pull the plug.
          await new Promise((r) => setTimeout(r, 15));
          await cluster.kill('recorder', 'SIGKILL');
        }
        if (killAt.map((k) => k + 4).includes(n)) await cluster.restart('recorder');
      },
    });

    const row = await settleAndAccount(cluster, 'recorder SIGKILL ×2 + restart', sender);
    reportExactlyOnce(row, { accepted: events.length, startedAt: started });
  });
});
