import { jetstreamManager } from '@nats-io/jetstream';
import { Cluster, Sender, seedCatalog, settleAndAccount, simulate, reportExactlyOnce, withMintedCopies } from './support';
import { NatsServer, stopAll } from './support/servers';

const DOWN_MS = 5_000;

/**
 * The engine's own nats-server (JetStream on file storage) is stopped mid-traffic, gracefully or
 * with SIGKILL (a crash: no chance to flush), and started again on the same port and store. While it is away the gateway refuses events (503 / failed
 * items: not accepted, the sender sends them again later); everything it did accept survives the
 * restart on disk, and the services reconnect and resume their durable consumers by themselves.
 * Every accepted event ends up stored, decided and published exactly once.
 */
describe.each([
  ['stopped (SIGTERM)', 'stop'],
  ['killed (SIGKILL)', 'crash'],
] as const)('fault: NATS %s mid-traffic and started again (file storage)', (how, stop) => {
  let nats: NatsServer;
  let cluster: Cluster;

  beforeAll(async () => {
    nats = await NatsServer.single('faults-restart');
    cluster = await Cluster.start({ fault: 'nats-restart', natsUrl: nats.url });
  });
  afterAll(async () => {
    await cluster?.close();
    await stopAll();
  });

  it('loses nothing it accepted, duplicates nothing, and every service resumes without a restart', async () => {
    const started = Date.now();
    const { catalog, events: simulated } = simulate({ seed: 303, events: 2500 });
    // A fifth of the clicks without ids, stored several to a message: a message the stream could not
    // take is answered failed for each of its clicks, which the sender sends again.
    const events = withMintedCopies(simulated);
    await seedCatalog(cluster, catalog);
    const sender = new Sender(cluster.gateway);
    let restart: Promise<void> | undefined;
    let retriesBefore = 0;
    await sender.send(events, {
      batch: 100,
      pauseMs: 100,
      onBatch: async (n) => {
        if (n !== 10) return;
        await nats[stop]();
        retriesBefore = sender.retries;
        // Traffic goes on; NATS comes back in the background on the same port and store.
        restart = new Promise((r) => setTimeout(r, DOWN_MS)).then(() => nats.start());
      },
    });
    await restart;
    // The gateway refused what it could not store while NATS was away (the sender sent it again).
    expect(sender.retries).toBeGreaterThan(retriesBefore);

    const row = await settleAndAccount(cluster, `NATS ${how}, back after ${DOWN_MS / 1000} s (file storage)`, sender, {
      timeoutMs: 120_000,
    });
    reportExactlyOnce(row, { accepted: events.length, startedAt: started });
    for (const s of cluster.services) expect({ service: s, running: cluster.isRunning(s) }).toEqual({ service: s, running: true });
    // Nothing was dead-lettered for a broker that was merely away.
    const jsm = await jetstreamManager(cluster.nc);
    expect((await jsm.streams.info(cluster.topology.streams.dlq)).state.messages).toBe(0);
  });
});
