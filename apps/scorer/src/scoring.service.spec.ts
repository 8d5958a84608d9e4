import { OFFLINE_DISTINCT_SECRET } from '@app/features';
import type { CatalogCache } from '@app/catalog';
import { loadConfig } from '@app/config';
import { ClickEvent, Decision, FeedbackEvent, REASON_CODES, StoredClickVerdict, Topology, compiled } from '@app/contracts';
import { EncodedJson, ITEMS_PER_MESSAGE, bodyItems } from '@app/messaging';
import type { Delivery, JetStreamPublisher, Outgoing, StoredEvent } from '@app/messaging';
import type { ClickRepository, OutcomeRepository, ShadowOutcomeRepository, StoredClick } from '@app/storage';
import { aCatalog, aClick, aConversion, aFeedback, at, uid } from '@app/testing';
import { metrics } from '@app/observability';
import type { RedeliveryResolver } from './redelivery.resolver';
import { HoldTimerService } from './hold-timer.service';
import { ScoringService } from './scoring.service';

/**
 * What the scorer loads before it scores a batch (ScoringService.prepare, through `process`):
 * only the clicks it does not hold, the decisions feedback changes, the conversions decided
 * before, and every catalog id the batch and the loaded clicks name.
 */
describe('ScoringService: what a batch loads before it is scored', () => {
  const topology = new Topology('unit', 1);
  let stored: Map<string, StoredClick>;
  let decided: Set<string>;
  let recorded: Map<string, Decision>;
  let asked: { clicks: string[][]; decisions: string[]; decided: string[][]; offers: string[]; publishers: string[] };
  let published: Outgoing[];
  let sut: ScoringService;

  beforeEach(() => {
    stored = new Map();
    decided = new Set();
    recorded = new Map();
    asked = { clicks: [], decisions: [], decided: [], offers: [], publishers: [] };
    published = [];
    const clicks = {
      findClicks: async (ids: readonly string[]) => {
        asked.clicks.push([...ids]);
        return new Map(ids.filter((id) => stored.has(id)).map((id) => [id, stored.get(id)!]));
      },
    };
    const outcomes = {
      findDecision: async (id: string) => {
        asked.decisions.push(id);
        return recorded.get(id) ?? null;
      },
      decidedConversions: async (ids: readonly string[]) => {
        asked.decided.push([...ids]);
        return new Set(ids.filter((id) => decided.has(id)));
      },
      recordedFeedback: async () => new Set(),
    };
    const catalog = {
      ...aCatalog(),
      resolve: async (ids: { offers?: Iterable<string>; publishers?: Iterable<string> }) => {
        asked.offers.push(...(ids.offers ?? []));
        asked.publishers.push(...(ids.publishers ?? []));
      },
    };
    const publisher = { publishAll: async (items: readonly Outgoing[]) => void published.push(...items), maxBatchBytes: () => 256 * 1024 };
    const shadows = { insert: async () => undefined };
    sut = new ScoringService(
      loadConfig({}),
      catalog as unknown as CatalogCache,
      outcomes as unknown as OutcomeRepository,
      clicks as unknown as ClickRepository,
      publisher as unknown as JetStreamPublisher,
      topology,
      shadows as unknown as ShadowOutcomeRepository,
      { resolve: async () => new Map() } as unknown as RedeliveryResolver,
      OFFLINE_DISTINCT_SECRET,
    );
  });

  const batch = (...events: StoredEvent[]) => events.map((data, i) => ({ data, seq: i + 1 }) as unknown as Delivery<StoredEvent>);
  /** The outcomes of a message: a batch message's items, or the one it is. */
  const unpack = (o: Outgoing): unknown[] => (o.payload instanceof EncodedJson ? bodyItems(o.payload.text) : [o.payload]);
  const decisions = () => published.filter((o) => o.subject === topology.verdict('conversion')).flatMap(unpack) as Decision[];

  function storedClick(c: ClickEvent): StoredClick {
    return {
      id: c.id,
      ts: c.ts,
      offerId: c.offerId,
      publisherId: c.publisherId,
      subId: null,
      ip: c.ip,
      userAgent: c.userAgent,
      deviceId: null,
      country: null,
      ipCountry: 'US',
      valid: true,
      score: 0,
      modelScore: null,
      referrer: false,
      reasonCodes: [],
      conversions: 0,
    };
  }

  it('looks up only the clicks it holds neither in the batch nor in memory, and attributes to the one it loaded', async () => {
    const here = aClick({ id: uid('here') });
    const old = aClick({ id: uid('old'), ts: at(-60_000), offerId: 'offer-1', publisherId: 'pub-1' });
    stored.set(old.id, storedClick(old));
    const toHere = aConversion(here);
    const toOld = aConversion(old);
    const toNowhere = aConversion(null);

    await sut.process(batch(here, toHere, toOld, toNowhere));

    expect(asked.clicks).toEqual([[old.id, toNowhere.clickId]]);
    const byConversion = new Map(decisions().map((d) => [d.conversionId, d]));
    expect(byConversion.get(toOld.id)?.reasons.map((r) => r.code)).not.toContain('UNKNOWN_CLICK');
    expect(byConversion.get(toNowhere.id)?.reasons.map((r) => r.code)).toContain('UNKNOWN_CLICK');
  });

  it('asks the database for nothing about clicks of an earlier batch it still holds', async () => {
    const click = aClick();
    await sut.process(batch(click));
    asked.clicks = [];
    await sut.process(batch(aConversion(click)));
    expect(asked.clicks).toEqual([[]]);
  });

  it('does not decide again a conversion that was decided before (re-sent after the de-duplication window)', async () => {
    const click = aClick();
    const again = aConversion(click);
    const fresh = aConversion(click);
    decided.add(again.id);

    await sut.process(batch(click, again, fresh));

    expect(asked.decided).toEqual([[again.id, fresh.id]]);
    expect(decisions().map((d) => d.conversionId)).toEqual([fresh.id]);
  });

  it('loads the recorded decision that feedback revises, and revises it', async () => {
    const click = aClick();
    const conversion = aConversion(click);
    await sut.process(batch(click, conversion));
    const [first] = decisions();
    recorded.set(conversion.id, first);
    published = [];
    const feedback: FeedbackEvent = {
      kind: 'feedback',
      id: uid('fb'),
      ts: at(3600_000),
      receivedAt: at(3600_000),
      partition: 0,
      conversionId: conversion.id,
      status: 'rejected',
      source: 'advertiser',
    };

    await sut.process(batch(feedback));

    expect(asked.decisions).toEqual([conversion.id]);
    expect(decisions()).toEqual([
      expect.objectContaining({ conversionId: conversion.id, status: 'rejected', previousStatus: first.status, revision: 1 }),
    ]);
  });

  it('publishes a feedback revision whose publish failed before the next revision of the same conversion', async () => {
    const click = aClick();
    const conversion = aConversion(click);
    await sut.process(batch(click, conversion));
    published = [];
    const feedback = (status: 'approved' | 'rejected', source: 'advertiser' | 'analyst'): FeedbackEvent =>
      aFeedback(conversion, status, { source });
    const rejection = feedback('rejected', 'advertiser');
    const refusing = (sut as unknown as { publisher: { publishAll: (items: Outgoing[]) => Promise<void> } }).publisher;
    const publishAll = refusing.publishAll;
    refusing.publishAll = async () => {
      throw new Error('maximum bytes exceeded');
    };
    await expect(sut.process(batch(rejection))).rejects.toThrow(/maximum bytes/);
    refusing.publishAll = publishAll;

    // An analyst's decision on the same conversion comes before the rejection's redelivery.
    await sut.process(batch(feedback('approved', 'analyst')));

    expect(decisions().map((d) => [d.revision, d.status])).toEqual([
      [1, 'rejected'],
      [2, 'approved'],
    ]);
  });

  describe('when VERDICTS refuses feedback revisions (nak and redelivery)', () => {
    let conversionId: string;
    let first: Decision;
    let refusing: boolean;
    /** Set: the next publish stalls until `fail` is called, then fails (a slow, then full, VERDICTS). */
    let stallNext: { promise: Promise<void>; fail: () => void } | null;
    const stallThenFail = () => {
      let fail!: () => void;
      const promise = new Promise<void>((resolve) => (fail = resolve));
      stallNext = { promise, fail };
      return stallNext;
    };
    const settle = () => new Promise((resolve) => setImmediate(resolve));

    beforeEach(async () => {
      const click = aClick();
      const conversion = aConversion(click);
      conversionId = conversion.id;
      await sut.process(batch(click, conversion));
      [first] = decisions();
      published = [];
      refusing = false;
      stallNext = null;
      const publisher = (sut as unknown as { publisher: { publishAll: (items: Outgoing[]) => Promise<void> } }).publisher;
      const publishAll = publisher.publishAll;
      publisher.publishAll = async (items) => {
        if (refusing) throw new Error('maximum bytes exceeded');
        const stall = stallNext;
        if (stall) {
          stallNext = null;
          await stall.promise;
          throw new Error('maximum bytes exceeded');
        }
        return publishAll(items);
      };
    });

    const feedback = (status: 'approved' | 'rejected', source: 'advertiser' | 'analyst'): FeedbackEvent => ({
      kind: 'feedback',
      id: uid('fb'),
      ts: at(3600_000),
      receivedAt: at(3600_000),
      partition: 0,
      conversionId,
      status,
      source,
    });
    const redelivered = (e: StoredEvent) => [{ data: e, seq: 1, redelivered: true, deliveryCount: 2 } as unknown as Delivery<StoredEvent>];
    const owed = () => [...(sut as unknown as { unpublished: Map<string, Decision[]> }).unpublished.values()].flat();
    const revisions = () => decisions().map((d) => [d.revision, d.status]);

    it("does not let a rejection's redelivery overturn the analyst's approval that came after it", async () => {
      const rejection = feedback('rejected', 'advertiser');
      refusing = true;
      await expect(sut.process(batch(rejection))).rejects.toThrow(/maximum bytes/);
      refusing = false;
      await sut.process(batch(feedback('approved', 'analyst')));
      await sut.process(redelivered(rejection));

      expect(revisions()).toEqual([
        [1, 'rejected'],
        [2, 'approved'],
      ]);
    });

    it('marks an owed revision it publishes again with its time (REPUBLISHED_HEADER), not a revision made just now', async () => {
      const rejection = feedback('rejected', 'advertiser');
      refusing = true;
      await expect(sut.process(batch(rejection))).rejects.toThrow(/maximum bytes/);
      refusing = false;
      await sut.process(batch(feedback('approved', 'analyst')));

      const messages = published.filter((o) => o.subject === topology.verdict('conversion'));
      const marks = messages.flatMap((m) => unpack(m).map((d) => [(d as Decision).revision, m.republishedFrom]));
      const owedRevision = decisions().find((d) => d.revision === 1)!;
      expect(marks).toEqual([
        [1, owedRevision.decidedAt],
        [2, undefined],
      ]);
    });

    it('keeps one revision per feedback while two feedbacks are redelivered in turn, and publishes each once', async () => {
      const rejection = feedback('rejected', 'advertiser');
      const approval = feedback('approved', 'analyst');
      refusing = true;
      await expect(sut.process(batch(rejection))).rejects.toThrow(/maximum bytes/);
      await expect(sut.process(batch(approval))).rejects.toThrow(/maximum bytes/);
      for (let cycle = 0; cycle < 5; cycle++) {
        await expect(sut.process(redelivered(rejection))).rejects.toThrow(/maximum bytes/);
        await expect(sut.process(redelivered(approval))).rejects.toThrow(/maximum bytes/);
      }
      expect(owed().map((d) => d.revision)).toEqual([1, 2]);

      refusing = false;
      await sut.process(redelivered(rejection));
      await sut.process(redelivered(approval));
      expect(revisions()).toEqual([
        [1, 'rejected'],
        [2, 'approved'],
      ]);
      expect(owed()).toEqual([]);
    });

    it('treats a feedback as applied while its revision is owed, even once the engine forgot its id (the bound)', async () => {
      const rejection = feedback('rejected', 'advertiser');
      const approval = feedback('approved', 'analyst');
      refusing = true;
      await expect(sut.process(batch(rejection))).rejects.toThrow(/maximum bytes/);
      await expect(sut.process(batch(approval))).rejects.toThrow(/maximum bytes/);
      const forget = () => (sut as unknown as { engine: { feedbackApplied: Set<string> } }).engine.feedbackApplied.clear();
      for (let cycle = 0; cycle < 3; cycle++) {
        forget(); // past SCORER_REMEMBER_OUTCOMES other feedbacks
        await expect(sut.process(redelivered(rejection))).rejects.toThrow(/maximum bytes/);
        forget();
        await expect(sut.process(redelivered(approval))).rejects.toThrow(/maximum bytes/);
      }
      expect(owed().map((d) => d.revision)).toEqual([1, 2]);

      refusing = false;
      forget();
      await sut.process(redelivered(rejection));
      await sut.process(redelivered(approval));
      expect(revisions()).toEqual([
        [1, 'rejected'],
        [2, 'approved'],
      ]);
    });

    it('keeps what it owes when the batch fails after it took them (not in the publish)', async () => {
      const rejection = feedback('rejected', 'advertiser');
      refusing = true;
      await expect(sut.process(batch(rejection))).rejects.toThrow(/maximum bytes/);
      refusing = false;
      const engine = (sut as unknown as { engine: { applyFeedback: (...a: unknown[]) => unknown } }).engine;
      const applyFeedback = engine.applyFeedback.bind(engine);
      const broken = feedback('approved', 'analyst');
      engine.applyFeedback = (...a: unknown[]) => {
        if ((a[0] as FeedbackEvent).id === broken.id) throw new Error('boom');
        return applyFeedback(...a);
      };
      await expect(sut.process([...redelivered(rejection), ...batch(broken)])).rejects.toThrow(/boom/);
      engine.applyFeedback = applyFeedback;

      await sut.process(redelivered(rejection));
      expect(revisions()).toEqual([[1, 'rejected']]);
    });

    it('publishes a hold-expiry revision the timer could not publish before the feedback revision made on it', async () => {
      const holdUntil = at(60_000);
      sut.takeOverHolds([{ ...first, status: 'hold', holdUntil }]);
      const timer = new HoldTimerService(loadConfig({}), sut);
      refusing = true;
      expect(await timer.tick(Date.parse(holdUntil))).toBe(0);
      refusing = false;
      await sut.process(batch(feedback('rejected', 'advertiser')));
      await timer.tick(Date.parse(holdUntil) + 1000);

      expect(decisions().map((d) => [d.revision, d.status, d.resolvedBy])).toEqual([
        [1, 'approved', 'timer'],
        [2, 'rejected', 'advertiser'],
      ]);
    });

    it("does not ack a feedback's redelivery while the timer's publish of the revision it owes is in flight (and fails)", async () => {
      const rejection = feedback('rejected', 'advertiser');
      refusing = true;
      await expect(sut.process(batch(rejection))).rejects.toThrow(/maximum bytes/);
      refusing = false;
      const stall = stallThenFail();
      const tick = sut.resolveHolds(Date.now()); // takes revision 1, its publish stalls
      await settle();
      // When the redelivery's batch succeeds (the transport acks it), revision 1 must be stored.
      const acked = sut.process(redelivered(rejection)).then(() => ({ published: revisions(), owed: owed().length }));
      await settle();
      stall.fail();
      await expect(tick).rejects.toThrow(/maximum bytes/);
      expect(await acked).toEqual({ published: [[1, 'rejected']], owed: 0 });
    });

    it("publishes the timer's stalled hold-expiry revision before a feedback revision made on it meanwhile", async () => {
      const holdUntil = at(60_000);
      sut.takeOverHolds([{ ...first, status: 'hold', holdUntil }]);
      const stall = stallThenFail();
      const tick = sut.resolveHolds(Date.parse(holdUntil)); // revision 1 (timer): its publish stalls
      await settle();
      const rejected = sut.process(batch(feedback('rejected', 'advertiser'))); // revision 2
      await settle();
      stall.fail();
      await expect(tick).rejects.toThrow(/maximum bytes/);
      await rejected;
      await sut.resolveHolds(Date.parse(holdUntil) + 1000);

      expect(decisions().map((d) => [d.revision, d.status, d.resolvedBy])).toEqual([
        [1, 'approved', 'timer'],
        [2, 'rejected', 'advertiser'],
      ]);
    });

    it('files owed revisions per conversion in revision order, one of each (the later filed replaces it)', () => {
      const owe = (sut as unknown as { owe: (r: Decision[]) => void }).owe.bind(sut);
      const r = (revision: number, status: Decision['status']): Decision => ({ ...first, revision, status });
      const other = { ...r(1, 'rejected'), conversionId: uid('conv') };
      owe([r(3, 'approved'), r(1, 'rejected'), other]);
      owe([r(2, 'approved'), r(3, 'rejected')]);
      expect(owed().map((d) => [d.conversionId, d.revision, d.status])).toEqual([
        [conversionId, 1, 'rejected'],
        [conversionId, 2, 'approved'],
        [conversionId, 3, 'rejected'],
        [other.conversionId, 1, 'rejected'],
      ]);
    });

    it('owes again only the revisions whose message JetStream did not store when a publish of several fails part-way', async () => {
      // Three conversions, each with a revision whose publish failed: owed, one message each here.
      const conversions = [conversionId];
      for (let i = 0; i < 2; i++) {
        const click = aClick({ ip: `81.2.70.${60 + i}`, deviceId: uid('device') });
        const conversion = aConversion(click);
        await sut.process(batch(click, conversion));
        conversions.push(conversion.id);
      }
      published = [];
      const rejection = (id: string): FeedbackEvent => ({ ...feedback('rejected', 'advertiser'), conversionId: id });
      refusing = true;
      for (const id of conversions) await expect(sut.process(batch(rejection(id)))).rejects.toThrow(/maximum bytes/);
      refusing = false;
      expect(owed().map((d) => d.conversionId)).toEqual(conversions);
      // The timer publishes all three at once; JetStream stores the first two messages, not the third.
      const publisher = (sut as unknown as { publisher: { publishAll: (items: Outgoing[]) => Promise<void>; maxBatchBytes: () => number } })
        .publisher;
      publisher.maxBatchBytes = () => 1; // one decision a message
      const publishAll = publisher.publishAll;
      // Pipelined, as JetStream does: every message is sent, each acked or not on its own; the call rejects if any failed.
      publisher.publishAll = async (items) => {
        const refused = (o: Outgoing) => unpack(o).some((d) => (d as Decision).conversionId === conversions[2]);
        await publishAll(items.filter((o) => !refused(o)));
        if (items.some(refused)) throw new Error('no JetStream ack');
      };
      await expect(sut.resolveHolds(Date.now())).rejects.toThrow(/no JetStream ack/);

      expect(decisions().map((d) => d.conversionId)).toEqual(conversions.slice(0, 2));
      expect(owed().map((d) => [d.conversionId, d.revision])).toEqual([[conversions[2], 1]]);
      publisher.publishAll = publishAll;
      await sut.resolveHolds(Date.now());
      // Each revision stored once.
      expect(decisions().map((d) => d.conversionId)).toEqual(conversions);
      expect(owed()).toEqual([]);
    });

    it('applies feedback to the newest decision it knows, also one it owes that the engine forgot', async () => {
      const rejection = feedback('rejected', 'advertiser');
      refusing = true;
      await expect(sut.process(batch(rejection))).rejects.toThrow(/maximum bytes/);
      refusing = false;
      (sut as unknown as { engine: { forgetOutcomes: () => void } }).engine.forgetOutcomes(); // evicted
      expect(first.status).toBe('approved');
      recorded.set(conversionId, first); // the database has revision 0 only
      await sut.process(batch(feedback('approved', 'analyst')));

      // The analyst's word came after the rejection: it is applied to the rejection, not to revision 0.
      expect(revisions()).toEqual([
        [1, 'rejected'],
        [2, 'approved'],
      ]);
    });
  });

  it('resolves the catalog ids of the batch and of the clicks it loaded', async () => {
    const click = aClick({ offerId: 'offer-a', publisherId: 'pub-a' });
    const old = aClick({ id: uid('old'), offerId: 'offer-b', publisherId: 'pub-b' });
    stored.set(old.id, storedClick(old));

    await sut.process(batch(click, aConversion(old, { offerId: 'offer-c' })));

    expect(new Set(asked.offers)).toEqual(new Set(['offer-a', 'offer-b', 'offer-c']));
    expect(new Set(asked.publishers)).toEqual(new Set(['pub-a', 'pub-b']));
  });

  it('publishes a batch’s verdicts several to a message, and its decisions in others, each item under its own id', async () => {
    const clicks = Array.from({ length: ITEMS_PER_MESSAGE + 2 }, () => aClick({ id: uid('click') }));
    const conversions = clicks.slice(0, 2).map((c) => aConversion(c, { id: uid('conv') }));
    await sut.process(batch(...clicks, ...conversions));
    const verdictMessages = published.filter((o) => o.subject === topology.verdict('click'));
    expect(verdictMessages.map((o) => o.items)).toEqual([ITEMS_PER_MESSAGE, 2]);
    expect(verdictMessages.flatMap(unpack).map((v) => (v as { clickId: string }).clickId)).toEqual(clicks.map((c) => c.id));
    const decisionMessages = published.filter((o) => o.subject === topology.verdict('conversion'));
    expect(decisionMessages).toHaveLength(1);
    expect(decisions().map((d) => d.conversionId)).toEqual(conversions.map((c) => c.id));
  });

  it('sends click verdicts’ reasons without what the reason-code catalogue gives back, decisions’ whole', async () => {
    // From a data centre and a declared bot: invalid, with reasons.
    const clicks = [aClick({ id: uid('click'), ip: '34.66.0.1' }), aClick({ id: uid('click'), userAgent: 'curl/8.4.0' })];
    const conversion = aConversion(clicks[0], { id: uid('conv') });
    await sut.process(batch(...clicks, conversion));
    const verdicts = published.filter((o) => o.subject === topology.verdict('click')).flatMap(unpack) as StoredClickVerdict[];
    expect(verdicts.map((v) => v.reasons.length)).toEqual([expect.any(Number), expect.any(Number)]);
    for (const v of verdicts) {
      expect(v.reasons.length).toBeGreaterThan(0);
      for (const r of v.reasons) expect([r.code, r.message, r.category]).toEqual([r.code, undefined, undefined]);
      expect(compiled(StoredClickVerdict).check(v).ok).toBe(true);
    }
    const [decision] = decisions();
    expect(decision.reasons.length).toBeGreaterThan(0);
    for (const r of decision.reasons) expect(r.message).toBe(REASON_CODES[r.code].explain(r.evidence));
  });

  it('counts every outcome it publishes by kind and outcome, and times each one', async () => {
    /** `kind:outcome` → count, and `kind:count` → observations of the latency histogram. */
    const counted = async (name: 'outcomes' | 'latency') => {
      const m = await (name === 'outcomes' ? metrics.outcomes : metrics.decisionLatency).get();
      const by = new Map<string, number>();
      for (const v of m.values) {
        if (name === 'outcomes') by.set(`${v.labels.kind}:${v.labels.outcome}`, v.value);
        else if (String((v as { metricName?: string }).metricName).endsWith('_count')) by.set(`${v.labels.kind}:count`, v.value);
      }
      return by;
    };
    const before = { outcomes: await counted('outcomes'), latency: await counted('latency') };
    // Clicks from a data centre are invalid, the others valid; conversions decided by status.
    const clicks = [aClick(), aClick(), aClick({ ip: '34.66.0.1' })];
    const conversions = clicks.slice(0, 2).map((c) => aConversion(c));
    await sut.process(batch(...clicks, ...conversions));
    const outcomes = published.flatMap(unpack) as { kind: string; valid?: boolean; status?: string }[];
    const expected = new Map<string, number>();
    for (const o of outcomes) {
      const key = `${o.kind}:${o.kind === 'click' ? (o.valid ? 'valid' : 'invalid') : o.status}`;
      expected.set(key, (expected.get(key) ?? 0) + 1);
    }
    expect([...expected.keys()].filter((k) => k.startsWith('click:'))).toHaveLength(2); // both kinds of verdict
    const after = { outcomes: await counted('outcomes'), latency: await counted('latency') };
    for (const [key, n] of expected) expect((after.outcomes.get(key) ?? 0) - (before.outcomes.get(key) ?? 0)).toBe(n);
    expect((after.latency.get('click:count') ?? 0) - (before.latency.get('click:count') ?? 0)).toBe(3);
    expect((after.latency.get('conversion:count') ?? 0) - (before.latency.get('conversion:count') ?? 0)).toBe(2);
  });
});
