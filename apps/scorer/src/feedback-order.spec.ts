import type { JsMsg } from '@nats-io/jetstream';
import { OFFLINE_DISTINCT_SECRET } from '@app/features';
import type { CatalogCache } from '@app/catalog';
import { loadConfig } from '@app/config';
import { ConversionEvent, Decision, FeedbackEvent, Topology, feedbackKey } from '@app/contracts';
import type { ScoringEngine } from '@app/decisions';
import { Delivery, EncodedJson, bodyItems } from '@app/messaging';
import type { JetStreamPublisher, Outgoing, StoredEvent } from '@app/messaging';
import type { ClickRepository, OutcomeRepository, ShadowOutcomeRepository } from '@app/storage';
import { aCatalog, aClick, aConversion, aFeedback, uid } from '@app/testing';
import type { Progress, RecorderProgress } from './recorder-progress';
import { RedeliveryResolver } from './redelivery.resolver';
import { ScoringService } from './scoring.service';

/**
 * Feedback revisions of one conversion while VERDICTS refuses some publishes: a later revision is
 * never stored ahead of an earlier one, and a feedback whose revision the hold timer is publishing is
 * not applied a second time (from the hostile review of the feedback series, its probes).
 */
describe('ScoringService: feedback revisions in order', () => {
  const topology = new Topology('unit', 1);
  let recordedDecisions: Map<string, Decision>;
  let recordedRevisions: Set<string>;
  let decided: Set<string>;
  let progress: Progress;
  let published: Outgoing[];
  /** Which decisions VERDICTS refuses (a message carrying one is refused). */
  let refuse: (d: Decision) => boolean;
  /** The next publish waits for this before it is stored (a slow JetStream acknowledgement). */
  let stall: Promise<void> | null;
  let sut: ScoringService;
  let engine: ScoringEngine;
  let conversion: ConversionEvent;

  const unpack = (o: Outgoing): unknown[] => (o.payload instanceof EncodedJson ? bodyItems(o.payload.text) : [o.payload]);
  const decisions = () => published.filter((o) => o.subject === topology.verdict('conversion')).flatMap(unpack) as Decision[];
  const refused = (o: Outgoing) => unpack(o).some((d) => (d as Decision).kind === 'conversion' && refuse(d as Decision));
  const settle = () => new Promise((r) => setImmediate(r));

  /** A scorer process (again: a restart, its memory gone) on the same database and streams; `bytes`: a message's bound. */
  function start(config: Record<string, string> = {}, bytes = 256 * 1024): void {
    const outcomes = {
      findDecision: async (id: string) => recordedDecisions.get(id) ?? null,
      recordedFeedback: async (fs: readonly { id: string; conversionId: string }[]) =>
        new Set(fs.map(feedbackKey).filter((k) => recordedRevisions.has(k))),
      decidedConversions: async (ids: readonly string[]) => new Set(ids.filter((id) => decided.has(id))),
      recordedVerdicts: async () => new Set(),
    };
    const publisher = {
      // One call per message where revisions are published (publishEach): the message is stored or refused whole.
      publishAll: async (items: readonly Outgoing[]) => {
        const s = stall;
        if (s) {
          stall = null;
          await s;
        }
        const good = items.filter((o) => !refused(o));
        published.push(...good);
        progress = { ...progress, published: progress.published + good.length }; // VERDICTS' last sequence moves
        if (good.length < items.length) throw new Error('maximum bytes exceeded');
      },
      maxBatchBytes: () => bytes,
    };
    sut = new ScoringService(
      loadConfig(config),
      { ...aCatalog(), resolve: async () => undefined } as unknown as CatalogCache,
      outcomes as unknown as OutcomeRepository,
      { findClicks: async () => new Map() } as unknown as ClickRepository,
      publisher as unknown as JetStreamPublisher,
      topology,
      { insert: async () => undefined } as unknown as ShadowOutcomeRepository,
      new RedeliveryResolver(outcomes as unknown as OutcomeRepository, { read: async () => progress } as unknown as RecorderProgress),
      OFFLINE_DISTINCT_SECRET,
    );
    engine = (sut as unknown as { engine: ScoringEngine }).engine;
  }

  /** The recorder writes what was published, up to VERDICTS' last sequence. */
  function record(): void {
    for (const d of decisions()) {
      decided.add(d.conversionId);
      if ((recordedDecisions.get(d.conversionId)?.revision ?? -1) < d.revision) recordedDecisions.set(d.conversionId, d);
      if (d.feedbackId) recordedRevisions.add(feedbackKey({ conversionId: d.conversionId, id: d.feedbackId }));
    }
    progress = { ...progress, recorded: progress.published };
  }

  const delivered = (data: StoredEvent, deliveries = 1) =>
    new Delivery<StoredEvent>(data, {
      subject: 'unit.events.p0',
      info: { deliveryCount: deliveries, streamSequence: 1 },
    } as unknown as JsMsg);
  const feedback = (status: 'approved' | 'rejected', on = conversion): FeedbackEvent => aFeedback(on, status);
  const since = (before: number, names: Map<string, string>) =>
    decisions()
      .slice(before)
      .map((d) => [
        d.conversionId === conversion.id ? d.revision : `${d.conversionId}@${d.revision}`,
        d.status,
        names.get(d.feedbackId ?? ''),
      ]);

  async function decide(ip: string): Promise<ConversionEvent> {
    const click = aClick({ id: uid('click'), ip });
    const c = aConversion(click, { id: uid('conv') });
    await sut.process([delivered(click), delivered(c)]);
    record();
    return c;
  }

  beforeEach(() => {
    recordedDecisions = new Map();
    recordedRevisions = new Set();
    decided = new Set();
    progress = { published: 100, recorded: 100 };
    published = [];
    refuse = () => false;
    stall = null;
  });

  describe('a publish refused part-way (one revision a message)', () => {
    let rejection: FeedbackEvent;
    let approval: FeedbackEvent;
    let names: Map<string, string>;

    beforeEach(async () => {
      start({}, 1);
      conversion = await decide('81.2.69.42');
      // An analyst rejects it, then approves it after all (the final word); VERDICTS is full at first.
      rejection = feedback('rejected');
      approval = feedback('approved');
      names = new Map([
        [rejection.id, 'rejection'],
        [approval.id, 'approval'],
      ]);
      refuse = () => true;
      await expect(sut.process([delivered(rejection)])).rejects.toThrow(); // revision 1 owed
    });

    it('a later revision is not sent while the message carrying the earlier one is refused: both stay owed', async () => {
      const before = decisions().length;
      refuse = (d) => d.revision === 1;
      await expect(sut.process([delivered(approval)])).rejects.toThrow('maximum bytes exceeded');

      expect(since(before, names)).toEqual([]); // revision 2 was not stored ahead of revision 1
      expect(sut.owedRevisions).toBe(2);

      // VERDICTS takes publishes again: the approval's redelivery publishes both, in order.
      refuse = () => false;
      await sut.process([delivered(approval, 2)]);
      expect(since(before, names)).toEqual([
        [1, 'rejected', 'rejection'],
        [2, 'approved', 'approval'],
      ]);
    });

    it('once the later revision is stored, the earlier feedback redelivered after a restart does not overturn it', async () => {
      refuse = (d) => d.revision === 1;
      await expect(sut.process([delivered(approval)])).rejects.toThrow();
      refuse = () => false;
      await sut.resolveHolds(Date.now()); // the timer publishes what is owed, in order
      record();

      start({}, 1); // restart: the memory of applied feedback is gone
      const before = decisions().length;
      await sut.process([delivered(approval, 2)]);
      await sut.process([delivered(rejection, 2)]); // the earlier feedback comes back last

      expect(since(before, names)).toEqual([]); // the analyst's later approval stands
    });

    it('lost at a restart before either was stored: redelivered in stream order, the later word stands', async () => {
      refuse = (d) => d.revision === 1;
      await expect(sut.process([delivered(approval)])).rejects.toThrow();
      record();

      start({}, 1); // both revisions were owed in memory only
      refuse = () => false;
      const before = decisions().length;
      await sut.process([delivered(rejection, 2)]);
      record();
      await sut.process([delivered(approval, 2)]);

      expect(since(before, names)).toEqual([
        [1, 'rejected', 'rejection'],
        [2, 'approved', 'approval'],
      ]);
    });

    it('a refused message holds back only its own conversion: another conversion in the same publish is stored', async () => {
      refuse = () => false;
      const other = await decide('81.2.69.43');
      const otherRejection = feedback('rejected', other);
      names.set(otherRejection.id, 'other');
      refuse = () => true;
      await expect(sut.process([delivered(otherRejection)])).rejects.toThrow(); // still full: owed too
      const before = decisions().length;
      refuse = (d) => d.conversionId === conversion.id;
      // The timer publishes everything owed: this conversion's revision 1 (refused) and the other's.
      await expect(sut.resolveHolds(Date.now())).rejects.toThrow();

      expect(since(before, names)).toEqual([[`${other.id}@1`, 'rejected', 'other']]);
      expect(sut.owedRevisions).toBe(1);
    });
  });

  describe('a redelivered feedback while the hold timer publishes the revision it made', () => {
    async function scenario(race: boolean) {
      start({ SCORER_REMEMBER_OUTCOMES: '2' });
      conversion = await decide('81.2.69.41');
      const rejection = feedback('rejected');
      const approval = feedback('approved');
      const names = new Map([
        [rejection.id, 'rejection'],
        [approval.id, 'approval'],
      ]);
      refuse = () => true; // VERDICTS full: both revisions owed
      await expect(sut.process([delivered(rejection)])).rejects.toThrow();
      await expect(sut.process([delivered(approval)])).rejects.toThrow();
      refuse = () => false;
      // Past the engine's bound of applied ids (the owes() guard covers this while it is owed).
      (engine as unknown as { feedbackApplied: Set<string> }).feedbackApplied.clear();
      const before = decisions().length;

      let release!: () => void;
      if (race) stall = new Promise<void>((r) => (release = r));
      const tick = sut.resolveHolds(Date.now()); // takes revisions 1 and 2; its publish stalls (race) or completes
      await settle();
      const again = delivered(rejection, 2);
      const redelivery = sut.process([again]);
      await settle();
      await settle();
      if (race) release();
      await tick;
      await redelivery;
      return { outcome: again.outcome, revisions: since(before, names) };
    }
    const inOrder = [
      [1, 'rejected', 'rejection'],
      [2, 'approved', 'approval'],
    ];

    it('published first: the redelivery waits for the recorder and is not applied again', async () => {
      const r = await scenario(false);
      expect(r.outcome).toEqual({ kind: 'retry' });
      expect(r.revisions).toEqual(inOrder);
    });

    it('looked up while that publish is in flight: likewise, it is decided in turn after the publish', async () => {
      const r = await scenario(true);
      expect(r.outcome).toEqual({ kind: 'retry' });
      expect(r.revisions).toEqual(inOrder);
    });
  });
});
