import { jetstreamManager, type JetStreamManager } from '@nats-io/jetstream';
import { Cluster, Sender, seedCatalog, settleAndAccount, simulate, reportExactlyOnce } from './support';

/**
 * Every durable consumer of the engine is deleted under the running services, twice, mid-traffic
 * (an operator's `nats consumer rm`, a stream restored without its consumers). Each service
 * recreates its durable from the last acknowledged position and consumes again; nothing is lost,
 * nothing is stored, decided or published twice.
 */
describe('fault: durable consumers deleted mid-traffic', () => {
  let cluster: Cluster;
  beforeAll(async () => {
    cluster = await Cluster.start({ fault: 'consumer-deleted', env: { RECORDER_BATCH: '200' } });
  });
  afterAll(() => cluster?.close());

  it('recreates them and stores and decides every accepted event exactly once', async () => {
    const started = Date.now();
    const { catalog, events } = simulate({ seed: 1203, events: 3000 });
    await seedCatalog(cluster, catalog);
    const sender = new Sender(cluster.gateway);
    const jsm = await jetstreamManager(cluster.nc);
    const batches = Math.ceil(events.length / 100);
    const deleteAt = [Math.floor(batches / 4), Math.floor((batches * 2) / 3)];
    const deleted: string[] = [];
    await sender.send(events, {
      batch: 100,
      pauseMs: 20,
      onBatch: async (n) => {
        if (!deleteAt.includes(n)) return;
        for (const stream of [cluster.topology.streams.events, cluster.topology.streams.verdicts]) {
          for await (const c of jsm.consumers.list(stream)) {
            if (!c.config.durable_name) continue;
            await deleteConsumer(jsm, stream, c.config.durable_name);
            deleted.push(c.config.durable_name);
          }
        }
      },
    });
    expect(new Set(deleted)).toEqual(new Set(['scorer-p0', 'recorder-events', 'recorder-verdicts', 'notifier-decisions']));

    const row = await settleAndAccount(cluster, 'durable consumers deleted ×2', sender);
    reportExactlyOnce(row, { accepted: events.length, startedAt: started });
    for (const durable of ['scorer-p0', 'recorder-events']) {
      expect((await jsm.consumers.info(cluster.topology.streams.events, durable)).num_pending).toBe(0);
    }
  });
});

/**
 * `nats consumer rm` as an operator would run it: NATS 2.9 can answer "unlinkat … directory not
 * empty" when the consumer is deleted while it writes its state (nats-io/nats-server#7886, fixed upstream in
 * 2026); the consumer may already be stopped and gone with only its directory left, so the delete is
 * retried until the server says the consumer does not exist.
 */
async function deleteConsumer(jsm: JetStreamManager, stream: string, durable: string): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    try {
      await jsm.consumers.delete(stream, durable);
      return;
    } catch (err) {
      const message = String((err as Error).message);
      if (/consumer not found/i.test(message) && attempt > 1) return;
      if (!/directory not empty/i.test(message) || attempt >= 10) throw err;
      await new Promise((r) => setTimeout(r, 50));
    }
  }
}
