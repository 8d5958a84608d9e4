import { jetstreamManager } from '@nats-io/jetstream';
import { ConsumerName } from '@app/contracts';
import { Cluster, Sender, seedCatalog, settleAndAccount, simulate, reportExactlyOnce } from './support';
import { PostgresServer, stopAll } from './support/servers';

const OUTAGE_MS = 30_000;

/**
 * The database (its own PostgreSQL instance) goes away for 30 s while traffic keeps coming. The
 * gateway does not need it: events keep being accepted onto JetStream. The recorder must not ack
 * what it could not store (its ack floor must not pass the last event from before the outage);
 * once the database is back, the backlog drains and every accepted event is stored, decided and
 * published exactly once.
 */
describe('fault: the database unavailable for 30 s during traffic', () => {
  let pg: PostgresServer;
  let cluster: Cluster;

  beforeAll(async () => {
    pg = await PostgresServer.create();
    const databaseUrl = await pg.createDatabase('arbiter_faults');
    cluster = await Cluster.start({ fault: 'database-outage', databaseUrl });
  });
  afterAll(async () => {
    await cluster?.close();
    await stopAll();
  });

  it('accepts on, acks nothing it has not stored, and drains the backlog once the database is back', async () => {
    const started = Date.now();
    const { catalog, events } = simulate({ seed: 202, events: 4000 });
    await seedCatalog(cluster, catalog);
    const jsm = await jetstreamManager(cluster.nc);
    const recorderAckFloor = async () =>
      (await jsm.consumers.info(cluster.topology.streams.events, ConsumerName.RecorderEvents)).ack_floor.stream_seq;

    let lastSeqBeforeOutage = 0;
    let acceptedDuringOutage = 0;
    let ackFloorAtEnd = 0;
    let outage: Promise<void> | undefined;
    const sender = new Sender(cluster.gateway);
    await sender.send(events, {
      batch: 100,
      pauseMs: 700,
      onBatch: async (n) => {
        if (n !== 6) return;
        await pg.stop('fast');
        lastSeqBeforeOutage = (await jsm.streams.info(cluster.topology.streams.events)).state.last_seq;
        const acceptedBefore = sender.acceptedCount;
        // Traffic goes on while the database is away; it comes back in the background.
        outage = (async () => {
          await new Promise((r) => setTimeout(r, OUTAGE_MS));
          ackFloorAtEnd = await recorderAckFloor();
          acceptedDuringOutage = sender.acceptedCount - acceptedBefore;
          await pg.start();
        })();
      },
    });
    await outage;

    // The gateway kept accepting while the database was down ...
    expect(acceptedDuringOutage).toBeGreaterThan(1000);
    // ... and the recorder acked nothing that arrived after the database went away.
    expect(ackFloorAtEnd).toBeLessThanOrEqual(lastSeqBeforeOutage);

    const row = await settleAndAccount(cluster, 'database down 30 s (own PostgreSQL stopped)', sender, { timeoutMs: 150_000 });
    reportExactlyOnce(row, { accepted: events.length, startedAt: started });
    // No service gave up on the way.
    for (const s of cluster.services) expect({ service: s, running: cluster.isRunning(s) }).toEqual({ service: s, running: true });
    // Nothing was dead-lettered for a database that was merely away.
    expect((await jsm.streams.info(cluster.topology.streams.dlq)).state.messages).toBe(0);
  });
});
