import { ConsumerInfo, DiscardPolicy, JetStreamClient, JetStreamManager, jetstream, jetstreamManager } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/nats-core';
import { ConsumerName, Topology } from '@app/contracts';
import { ArbiterConfig, loadConfig } from '@app/config';
import {
  ConsumerSpec,
  JetStreamPublisher,
  PublishError,
  StreamTrimmer,
  TRIM_ABOVE,
  TRIM_DOWN_TO,
  connectNats,
  consumerSpecs,
  drainNats,
  ensureDurable,
  provisionStreams,
  streamConfigs,
} from '@app/messaging';
import { degradations, metricsRegistry } from '@app/observability';
import { TEST_NATS_URL, deleteNamespace, testNamespace } from '@app/testing';

/**
 * EVENTS and VERDICTS at their size limit (found 2026-12-03, session 6; docs/performance.md "the
 * drain that hung"): they used to discard their OLDEST messages at EVENTS_MAX_BYTES whether their
 * durables had read them or not, after JetStream had acknowledged them to the publisher. Now a full
 * stream refuses the publish (discard new), and the StreamTrimmer purges only what every durable
 * acknowledged. Real NATS, each test in a namespace of its own with 64 KiB streams.
 */
describe('EVENTS and VERDICTS at their size limit', () => {
  let namespace: string;
  let topology: Topology;
  let config: ArbiterConfig;
  let nc: NatsConnection;
  let jsm: JetStreamManager;
  let js: JetStreamClient;

  beforeEach(async () => {
    namespace = testNamespace();
    topology = new Topology(namespace, 2);
    config = loadConfig({ ARBITER_NAMESPACE: namespace, ARBITER_PARTITIONS: '2', EVENTS_MAX_BYTES: String(64 * 1024) });
    nc = await connectNats(TEST_NATS_URL, 'stream-limits-test');
    jsm = await jetstreamManager(nc);
    js = jetstream(nc);
  });

  afterEach(async () => {
    for (const c of degradations.list()) if (c.component.startsWith('stream ')) degradations.clear(c.component);
    await drainNats(nc);
    await deleteNamespace(namespace);
  });

  const spec = (name: ConsumerName, i = 0): ConsumerSpec => consumerSpecs(topology, config).get(name)![i];

  /**
   * Reads up to `max` messages of a durable (waiting up to `expiresMs` for each), acking them except
   * those `nak` picks, which are nak'ed with a delay (they stay unacknowledged); returns their stream sequences.
   */
  async function read(
    stream: string,
    durable: string,
    max = Infinity,
    nak: (i: number) => boolean = () => false,
    expiresMs = 1_000,
  ): Promise<number[]> {
    const consumer = await js.consumers.get(stream, durable);
    const seqs: number[] = [];
    while (seqs.length < max) {
      const m = await consumer.next({ expires: expiresMs });
      if (!m) break;
      if (nak(seqs.length)) m.nak(1_000);
      else await m.ackAck();
      seqs.push(m.seq);
    }
    return seqs;
  }

  /** Publishes events alternately to partitions 0 and 1 until EVENTS refuses one; returns the stored sequences per partition. */
  async function fillEvents(): Promise<{ p0: number[]; p1: number[] }> {
    const out = { p0: [] as number[], p1: [] as number[] };
    for (let i = 0; ; i++) {
      const p = i % 2;
      try {
        const ack = await js.publish(topology.event('click', p), JSON.stringify({ i, pad: 'x'.repeat(400) }), { msgID: `click:e-${i}` });
        (p ? out.p1 : out.p0).push(ack.seq);
      } catch (e) {
        expect((e as Error).message).toMatch(/maximum bytes exceeded/);
        return out;
      }
      if (i > 10_000) throw new Error('EVENTS never filled');
    }
  }

  async function blockedGauge(stream: string, consumer: string): Promise<number | undefined> {
    const m = await metricsRegistry.getSingleMetric('arbiter_stream_trim_blocked')?.get();
    return m?.values.find((v) => v.labels.stream === stream && v.labels.consumer === consumer)?.value;
  }

  it('keeps every verdict it acknowledged until the recorder has read it: a full VERDICTS refuses the publish', async () => {
    await provisionStreams(jsm, topology, config);
    // The recorder's durable exists (it was running) and falls behind: nothing is read meanwhile.
    const recorder = spec(ConsumerName.RecorderVerdicts);
    await ensureDurable(jsm, recorder);
    await ensureDurable(jsm, spec(ConsumerName.NotifierDecisions)); // reads decisions only: idle here
    const publisher = new JetStreamPublisher(nc);
    const reasons = 'x'.repeat(1600); // a verdict with the model's contributions is about 1.7 KB
    const acknowledged: string[] = [];
    const refused: PublishError[] = [];
    for (let i = 0; i < 80; i++) {
      const clickId = `c0.click-${i}`;
      // Acknowledged by JetStream: the scorer acks the event it scored after this; refused: it naks it.
      await publisher.publish(topology.verdict('click'), { kind: 'click', clickId, reasons }, `verdict:${clickId}`).then(
        () => acknowledged.push(clickId),
        (e: PublishError) => refused.push(e),
      );
    }
    publisher.close();
    // 64 KiB holds about 37 of them: the rest were refused, as transient (the scorer naks, it does not dead-letter).
    expect(refused.length).toBeGreaterThan(0);
    expect(refused.every((e) => e instanceof PublishError && e.transient)).toBe(true);
    const consumer = await js.consumers.get(topology.streams.verdicts, recorder.durable);
    const read: string[] = [];
    for (;;) {
      const m = await consumer.next({ expires: 1_000 });
      if (!m) break;
      read.push((m.json() as { clickId: string }).clickId);
      await m.ackAck();
    }
    expect(read).toEqual(acknowledged);

    // Read and acknowledged, they are trimmed and VERDICTS takes verdicts again.
    const [, verdicts] = await new StreamTrimmer(jsm, topology, config).trimAll();
    expect(verdicts).toMatchObject({ stream: topology.streams.verdicts, blockers: [] });
    expect(verdicts.purged).toBeGreaterThan(0);
    await expect(js.publish(topology.verdict('click'), JSON.stringify({ clickId: 'c0.click-80', reasons }))).resolves.toBeTruthy();
  }, 60_000);

  it('trims only what every durable acknowledged (two filtered partitions and the recorder), and no further than back to about 75 %', async () => {
    await provisionStreams(jsm, topology, config);
    for (const s of [spec(ConsumerName.ScorerEvents, 0), spec(ConsumerName.ScorerEvents, 1), spec(ConsumerName.RecorderEvents)])
      await ensureDurable(jsm, s);
    const { p1 } = await fillEvents();
    // recorder-events and scorer-p0 read everything of theirs; scorer-p1 reads half of its, and
    // naks its 3rd message (unacknowledged; those after it are acked out of order: its floor stays below it).
    await read(topology.streams.events, 'recorder-events');
    await read(topology.streams.events, 'scorer-p0');
    const half = Math.floor(p1.length / 2);
    const p1read = await read(topology.streams.events, 'scorer-p1', half, (i) => i === 2);
    expect(p1read).toEqual(p1.slice(0, half));

    const sut = new StreamTrimmer(jsm, topology, config);
    const before = await jsm.streams.info(topology.streams.events);
    expect(before.state.bytes / before.config.max_bytes).toBeGreaterThan(TRIM_ABOVE);
    const result = await sut.trim(topology.streams.events, 'EVENTS');
    // Up to scorer-p1's ack floor, its 2nd message (its 3rd is not acknowledged): everything up to it is gone...
    expect(result.purged).toBe(p1[1] + 1 - before.state.first_seq);
    const after = await jsm.streams.info(topology.streams.events);
    expect(after.state.first_seq).toBe(p1[1] + 1);
    // ...and it blocks trimming back to 75 %: reported with its backlog, on /health and in the metric.
    expect(after.state.bytes / after.config.max_bytes).toBeGreaterThan(TRIM_DOWN_TO);
    const p1info = await jsm.consumers.info(topology.streams.events, 'scorer-p1');
    const backlog = p1info.num_pending + p1info.num_ack_pending;
    expect(result.blockers).toEqual([{ durable: 'scorer-p1', backlog, keepFrom: p1[1] + 1, known: true, state: 'behind' }]);
    expect(degradations.list()).toContainEqual(
      expect.objectContaining({ component: 'stream EVENTS', cause: 'broker', reason: expect.stringContaining('scorer-p1') }),
    );
    expect(await blockedGauge('EVENTS', 'scorer-p1')).toBe(backlog);

    // Nothing scorer-p1 still needs went: redelivered, its unacknowledged 3rd message and every later one of its partition.
    const rest = await read(topology.streams.events, 'scorer-p1', Infinity, () => false, 3_000);
    expect(rest.sort((a, b) => a - b)).toEqual([p1[2], ...p1.slice(half)]);

    // All acknowledged now: the next round purges back to about 75 % (not everything) and clears the report.
    const again = await sut.trim(topology.streams.events, 'EVENTS');
    expect(again.blockers).toEqual([]);
    const trimmed = await jsm.streams.info(topology.streams.events);
    expect(trimmed.state.bytes / trimmed.config.max_bytes).toBeLessThanOrEqual(TRIM_DOWN_TO + 0.02);
    expect(trimmed.state.bytes / trimmed.config.max_bytes).toBeGreaterThan(TRIM_DOWN_TO - 0.05);
    expect(degradations.list().filter((c) => c.component === 'stream EVENTS')).toEqual([]);
    expect(await blockedGauge('EVENTS', 'scorer-p1')).toBe(0);
    // And a stream below TRIM_ABOVE is left alone.
    expect((await sut.trim(topology.streams.events, 'EVENTS')).purged).toBe(0);
  }, 60_000);

  it('reports a stale durable with a backlog (not in this configuration) as blocking, and ingest is refused until it is deleted', async () => {
    await provisionStreams(jsm, topology, config);
    for (const s of [spec(ConsumerName.RecorderEvents), spec(ConsumerName.ScorerEvents, 0), spec(ConsumerName.ScorerEvents, 1)])
      await ensureDurable(jsm, s);
    // scorer-p3 is left from a configuration with 4 partitions: it still has partition 3's subject, and
    // a few messages nobody will read.
    await ensureDurable(jsm, { ...spec(ConsumerName.ScorerEvents, 0), durable: 'scorer-p3', filterSubject: topology.partitionEvents(3) });
    for (let i = 0; i < 5; i++) await js.publish(topology.event('click', 3), JSON.stringify({ i }));
    await fillEvents();
    for (const durable of ['recorder-events', 'scorer-p0', 'scorer-p1']) await read(topology.streams.events, durable);

    const sut = new StreamTrimmer(jsm, topology, config);
    const [events] = await sut.trimAll();
    expect(events.purged).toBe(0);
    expect(events.blockers).toEqual([{ durable: 'scorer-p3', backlog: 5, keepFrom: 1, known: false, state: 'behind' }]);
    expect(degradations.list()).toContainEqual(
      expect.objectContaining({
        component: 'stream EVENTS',
        error: expect.stringMatching(/scorer-p3 \(5 not acknowledged; not a consumer of this configuration/),
      }),
    );
    await expect(
      js.publish(topology.event('click', 0), JSON.stringify({ late: true, pad: 'x'.repeat(420) }), { msgID: 'click:e-late' }),
    ).rejects.toThrow(/maximum bytes exceeded/);

    // The operator deletes it: the next round trims and publishes are taken again.
    await jsm.consumers.delete(topology.streams.events, 'scorer-p3');
    const [unblocked] = await sut.trimAll();
    expect(unblocked.purged).toBeGreaterThan(0);
    expect(degradations.list().filter((c) => c.component === 'stream EVENTS')).toEqual([]);
    await expect(
      js.publish(topology.event('click', 0), JSON.stringify({ late: true, pad: 'x'.repeat(420) }), { msgID: 'click:e-late' }),
    ).resolves.toBeTruthy();
  }, 60_000);

  it('waits for a durable the configuration reads with that does not exist yet (a scorer partition not started): it later reads its partition from the first message', async () => {
    await provisionStreams(jsm, topology, config);
    // The recorder and scorer-p0 run; scorer-p1's scorer has not started (no durable yet).
    for (const s of [spec(ConsumerName.RecorderEvents), spec(ConsumerName.ScorerEvents, 0)]) await ensureDurable(jsm, s);
    const { p1 } = await fillEvents();
    for (const durable of ['recorder-events', 'scorer-p0']) await read(topology.streams.events, durable);

    const sut = new StreamTrimmer(jsm, topology, config);
    const before = await jsm.streams.info(topology.streams.events);
    const [events] = await sut.trimAll();
    expect(events.purged).toBe(0);
    expect(events.blockers).toEqual([
      { durable: 'scorer-p1', backlog: before.state.messages, keepFrom: before.state.first_seq, known: true, state: 'absent' },
    ]);
    expect(degradations.list()).toContainEqual(
      expect.objectContaining({
        component: 'stream EVENTS',
        error: expect.stringMatching(/scorer-p1 \(the configuration reads with it and it does not exist yet/),
      }),
    );
    expect(await blockedGauge('EVENTS', 'scorer-p1')).toBe(before.state.messages);

    // Its scorer starts: the new durable reads every event of its partition, from the first.
    await ensureDurable(jsm, spec(ConsumerName.ScorerEvents, 1));
    expect(await read(topology.streams.events, 'scorer-p1')).toEqual(p1);
    const [unblocked] = await sut.trimAll();
    expect(unblocked.purged).toBeGreaterThan(0);
    expect(unblocked.blockers).toEqual([]);
  }, 60_000);

  it('purges nothing while a durable cannot be read (a cluster leaves it out of CONSUMER.LIST, or answers an offline one with zeroes)', async () => {
    await provisionStreams(jsm, topology, config);
    for (const s of [spec(ConsumerName.RecorderEvents), spec(ConsumerName.ScorerEvents, 0), spec(ConsumerName.ScorerEvents, 1)])
      await ensureDurable(jsm, s);
    await fillEvents();
    // scorer-p1 has read nothing; the others everything.
    for (const durable of ['recorder-events', 'scorer-p0']) await read(topology.streams.events, durable);
    const before = await jsm.streams.info(topology.streams.events);

    // The cluster's answers about scorer-p1 (the rest is the real server's): CONSUMER.LIST leaves it
    // out (named in `missing`, which nats.js drops) and its own info times out...
    const clustered = (answer: (name: string) => Promise<ConsumerInfo>): JetStreamManager => {
      const consumers = new Proxy(jsm.consumers, {
        get(target, key) {
          if (key === 'info') return (stream: string, name: string) => (name === 'scorer-p1' ? answer(name) : target.info(stream, name));
          if (key === 'list')
            return (stream: string) => ({
              async *[Symbol.asyncIterator]() {
                for await (const c of target.list(stream)) if (c.name !== 'scorer-p1') yield c;
              },
            });
          const v = Reflect.get(target, key) as unknown;
          return typeof v === 'function' ? v.bind(target) : v;
        },
      });
      return new Proxy(jsm, {
        get(target, key) {
          if (key === 'consumers') return consumers;
          const v = Reflect.get(target, key) as unknown;
          return typeof v === 'function' ? v.bind(target) : v;
        },
      });
    };
    const timedOut = clustered(async () => {
      throw new Error('TIMEOUT');
    });
    const [events] = await new StreamTrimmer(timedOut, topology, config).trimAll();
    expect(events.purged).toBe(0);
    expect(events.blockers).toEqual([
      { durable: 'scorer-p1', backlog: before.state.messages, keepFrom: before.state.first_seq, known: true, state: 'unknown' },
    ]);
    // ...or its replicas are all offline: its configuration alone, no state (zeroes, as if idle).
    const real = await jsm.consumers.info(topology.streams.events, 'scorer-p1');
    const offline = clustered(
      async () => ({ stream_name: real.stream_name, name: real.name, config: real.config, created: real.created }) as ConsumerInfo,
    );
    const [again] = await new StreamTrimmer(offline, topology, config).trimAll();
    expect(again.purged).toBe(0);
    expect(again.blockers.map((b) => [b.durable, b.state])).toEqual([['scorer-p1', 'unknown']]);
    expect((await jsm.streams.info(topology.streams.events)).state.first_seq).toBe(before.state.first_seq);
  }, 60_000);

  it('reports a blocker on /health once it blocked two rounds in a row while the stream is not yet close to refusing', async () => {
    await provisionStreams(jsm, topology, config);
    const info = await jsm.streams.info(topology.streams.events);
    await jsm.streams.update(topology.streams.events, { ...info.config, max_msgs: 100 });
    for (const s of [spec(ConsumerName.RecorderEvents), spec(ConsumerName.ScorerEvents, 0), spec(ConsumerName.ScorerEvents, 1)])
      await ensureDurable(jsm, s);
    // 92 % full; scorer-p0 has read nothing yet (a moment behind).
    for (let i = 0; i < 92; i++) await js.publish(topology.event('click', 0), JSON.stringify({ i }));
    for (const durable of ['recorder-events', 'scorer-p1']) await read(topology.streams.events, durable);

    const sut = new StreamTrimmer(jsm, topology, config);
    const [first] = await sut.trimAll();
    expect(first.blockers.map((b) => b.durable)).toEqual(['scorer-p0']);
    expect(degradations.list().filter((c) => c.component === 'stream EVENTS')).toEqual([]);
    const [second] = await sut.trimAll();
    expect(second.blockers.map((b) => b.durable)).toEqual(['scorer-p0']);
    expect(degradations.list()).toContainEqual(
      expect.objectContaining({ component: 'stream EVENTS', reason: expect.stringContaining('scorer-p0') }),
    );
  }, 60_000);

  it('provisioning that turns a full discard-old EVENTS into discard-new trims what every durable acknowledged there and then (a rolling upgrade before any new recorder runs)', async () => {
    // As an earlier version made it, in steady state: about 100 % full (it dropped its oldest), and read by every durable.
    for (const cfg of streamConfigs(topology, config).slice(0, 2)) await jsm.streams.add({ ...cfg, discard: DiscardPolicy.Old });
    for (const s of [spec(ConsumerName.RecorderEvents), spec(ConsumerName.ScorerEvents, 0), spec(ConsumerName.ScorerEvents, 1)])
      await ensureDurable(jsm, s);
    for (let i = 0; i < 200; i++) await js.publish(topology.event('click', i % 2), JSON.stringify({ i, pad: 'x'.repeat(400) }));
    for (const durable of ['recorder-events', 'scorer-p0', 'scorer-p1']) await read(topology.streams.events, durable);
    const full = await jsm.streams.info(topology.streams.events);
    expect(full.state.bytes / full.config.max_bytes).toBeGreaterThan(0.97);

    await provisionStreams(jsm, topology, config);

    const after = await jsm.streams.info(topology.streams.events);
    expect(after.config.discard).toBe(DiscardPolicy.New);
    expect(after.state.bytes / after.config.max_bytes).toBeLessThanOrEqual(TRIM_DOWN_TO + 0.02);
    await expect(js.publish(topology.event('click', 0), JSON.stringify({ late: true, pad: 'x'.repeat(400) }))).resolves.toBeTruthy();
    // A one-off: nothing left on this process's /health.
    expect(degradations.list().filter((c) => c.component.startsWith('stream '))).toEqual([]);
  }, 60_000);

  it('provisioning turns the discard-old EVENTS and VERDICTS of an earlier version into discard-new, keeping their messages', async () => {
    // As an earlier version made them.
    for (const cfg of streamConfigs(topology, config).slice(0, 2)) await jsm.streams.add({ ...cfg, discard: DiscardPolicy.Old });
    await js.publish(topology.event('click', 0), JSON.stringify({ before: true }));
    await provisionStreams(jsm, topology, config);
    for (const name of [topology.streams.events, topology.streams.verdicts]) {
      expect((await jsm.streams.info(name)).config.discard).toBe(DiscardPolicy.New);
    }
    expect((await jsm.streams.info(topology.streams.events)).state.messages).toBe(1);
  });
});
