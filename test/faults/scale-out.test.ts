import { jetstreamManager } from '@nats-io/jetstream';
import { NatsConnection } from '@nats-io/nats-core';
import { connect } from '@nats-io/transport-node';
import { clickPartition, partitionOfClickId } from '@app/contracts';
import { Cluster, Sender, SimTraffic, seedCatalog, settleAndAccount, simulate, reportExactlyOnce } from './support';
import { NatsCluster, stopAll } from './support/servers';

const PARTITIONS = 4;
/** Which scorer process owns a partition. */
const OWNER = ['scorer', 'scorer', 'scorer.2', 'scorer.2'] as const;

/**
 * Scale-out (DESIGN §2): four scorer partitions split over two scorer processes (0,1 and 2,3), two
 * recorders on the same durables, on a three-node JetStream cluster with R3 streams. Half the clicks
 * carry publisher-made ids (as S2S publishers send them): their conversions are routed by a hash of
 * the id, so most reach a partition, often another process, that never saw the click and resolve it
 * from the database. The second scorer is SIGKILLed mid-traffic and restarted; every accepted event
 * is still stored, decided and published exactly once, and every conversion finds its click.
 */
describe('fault: scale-out, two scorers owning different partitions and two recorders on a NATS cluster', () => {
  let nats: NatsCluster;
  let cluster: Cluster;
  let nc: NatsConnection;

  beforeAll(async () => {
    nats = await NatsCluster.start();
    cluster = await Cluster.start({
      fault: 'scale-out',
      natsUrl: nats.urls[0],
      env: { NATS_URL: nats.url, NATS_REPLICAS: '3', ARBITER_PARTITIONS: String(PARTITIONS) },
      instances: {
        scorer: [{ SCORER_PARTITIONS: '0,1' }, { SCORER_PARTITIONS: '2,3' }],
        recorder: [{}, {}],
      },
    });
    nc = await connect({ servers: nats.urls });
  });
  afterAll(async () => {
    await nc?.close();
    await cluster?.close();
    await stopAll();
  });

  it('decides every event once in the partition that owns it, resolving clicks held by another partition', async () => {
    const started = Date.now();
    const { catalog, events: simulated } = simulate({ seed: 919, events: 3000, partitions: PARTITIONS });
    const events = publisherClickIds(simulated);
    await seedCatalog(cluster, catalog);
    const clicks = events.filter((e) => e.kind === 'click');
    const conversions = events.filter((e) => e.kind === 'conversion');
    const sender = new Sender(cluster.gateway);
    // Clicks first, then conversions (as they arrive in life: later), so that a conversion's click
    // is in the database by the time a scorer without it looks for it.
    const batches = Math.ceil(clicks.length / 100);
    await sender.send(clicks, {
      batch: 100,
      pauseMs: 20,
      onBatch: async (n) => {
        if (n === Math.floor(batches / 3)) await cluster.kill('scorer.2', 'SIGKILL');
        if (n === Math.floor(batches / 3) + 4) await cluster.restart('scorer.2');
      },
    });
    await until(async () => {
      const { rows } = await cluster.db.query<{ n: string }>('SELECT count(*) AS n FROM clicks');
      return Number(rows[0].n) >= sender.accepted.click.size;
    });
    await sender.send(conversions, { batch: 100, pauseMs: 20 });

    const jsm = await jetstreamManager(nc);
    const target = {
      db: cluster.db,
      nc,
      topology: cluster.topology,
      outstanding: async () => {
        let n = 0;
        for (const stream of [cluster.topology.streams.events, cluster.topology.streams.verdicts])
          for await (const c of jsm.consumers.list(stream)) n += c.num_pending + c.num_ack_pending;
        return n;
      },
    };
    const row = await settleAndAccount(
      target,
      `scale-out: ${PARTITIONS} partitions on 2 scorers (one SIGKILLed), 2 recorders, R3`,
      sender,
      {
        timeoutMs: 120_000,
      },
    );
    reportExactlyOnce(row, { accepted: events.length, startedAt: started });

    // Every partition has its own durable, and each was consumed to the end.
    const durables = new Map<string, { delivered: number; pending: number }>();
    for await (const c of jsm.consumers.list(cluster.topology.streams.events))
      if (c.config.durable_name) durables.set(c.config.durable_name, { delivered: c.delivered.stream_seq, pending: c.num_pending });
    for (let p = 0; p < PARTITIONS; p++) expect(durables.get(`scorer-p${p}`)).toMatchObject({ pending: 0, delivered: expect.any(Number) });

    // Both recorders wrote rows: they share the durables.
    for (const r of ['recorder', 'recorder.2'] as const)
      expect({ r, wrote: (await rowsWritten(cluster, r)) > 0 }).toEqual({ r, wrote: true });

    // Conversions decided by another partition than their click's, and by the other process.
    const { rows } = await cluster.db.query<{ conversion: string; click_partition: number; decided_in: number; reason_codes: string[] }>(
      `SELECT d.conversion_id AS conversion, c.partition AS click_partition, d.partition AS decided_in, d.reason_codes
         FROM decisions d JOIN conversions v ON v.id = d.conversion_id JOIN clicks c ON c.id = v.click_id
        WHERE d.conversion_id = ANY($1::text[])`,
      [[...sender.accepted.conversion]],
    );
    const acceptedClickOf = new Map(conversions.map((c) => [c.id, c.clickId]));
    const withKnownClick = [...sender.accepted.conversion].filter((id) => sender.accepted.click.has(acceptedClickOf.get(id) ?? ''));
    expect(rows.length).toBe(withKnownClick.length);
    const foreign = rows.filter((r) => r.click_partition !== r.decided_in);
    const otherProcess = foreign.filter((r) => OWNER[r.click_partition] !== OWNER[r.decided_in]);
    expect(foreign.length).toBeGreaterThan(0);
    expect(otherProcess.length).toBeGreaterThan(0);
    // Each was routed where its click id says, and found its click (no UNKNOWN_CLICK).
    for (const r of rows)
      expect({ r: r.conversion, p: r.decided_in }).toEqual({
        r: r.conversion,
        p: partitionOfClickId(acceptedClickOf.get(r.conversion)!, PARTITIONS),
      });
    expect(rows.filter((r) => r.reason_codes.includes('UNKNOWN_CLICK')).map((r) => r.conversion)).toEqual([]);
    // Clicks were scored in their IP's partition.
    const byId = new Map(clicks.map((c) => [c.id, c]));
    const { rows: stored } = await cluster.db.query<{ id: string; partition: number }>(
      'SELECT id, partition FROM clicks WHERE id = ANY($1::text[])',
      [[...sender.accepted.click]],
    );
    for (const c of stored) expect({ id: c.id, p: c.partition }).toEqual({ id: c.id, p: clickPartition(byId.get(c.id)!.ip, PARTITIONS) });
  });
});

/** Every other click gets an id its publisher made (not an engine-minted `c<p>.…`), and its conversions follow. */
function publisherClickIds(events: SimTraffic[]): SimTraffic[] {
  const renamed = new Map<string, string>();
  let i = 0;
  for (const e of events) if (e.kind === 'click' && i++ % 2 === 0) renamed.set(e.id, `pub-${e.id.slice(e.id.indexOf('.') + 1)}`);
  return events.map((e) =>
    e.kind === 'click' ? { ...e, id: renamed.get(e.id) ?? e.id } : { ...e, clickId: renamed.get(e.clickId) ?? e.clickId },
  );
}

/** A service process's `arbiter_rows_written_total`, summed over tables. */
async function rowsWritten(cluster: Cluster, instance: 'recorder' | 'recorder.2'): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${cluster.portOf(instance)}/metrics`)).text();
  return text
    .split('\n')
    .filter((l) => l.startsWith('arbiter_rows_written_total'))
    .reduce((sum, l) => sum + Number(l.slice(l.lastIndexOf(' ') + 1)), 0);
}

async function until(probe: () => Promise<boolean>, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await probe())) {
    if (Date.now() > deadline) throw new Error(`not within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 250));
  }
}
