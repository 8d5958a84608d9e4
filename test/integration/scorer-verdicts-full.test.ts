import { JetStreamClient, JetStreamManager, jetstream, jetstreamManager } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/nats-core';
import { connect } from '@nats-io/transport-node';
import type { Pool } from 'pg';
import type { CatalogCache } from '@app/catalog';
import { loadConfig } from '@app/config';
import { ConsumerName, Decision, FeedbackEvent, Topology } from '@app/contracts';
import {
  ConsumerRunner,
  ConsumerSpec,
  Delivery,
  JetStreamPublisher,
  StoredEvent,
  StreamTrimmer,
  bodyItems,
  consumerSpecs,
  ensureDurable,
  provisionStreams,
} from '@app/messaging';
import { ClickRepository, OutcomeRepository, ShadowOutcomeRepository, createPool, migrate } from '@app/storage';
import { OFFLINE_DISTINCT_SECRET } from '@app/features';
import { degradations } from '@app/observability';
import {
  aCatalog,
  aClick,
  aConversion,
  aFeedback,
  at,
  createTestDatabase,
  deleteNamespace,
  eventually,
  TEST_NATS_URL,
  testNamespace,
  uid,
} from '@app/testing';
import { RecorderProgress } from '../../apps/scorer/src/recorder-progress';
import { RedeliveryResolver } from '../../apps/scorer/src/redelivery.resolver';
import { ScoringService } from '../../apps/scorer/src/scoring.service';

/**
 * The scorer when VERDICTS is full (discard new: JetStream refuses its publish rather than dropping
 * verdicts the recorder has not read): its events are nak'ed and retried with back-off, never acked,
 * and the scorer reports degraded; once the recorder caught up and the trimmer made room, every
 * event is scored and its verdict is on VERDICTS. Real JetStream and PostgreSQL, 64 KiB streams.
 */
describe('the scorer when VERDICTS is full', () => {
  let nc: NatsConnection;
  let js: JetStreamClient;
  let jsm: JetStreamManager;
  let namespace: string;
  let topology: Topology;
  let pool: Pool;
  let dropDatabase: () => Promise<void>;
  let publisher: JetStreamPublisher;
  let runner: ConsumerRunner<StoredEvent> | undefined;

  beforeEach(async () => {
    namespace = testNamespace();
    topology = new Topology(namespace);
    const db = await createTestDatabase();
    dropDatabase = db.drop;
    pool = createPool({ url: db.url, max: 4, applicationName: 'scorer-verdicts-full-test' });
    await migrate(pool);
    nc = await connect({ servers: TEST_NATS_URL });
    js = jetstream(nc);
    jsm = await jetstreamManager(nc);
    publisher = new JetStreamPublisher(nc);
  });

  afterEach(async () => {
    await runner?.stop();
    runner = undefined;
    publisher.close();
    await nc.close();
    await deleteNamespace(namespace);
    await pool.end();
    await dropDatabase();
  });

  /** Fills VERDICTS with what the recorder has not read yet (to the last few bytes: smaller fillers at the end). */
  async function fillVerdicts(): Promise<void> {
    for (const pad of [1600, 100, 1]) {
      for (;;) {
        const stored = await js.publish(topology.verdict('click'), JSON.stringify({ pad: 'x'.repeat(pad) })).then(
          () => true,
          () => false,
        );
        if (!stored) break;
      }
    }
  }

  function scoringService(config: ReturnType<typeof loadConfig>): ScoringService {
    const outcomes = new OutcomeRepository(pool);
    return new ScoringService(
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
  }

  /** Everything on VERDICTS the recorder's durable has not read yet (acked as read), as outcomes. */
  async function readVerdicts(durable: string): Promise<Record<string, unknown>[]> {
    const reader = await js.consumers.get(topology.streams.verdicts, durable);
    const out: Record<string, unknown>[] = [];
    for (;;) {
      const m = await reader.next({ expires: 1_000 });
      if (!m) return out;
      out.push(...(bodyItems(m.string()) as Record<string, unknown>[]));
      await m.ackAck();
    }
  }

  it('publishes a feedback revision VERDICTS refused when the feedback is delivered again, exactly once', async () => {
    const config = loadConfig({ ARBITER_NAMESPACE: namespace, EVENTS_MAX_BYTES: String(64 * 1024) });
    await provisionStreams(jsm, topology, config);
    const recorder = consumerSpecs(topology, config).get(ConsumerName.RecorderVerdicts)![0];
    await ensureDurable(jsm, recorder);
    const notifier = consumerSpecs(topology, config).get(ConsumerName.NotifierDecisions)![0];
    await ensureDurable(jsm, notifier);
    const scoring = scoringService(config);
    const delivery = (data: StoredEvent, redelivered = false) =>
      ({ data, redelivered, deliveryCount: redelivered ? 2 : 1 }) as unknown as Delivery<StoredEvent>;
    const click = aClick({ id: uid('click') });
    const conversion = aConversion(click, { id: uid('conv') });
    await scoring.process([delivery(click), delivery(conversion)]);
    const decided = (await readVerdicts(recorder.durable)).find((o) => o.conversionId === conversion.id) as unknown as Decision;
    expect(decided.revision).toBe(0);
    const rejection: FeedbackEvent = {
      kind: 'feedback',
      id: uid('fb'),
      ts: at(3600_000),
      receivedAt: at(3600_000),
      partition: 0,
      conversionId: conversion.id,
      status: 'rejected',
      source: 'advertiser',
    };

    // VERDICTS is full: the revision is refused, the batch fails (the runner naks it).
    await fillVerdicts();
    await expect(scoring.process([delivery(rejection)])).rejects.toThrow(/maximum bytes exceeded/);

    // Room again; the feedback is delivered again: its revision is published, once.
    await readVerdicts(recorder.durable);
    await readVerdicts(notifier.durable);
    await new StreamTrimmer(jsm, topology, config).trimAll();
    await scoring.process([delivery(rejection, true)]);
    await scoring.process([delivery(rejection, true)]);
    const revisions = (await readVerdicts(recorder.durable)).filter((o) => o.conversionId === conversion.id);
    expect(revisions).toEqual([
      expect.objectContaining({ revision: 1, status: 'rejected', previousStatus: decided.status, resolvedBy: 'advertiser' }),
    ]);
  }, 60_000);

  it('makes one revision per feedback event while two feedbacks on a conversion are refused and redelivered in turn', async () => {
    const config = loadConfig({ ARBITER_NAMESPACE: namespace, EVENTS_MAX_BYTES: String(64 * 1024) });
    await provisionStreams(jsm, topology, config);
    const recorder = consumerSpecs(topology, config).get(ConsumerName.RecorderVerdicts)![0];
    await ensureDurable(jsm, recorder);
    const notifier = consumerSpecs(topology, config).get(ConsumerName.NotifierDecisions)![0];
    await ensureDurable(jsm, notifier);
    const scoring = scoringService(config);
    const delivery = (data: StoredEvent, redelivered = false) =>
      ({ data, redelivered, deliveryCount: redelivered ? 2 : 1 }) as unknown as Delivery<StoredEvent>;
    const click = aClick({ id: uid('click') });
    const conversion = aConversion(click, { id: uid('conv') });
    await scoring.process([delivery(click), delivery(conversion)]);
    const decided = (await readVerdicts(recorder.durable)).find((o) => o.conversionId === conversion.id) as unknown as Decision;
    expect(decided).toMatchObject({ revision: 0, status: 'approved' });
    const feedback = (status: 'approved' | 'rejected', source: 'advertiser' | 'analyst'): FeedbackEvent =>
      aFeedback(conversion, status, { source });
    const rejection = feedback('rejected', 'advertiser');
    const approval = feedback('approved', 'analyst');

    // VERDICTS is full: both are refused, and their redeliveries alternate, refused again.
    await fillVerdicts();
    await expect(scoring.process([delivery(rejection)])).rejects.toThrow(/maximum bytes exceeded/);
    await expect(scoring.process([delivery(approval)])).rejects.toThrow(/maximum bytes exceeded/);
    for (let cycle = 0; cycle < 3; cycle++) {
      await expect(scoring.process([delivery(rejection, true)])).rejects.toThrow(/maximum bytes exceeded/);
      await expect(scoring.process([delivery(approval, true)])).rejects.toThrow(/maximum bytes exceeded/);
    }

    // Room again: each feedback's revision goes out once, in order; later redeliveries publish nothing.
    await readVerdicts(recorder.durable);
    await readVerdicts(notifier.durable);
    await new StreamTrimmer(jsm, topology, config).trimAll();
    await scoring.process([delivery(rejection, true)]);
    await scoring.process([delivery(approval, true)]);
    await scoring.process([delivery(rejection, true)]);
    const revisions = (await readVerdicts(recorder.durable)).filter((o) => o.conversionId === conversion.id);
    expect(revisions.map((o) => [o.revision, o.status, o.resolvedBy])).toEqual([
      [1, 'rejected', 'advertiser'],
      [2, 'approved', 'analyst'],
    ]);
  }, 60_000);

  it('naks its events with back-off and reports degraded, never acks them; scores them all once there is room', async () => {
    const config = loadConfig({ ARBITER_NAMESPACE: namespace, EVENTS_MAX_BYTES: String(64 * 1024) });
    await provisionStreams(jsm, topology, config);
    const specs = consumerSpecs(topology, config);
    const recorder = specs.get(ConsumerName.RecorderVerdicts)![0];
    await ensureDurable(jsm, recorder);
    await ensureDurable(jsm, specs.get(ConsumerName.NotifierDecisions)![0]); // reads decisions only: idle here
    // VERDICTS is full of what the recorder has not read yet (to the last few bytes: smaller fillers at the end).
    for (const pad of [1600, 100, 1]) {
      for (;;) {
        const stored = await js.publish(topology.verdict('click'), JSON.stringify({ pad: 'x'.repeat(pad) })).then(
          () => true,
          () => false,
        );
        if (!stored) break;
      }
    }

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
    const deliveries = new Map<string, number[]>();
    const spec = specs.get(ConsumerName.ScorerEvents)![0] as ConsumerSpec<StoredEvent>;
    runner = new ConsumerRunner<StoredEvent>(js, jsm, topology, spec, async (batch: Delivery<StoredEvent>[]) => {
      for (const d of batch) deliveries.set(d.data.id, [...(deliveries.get(d.data.id) ?? []), d.deliveryCount]);
      await scoring.process(batch);
    });
    await runner.start();
    const clicks = [0, 1, 2].map((i) => aClick({ id: uid('click'), ip: `81.2.71.${i + 1}` }));
    for (const c of clicks) await js.publish(topology.event('click', 0), JSON.stringify(c), { msgID: `click:${c.id}` });

    // Refused: delivered again (back-off), reported degraded for the broker, and not one event acked.
    await eventually(async () => (deliveries.get(clicks[0].id) ?? []).some((n) => n > 2));
    expect(degradations.list()).toContainEqual(
      expect.objectContaining({ component: 'consumer scorer-p0', cause: 'broker', error: expect.stringMatching(/maximum bytes exceeded/) }),
    );
    const held = await jsm.consumers.info(topology.streams.events, 'scorer-p0');
    expect(held.ack_floor.stream_seq).toBe(0);
    expect(held.num_ack_pending + held.num_pending).toBe(clicks.length);

    // The recorder catches up (reads the filler) and the trimmer makes room: the retries go through.
    const reader = await js.consumers.get(topology.streams.verdicts, recorder.durable);
    const verdictIds: string[] = [];
    const readAll = async () => {
      for (;;) {
        const m = await reader.next({ expires: 1_000 });
        if (!m) return;
        for (const v of bodyItems(m.string())) if ((v as { clickId?: string }).clickId) verdictIds.push((v as { clickId: string }).clickId);
        await m.ackAck();
      }
    };
    await readAll();
    const [, verdicts] = await new StreamTrimmer(jsm, topology, config).trimAll();
    expect(verdicts.purged).toBeGreaterThan(0);
    await eventually(
      async () => jsm.consumers.info(topology.streams.events, 'scorer-p0'),
      (c) => c.num_ack_pending === 0 && c.num_pending === 0,
      60_000,
    );
    await eventually(
      async () => degradations.list().some((d) => d.component === 'consumer scorer-p0'),
      (degraded) => !degraded,
    );
    await readAll();
    expect(verdictIds.sort()).toEqual(clicks.map((c) => c.id).sort());
  }, 90_000);
});
