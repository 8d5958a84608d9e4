import { AckPolicy, JetStreamManager, JsMsg, jetstream, jetstreamManager } from '@nats-io/jetstream';
import { NatsConnection, headers } from '@nats-io/nats-core';
import { connect } from '@nats-io/transport-node';
import type { CatalogCache } from '@app/catalog';
import { loadConfig } from '@app/config';
import { ConsumerName, Decision, Topology } from '@app/contracts';
import {
  BrokerReadError,
  ConsumerRunner,
  ConsumerSpec,
  DEAD_LETTER_HEADERS,
  Delivery,
  NATS_CONNECTION,
  JetStreamPublisher,
  StoredEvent,
  classifyFailure,
  consumerSpecs,
  provisionStreams,
  readStoredIds,
} from '@app/messaging';
import { APP_FILTER } from '@nestjs/core';
import { ScoringEngine } from '@app/decisions';
import { OFFLINE_DISTINCT_SECRET } from '@app/features';
import { EdgeErrorsFilter } from '@app/http';
import { degradations } from '@app/observability';
import { createWorkerApp } from '@app/worker';
import { ClickRepository, OutcomeRepository, ShadowOutcomeRepository, createPool, migrate } from '@app/storage';
import {
  TEST_NATS_URL,
  aCatalog,
  aClick,
  aConversion,
  createTestDatabase,
  deleteNamespace,
  eventually,
  testNamespace,
  uid,
} from '@app/testing';
import { DecisionFanoutService } from '../../apps/notifier/src/decision-fanout.service';
import { DecisionsConsumer } from '../../apps/notifier/src/decisions.consumer';
import type { PostbackDirectory } from '../../apps/notifier/src/postback-directory.service';
import { RecorderProgress } from '../../apps/scorer/src/recorder-progress';
import { RedeliveryResolver } from '../../apps/scorer/src/redelivery.resolver';
import { ScoringService } from '../../apps/scorer/src/scoring.service';
import { readStream } from '../faults/support/accounting';

/** Streams with a duplicate window this short (seconds) let a redelivery arrive after it within a test. */
const WINDOW_SECONDS = 2;

/**
 * Exactly once past JetStream's duplicate window: the notifier published a decision and died before
 * its ack; VERDICTS redelivers the message after the window (the database held the restarted
 * notifier up), when JetStream would store the same Nats-Msg-Id again.
 */
describe('a decision redelivered after the duplicate window', () => {
  let nc: NatsConnection;
  let jsm: JetStreamManager;
  let namespace: string;
  let topology: Topology;
  let publisher: JetStreamPublisher;

  beforeEach(async () => {
    namespace = testNamespace();
    topology = new Topology(namespace);
    nc = await connect({ servers: TEST_NATS_URL });
    jsm = await jetstreamManager(nc);
    // Below the configuration's minimum (120 s), which loadConfig enforces: set on the streams directly.
    const config = {
      ...loadConfig({ ARBITER_NAMESPACE: namespace, EVENTS_MAX_BYTES: String(64 * 1024 ** 2) }),
      DUPLICATE_WINDOW_SECONDS: WINDOW_SECONDS,
    };
    await provisionStreams(jsm, topology, config);
    publisher = new JetStreamPublisher(nc);
  });

  afterEach(async () => {
    publisher.close();
    await nc.close();
    await deleteNamespace(namespace);
  });

  const aDecision = (revision: number, conversionId = uid('conv')): Decision =>
    ({
      kind: 'conversion',
      conversionId,
      clickId: uid('click'),
      advertiserId: 'adv-1',
      publisherId: 'pub-1',
      revision,
      status: 'approved',
      decidedAt: new Date().toISOString(),
    }) as unknown as Decision;

  /** The notifier's fan-out, its catalog and postbacks answering from memory (only the broker matters here). */
  const fanout = () => {
    const catalog = {
      resolve: async () => undefined,
      advertiser: () => ({ webhookUrl: 'https://hooks.example/x' }),
    } as unknown as CatalogCache;
    const postbacks = { has: () => false } as unknown as PostbackDirectory;
    return new DecisionFanoutService(publisher, topology, catalog, postbacks, jsm);
  };
  const notifier = () => new DecisionsConsumer(fanout());

  /** A VERDICTS durable whose unacknowledged messages come again after a second. */
  const verdicts = async () => {
    const durable = 'notifier-test';
    await jsm.consumers.add(topology.streams.verdicts, {
      durable_name: durable,
      ack_policy: AckPolicy.Explicit,
      ack_wait: 1_000_000_000,
      // The notifier's: decisions only (a scorer publishes click verdicts on their own subject).
      filter_subject: topology.verdict('conversion'),
    });
    const consumer = await jetstream(nc).consumers.get(topology.streams.verdicts, durable);
    return async (n: number): Promise<JsMsg[]> => {
      const out: JsMsg[] = [];
      for await (const m of await consumer.fetch({ max_messages: n, expires: 3000 })) out.push(m);
      return out;
    };
  };

  const publishedRevisions = async () =>
    (await readStream(nc, topology.streams.decisions)).map((m) => `${m.json<Decision>().conversionId}:${m.json<Decision>().revision}`);

  /** The notifier's spec decoding plain JSON (the test's decisions are not whole outcomes): only how the runner hands them out matters. */
  const plainJson = (spec: ConsumerSpec): ConsumerSpec<Decision> => ({
    ...spec,
    decodeItems: undefined,
    decode: (_: string, data: Uint8Array) => JSON.parse(new TextDecoder().decode(data)) as Decision,
  });

  /**
   * A JetStreamManager for a runner whose durable is lost (`lose`) and can be recreated only once
   * `recreate` is called (NATS was down that long): the runner's creates wait until then.
   */
  const recreatedAfter = () => {
    let release!: () => void;
    const released = new Promise<void>((r) => (release = r));
    let lost = false;
    const consumers = Object.create(jsm.consumers) as JetStreamManager['consumers'];
    consumers.add = async (...args: Parameters<JetStreamManager['consumers']['add']>) => {
      if (lost) await released;
      return jsm.consumers.add(...args);
    };
    return {
      jsm: Object.create(jsm, { consumers: { value: consumers } }) as JetStreamManager,
      lose: async (durable: string) => {
        lost = true;
        await jsm.consumers.delete(topology.streams.verdicts, durable);
      },
      recreate: () => release(),
    };
  };

  it('is not published on DECISIONS again; a new revision of it still is', async () => {
    const sut = notifier();
    const first = aDecision(0);
    const other = aDecision(0);
    await publisher.publishAll([
      { subject: topology.verdict('conversion'), payload: first, msgId: 'v1' },
      { subject: topology.verdict('conversion'), payload: other, msgId: 'v2' },
    ]);
    const fetch = await verdicts();

    const delivered = await fetch(2);
    expect(delivered.map((m) => m.info.deliveryCount)).toEqual([1, 1]);
    await sut.deliver(delivered.map((m) => new Delivery(m.json<Decision>(), m)));
    // Died before the ack. The restart and the database outage outlast the duplicate window.
    await new Promise((r) => setTimeout(r, WINDOW_SECONDS * 1000 + 1500));

    const again = await fetch(2);
    expect(again.map((m) => m.info.deliveryCount)).toEqual([2, 2]);
    const revised = aDecision(1, first.conversionId);
    await sut.deliver([...again.map((m) => new Delivery(m.json<Decision>(), m))]);
    await sut.deliver([new Delivery(revised, again[0])]);
    for (const m of again) m.ack();

    expect((await publishedRevisions()).sort()).toEqual(
      [`${first.conversionId}:0`, `${first.conversionId}:1`, `${other.conversionId}:0`].sort(),
    );
  }, 30_000);

  it('is not published again when the scorer publishes it again on VERDICTS after the window', async () => {
    const db = await createTestDatabase();
    const pool = createPool({ url: db.url, max: 2, applicationName: 'late-redelivery-test' });
    try {
      await migrate(pool);
      const config = loadConfig({ ARBITER_NAMESPACE: namespace, EVENTS_MAX_BYTES: String(64 * 1024 ** 2) });
      const outcomes = new OutcomeRepository(pool);
      const scoring = new ScoringService(
        config,
        { ...aCatalog(), resolve: async () => undefined } as unknown as CatalogCache,
        outcomes,
        new ClickRepository(pool),
        publisher,
        topology,
        new ShadowOutcomeRepository(pool),
        new RedeliveryResolver(outcomes, new RecorderProgress(config, jsm, topology)),
        OFFLINE_DISTINCT_SECRET,
      );
      const event = (data: StoredEvent, redelivered = false) =>
        ({ data, redelivered, deliveryCount: redelivered ? 2 : 1 }) as unknown as Delivery<StoredEvent>;
      const sut = notifier();
      const fetch = await verdicts();
      const click = aClick({ id: uid('click') });
      const conversion = aConversion(click, { id: uid('conv') });
      await scoring.process([event(click), event(conversion)]);
      const [first] = await fetch(1);
      await sut.deliver([new Delivery(first.json<Decision>(), first)]);
      first.ack();
      await new Promise((r) => setTimeout(r, WINDOW_SECONDS * 1000 + 1500));

      // The conversion comes back (its scorer batch was nak'ed, or it was sent again) before the
      // recorder recorded its decision: the scorer remembers it and publishes it again, a new VERDICTS
      // message (past VERDICTS' window too) that the notifier gets as a first delivery.
      await scoring.process([event(conversion, true)]);
      const [again] = await fetch(1);
      expect(again.info.deliveryCount).toBe(1);
      await sut.deliver([new Delivery(again.json<Decision>(), again)]);
      again.ack();

      expect(await publishedRevisions()).toEqual([`${conversion.id}:0`]);
    } finally {
      await pool.end();
      await db.drop();
    }
  }, 60_000);

  it('is not published again when the durable is lost and recreated after the window (delivered again with a count of 1)', async () => {
    const config = loadConfig({ ARBITER_NAMESPACE: namespace, EVENTS_MAX_BYTES: String(64 * 1024 ** 2) });
    const spec = consumerSpecs(topology, config).get(ConsumerName.NotifierDecisions)![0];
    const sut = notifier();
    const held = recreatedAfter();
    const handed: { conversionId: string; deliveryCount: number; redelivered: boolean }[] = [];
    const runner = new ConsumerRunner<Decision>(jetstream(nc), held.jsm, topology, plainJson(spec), async (batch) => {
      for (const d of batch) handed.push({ conversionId: d.data.conversionId, deliveryCount: d.deliveryCount, redelivered: d.redelivered });
      await sut.deliver(batch);
      // Handled, and the durable is lost before its ack: the runner cannot have seen an ack floor
      // (no watch can, whenever it runs), so the durable is recreated from the stream's start.
      if (handed.length === 1) await held.lose(spec.durable);
    });
    await runner.start();
    try {
      const decision = aDecision(0);
      await publisher.publish(topology.verdict('conversion'), decision, 'v1');
      await eventually(publishedRevisions, (ids) => ids.length === 1);
      // Recreated only after the window (NATS was down that long).
      await new Promise((r) => setTimeout(r, WINDOW_SECONDS * 1000 + 500));
      held.recreate();
      await eventually(
        async () => handed.length,
        (n) => n >= 2,
      );

      expect(await publishedRevisions()).toEqual([`${decision.conversionId}:0`]);
      // JetStream counts it 1 on the new durable; the runner hands it out as delivered before.
      expect(handed.map((h) => h.deliveryCount)).toEqual([1, 1]);
      expect(handed.map((h) => h.redelivered)).toEqual([false, true]);
    } finally {
      held.recreate();
      await runner.stop();
    }
  }, 30_000);

  it('is not published again when the durable is lost in the first seconds of a new process (before its first watch)', async () => {
    const config = loadConfig({ ARBITER_NAMESPACE: namespace, EVENTS_MAX_BYTES: String(64 * 1024 ** 2) });
    const spec = consumerSpecs(topology, config).get(ConsumerName.NotifierDecisions)![0];
    const sut = notifier();
    const handed: { conversionId: string; redelivered: boolean }[] = [];
    const runner = () =>
      new ConsumerRunner<Decision>(jetstream(nc), jsm, topology, plainJson(spec), async (batch) => {
        for (const d of batch) handed.push({ conversionId: d.data.conversionId, redelivered: d.redelivered });
        await sut.deliver(batch);
      });
    // The previous notifier process handled and acked the decision, then was stopped (a deploy).
    const before = runner();
    await before.start();
    const decision = aDecision(0);
    await publisher.publish(topology.verdict('conversion'), decision, 'v1');
    await eventually(publishedRevisions, (ids) => ids.length === 1);
    await before.stop();
    expect((await jsm.consumers.info(topology.streams.verdicts, spec.durable)).ack_floor.stream_seq).toBe(1);
    await new Promise((r) => setTimeout(r, WINDOW_SECONDS * 1000 + 500));
    // A new process starts on the surviving durable; nothing new comes in its first seconds, and the
    // durable is lost before its first 5 s watch. Before the fix it was recreated from the stream's
    // start and the acked decision came again counted 1, unmarked: DECISIONS held it twice.
    const after = runner();
    await after.start();
    try {
      await jsm.consumers.delete(topology.streams.verdicts, spec.durable);
      await eventually(
        () =>
          jsm.consumers.info(topology.streams.verdicts, spec.durable).then(
            () => true,
            () => false,
          ),
        (ok) => ok,
      );
      await new Promise((r) => setTimeout(r, 1500));
      expect(await publishedRevisions()).toEqual([`${decision.conversionId}:0`]);
      // Recreated from the ack floor read at start: whatever comes again is marked.
      expect(handed.slice(1).filter((h) => !h.redelivered)).toEqual([]);
    } finally {
      await after.stop();
    }
  }, 30_000);

  it('keeps a batch whose late check fails at the broker, through Nest and the edge error filter, rather than dead-lettering an item of it', async () => {
    const config = loadConfig({ ARBITER_NAMESPACE: namespace, EVENTS_MAX_BYTES: String(64 * 1024 ** 2) });
    const sut = fanout();
    // The read of DECISIONS fails at the JetStream API (a leader election, say) until told otherwise.
    let failing = true;
    const seam = sut as unknown as { readSubject: (subject: string, since: Date) => Promise<unknown> };
    const readSubject = seam.readSubject.bind(sut);
    seam.readSubject = (subject, since) => (failing ? Promise.reject(new BrokerReadError('leader election')) : readSubject(subject, since));
    // The first batch is held until two more messages wait behind it: they then go to the handler together.
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const deliver = sut.deliver.bind(sut);
    let calls = 0;
    sut.deliver = async (batch) => {
      if (calls++ === 0) await gate;
      return deliver(batch);
    };
    // As production wires the notifier: the global EdgeErrorsFilter, inherited by the JetStream transport.
    const app = await createWorkerApp(
      {
        module: class LateCheckModule {},
        controllers: [DecisionsConsumer],
        providers: [
          { provide: DecisionFanoutService, useValue: sut },
          { provide: NATS_CONNECTION, useValue: nc },
          { provide: APP_FILTER, useClass: EdgeErrorsFilter },
        ],
      },
      config,
    );
    await app.init();
    await app.startAllMicroservices();
    try {
      const engine = new ScoringEngine(undefined, { features: { distinctSecret: OFFLINE_DISTINCT_SECRET } });
      const decide = () => engine.scoreConversion(aConversion(aClick(), { id: uid('conv') }), aCatalog(), null, Date.now());
      const [held, fresh, late] = [decide(), decide(), decide()];
      const verdict = (d: Decision, republishedFrom?: string) => ({
        subject: topology.verdict('conversion'),
        payload: d,
        msgId: `${d.conversionId}:${d.revision}`,
        republishedFrom,
      });
      await publisher.publishAll([verdict(held)]);
      await eventually(
        async () => calls,
        (n) => n === 1,
      );
      // `late`: published again by the scorer ten minutes after it decided it.
      await publisher.publishAll([verdict(fresh), verdict(late, new Date(Date.now() - 600_000).toISOString())]);
      const durable = consumerSpecs(topology, config).get(ConsumerName.NotifierDecisions)![0].durable;
      await eventually(
        async () => (await jsm.consumers.info(topology.streams.verdicts, durable)).num_ack_pending,
        (n) => n === 3,
      );
      release();

      // The broker's fault reaches the transport intact: the batch is kept (nak, back-off), the
      // consumer degraded for the broker. Nest's default filter would have handed it an "Internal
      // server error": unexplained, the fresh decision alone would go through and the late one be parked.
      const parked = async () => (await jsm.streams.info(topology.streams.dlq)).state.messages;
      const cause = () => degradations.list().find((d) => d.component === `consumer ${durable}`)?.cause;
      await eventually(
        async () => ({ cause: cause(), parked: await parked() }),
        (v) => v.cause === 'broker' || v.parked > 0,
      );
      expect(await parked()).toBe(0);
      expect(cause()).toBe('broker');
      failing = false;
      await eventually(publishedRevisions, (ids) => ids.length === 3, 20_000);
      expect((await publishedRevisions()).sort()).toEqual([held, fresh, late].map((d) => `${d.conversionId}:0`).sort());
      expect((await jsm.streams.info(topology.streams.dlq)).state.messages).toBe(0);
    } finally {
      await app.close();
    }
  }, 40_000);

  it('is not published again when its dead letter is replayed after the window', async () => {
    const sut = notifier();
    const decision = aDecision(0);
    await publisher.publish(topology.verdict('conversion'), decision, 'v1');
    const fetch = await verdicts();
    const [m] = await fetch(1);
    await sut.deliver([new Delivery(m.json<Decision>(), m)]);
    m.ack();
    await new Promise((r) => setTimeout(r, WINDOW_SECONDS * 1000 + 500));

    // What `arbiter dlq replay` puts back for the durable that parked it: delivered once, on the REPLAY stream.
    const h = headers();
    h.set(DEAD_LETTER_HEADERS.subject, topology.verdict('conversion'));
    await jetstream(nc).publish(topology.replay('notifier-test'), JSON.stringify(decision), { headers: h });
    await jsm.consumers.add(topology.streams.replay, {
      durable_name: 'notifier-test-replay',
      ack_policy: AckPolicy.Explicit,
      filter_subject: topology.replay('notifier-test'),
    });
    const replays = await jetstream(nc).consumers.get(topology.streams.replay, 'notifier-test-replay');
    const replayed = await replays.next({ expires: 3000 });
    expect(replayed!.info.deliveryCount).toBe(1);
    await sut.deliver([new Delivery(replayed!.json<Decision>(), replayed!, topology.verdict('conversion'))]);
    replayed!.ack();

    expect(await publishedRevisions()).toEqual([`${decision.conversionId}:0`]);
  }, 30_000);

  it('finds the earlier copy when the server that stored it runs behind the one that stored the VERDICTS message', async () => {
    const sut = fanout();
    const decision = aDecision(0);
    await sut.deliver([{ decision }]);
    const copy = (await jsm.streams.getMessage(topology.streams.decisions, { last_by_subj: topology.decisions('adv-1') }))!;
    await new Promise((r) => setTimeout(r, WINDOW_SECONDS * 1000 + 500));

    // VERDICTS' leader stamped the message 1 s after DECISIONS' leader stored the copy (its clock is ahead).
    await sut.deliver([{ decision, redeliveredFrom: new Date(copy.time.getTime() + 1000) }]);

    expect(await publishedRevisions()).toEqual([`${decision.conversionId}:0`]);
  }, 30_000);

  it('judges lateness again after a slow read: an item young at first but late by the publish is checked too', async () => {
    const sut = fanout();
    const young = aDecision(0);
    const late = { ...aDecision(0), advertiserId: 'adv-2' } as Decision;
    await sut.deliver([{ decision: young }]);
    await new Promise((r) => setTimeout(r, WINDOW_SECONDS * 1000 + 500));

    // The read of adv-2's subject takes a whole window (the clock jumps by it once the first read is asked).
    const start = Date.now();
    const reads: string[] = [];
    const seam = sut as unknown as { now: () => number; readSubject: (subject: string, since: Date) => Promise<unknown> };
    const readSubject = seam.readSubject.bind(sut);
    seam.readSubject = (subject, since) => (reads.push(subject), readSubject(subject, since));
    seam.now = () => (reads.length === 0 ? start : start + WINDOW_SECONDS * 1000);
    await sut.deliver([
      { decision: young, redeliveredFrom: new Date(start - WINDOW_SECONDS * 200) },
      { decision: late, redeliveredFrom: new Date(start - WINDOW_SECONDS * 1000) },
    ]);

    expect((await publishedRevisions()).sort()).toEqual([`${late.conversionId}:0`, `${young.conversionId}:0`].sort());
    // One round per item that became late, each subject read once: the loop ends.
    expect(reads).toEqual([topology.decisions('adv-2'), topology.decisions('adv-1')]);
  }, 30_000);

  it('reads the stream again for every late batch: a copy removed since an earlier late batch is published again', async () => {
    const sut = fanout();
    const decision = aDecision(0);
    await sut.deliver([{ decision }]);
    const copy = (await jsm.streams.getMessage(topology.streams.decisions, { last_by_subj: topology.decisions('adv-1') }))!;
    await new Promise((r) => setTimeout(r, WINDOW_SECONDS * 1000 + 500));
    const late = { decision, redeliveredFrom: new Date(copy.time.getTime()) };
    await sut.deliver([late]);
    expect(await publishedRevisions()).toEqual([`${decision.conversionId}:0`]);

    // The stream no longer holds it (trimmed by its limits, or the stream was recreated): an answer
    // remembered from the earlier read would skip it, and DECISIONS' readers would never see it.
    await jsm.streams.deleteMessage(topology.streams.decisions, copy.seq);
    await sut.deliver([late]);

    expect(await publishedRevisions()).toEqual([`${decision.conversionId}:0`]);
    expect((await jsm.streams.getMessage(topology.streams.decisions, { last_by_subj: topology.decisions('adv-1') }))!.seq).toBeGreaterThan(
      copy.seq,
    );
  }, 30_000);
});

describe('reading a subject of a stream back', () => {
  let nc: NatsConnection;
  let jsm: JetStreamManager;
  let namespace: string;
  let topology: Topology;

  beforeEach(async () => {
    namespace = testNamespace();
    topology = new Topology(namespace);
    nc = await connect({ servers: TEST_NATS_URL });
    jsm = await jetstreamManager(nc);
    await provisionStreams(jsm, topology, loadConfig({ ARBITER_NAMESPACE: namespace, EVENTS_MAX_BYTES: String(64 * 1024 ** 2) }));
  });

  afterEach(async () => {
    await nc.close();
    await deleteNamespace(namespace);
  });

  it('fails as the broker’s fault (retried, never dead-lettered) when the stream is not there', async () => {
    const read = readStoredIds(jsm, `${topology.streams.decisions}_MISSING`, topology.decisions('adv-1'), new Date(0));
    const error = await read.catch((e: unknown) => e);
    expect(error).toBeInstanceOf(BrokerReadError);
    expect(classifyFailure(error)).toEqual(expect.objectContaining({ poison: false, cause: 'broker' }));
  });
});
