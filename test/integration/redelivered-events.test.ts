import { AckPolicy, JetStreamClient, JetStreamManager, jetstream, jetstreamManager } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/nats-core';
import { connect } from '@nats-io/transport-node';
import type { Pool } from 'pg';
import type { CatalogCache } from '@app/catalog';
import { loadConfig } from '@app/config';
import { ClickEvent, ClickVerdict, ConsumerName, ConversionEvent, Decision, FeedbackEvent, Outcome, Topology } from '@app/contracts';
import type { ScoringEngine } from '@app/decisions';
import {
  ConsumerRunner,
  ConsumerSpec,
  Delivery,
  JetStreamPublisher,
  Outgoing,
  StoredEvent,
  StoredOutcome,
  consumerSpecs,
  provisionStreams,
} from '@app/messaging';
import { ClickRepository, OutcomeRepository, ShadowOutcomeRepository, createPool, migrate } from '@app/storage';
import { OFFLINE_DISTINCT_SECRET } from '@app/features';
import { metrics } from '@app/observability';
import {
  aCatalog,
  aClick,
  aConversion,
  aFeedback,
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
 * A redelivered event the scorer no longer remembers (here past 2 outcomes of a kind), against the
 * real JetStream and PostgreSQL: the scorer and a recorder consume their durables as in production;
 * an ack is "lost" by failing the scorer's handler after it published. The redelivery is answered
 * from what the recorder wrote — never scored, counted or published a second time — and waits
 * while the recorder has not caught up.
 */
describe('a redelivered event the scorer no longer remembers', () => {
  let nc: NatsConnection;
  let js: JetStreamClient;
  let jsm: JetStreamManager;
  let namespace: string;
  let topology: Topology;
  let pool: Pool;
  let dropDatabase: () => Promise<void>;
  let publisher: JetStreamPublisher;
  let scoring: ScoringService;
  let outcomes: OutcomeRepository;
  let specs: Map<ConsumerName, ConsumerSpec[]>;
  const runners: ConsumerRunner<unknown>[] = [];
  /** Every outcome the scorer handed to publish, in order. */
  let handed: Outcome[];
  /** Event ids whose first handling fails after its outcomes were published (the ack is lost). */
  let loseAck: Set<string>;
  /** Every delivery the scorer's handler got: event id → delivery counts. */
  let deliveries: Map<string, number[]>;
  let disagreements: number[];
  /** Event ids whose redeliveries this scorer process refuses (nak) without handling them: they reach the next process. */
  let notHere: Set<string>;
  let config: ReturnType<typeof loadConfig>;

  beforeEach(async () => {
    namespace = testNamespace();
    topology = new Topology(namespace);
    const db = await createTestDatabase();
    dropDatabase = db.drop;
    pool = createPool({ url: db.url, max: 4, applicationName: 'redelivered-events-test' });
    await migrate(pool);
    nc = await connect({ servers: TEST_NATS_URL });
    js = jetstream(nc);
    jsm = await jetstreamManager(nc);
    config = loadConfig({ ARBITER_NAMESPACE: namespace, SCORER_REMEMBER_OUTCOMES: '2', EVENTS_MAX_BYTES: String(64 * 1024 ** 2) });
    await provisionStreams(jsm, topology, config);
    specs = consumerSpecs(topology, config);
    publisher = new JetStreamPublisher(nc);
    outcomes = new OutcomeRepository(pool);
    handed = [];
    loseAck = new Set();
    deliveries = new Map();
    disagreements = [];
    notHere = new Set();
    scoring = newScorer();
  });

  /** A scorer process: a new one (a restart) remembers nothing of what the last one applied or published. */
  function newScorer(): ScoringService {
    const spy = { publishAll: (items: readonly Outgoing[]) => publisher.publishAll(items), maxBatchBytes: () => publisher.maxBatchBytes() };
    const scoring = new ScoringService(
      config,
      { ...aCatalog(), resolve: async () => undefined } as unknown as CatalogCache,
      outcomes,
      new ClickRepository(pool),
      spy as unknown as JetStreamPublisher,
      topology,
      new ShadowOutcomeRepository(pool),
      new RedeliveryResolver(outcomes, new RecorderProgress(config, jsm, topology)),
      OFFLINE_DISTINCT_SECRET,
    );
    const publish = scoring.publish.bind(scoring);
    scoring.publish = async (out) => {
      handed.push(...out);
      return publish(out);
    };
    return scoring;
  }

  afterEach(async () => {
    await Promise.all(runners.splice(0).map((r) => r.stop()));
    publisher.close();
    await nc.close();
    await deleteNamespace(namespace);
    await pool.end();
    await dropDatabase();
    expect(disagreements).toEqual([]);
  });

  async function startScorer(): Promise<void> {
    const spec = specs.get(ConsumerName.ScorerEvents)![0] as ConsumerSpec<StoredEvent>;
    const runner = new ConsumerRunner<StoredEvent>(js, jsm, topology, spec, async (batch: Delivery<StoredEvent>[]) => {
      for (const d of batch) {
        deliveries.set(d.data.id, [...(deliveries.get(d.data.id) ?? []), d.deliveryCount]);
        // What the scorer reads from the ack subject agrees with the client's parse of it.
        if (d.redelivered !== d.deliveryCount > 1) disagreements.push(d.deliveryCount);
      }
      const refused = batch.filter((d) => d.deliveryCount > 1 && notHere.has(d.data.id));
      if (refused.length) throw Object.assign(new Error('not this process'), { code: 'ECONNRESET' });
      await scoring.process(batch);
      const lost = batch.filter((d) => d.deliveryCount === 1 && loseAck.has(d.data.id));
      // Blamed on the database: the whole batch is kept for a retry, as when an ack is lost.
      if (lost.length) throw Object.assign(new Error('the ack was lost'), { code: 'ECONNRESET' });
    });
    await runner.start();
    runners.push(runner as ConsumerRunner<unknown>);
  }

  /** The recorder's durable exists (as in any deployment that ever ran one) whether or not it runs. */
  async function recorderDurable(): Promise<void> {
    const spec = specs.get(ConsumerName.RecorderVerdicts)![0];
    await jsm.consumers.add(spec.stream, {
      durable_name: spec.durable,
      filter_subject: spec.filterSubject,
      ack_policy: AckPolicy.Explicit,
    });
  }

  async function startRecorder(): Promise<void> {
    const spec = specs.get(ConsumerName.RecorderVerdicts)![0] as ConsumerSpec<StoredOutcome>;
    const runner = new ConsumerRunner<StoredOutcome>(js, jsm, topology, spec, async (batch) => {
      await outcomes.insert(batch.map((d) => d.data));
    });
    await runner.start();
    runners.push(runner as ConsumerRunner<unknown>);
  }

  const send = async (...events: StoredEvent[]) => {
    for (const e of events) await js.publish(topology.event(e.kind, 0), JSON.stringify(e), { msgID: `${e.kind}:${e.id}` });
  };
  const engine = () => (scoring as unknown as { engine: ScoringEngine }).engine;
  const ipClicks = (ip: string) => engine().state.observeClick(aClick({ id: uid('probe'), ip })).ipClicks.hour;
  const handedFor = (id: string) => handed.filter((o) => (o.kind === 'click' ? o.clickId : o.conversionId) === id);
  const others = (n: number, kind: 'click' | 'conversion') =>
    Array.from({ length: n }, (_, i) => {
      const c = aClick({ id: uid('other'), ip: `81.2.70.${i + 1}` });
      return kind === 'click' ? c : aConversion(c, { id: uid('conv') });
    });

  it('a click: answered from the recorded verdict, counted once, published once', async () => {
    await startRecorder();
    await startScorer();
    const click: ClickEvent = aClick({ id: uid('click'), ip: '81.2.69.21' });
    loseAck.add(click.id);
    // The redelivery comes back after a back-off (250 ms and more): by then 3 other clicks rolled the memory over.
    await send(click, ...others(3, 'click'));

    await eventually(async () => (deliveries.get(click.id) ?? []).some((n) => n > 1));
    await eventually(async () => (await jsm.consumers.info(topology.streams.events, 'scorer-p0')).num_ack_pending === 0);

    expect(engine().remembers('click', click.id)).toBe(false);
    expect(handedFor(click.id)).toHaveLength(1);
    const [first] = handedFor(click.id) as ClickVerdict[];
    expect(first.valid).toBe(true);
    const { rows } = await pool.query('SELECT valid, reason_codes FROM click_verdicts WHERE click_id = $1', [click.id]);
    expect(rows).toEqual([{ valid: true, reason_codes: [] }]);
    // This click and the probe: the redelivery was not counted.
    expect(ipClicks('81.2.69.21')).toBe(2);
  });

  it('a click sent again through the gateway (same chosen id, a new receipt time) after its verdict was forgotten: not counted or published again', async () => {
    await startRecorder();
    await startScorer();
    const click: ClickEvent = aClick({ id: uid('click'), ip: '81.2.69.24' });
    await send(click, ...others(3, 'click'));
    await eventually(async () => (await outcomes.recordedVerdicts([{ id: click.id, ts: click.ts }])).size === 1);
    await eventually(async () => (await jsm.consumers.info(topology.streams.events, 'scorer-p0')).num_ack_pending === 0);
    expect(engine().remembers('click', click.id)).toBe(false);
    const resent = (await metrics.redelivered.get()).values.find((v) => v.labels.answer === 'resent')?.value ?? 0;

    // Past JetStream's de-duplication window: a new message; the gateway stamps the click with its receipt.
    const again: ClickEvent = { ...click, ts: new Date(Date.parse(click.ts) + 5 * 60_000).toISOString() };
    await js.publish(topology.event('click', 0), JSON.stringify(again), { msgID: `click:${click.id}:again` });
    await eventually(async () => (deliveries.get(click.id) ?? []).length === 2);
    await eventually(async () => (await jsm.consumers.info(topology.streams.events, 'scorer-p0')).num_ack_pending === 0);

    expect(handedFor(click.id)).toHaveLength(1);
    expect(ipClicks('81.2.69.24')).toBe(2);
    const { rows } = await pool.query('SELECT ts FROM click_verdicts WHERE click_id = $1', [click.id]);
    expect(rows.map((r) => (r.ts as Date).toISOString())).toEqual([click.ts]);
    expect((await metrics.redelivered.get()).values.find((v) => v.labels.answer === 'resent')?.value).toBe(resent + 1);
  });

  it('a conversion whose decision is not recorded yet waits for the recorder, then is answered by the record: decided and credited once', async () => {
    await recorderDurable();
    await startScorer();
    const click = aClick({ id: uid('click') });
    const conversion: ConversionEvent = aConversion(click, { id: uid('conv') });
    loseAck.add(conversion.id);
    await send(click, conversion, ...others(3, 'conversion'));
    // No recorder yet: the redelivered conversion comes back again and again, never decided again.
    await eventually(async () => (deliveries.get(conversion.id) ?? []).filter((n) => n > 1).length >= 2, Boolean, 20_000);
    expect(handedFor(conversion.id)).toHaveLength(1);

    await startRecorder();
    await eventually(async () => (await jsm.consumers.info(topology.streams.events, 'scorer-p0')).num_ack_pending === 0, Boolean, 40_000);

    expect(handedFor(conversion.id)).toHaveLength(1);
    expect(engine().state.click(click.id)?.conversions).toBe(1);
    const recorded = await outcomes.findDecision(conversion.id);
    expect(recorded).toEqual(expect.objectContaining({ status: (handedFor(conversion.id)[0] as Decision).status, revision: 0 }));
  }, 90_000);

  it('an event delivered to a scorer that never published its outcome is scored once the recorder shows nothing was published', async () => {
    await startRecorder();
    const click = aClick({ id: uid('click'), ip: '81.2.69.23' });
    await send(click);
    // A scorer took it and died before scoring it: it is redelivered to the next one.
    const spec = specs.get(ConsumerName.ScorerEvents)![0];
    await jsm.consumers.add(spec.stream, {
      durable_name: spec.durable,
      filter_subject: spec.filterSubject,
      ack_policy: AckPolicy.Explicit,
      ack_wait: 1e9,
    });
    const taken = await (await js.consumers.get(spec.stream, spec.durable)).next();
    expect(taken?.info.deliveryCount).toBe(1);
    await new Promise((r) => setTimeout(r, 1200)); // its ack_wait ends: redelivered
    await startScorer();

    await eventually(async () => handedFor(click.id).length === 1);
    expect(Math.max(...deliveries.get(click.id)!)).toBeGreaterThan(1);
    await eventually(async () => (await outcomes.recordedVerdicts([{ id: click.id, ts: click.ts }])).size === 1);
    expect(ipClicks('81.2.69.23')).toBe(2);
  });

  it('a feedback redelivered to a restarted scorer after a later feedback changed the decision: not applied again, no revision or webhook', async () => {
    await startRecorder();
    await startScorer();
    const click = aClick({ id: uid('click'), ip: '81.2.69.30' });
    const conversion: ConversionEvent = aConversion(click, { id: uid('conv') });
    await send(click, conversion);
    await eventually(async () => (await outcomes.findDecision(conversion.id))?.status === 'approved');
    const feedback = (status: 'approved' | 'rejected'): FeedbackEvent => aFeedback(conversion, status, { ts: new Date().toISOString() });
    // An analyst rejects it; its ack is lost, and its redeliveries do not reach this process (it dies).
    const rejection = feedback('rejected');
    loseAck.add(rejection.id);
    notHere.add(rejection.id);
    await send(rejection);
    await eventually(async () => (await outcomes.findDecision(conversion.id))?.revision === 1);
    // Then approves it after all.
    await send(feedback('approved'));
    await eventually(async () => (await outcomes.findDecision(conversion.id))?.revision === 2);
    expect(handedFor(conversion.id).map((d) => (d as Decision).status)).toEqual(['approved', 'rejected', 'approved']);

    // A new scorer process (its memory of applied feedback gone) gets the rejection's redelivery.
    scoring = newScorer();
    const before = handed.length;
    notHere.clear();
    const redeliveries = () => (deliveries.get(rejection.id) ?? []).filter((n) => n > 1).length;
    const refused = redeliveries();
    await eventually(async () => redeliveries() > refused, Boolean, 20_000);
    await eventually(async () => (await jsm.consumers.info(topology.streams.events, 'scorer-p0')).num_ack_pending === 0, Boolean, 20_000);

    expect(handed.slice(before)).toEqual([]);
    expect(await outcomes.findDecision(conversion.id)).toMatchObject({ revision: 2, status: 'approved' });
    const { rows } = await pool.query('SELECT revision, to_status FROM decision_transitions WHERE conversion_id = $1 ORDER BY revision', [
      conversion.id,
    ]);
    expect(rows).toEqual([
      { revision: 1, to_status: 'rejected' },
      { revision: 2, to_status: 'approved' },
    ]);

    // Sent again as a new message (past JetStream's de-duplication window): likewise.
    await js.publish(topology.event('feedback', 0), JSON.stringify(rejection), { msgID: `feedback:${rejection.id}:again` });
    await eventually(async () => (deliveries.get(rejection.id) ?? []).filter((n) => n === 1).length === 2);
    await eventually(async () => (await jsm.consumers.info(topology.streams.events, 'scorer-p0')).num_ack_pending === 0);
    expect(handed.slice(before)).toEqual([]);
  }, 60_000);
});
