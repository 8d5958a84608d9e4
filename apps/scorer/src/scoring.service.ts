import { Inject, Injectable } from '@nestjs/common';
import { ARBITER_CONFIG, ArbiterConfig } from '@app/config';
import { CatalogCache } from '@app/catalog';
import {
  ClickEvent,
  ClickVerdict,
  ConversionEvent,
  Decision,
  FeedbackEvent,
  Outcome,
  Topology,
  encodeOutcomeItemWith,
  feedbackKey,
  storedReasons,
} from '@app/contracts';
import { ScoringEngine, ShadowOutcome, ShadowRules } from '@app/decisions';
import type { ModelRuntime } from '@app/model';
import type { RuleSetResolver } from '@app/rules';
import {
  BatchItem,
  Delivery,
  ITEMS_PER_MESSAGE,
  JetStreamPublisher,
  Outgoing,
  StoredEvent,
  outcomeMessageId,
  outcomeMessages,
} from '@app/messaging';
import { metrics } from '@app/observability';
import { ClickRepository, DISTINCT_SECRET, OutcomeRepository, ShadowOutcomeRepository, StoredClick, attributionRecord } from '@app/storage';
import type { ActiveShadow } from '@app/live-config';
import { Redelivered, RedeliveryResolver, redeliveryKey } from './redelivery.resolver';

interface Prepared {
  clicks: Map<string, StoredClick>;
  decisions: Map<string, Decision>;
  /** Conversions of the batch that were decided before (re-sent, or redelivered). */
  decided: Set<string>;
}

/**
 * The scorer's I/O around the pure scoring core: resolves catalog entries, clicks and decisions
 * that are not in memory, runs a batch through the engine in stream order, and publishes every
 * verdict, decision and decision revision to VERDICTS, up to ITEMS_PER_MESSAGE of a kind in one
 * message. The batch is acked by the transport only after JetStream acknowledged every publish.
 */
@Injectable()
export class ScoringService {
  private readonly engine: ScoringEngine;
  /** Shadow outcomes of the batch in hand, written once its outcomes are published. */
  private shadowOutcomes: ShadowOutcome[] = [];
  private shadowRules: ShadowRules | null = null;
  /**
   * Revisions the engine made and remembers but whose publish failed (VERDICTS full, NATS down) —
   * feedback revisions and hold expiries alike — per conversion, in revision order. The engine
   * applies a feedback event once (by its id), so its redelivery makes no revision and publishes
   * these instead; a later feedback on the same conversion, or the hold timer's next tick, publishes
   * them first (in turn with the timer's tick: `owedTurn`). Cleared once JetStream stored them. A
   * restart forgets them with the engine's memory: the redelivered feedback then revises the recorded
   * decision again.
   */
  private readonly unpublished = new Map<string, Decision[]>();
  /**
   * The feedback event (id) that made an owed revision. While the revision is owed its feedback counts
   * as applied, even once the engine's bounded memory of applied ids forgot it (SCORER_REMEMBER_OUTCOMES
   * other feedbacks during a long outage): its redelivery publishes the owed revision, makes no other.
   */
  private readonly madeBy = new WeakMap<Decision, string>();
  /**
   * The decisions handed to `publish` (an owed revision comes back as the same object): published
   * again, they may repeat a publish JetStream stored without acknowledging it (a timeout), and go
   * with `REPUBLISHED_HEADER`.
   */
  private readonly sent = new WeakSet<Decision>();
  /**
   * The tail of the chain that runs, one at a time, the sections that take owed revisions, publish
   * and put back what failed: the hold timer's tick, and a batch holding feedback. Otherwise a
   * feedback's redelivery could find nothing owed while the timer's publish of its revision is in
   * flight, be acked, and the revision (if that publish then fails) be owed in memory only; or a
   * feedback revision could be stored before the earlier one the timer's stalled publish carries.
   * Neither section waits for anything but its own publish (bounded by the publish timeout) and, for a
   * batch holding feedback, the look-up of what may have been applied before (the recorder's progress
   * and the database, bounded by the JetStream request and statement timeouts) while it holds its
   * turn, so the chain cannot deadlock and each turn ahead delays a batch by one publish and a look-up.
   */
  private owedTurn: Promise<unknown> = Promise.resolve();

  constructor(
    @Inject(ARBITER_CONFIG) config: ArbiterConfig,
    private readonly catalog: CatalogCache,
    private readonly outcomes: OutcomeRepository,
    private readonly clicks: ClickRepository,
    private readonly publisher: JetStreamPublisher,
    private readonly topology: Topology,
    private readonly shadows: ShadowOutcomeRepository,
    private readonly redeliveries: RedeliveryResolver,
    // The deployment's: every scorer, its rebuild and the API's backtests count distinct values alike.
    @Inject(DISTINCT_SECRET) distinctSecret: string,
  ) {
    this.engine = new ScoringEngine(undefined, {
      rememberOutcomes: config.SCORER_REMEMBER_OUTCOMES,
      features: { maxClicks: config.SCORER_MAX_CLICKS, distinctSecret },
      modelFloors: { minPrecision: config.MODEL_MIN_PRECISION, maxFalsePositiveRate: config.MODEL_MAX_FALSE_POSITIVE_RATE },
    });
  }

  async process(batch: readonly Delivery<StoredEvent>[]): Promise<void> {
    const events = batch.map((d) => d.data);
    this.shadowOutcomes = [];
    const prepared = await this.prepare(events);
    // Revisions taken from `unpublished` or made here: owed again if the batch fails, wherever it throws.
    const revisions: Decision[] = [];
    // Only feedback takes owed revisions: a batch without any does not wait for the timer's publish.
    // One holding feedback also decides in turn whether a feedback was applied (remembered, owed or
    // recorded): decided before, while the timer's publish of its revision is in flight, it would be
    // neither owed nor recorded yet, and applied a second time.
    if (events.some((e) => e.kind === 'feedback'))
      await this.inTurn(async () => this.scoreAndPublish(batch, prepared, await this.redelivered(batch, prepared.decided), revisions));
    else await this.scoreAndPublish(batch, prepared, await this.redelivered(batch, prepared.decided), revisions);
    // Recorded, never acted on; a failure naks the batch like any other and the redelivery
    // rewrites the same rows (idempotent per event).
    if (this.shadowOutcomes.length) await this.shadows.insert(this.shadowOutcomes.splice(0));
  }

  /** Runs `section` once every section queued before it has settled; one at a time. */
  private inTurn<T>(section: () => Promise<T>): Promise<T> {
    const run = this.owedTurn.then(section);
    this.owedTurn = run.catch(() => undefined);
    return run;
  }

  private async scoreAndPublish(
    batch: readonly Delivery<StoredEvent>[],
    prepared: Prepared,
    again: Map<string, Redelivered> | null,
    revisions: Decision[],
  ): Promise<void> {
    const out: Outcome[] = [];
    // The revisions whose message JetStream stored: not owed again if another message failed.
    const stored = new Set<Outcome>();
    // The verdicts scored just now (not a remembered copy): their reasons go slim unchecked (`publish`).
    const scoredNow = new Set<ClickVerdict>();
    // Decisions remembered from an earlier delivery of their event (a copy: not in `sent`), published again.
    let remembered: Set<Decision> | undefined;
    try {
      for (const d of batch) {
        const e = d.data;
        const now = Date.now();
        // Scored or applied before and no longer remembered: never observed, decided or applied a second time.
        const answer = again?.get(redeliveryKey(e));
        if (answer === 'wait') {
          d.retry(); // with back-off: the recorder is behind what was published since
          continue;
        }
        // Its outcome is on VERDICTS and recorded: nothing to publish. (A feedback's conversion may still owe revisions, below.)
        if (answer === 'recorded' && e.kind !== 'feedback') continue;
        if (e.kind === 'click') out.push(this.engine.scoreClick(e, this.catalog, now, scoredNow));
        else if (e.kind === 'conversion') {
          // Decided already: the conversion was sent again after JetStream's de-duplication window
          // (or redelivered that late). Deciding it again would publish a second revision-0 decision,
          // possibly a different one, to the advertiser (the DECISIONS stream and its webhook no
          // longer drop it as a duplicate by then); the recorded decision stands.
          if (prepared.decided.has(e.id)) continue;
          const again = this.engine.remembers('conversion', e.id);
          const decision = this.engine.scoreConversion(e, this.catalog, attributionRecord(prepared.clicks.get(e.clickId)), now);
          if (again) (remembered ??= new Set()).add(decision);
          out.push(decision);
        } else {
          const owed = this.takeOwed(e.conversionId);
          revisions.push(...owed);
          // On the newest decision known: owed (the engine may have forgotten it), remembered or recorded.
          // Applied already: its revision is owed, or recorded (a restart, or past the engine's bound).
          const applied = answer === 'recorded' || owed.some((o) => this.madeBy.get(o) === e.id);
          const revised = applied ? null : this.engine.applyFeedback(e, newest(owed.at(-1), prepared.decisions.get(e.conversionId)), now);
          if (revised) this.madeBy.set(revised, e.id);
          // Owed revisions first, in order; a redelivered feedback makes none (applied once, by its id).
          if (revised) revisions.push(revised);
          out.push(...owed);
          if (revised) out.push(revised);
        }
      }
      await this.publish(out, revisions.length ? stored : undefined, scoredNow, remembered);
    } catch (e) {
      // Not (or not all) stored: owed to the feedback's redelivery, but those JetStream acked. One
      // stored after all without an ack (a timeout) is published again with its message id, which
      // JetStream (within its window) and the consumers de-duplicate.
      this.owe(revisions.filter((r) => !stored.has(r)));
      throw e;
    }
  }

  /** Scores the next events with these rule sets; windows and holds are kept. */
  useRules(resolver: RuleSetResolver): void {
    this.engine.useRules(resolver);
    metrics.ruleSetVersion.labels('scorer').set(resolver.config.version);
  }

  /** The model that decides and a candidate scored beside it (null: none). */
  useModels(active: ModelRuntime | null, shadow: ModelRuntime | null): void {
    this.engine.useModels(active, shadow);
  }

  /** Version of the model that decides; null when rules decide alone. */
  get activeModelVersion(): string | null {
    return this.engine.activeModel?.version ?? null;
  }

  /** Clicks held in memory for attribution. */
  get clicksInMemory(): number {
    return this.engine.state.stats().clicks;
  }

  /**
   * Replaces the holds in memory with `open` (the database's open holds of this scorer's
   * partitions): holds re-created by the rebuild may have been settled since.
   */
  takeOverHolds(open: readonly Decision[]): void {
    this.engine.holds.clear();
    for (const h of open) this.engine.trackHold(h);
  }

  /**
   * Resolves the holds whose time is up at `now` and publishes their revisions, after every revision
   * owed (one that could not be published before) in revision order per conversion. Returns how many
   * holds were resolved; rejects (the revisions stay owed) when the publish failed.
   */
  resolveHolds(now: number): Promise<number> {
    // In turn with the batches holding feedback (see `owedTurn`).
    return this.inTurn(async () => {
      const resolved = this.engine.expireHolds(now);
      this.owe(resolved);
      const owed = [...this.unpublished.keys()].flatMap((id) => this.takeOwed(id));
      if (owed.length === 0) return 0;
      const stored = new Set<Outcome>();
      try {
        await this.publish(owed, stored);
      } catch (e) {
        this.owe(owed.filter((r) => !stored.has(r)));
        throw e;
      }
      return resolved.length;
    });
  }

  /** How many revisions are owed (made, not published yet), all conversions together. */
  get owedRevisions(): number {
    let n = 0;
    for (const list of this.unpublished.values()) n += list.length;
    return n;
  }

  /** Files revisions as owed: per conversion, in revision order, one of each revision (the later filed replaces it). */
  private owe(revisions: readonly Decision[]): void {
    for (const r of revisions) {
      let list = this.unpublished.get(r.conversionId);
      if (!list) this.unpublished.set(r.conversionId, (list = []));
      // Its place: after every lower revision. A conversion owes a few at most: a linear search.
      let at = list.length;
      while (at > 0 && list[at - 1].revision > r.revision) at--;
      if (at > 0 && list[at - 1].revision === r.revision) list[at - 1] = r;
      else list.splice(at, 0, r);
    }
  }

  /** The revisions owed for a conversion, in order; no longer owed (put back with `owe` on failure). */
  private takeOwed(conversionId: string): Decision[] {
    const owed = this.unpublished.get(conversionId) ?? [];
    this.unpublished.delete(conversionId);
    return owed;
  }

  /** Starts, replaces or (null) stops the shadow rule set judging live events beside the active one. */
  useShadow(shadow: ActiveShadow | null): void {
    // The same shadow with the active configuration's new enforcement blocks: swapped in place, so
    // its buffered outcomes and its memory of clicks stay.
    if (shadow && this.shadowRules?.label === shadow.label) return this.shadowRules.useResolver(shadow.resolver);
    this.shadowOutcomes = [];
    this.shadowRules = shadow ? new ShadowRules(shadow.resolver, shadow.label) : null;
    this.engine.useShadowRules(this.shadowRules, (o) => this.shadowOutcomes.push(o));
  }

  /**
   * Publishes outcomes (pipelined), several to a message: verdicts in some, decisions in others, each
   * in the order they were made (given `stored`, a conversion's messages one after another: `publishEach`).
   * Rejects if any publish failed; counts them once all were stored.
   * `stored` (given where revisions are owed): filled with the outcomes whose message JetStream
   * acknowledged, also when another message failed; the revisions among them are counted then.
   * Verdicts go as outcome items, encoded here (the engine keeps them packed, smaller than their
   * items): a remembered verdict redelivered decodes to what was published and encodes to the same bytes.
   * Their reasons go as the recorder stores them (`storedReasons`: without what the reason-code
   * catalogue gives back; only the recorder reads click verdicts on VERDICTS), those in `scoredNow`
   * (the engine scored them just now) without formatting their messages again to check them.
   * Decisions go whole: the notifier reads them too. Those that may have been published before
   * (`remembered`, or handed to `publish` already: an owed revision) go in messages of their own, before
   * the others (a conversion's earlier revisions before its later ones), marked with the earliest
   * `decidedAt` among them (`REPUBLISHED_HEADER`): past the duplicate window VERDICTS stores them
   * again, and the notifier then reads DECISIONS back before publishing them (docs/trust.md).
   */
  async publish(
    out: readonly Outcome[],
    stored?: Set<Outcome>,
    scoredNow?: ReadonlySet<ClickVerdict>,
    remembered?: ReadonlySet<Decision>,
  ): Promise<void> {
    const verdicts: BatchItem[] = [];
    const decisions: BatchItem[] = [];
    const again: BatchItem[] = [];
    // Each outcome keeps the id it had as a message of its own: consumers de-duplicate by it.
    for (const o of out)
      if (o.kind === 'click')
        verdicts.push({
          payload: o,
          msgId: outcomeMessageId(o)!,
          item: encodeOutcomeItemWith(o, storedReasons(o.reasons, !!scoredNow?.has(o))),
        });
      else {
        (remembered?.has(o) || this.sent.has(o) ? again : decisions).push({ payload: o, msgId: outcomeMessageId(o)! });
        this.sent.add(o);
      }
    const conversions = this.topology.verdict('conversion');
    const messages = [
      ...outcomeMessages(this.topology.verdict('click'), verdicts, ITEMS_PER_MESSAGE, this.publisher.maxBatchBytes()),
      ...republished(outcomeMessages(conversions, again, ITEMS_PER_MESSAGE, this.publisher.maxBatchBytes()), again),
      ...outcomeMessages(conversions, decisions, ITEMS_PER_MESSAGE, this.publisher.maxBatchBytes()),
    ];
    if (stored) await this.publishEach(messages, [...verdicts, ...again, ...decisions], stored);
    else await this.publisher.publishAll(messages);
    // The clicks' histogram child is looked up once a call and their counts added once: `labels()`
    // hashes its values on every call (the child's `observe` still checks and hashes them, prom-client
    // 15), and with a lookup per outcome the metrics cost 1.4 µs an outcome.
    const clickLatency = metrics.decisionLatency.labels('click');
    let valid = 0;
    let invalid = 0;
    for (const o of out) {
      if (o.kind === 'click') {
        clickLatency.observe(o.latencyMs / 1000);
        if (o.valid) valid++;
        else invalid++;
      } else {
        metrics.decisionLatency.labels(o.kind).observe(o.latencyMs / 1000);
        metrics.outcomes.labels(o.kind, o.status).inc();
      }
    }
    if (valid) metrics.outcomes.labels('click', 'valid').inc(valid);
    if (invalid) metrics.outcomes.labels('click', 'invalid').inc(invalid);
  }

  /**
   * Publishes the messages (pipelined) and adds to `stored` the outcomes of each one acknowledged;
   * rejects with the first failure once all have settled. `items` are the messages' items in order
   * (`outcomeMessages` keeps it: a message holds the next `items` of them, or one).
   *
   * A message carrying a decision of a conversion is sent only once every earlier message carrying
   * one of that conversion was acknowledged, and not at all if one failed (its outcomes stay owed):
   * a later revision is never stored while an earlier one is not. Otherwise, with the earlier kept in
   * memory only, a restart would lose it while the later stands recorded, and the earlier feedback's
   * redelivery would find nothing recorded and overturn the later one. Messages of other conversions
   * (and verdicts) go out pipelined as before; a conversion's revisions rarely span two messages.
   */
  private async publishEach(messages: readonly Outgoing[], items: readonly BatchItem[], stored: Set<Outcome>): Promise<void> {
    let next = 0;
    const carried = messages.map((m) => items.slice(next, (next += m.items ?? 1)).map((item) => item.payload as Outcome));
    // Per conversion: the send of the last message carrying one of its decisions.
    const last = new Map<string, Promise<unknown>>();
    const sends = messages.map((m, i) => {
      const before = new Set<Promise<unknown>>();
      for (const o of carried[i]) if (o.kind === 'conversion' && last.has(o.conversionId)) before.add(last.get(o.conversionId)!);
      // Rejects unsent when an earlier message of one of its conversions failed.
      const send = before.size ? Promise.all(before).then(() => this.publisher.publishAll([m])) : this.publisher.publishAll([m]);
      for (const o of carried[i]) if (o.kind === 'conversion') last.set(o.conversionId, send);
      return send;
    });
    const results = await Promise.allSettled(sends);
    let failure: PromiseRejectedResult | undefined;
    const revisions: Decision[] = [];
    for (let i = 0; i < messages.length; i++) {
      const result = results[i];
      if (result.status === 'rejected') failure ??= result;
      else
        for (const o of carried[i]) {
          stored.add(o);
          if (o.kind === 'conversion' && o.revision > 0) revisions.push(o);
        }
    }
    if (!failure) return;
    // Stored and never published again (the caller owes again only the others): counted now. Verdicts
    // and first decisions are published again with the batch's redelivery, and counted then.
    for (const r of revisions) metrics.outcomes.labels(r.kind, r.status).inc();
    throw failure.reason;
  }

  /** Feeds an event from the past through the engine to rebuild windows; the outcome is dropped. */
  replay(e: StoredEvent): void {
    const at = Date.parse(e.receivedAt);
    // A click id seen before (sent again) was not observed twice live either.
    if (e.kind === 'click') {
      if (!this.engine.holdsClick(e.id)) this.engine.scoreClick(e, this.catalog, at);
    } else if (e.kind === 'conversion') this.engine.scoreConversion(e, this.catalog, null, at);
    this.shadowOutcomes = []; // the past was recorded when it was live
  }

  /**
   * The slow path, for the events of the batch that may have been scored before — redelivered
   * (JetStream's delivery count), or a click whose id the engine already holds (sent again) — and
   * whose outcome the engine no longer remembers; null (nothing asked) when there are none, as on
   * every first delivery of new events.
   */
  private async redelivered(batch: readonly Delivery<StoredEvent>[], decided: Set<string>): Promise<Map<string, Redelivered> | null> {
    let uncertain: (ClickEvent | ConversionEvent | FeedbackEvent)[] | null = null;
    let firstFeedback: FeedbackEvent[] | null = null;
    const sentAgain = new Set<ClickEvent>();
    const heldAt = new Map<ClickEvent, string>();
    for (const d of batch) {
      const e = d.data;
      const redelivered = d.redelivered;
      if (e.kind === 'feedback') {
        // Applied, as far as this process knows (remembered, or its revision owed): answered in turn.
        if (this.engine.appliedFeedback(e) || this.owes(e)) continue;
        // Redelivered: its revision may be published and not recorded yet (waits for the recorder, as
        // events do). Sent again (a new message): a revision of it is looked for, without waiting.
        if (redelivered) (uncertain ??= []).push(e);
        else (firstFeedback ??= []).push(e);
        continue;
      }
      const held = e.kind === 'click' && this.engine.holdsClick(e.id);
      if (!(redelivered || held)) continue;
      // Remembered: answered from memory, identically. Decided and recorded: skipped below.
      if (this.engine.remembers(e.kind, e.id) || (e.kind === 'conversion' && decided.has(e.id))) continue;
      (uncertain ??= []).push(e);
      if (e.kind !== 'click') continue;
      if (!redelivered) sentAgain.add(e);
      // The time its recorded verdict carries when it was sent again with another (a decode: slow path only).
      const t = held ? this.engine.state.click(e.id)?.t : undefined;
      if (t !== undefined) heldAt.set(e, new Date(t).toISOString());
    }
    const [answers, recorded] = await Promise.all([
      uncertain ? this.redeliveries.resolve(uncertain, sentAgain, heldAt) : null,
      firstFeedback ? this.outcomes.recordedFeedback(firstFeedback) : null,
    ]);
    if (!recorded?.size) return answers;
    const all = answers ?? new Map<string, Redelivered>();
    for (const f of firstFeedback!) {
      if (recorded.has(feedbackKey(f))) {
        all.set(redeliveryKey(f), 'recorded');
        metrics.redelivered.labels('feedback', 'resent').inc();
      }
    }
    return all;
  }

  /** Whether a revision this feedback made is owed (not published yet): it counts as applied. */
  private owes(f: FeedbackEvent): boolean {
    return this.unpublished.get(f.conversionId)?.some((o) => this.madeBy.get(o) === f.id) ?? false;
  }

  /**
   * After the rebuild: its outcomes were made again, possibly unlike the ones published then (other
   * rules, a fuller or emptier past); an event sent or delivered again is answered by the recorded one.
   */
  forgetReplayedOutcomes(): void {
    this.engine.forgetOutcomes();
    this.unpublished.clear();
  }

  /** Loads what the batch needs from the database: unknown catalog ids, old clicks, decisions that feedback changes. */
  private async prepare(events: readonly StoredEvent[]): Promise<Prepared> {
    const clicksHere = new Set(events.filter((e): e is ClickEvent => e.kind === 'click').map((e) => e.id));
    const conversions = events.filter((e): e is ConversionEvent => e.kind === 'conversion');
    const missing = conversions.map((c) => c.clickId).filter((id) => !clicksHere.has(id) && !this.engine.holdsClick(id));
    const feedback = events.filter((e): e is FeedbackEvent => e.kind === 'feedback');
    const [clicks, decisions, decided] = await Promise.all([
      this.clicks.findClicks([...new Set(missing)]),
      Promise.all(feedback.map((f) => this.outcomes.findDecision(f.conversionId))).then(
        (found) => new Map(found.filter((d): d is Decision => !!d).map((d) => [d.conversionId, d])),
      ),
      this.outcomes.decidedConversions(conversions.map((c) => c.id)),
    ]);
    const offers: string[] = [];
    const publishers: string[] = [];
    for (const e of events) {
      if (e.kind === 'click') {
        offers.push(e.offerId);
        publishers.push(e.publisherId);
      } else if (e.kind === 'conversion' && e.offerId) offers.push(e.offerId);
    }
    for (const c of clicks.values()) {
      offers.push(c.offerId);
      publishers.push(c.publisherId);
    }
    await this.catalog.resolve({ offers, publishers });
    return { clicks, decisions, decided };
  }
}

/** `messages` (holding `items` in order) marked with the earliest `decidedAt` of the decisions each carries. */
function republished(messages: Outgoing[], items: readonly BatchItem[]): Outgoing[] {
  let next = 0;
  for (const m of messages) {
    let from = Infinity;
    for (const item of items.slice(next, (next += m.items ?? 1))) from = Math.min(from, Date.parse((item.payload as Decision).decidedAt));
    // Decisions the engine made always carry their time; without one the message goes unmarked (checked as a first delivery).
    if (Number.isFinite(from)) m.republishedFrom = new Date(from).toISOString();
  }
  return messages;
}

/** The later revision of two decisions of one conversion (either may be missing). */
function newest(a: Decision | undefined, b: Decision | undefined): Decision | null {
  if (!a) return b ?? null;
  return b && b.revision > a.revision ? b : a;
}
