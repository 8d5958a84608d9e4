import type { JsMsg } from '@nats-io/jetstream';
import { OFFLINE_DISTINCT_SECRET } from '@app/features';
import type { CatalogCache } from '@app/catalog';
import { loadConfig } from '@app/config';
import { ClickEvent, ClickVerdict, ConversionEvent, Decision, FeedbackEvent, Topology, feedbackKey } from '@app/contracts';
import type { ScoringEngine } from '@app/decisions';
import { Delivery, EncodedJson, bodyItems } from '@app/messaging';
import { degradations, metrics } from '@app/observability';
import type { JetStreamPublisher, Outgoing, StoredEvent } from '@app/messaging';
import type { ClickRepository, OutcomeRepository, ShadowOutcomeRepository } from '@app/storage';
import { aCatalog, aClick, aConversion, aFeedback, at, uid } from '@app/testing';
import type { Progress, RecorderProgress } from './recorder-progress';
import { MAX_WAIT_MS, RedeliveryResolver, WAIT_DEGRADED_MS } from './redelivery.resolver';
import { ScoringService } from './scoring.service';

/**
 * A redelivered event (JetStream: an ack lost or late) or a click sent again is answered with the
 * outcome first given and never observed twice — also once the scorer no longer remembers it
 * (here after 2 outcomes of a kind; 50,000 by default).
 */
describe('ScoringService: an event scored before, no longer remembered', () => {
  const topology = new Topology('unit', 1);
  /** Recorded verdicts: click id → the time of the row (the first click's, for a chosen id). */
  let recordedClicks: Map<string, string>;
  let decided: Set<string>;
  /** The database's decisions (the newest revision) and its revisions' feedback (`feedbackKey`). */
  let recordedDecisions: Map<string, Decision>;
  let recordedRevisions: Set<string>;
  let progress: Progress | null;
  let published: Outgoing[];
  let sut: ScoringService;
  let engine: ScoringEngine;

  beforeEach(() => {
    recordedClicks = new Map();
    decided = new Set();
    recordedDecisions = new Map();
    recordedRevisions = new Set();
    progress = { published: 100, recorded: 100 };
    published = [];
    start();
  });

  /** A scorer process (again: a restart, its memory gone) on the same database and streams. */
  function start(): void {
    const outcomes = {
      findDecision: async (id: string) => recordedDecisions.get(id) ?? null,
      recordedFeedback: async (fs: readonly { id: string; conversionId: string }[]) =>
        new Set(fs.map(feedbackKey).filter((k) => recordedRevisions.has(k))),
      decidedConversions: async (ids: readonly string[]) => new Set(ids.filter((id) => decided.has(id))),
      // As the database answers: by id and time, pair by pair.
      recordedVerdicts: async (cs: readonly { id: string; ts: string }[]) =>
        new Set(cs.filter((c) => recordedClicks.get(c.id) === c.ts).map((c) => c.id)),
    };
    const clicks = { findClicks: async () => new Map() };
    const catalog = { ...aCatalog(), resolve: async () => undefined };
    const publisher = { publishAll: async (items: readonly Outgoing[]) => void published.push(...items), maxBatchBytes: () => 256 * 1024 };
    const recorder = { read: async () => progress } as unknown as RecorderProgress;
    sut = new ScoringService(
      loadConfig({ SCORER_REMEMBER_OUTCOMES: '2' }),
      catalog as unknown as CatalogCache,
      outcomes as unknown as OutcomeRepository,
      clicks as unknown as ClickRepository,
      publisher as unknown as JetStreamPublisher,
      topology,
      { insert: async () => undefined } as unknown as ShadowOutcomeRepository,
      new RedeliveryResolver(outcomes as unknown as OutcomeRepository, recorder),
      OFFLINE_DISTINCT_SECRET,
    );
    engine = (sut as unknown as { engine: ScoringEngine }).engine;
  }

  /** The recorder writes what was published: the newest revision of each decision, and each revision's feedback. */
  function record(): void {
    for (const d of decisions()) {
      decided.add(d.conversionId);
      if ((recordedDecisions.get(d.conversionId)?.revision ?? -1) < d.revision) recordedDecisions.set(d.conversionId, d);
      if (d.feedbackId) recordedRevisions.add(feedbackKey({ conversionId: d.conversionId, id: d.feedbackId }));
    }
  }

  /** A delivery as JetStream makes it: `deliveries` > 1 is a redelivery. */
  const delivered = (data: StoredEvent, deliveries = 1) =>
    new Delivery<StoredEvent>(data, {
      subject: 'unit.events.p0',
      info: { deliveryCount: deliveries, streamSequence: 1 },
    } as unknown as JsMsg);
  const unpack = (o: Outgoing): unknown[] => (o.payload instanceof EncodedJson ? bodyItems(o.payload.text) : [o.payload]);
  const verdicts = () => published.filter((o) => o.subject === topology.verdict('click')).flatMap(unpack) as ClickVerdict[];
  const decisions = () => published.filter((o) => o.subject === topology.verdict('conversion')).flatMap(unpack) as Decision[];
  /** Clicks from elsewhere: the scorer's memory of outcomes rolls over. */
  const rollOver = async () => {
    for (let i = 0; i < 3; i++) await sut.process([delivered(aClick({ id: uid('other'), ip: `81.2.69.${10 + i}` }))]);
    published = [];
  };
  const ipClicksAfter = async (ip: string) => {
    const probe = aClick({ id: uid('probe'), ip, ts: at(1000) });
    return engine.state.observeClick(probe).ipClicks.hour;
  };

  it('a remembered click, redelivered: published again as the very bytes it was published with first', async () => {
    // Remembered packed, published as outcome items encoded then: a sender's strings (a sub-id with the
    // items' separators, escapes, non-ASCII) and a minted id come back as the same bytes.
    const clicks = [
      aClick({ id: uid('click'), ip: '81.2.69.30', subId: '\u001e"reasons":0\t\n\\u0009 é \u{1F600} \u2028' }),
      aClick({ id: uid('click'), ip: '81.2.69.31', idMinted: true }),
    ];
    await sut.process(clicks.map((c) => delivered(c)));
    const [first] = published.filter((o) => o.subject === topology.verdict('click'));
    published = [];
    await sut.process(clicks.map((c) => delivered(c, 2)));
    const [again] = published.filter((o) => o.subject === topology.verdict('click'));
    expect(first.items).toBe(2);
    expect((again.payload as EncodedJson).text).toBe((first.payload as EncodedJson).text);
    expect(again.msgId).toBe(first.msgId);
    expect(await ipClicksAfter('81.2.69.30')).toBe(2);
  });

  it('a redelivered click: not counted again, nothing published again once its verdict is recorded', async () => {
    const click = aClick({ id: uid('click'), ip: '81.2.69.1' });
    await sut.process([delivered(click)]);
    const [first] = verdicts();
    await rollOver();
    expect(engine.remembers('click', click.id)).toBe(false);
    recordedClicks.set(click.id, click.ts);

    const again = delivered(click, 2);
    await sut.process([again]);

    expect(again.outcome).toEqual({ kind: 'ack' });
    expect(verdicts()).toEqual([]);
    expect(first.clickId).toBe(click.id);
    // Counted once: this click and the probe.
    expect(await ipClicksAfter('81.2.69.1')).toBe(2);
  });

  it('a click sent again under the same id (a new message, first delivery) while the scorer holds it: likewise', async () => {
    const click = aClick({ id: uid('click'), ip: '81.2.69.2' });
    await sut.process([delivered(click)]);
    await rollOver();
    recordedClicks.set(click.id, click.ts);

    // Through the gateway: the same id with a new time (its receipt).
    const resent = delivered({ ...click, ts: new Date(Date.parse(click.ts) + 5 * 60_000).toISOString() }, 1);
    await sut.process([resent]);

    expect(resent.outcome).toEqual({ kind: 'ack' });
    expect(verdicts()).toEqual([]);
    expect(await ipClicksAfter('81.2.69.2')).toBe(2);
  });

  it('a redelivered click whose verdict the recorder has not written yet waits (nak), neither scored nor counted', async () => {
    const click = aClick({ id: uid('click'), ip: '81.2.69.3' });
    await sut.process([delivered(click)]);
    await rollOver();
    progress = { published: 120, recorded: 110 };

    const again = delivered(click, 2);
    await sut.process([again]);

    expect(again.outcome.kind).toBe('retry');
    expect(verdicts()).toEqual([]);
    // The recorder moves on but has not reached where VERDICTS was when the click first came back.
    progress = { published: 150, recorded: 119 };
    const third = delivered(click, 3);
    await sut.process([third]);
    expect(third.outcome.kind).toBe('retry');
    // Now recorded: answered, still counted once.
    recordedClicks.set(click.id, click.ts);
    progress = { published: 160, recorded: 130 };
    const fourth = delivered(click, 4);
    await sut.process([fourth]);
    expect(fourth.outcome.kind).toBe('ack');
    expect(verdicts()).toEqual([]);
    expect(await ipClicksAfter('81.2.69.3')).toBe(2);
  });

  it('a redelivered click waits for a stopped recorder a bounded time: degraded while it waits, then scored once with a warning', async () => {
    const resolver = (sut as unknown as { redeliveries: RedeliveryResolver }).redeliveries;
    let now = Date.parse('2026-12-02T12:00:00Z');
    resolver.now = () => now;
    const scoredAfterWait = async () =>
      (await metrics.redelivered.get()).values.find((v) => v.labels.kind === 'click' && v.labels.answer === 'score_after_wait')?.value ?? 0;
    const before = await scoredAfterWait();
    const click = aClick({ id: uid('click'), ip: '81.2.69.11' });
    // The recorder is stopped: its floor never moves.
    progress = { published: 120, recorded: 110 };

    const first = delivered(click, 2);
    await sut.process([first]);
    expect(first.outcome.kind).toBe('retry');
    expect(degradations.list().map((d) => d.component)).not.toContain('scorer redelivery');

    now += WAIT_DEGRADED_MS;
    const second = delivered(click, 3);
    await sut.process([second]);
    expect(second.outcome.kind).toBe('retry');
    expect(degradations.list()).toContainEqual(
      expect.objectContaining({ component: 'scorer redelivery', reason: 'waiting for the recorder' }),
    );
    expect(verdicts()).toEqual([]);

    now += MAX_WAIT_MS - WAIT_DEGRADED_MS;
    const last = delivered(click, 4);
    await sut.process([last]);
    expect(last.outcome.kind).toBe('ack');
    expect(verdicts().map((v) => v.clickId)).toEqual([click.id]);
    expect(await ipClicksAfter('81.2.69.11')).toBe(2);
    expect(await scoredAfterWait()).toBe(before + 1);
    expect(degradations.list().map((d) => d.component)).not.toContain('scorer redelivery');
  });

  it('after VERDICTS was re-created (its sequence restarted), a waiting event waits for the new stream, not the old sequence', async () => {
    const click = aClick({ id: uid('click'), ip: '81.2.69.12' });
    progress = { published: 1000, recorded: 900 };
    const first = delivered(click, 2);
    await sut.process([first]);
    expect(first.outcome.kind).toBe('retry');

    // The stream was deleted and provisioned again; the recorder has recorded all of the new one.
    progress = { published: 5, recorded: 5 };
    await sut.process([delivered(click, 3)]);

    expect(verdicts().map((v) => v.clickId)).toEqual([click.id]);
  });

  it('with no recorder durable (not created yet, or deleted a moment ago) a redelivered event waits a bounded time instead of being scored', async () => {
    const resolver = (sut as unknown as { redeliveries: RedeliveryResolver }).redeliveries;
    let now = Date.parse('2026-12-02T12:00:00Z');
    resolver.now = () => now;
    const click = aClick({ id: uid('click'), ip: '81.2.69.13' });
    const other = aClick({ id: uid('click'), ip: '81.2.69.14' });
    progress = null;
    const first = delivered(click, 2);
    await sut.process([first, delivered(other, 2)]);
    expect(first.outcome.kind).toBe('retry');
    expect(verdicts()).toEqual([]);

    // The durable is back: the recorder records what VERDICTS holds by now, and nothing of the click.
    progress = { published: 50, recorded: 40 };
    now += 1000;
    const second = delivered(click, 3);
    await sut.process([second]);
    expect(second.outcome.kind).toBe('retry');
    progress = { published: 60, recorded: 50 };
    await sut.process([delivered(click, 4)]);
    expect(verdicts().map((v) => v.clickId)).toEqual([click.id]);

    // Still none after the bound: scored anyway.
    now += MAX_WAIT_MS;
    progress = null;
    await sut.process([delivered(other, 3)]);
    expect(verdicts().map((v) => v.clickId)).toEqual([click.id, other.id]);
    expect(await ipClicksAfter('81.2.69.13')).toBe(2);
  });

  it('a redelivered event never published (the recorder caught up, nothing recorded) is scored', async () => {
    const click = aClick({ id: uid('click'), ip: '81.2.69.4' });
    progress = { published: 120, recorded: 110 };
    const first = delivered(click, 2); // delivered to a scorer that died before scoring it
    await sut.process([first]);
    expect(first.outcome.kind).toBe('retry');
    progress = { published: 130, recorded: 120 };
    await sut.process([delivered(click, 3)]);
    expect(verdicts().map((v) => v.clickId)).toEqual([click.id]);
    expect(await ipClicksAfter('81.2.69.4')).toBe(2);
  });

  it('a redelivered conversion not recorded yet is neither decided again nor credited again to its click', async () => {
    const click = aClick({ id: uid('click') });
    const conversion: ConversionEvent = aConversion(click, { id: uid('conv') });
    await sut.process([delivered(click), delivered(conversion)]);
    const [first] = decisions();
    expect(first.conversionId).toBe(conversion.id);
    for (let i = 0; i < 3; i++) await sut.process([delivered(aConversion(aClick({ id: uid('other') }), { id: uid('conv') }))]);
    published = [];
    expect(engine.remembers('conversion', conversion.id)).toBe(false);
    progress = { published: 120, recorded: 110 };

    const again = delivered(conversion, 2);
    await sut.process([again]);

    expect(again.outcome.kind).toBe('retry');
    expect(decisions()).toEqual([]);
    expect(engine.state.click(click.id)?.conversions).toBe(1);

    decided.add(conversion.id);
    const later = delivered(conversion, 3);
    await sut.process([later]);
    expect(later.outcome.kind).toBe('ack');
    expect(decisions()).toEqual([]);
    expect(engine.state.click(click.id)?.conversions).toBe(1);
  });

  it('a redelivered message of several events: the remembered answered from memory, the forgotten from the record, the new scored', async () => {
    const old = aClick({ id: uid('old'), ip: '81.2.69.5' });
    await sut.process([delivered(old)]);
    await rollOver();
    recordedClicks.set(old.id, old.ts);
    const recent = aClick({ id: uid('recent'), ip: '81.2.69.6' });
    await sut.process([delivered(recent)]);
    const [recentVerdict] = verdicts();
    published = [];
    const fresh: ClickEvent = aClick({ id: uid('fresh'), ip: '81.2.69.7' });
    // Never published: the recorder is past everything.
    progress = { published: 200, recorded: 200 };

    await sut.process([delivered(old, 2), delivered(recent, 2), delivered(fresh, 2)]);

    expect(verdicts().map((v) => v.clickId)).toEqual([recent.id, fresh.id]);
    expect(verdicts()[0]).toEqual(recentVerdict);
    expect(await ipClicksAfter('81.2.69.5')).toBe(2);
    expect(await ipClicksAfter('81.2.69.6')).toBe(2);
    expect(await ipClicksAfter('81.2.69.7')).toBe(2);
  });

  it('a conversion whose id equals a redelivered click id in the same batch is decided: the ids are of different kinds', async () => {
    const click = aClick({ id: uid('click'), ip: '81.2.69.9' });
    await sut.process([delivered(click)]);
    await rollOver();
    recordedClicks.set(click.id, click.ts);
    // The advertiser uses the click's id as its conversion's id.
    const conversion: ConversionEvent = aConversion(click, { id: click.id });

    const again = delivered(click, 2);
    const first = delivered(conversion, 1);
    await sut.process([again, first]);

    expect(again.outcome).toEqual({ kind: 'ack' });
    expect(first.outcome).toEqual({ kind: 'ack' });
    expect(verdicts()).toEqual([]);
    expect(decisions().map((d) => d.conversionId)).toEqual([conversion.id]);
  });

  it('a redelivered conversion waiting for the recorder does not hold back a click of the same id', async () => {
    const click = aClick({ id: uid('click'), ip: '81.2.69.10' });
    const conversion: ConversionEvent = aConversion(aClick({ id: uid('other') }), { id: click.id });
    progress = { published: 120, recorded: 110 };
    // The conversion waits (nothing recorded, the recorder behind); the click was never published.
    const waiting = delivered(conversion, 2);
    await sut.process([waiting]);
    expect(waiting.outcome.kind).toBe('retry');
    progress = { published: 130, recorded: 115 };
    const clickAgain = delivered(click, 2);
    await sut.process([clickAgain]);

    // The click first came back at 130: it waits until the recorder passes 130, not the conversion's 120.
    expect(clickAgain.outcome.kind).toBe('retry');
    progress = { published: 140, recorded: 125 };
    const clickThird = delivered(click, 3);
    await sut.process([clickThird]);
    expect(clickThird.outcome.kind).toBe('retry');
    progress = { published: 150, recorded: 130 };
    await sut.process([delivered(click, 4)]);
    expect(verdicts().map((v) => v.clickId)).toEqual([click.id]);
  });

  it('after a restart: a click the rebuild replayed, sent again, is answered by its record, not by the replay', async () => {
    const click = aClick({ id: uid('click'), ip: '81.2.69.8' });
    // Replayed with a past that makes it its own duplicate: not what was published when it was live.
    sut.replay(aClick({ id: uid('before'), ip: '81.2.69.8' }));
    sut.replay(click);
    sut.forgetReplayedOutcomes();
    recordedClicks.set(click.id, click.ts);

    await sut.process([delivered(click, 1)]);

    expect(verdicts()).toEqual([]);
    expect(await ipClicksAfter('81.2.69.8')).toBe(3);
  });

  it('a first delivery of a click never seen asks the database nothing', async () => {
    const read = jest.fn(async () => progress);
    (sut as unknown as { redeliveries: { progress: { read: unknown } } }).redeliveries.progress.read = read;
    await sut.process([delivered(aClick({ id: uid('click') })), delivered(aClick({ id: uid('click') }))]);
    expect(read).not.toHaveBeenCalled();
    expect(verdicts()).toHaveLength(2);
  });

  describe('feedback after a restart (its memory of applied feedback gone)', () => {
    let conversion: ConversionEvent;
    let rejection: FeedbackEvent;
    let approval: FeedbackEvent;
    const feedback = (status: 'approved' | 'rejected'): FeedbackEvent => aFeedback(conversion, status);
    const revisions = () => decisions().map((d) => [d.revision, d.status, d.feedbackId]);

    beforeEach(async () => {
      const click = aClick({ id: uid('click'), ip: '81.2.69.40' });
      conversion = aConversion(click, { id: uid('conv') });
      await sut.process([delivered(click), delivered(conversion)]);
      expect(decisions()).toEqual([expect.objectContaining({ revision: 0, status: 'approved' })]);
      // An analyst rejects it, then approves it after all.
      rejection = feedback('rejected');
      approval = feedback('approved');
      await sut.process([delivered(rejection)]);
      await sut.process([delivered(approval)]);
      expect(revisions().slice(1)).toEqual([
        [1, 'rejected', rejection.id],
        [2, 'approved', approval.id],
      ]);
    });

    it('a redelivered feedback whose revision is recorded is not applied again: the later decision stands', async () => {
      record();
      start();
      published = [];

      const again = delivered(rejection, 2);
      await sut.process([again]);

      expect(again.outcome).toEqual({ kind: 'ack' });
      expect(decisions()).toEqual([]);
    });

    it('a feedback sent again (a new message) whose revision is recorded: likewise', async () => {
      record();
      start();
      published = [];

      const resent = delivered(rejection, 1);
      await sut.process([resent]);

      expect(resent.outcome).toEqual({ kind: 'ack' });
      expect(decisions()).toEqual([]);
    });

    it('a redelivered feedback whose revision is not recorded yet waits for the recorder, then is answered by the record', async () => {
      progress = { published: 120, recorded: 110 };
      start();
      published = [];

      const again = delivered(rejection, 2);
      await sut.process([again]);
      expect(again.outcome.kind).toBe('retry');
      expect(decisions()).toEqual([]);

      record();
      progress = { published: 130, recorded: 130 };
      const third = delivered(rejection, 3);
      await sut.process([third]);
      expect(third.outcome).toEqual({ kind: 'ack' });
      expect(decisions()).toEqual([]);
    });

    it('a redelivered feedback never published (the recorder caught up, no revision of it) is applied, once', async () => {
      const late = feedback('rejected');
      record();
      start();
      published = [];

      await sut.process([delivered(late, 2)]);
      await sut.process([delivered(late, 3)]);

      expect(revisions()).toEqual([[3, 'rejected', late.id]]);
    });
  });
});
