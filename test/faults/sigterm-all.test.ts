import { jetstreamManager } from '@nats-io/jetstream';
import { Cluster, Sender, seedCatalog, settleAndAccount, simulate, reportExactlyOnce } from './support';

/**
 * SIGTERM to every service at once while traffic is flowing: each one drains (the gateway answers
 * the requests it has, consumers finish their batches and ack or nak them) and exits 0. Nothing
 * is lost. The sender keeps retrying what was refused in the
 * meantime; once the services are back, every accepted event is stored, decided and published
 * exactly once.
 */
describe('fault: SIGTERM of every service during load, then restart', () => {
  let cluster: Cluster;
  beforeAll(async () => {
    cluster = await Cluster.start({ fault: 'sigterm-all' });
  });
  afterAll(() => cluster?.close());

  it('drains in-flight work, exits cleanly, and loses nothing', async () => {
    const started = Date.now();
    const { catalog, events } = simulate({ seed: 303, events: 3000 });
    await seedCatalog(cluster, catalog);
    const sender = new Sender(cluster.gateway, { retryForMs: 180_000 });
    // Two concurrent streams of traffic, so requests are in flight when the signal lands.
    const half = Math.ceil(events.length / 2);
    const traffic = Promise.all([
      sender.send(events.slice(0, half), { batch: 100, pauseMs: 10 }),
      sender.send(events.slice(half), { batch: 100, pauseMs: 10 }),
    ]);
    traffic.catch(() => undefined); // awaited below; a failure must not surface as an unhandled rejection first
    while (sender.acceptedCount < events.length / 3) await new Promise((r) => setTimeout(r, 20));

    await cluster.stopAll('SIGTERM');
    // Nest's shutdown hooks re-raise the signal once they are done; an error on the way out would
    // have been exit code 1, and a hang the harness's SIGKILL after 60 s.
    for (const s of cluster.services) expect({ s, exit: cluster.lastExit(s) }).toEqual({ s, exit: { code: null, signal: 'SIGTERM' } });
    // Messages already on the wire to a consumer when it unsubscribes stay ack-pending on the
    // server until ack_wait, then come again: not lost (the accounting below shows it), only late.
    const jsm = await jetstreamManager(cluster.nc);
    let ackPending = 0;
    for (const stream of [cluster.topology.streams.events, cluster.topology.streams.verdicts]) {
      for await (const c of jsm.consumers.list(stream)) ackPending += c.num_ack_pending;
    }
    const acceptedBeforeRestart = sender.acceptedCount;

    await cluster.startAll();
    await traffic;
    const row = await settleAndAccount(cluster, 'SIGTERM all services + restart', sender);
    reportExactlyOnce(row, { accepted: events.length, startedAt: started });
    console.log(`after SIGTERM: ${ackPending} messages were left ack-pending (redelivered after ack_wait)`);
    expect(acceptedBeforeRestart).toBeLessThan(events.length);
  });
});
