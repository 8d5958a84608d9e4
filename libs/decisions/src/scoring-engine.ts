import { feedbackKey } from '@app/contracts';
import type { ClickEvent, ClickVerdict, ConversionEvent, Decision, FeedbackEvent, Offer, Outcome, Publisher, Reason } from '@app/contracts';
import {
  CLICK_FEATURES,
  CONVERSION_FEATURES,
  ClickRecord,
  ConversionObservation,
  DEFAULT_FEATURE_OPTIONS,
  EncodedMap,
  FeatureState,
  FeatureStateOptions,
  intern,
  parseIsoMs,
  clickFeatures,
  conversionFeatures,
} from '@app/features';
import { DEFAULT_MODEL_FLOORS, ModelAuthority, ModelFloors, authorityOf } from '@app/model';
import type { CompiledForest, ModelRuntime } from '@app/model';
import { RuleEngine, RuleSet, RuleSetResolver, EMPTY_RULESET_CONFIG, foreignOffer, userAgentShape } from '@app/rules';
import type { ModelFacts } from '@app/rules';
import { decideConversion, judgeClick, riskOf } from './decision-policy';
import { HoldRegistry } from './hold-registry';
import { DECISION_CODEC, VERDICT_CODEC } from './outcome-codec';
import { moneyOf } from './payout';
import { applyFeedback, expireHold } from './transitions';
import { ShadowOutcome, ShadowRules } from './shadow-rules';

/** Catalog lookups the engine needs; the caller resolves misses before scoring. */
export interface CatalogView {
  offer(id: string): Offer | undefined;
  publisher(id: string): Publisher | undefined;
}

export interface ScoringEngineOptions {
  features?: Partial<FeatureStateOptions>;
  /** How many recent outcomes are kept to answer a redelivered event identically. */
  rememberOutcomes?: number;
  /** Receives every event's feature vector (training collects them; the buffer is reused: copy it). */
  featureSink?: (kind: 'click' | 'conversion', id: string, vector: Float64Array) => void;
  /** What a model trained on the operator's labels must have shown before it decides alone (config). */
  modelFloors?: ModelFloors;
}

type Side = 'click' | 'conversion';

/** What the models said about one event. */
interface ModelOutcome {
  reasons: Reason[];
  /** The active model decides on this side; otherwise its reasons are advisory (hold, flag for review). */
  deciding: boolean;
  score: number | null;
  version: string | null;
  shadowScore: number | null;
  shadowVersion: string | null;
}

const NO_CLICK: ClickRecord = {
  id: '',
  t: 0,
  offerId: '',
  publisherId: '',
  subId: null,
  ip: '',
  userAgent: '',
  deviceId: null,
  country: null,
  declaredCountry: null,
  valid: true,
  risk: 0,
  probability: null,
  referrer: false,
  reasonCodes: [],
  conversions: 0,
};

const NO_MODEL: ModelOutcome = { reasons: [], deciding: false, score: null, version: null, shadowScore: null, shadowVersion: null };

/**
 * The scoring core: streaming features → rules → decision policy, one event at a time in event
 * order; holds and their resolution; feedback. No I/O and no clock: the caller passes the catalog
 * and the decision time, so the live scorer, the restart rebuild, `replay`, `train` and `evaluate`
 * all run this same code.
 */
export class ScoringEngine {
  readonly state: FeatureState;
  readonly holds = new HoldRegistry();
  private resolver: RuleSetResolver;
  /**
   * The outcomes given, to answer a redelivered event identically: kept encoded off the V8 heap
   * (as objects, 50,000 of each were about 600 MiB of the scorer's resident memory at a million
   * clicks, most of it old-generation pages they left half empty when they died); a redelivery
   * gets a decoded copy, what a consumer of the published outcome received. Both are kept packed
   * (`VERDICT_CODEC`, `DECISION_CODEC`: about half the bytes of their JSON); a verdict is encoded as
   * the outcome item it is published as only when published, from that copy or the verdict itself,
   * which encode to the same bytes. (Keeping the item's bytes instead saved the scorer a second
   * encoding, ~1 µs a verdict, but raised its memory at a million clicks from 933 to 1,018 MiB.)
   */
  private verdicts: EncodedMap<ClickVerdict>;
  private decisions: EncodedMap<Decision>;
  /**
   * The feedback events applied (whether they changed the decision or not), the last
   * `rememberOutcomes` of them, by conversion and id (`feedbackKey`): a redelivered feedback is never
   * applied again, and an id used again on another conversion is a feedback of its own.
   */
  private readonly feedbackApplied = new Set<string>();
  private readonly feedbackBound: number;
  private model: ModelRuntime | null = null;
  private shadow: ModelRuntime | null = null;
  /** The active model's overall most important features, named by MODEL_RISK when the model cannot explain an event. */
  private drivers: Record<Side, string[]> = { click: [], conversion: [] };
  private authority: Record<Side, ModelAuthority> | null = null;
  private readonly floors: ModelFloors;
  private readonly vectors = { click: new Float64Array(CLICK_FEATURES.length), conversion: new Float64Array(CONVERSION_FEATURES.length) };
  private readonly featureSink?: ScoringEngineOptions['featureSink'];
  private shadowRules: { rules: ShadowRules; sink: (o: ShadowOutcome) => void } | null = null;
  /** The record `scoreClick` hands to the state to keep (copied there), and its reason codes. */
  private readonly kept: ClickRecord = { ...NO_CLICK };
  private readonly keptCodes: string[] = [];

  constructor(rules: RuleSetResolver | RuleSet = new RuleSetResolver(EMPTY_RULESET_CONFIG), options: ScoringEngineOptions = {}) {
    this.state = new FeatureState({ ...DEFAULT_FEATURE_OPTIONS, ...options.features });
    this.resolver = toResolver(rules);
    this.verdicts = new EncodedMap<ClickVerdict>(options.rememberOutcomes ?? 50_000, VERDICT_CODEC);
    this.decisions = new EncodedMap<Decision>(options.rememberOutcomes ?? 50_000, DECISION_CODEC);
    this.feedbackBound = options.rememberOutcomes ?? 50_000;
    this.featureSink = options.featureSink;
    this.floors = options.modelFloors ?? DEFAULT_MODEL_FLOORS;
  }

  private lastIso = { ms: NaN, text: '' };

  /** ISO time of a decision; events decided within one millisecond share the string. */
  private iso(ms: number): string {
    if (ms !== this.lastIso.ms) this.lastIso = { ms, text: new Date(ms).toISOString() };
    return this.lastIso.text;
  }

  /** The model that decides (MODEL_RISK) and a candidate scored beside it; null for none. */
  useModels(active: ModelRuntime | null, shadow: ModelRuntime | null = null): void {
    this.model = active;
    this.shadow = shadow;
    this.authority = active
      ? { click: authorityOf(active.artifact, 'click', this.floors), conversion: authorityOf(active.artifact, 'conversion', this.floors) }
      : null;
    const top = (importance: Record<string, number> | undefined) =>
      Object.entries(importance ?? {})
        .sort((a, b) => b[1] - a[1])
        .slice(0, 3)
        .map(([name]) => name);
    this.drivers = {
      click: top(active?.artifact.card.featureImportance.click),
      conversion: top(active?.artifact.card.featureImportance.conversion),
    };
  }

  get activeModel(): ModelRuntime | null {
    return this.model;
  }

  /** Whether the active model decides or only advises, per side (null: no model). */
  get modelAuthority(): Record<Side, ModelAuthority> | null {
    return this.authority;
  }

  get shadowModel(): ModelRuntime | null {
    return this.shadow;
  }

  get rules(): RuleSetResolver {
    return this.resolver;
  }

  /** Takes effect from the next event; windows and holds are kept. */
  useRules(rules: RuleSetResolver | RuleSet): void {
    this.resolver = toResolver(rules);
  }

  /**
   * A candidate rule set judging every event beside the active one, its outcomes handed to `sink`
   * (recorded, never acted on); null stops it.
   */
  useShadowRules(rules: ShadowRules | null, sink: (o: ShadowOutcome) => void = () => undefined): void {
    this.shadowRules = rules ? { rules, sink } : null;
  }

  get shadowRuleSet(): ShadowRules | null {
    return this.shadowRules?.rules ?? null;
  }

  /** The outcome already given for this event id, if still remembered (redelivery). */
  previousOutcome(kind: 'click' | 'conversion', id: string): Outcome | undefined {
    return kind === 'click' ? this.verdicts.get(id) : this.decisions.get(id);
  }

  /**
   * Forgets every outcome remembered: after a restart's rebuild, whose outcomes were made again
   * from the stream and never published (the recorded ones stand; a redelivery is answered by them).
   */
  forgetOutcomes(): void {
    this.verdicts = new EncodedMap<ClickVerdict>(this.verdicts.max, VERDICT_CODEC);
    this.decisions = new EncodedMap<Decision>(this.decisions.max, DECISION_CODEC);
  }

  /** Whether the outcome given for this event id is still remembered (without decoding it). */
  remembers(kind: 'click' | 'conversion', id: string): boolean {
    return kind === 'click' ? this.verdicts.has(id) : this.decisions.has(id);
  }

  /**
   * True when the click is in memory (otherwise look it up before scoring): observed here, so a
   * click with this id must not be observed again.
   */
  holdsClick(clickId: string): boolean {
    return this.state.hasClick(clickId);
  }

  /** The latest decision the engine knows for a conversion (held or recent), if any. */
  currentDecision(conversionId: string): Decision | undefined {
    return this.holds.get(conversionId) ?? this.decisions.get(conversionId);
  }

  /**
   * `scoredNow`, when given, receives the verdict if it was scored just now (not a remembered copy):
   * its reasons are what the rules returned, so the scorer stores them (`storedReasons`' `built`)
   * without formatting their messages again to check them, about 1.6 µs a verdict. The caller's set
   * (a batch's, short-lived), not one the engine keeps: a WeakSet of every verdict it built cost every
   * click its add and the collector's ephemeron upkeep (about 0.4 µs, 3.5 % of the hot path's
   * profile), also where nobody asks (replay, training, evaluation, the bench).
   */
  scoreClick(e: ClickEvent, catalog: CatalogView, decidedAtMs: number, scoredNow?: Set<ClickVerdict>): ClickVerdict {
    const previous = this.verdicts.get(e.id);
    if (previous) return previous;
    // The shared observation: read while this click is scored, kept nowhere.
    const obs = this.state.observeClick(e, true);
    const offer = catalog.offer(e.offerId) ?? null;
    const publisher = catalog.publisher(e.publisherId) ?? null;
    const ruleset = this.resolver.for(offer?.advertiserId, e.offerId);
    const ruled = RuleEngine.clickReasons(ruleset, { event: e, obs, offer, publisher, lists: ruleset.lists });
    const model = this.wantsFeatures
      ? this.scoreModel(
          'click',
          e.id,
          ruleset,
          clickFeatures(
            {
              event: e,
              obs,
              offer,
              // `lookup`, not `match`: the same hit without formatting its label.
              datacenter: obs.ip.valid && ruleset.lists.datacenter.lookup(obs.ip.normalized) !== null,
              rulesRisk: riskOf(ruled, ruleset.policy).score,
            },
            this.vectors.click,
          ),
        )
      : NO_MODEL;
    const reasons = model.reasons.length ? [...ruled, ...model.reasons] : ruled;
    // An advisory model's MODEL_RISK flags the click for review: recorded, never what makes it invalid.
    const { valid, score, category } = judgeClick(model.deciding ? reasons : ruled, ruleset.policy);
    const country = e.ipCountry ?? e.country;
    // The store copies what it keeps: one record and one list of codes serve every click.
    const kept = this.kept;
    kept.id = e.id;
    kept.t = obs.t;
    kept.offerId = obs.offerId;
    kept.publisherId = obs.publisherId;
    kept.subId = obs.subIdText;
    kept.ip = obs.ip.normalized;
    kept.userAgent = obs.ua.text;
    kept.deviceId = e.deviceId ?? null;
    kept.country = country ? intern(country) : null;
    kept.declaredCountry = e.country ? intern(e.country) : null;
    kept.valid = valid;
    kept.risk = score;
    kept.probability = model.score;
    kept.referrer = !!e.referrer;
    const codes = this.keptCodes;
    codes.length = 0;
    for (const r of reasons) if (!r.monitorOnly) codes.push(r.code);
    kept.reasonCodes = codes;
    this.state.rememberClick(kept);
    const verdict: ClickVerdict = {
      kind: 'click',
      clickId: e.id,
      ts: e.ts,
      offerId: e.offerId,
      publisherId: e.publisherId,
      advertiserId: offer?.advertiserId ?? null,
      subId: e.subId ?? null,
      valid,
      score,
      category,
      reasons,
      rulesetVersion: ruleset.version,
      modelVersion: model.version,
      modelScore: model.score,
      shadowModelVersion: model.shadowVersion,
      shadowScore: model.shadowScore,
      decidedAt: this.iso(decidedAtMs),
      latencyMs: Math.max(0, decidedAtMs - parseIsoMs(e.receivedAt)),
    };
    if (e.idMinted) verdict.idMinted = true;
    // Its reasons are what the rules returned: the codec, and the scorer storing them (`scoredNow`), need not
    // format their messages again to check them.
    scoredNow?.add(verdict);
    this.verdicts.set(e.id, verdict, true);
    if (this.shadowRules)
      this.shadowRules.sink(this.shadowRules.rules.click({ event: e, obs, offer, publisher, lists: ruleset.lists }, model, verdict));
    return verdict;
  }

  /** `storedClick`: the click from the database when it is no longer in memory (or null). */
  scoreConversion(e: ConversionEvent, catalog: CatalogView, storedClick: ClickRecord | null, decidedAtMs: number): Decision {
    const previous = this.decisions.get(e.id);
    if (previous) return previous;
    const remembered = this.state.click(e.clickId) ?? storedClick;
    // The click's offer decides whose conversion it is; a different one named by the sender is
    // OFFER_MISMATCH, never a way to move it to another offer or advertiser.
    const offerId = remembered?.offerId ?? e.offerId ?? null;
    const offer = offerId ? (catalog.offer(offerId) ?? null) : null;
    const advertiserId = offer?.advertiserId ?? null;
    const publisherId = remembered?.publisherId ?? null;
    const publisher = publisherId ? (catalog.publisher(publisherId) ?? null) : null;
    const ruleset = this.resolver.for(advertiserId, offerId);
    const obs = this.state.observeConversion(e, advertiserId, storedClick);
    const type = e.type ?? 'sale';
    const ruled = RuleEngine.conversionReasons(ruleset, { event: e, obs, offer, publisher, advertiserId, type, lists: ruleset.lists });
    const { revenue, payout } = moneyOf(e, offer, publisherId);
    const model = this.wantsFeatures
      ? this.scoreModel(
          'conversion',
          e.id,
          ruleset,
          conversionFeatures(
            {
              event: e,
              obs,
              payout,
              browserDiffers:
                !!e.userAgent && !!obs.click?.userAgent && userAgentShape(e.userAgent) !== userAgentShape(obs.click.userAgent),
              rulesRisk: riskOf(ruled, ruleset.policy).score,
            },
            this.vectors.conversion,
          ),
        )
      : NO_MODEL;
    const reasons = model.reasons.length ? [...ruled, ...model.reasons] : ruled;
    const { status, score } = model.deciding
      ? decideConversion(reasons, ruleset.policy, offer)
      : decideConversion(ruled, ruleset.policy, offer, model.reasons);
    // The shadow judges before the conversion is credited to its click (crediting changes the click).
    const shadow = this.shadowRules?.rules.judgeConversion(
      { event: e, obs, offer, publisher, advertiserId, type, lists: ruleset.lists },
      offerId,
      model,
    );
    // A duplicate uses nothing up again, and a conversion that is not the click's offer's to report
    // (another advertiser's key, or an open pixel of another offer: `foreignOffer`, whatever the mode of
    // OFFER_MISMATCH) uses up neither the click nor the order id: else anybody knowing a click id could
    // burn it, or an order number, before its advertiser reports.
    const foreign = foreignOffer(e, obs.click?.offerId ?? null, offer) !== null;
    if (!foreign && !reasons.some((r) => r.code === 'DUPLICATE_CONVERSION' && !r.monitorOnly)) {
      this.state.creditConversion(e, advertiserId, obs.click);
    }
    const decision: Decision = {
      kind: 'conversion',
      conversionId: e.id,
      clickId: e.clickId,
      ts: e.ts,
      offerId,
      publisherId,
      advertiserId,
      subId: obs.click?.subId ?? null,
      status,
      score,
      reasons,
      amount: e.amount,
      revenue,
      payout,
      currency: e.currency ?? offer?.currency ?? 'USD',
      ctitSeconds: obs.ctitSeconds === null ? null : Math.round(obs.ctitSeconds * 1000) / 1000,
      revision: 0,
      previousStatus: null,
      resolvedBy: 'engine',
      holdUntil: status === 'hold' ? new Date(decidedAtMs + ruleset.policy.holdHours * 3600_000).toISOString() : null,
      note: null,
      actor: null,
      partition: e.partition,
      rulesetVersion: ruleset.version,
      modelVersion: model.version,
      modelScore: model.score,
      shadowModelVersion: model.shadowVersion,
      shadowScore: model.shadowScore,
      decidedAt: this.iso(decidedAtMs),
      latencyMs: Math.max(0, decidedAtMs - parseIsoMs(e.receivedAt)),
    };
    this.remember(decision, true);
    if (shadow) this.shadowRules!.sink(this.shadowRules!.rules.conversion(shadow, decision));
    return decision;
  }

  /**
   * Resolves every hold due at `nowMs`: rejected when the publisher's conversion rate or CTIT
   * pattern is anomalous at expiry, or when it waited for a person who did not confirm it
   * (`mustBeConfirmed`); approved otherwise.
   */
  expireHolds(nowMs: number): Decision[] {
    return this.holds.due(nowMs).map((held) => {
      const ruleset = this.resolver.for(held.advertiserId, held.offerId);
      const reasonsNow = held.publisherId ? RuleEngine.publisherReasons(ruleset, this.publisherFacts(held, ruleset)) : [];
      const revised = expireHold(held, reasonsNow, ruleset.policy, nowMs);
      this.remember(revised);
      return revised;
    });
  }

  /**
   * Applies an advertiser's or analyst's feedback to the conversion's current decision (the newer of
   * the engine's memory and `stored`). Returns the new revision, or null when nothing changes — also
   * when this feedback event (its id) was applied before: a redelivery makes no second revision, on
   * whatever decision came since (the caller publishes the one it made if that is still owed).
   */
  applyFeedback(f: FeedbackEvent, stored: Decision | null, nowMs: number): Decision | null {
    const key = feedbackKey(f);
    if (this.feedbackApplied.has(key)) return null;
    const remembered = this.currentDecision(f.conversionId) ?? null;
    const current = !remembered || (stored && stored.revision > remembered.revision) ? stored : remembered;
    if (!current) return null; // nothing decided to apply it to (not marked: a redelivery may find the decision)
    const revised = this.feedbackOn(current, f, nowMs);
    this.feedbackApplied.add(key);
    if (this.feedbackApplied.size > this.feedbackBound) this.feedbackApplied.delete(this.feedbackApplied.values().next().value!);
    return revised;
  }

  /** Whether this feedback event (its id, on its conversion) was applied (still remembered). */
  appliedFeedback(f: Pick<FeedbackEvent, 'id' | 'conversionId'>): boolean {
    return this.feedbackApplied.has(feedbackKey(f));
  }

  private get wantsFeatures(): boolean {
    return !!(this.model || this.shadow || this.featureSink);
  }

  /** Hands the event's feature vector to the sink and scores it with the models. */
  private scoreModel(side: Side, id: string, ruleset: RuleSet, x: Float64Array): ModelOutcome {
    this.featureSink?.(side, id, x);
    const active = this.model ? this.model[side] : null;
    const candidate = this.shadow ? this.shadow[side] : null;
    const score = active ? active.probability(x) : null;
    const authority = this.authority?.[side];
    let reasons: Reason[] = [];
    if (score !== null && authority) {
      // One facts object for every event (read by MODEL_RISK while it runs, kept by nothing): its
      // closures and fields were some 300 bytes of garbage per scored event.
      const facts = this.modelFacts;
      facts.probability = score;
      facts.threshold = this.model!.artifact.thresholds[side];
      facts.version = this.model!.version;
      facts.authority = authority.authority;
      facts.basis = authority.basis;
      facts.globalDrivers = this.drivers[side];
      this.explaining.side = side;
      this.explaining.x = x;
      reasons = RuleEngine.modelReasons(ruleset, facts);
    }
    return {
      reasons,
      deciding: authority?.authority === 'deciding',
      score,
      version: active ? this.model!.version : null,
      shadowScore: candidate ? candidate.probability(x) : null,
      shadowVersion: candidate ? this.shadow!.version : null,
    };
  }

  /** The event `modelFacts.explain` explains: the one being scored. */
  private readonly explaining: { side: Side; x: Float64Array } = { side: 'click', x: this.vectors.click };
  private readonly modelFacts: ModelFacts = {
    probability: 0,
    threshold: 0,
    version: '',
    authority: 'advisory',
    basis: '',
    // Walks every tree again: only for events MODEL_RISK fires on, the scoring path stays as it was.
    explain: () => this.model!.explain(this.explaining.side, this.explaining.x),
    globalDrivers: [],
  };

  /** Takes over a hold decided before a restart (loaded from the database). */
  trackHold(decision: Decision): void {
    this.holds.track(decision);
  }

  private feedbackOn(current: Decision, f: FeedbackEvent, nowMs: number): Decision | null {
    const revised = applyFeedback(current, f, nowMs);
    if (!revised) return null;
    this.holds.settle(current.conversionId);
    this.remember(revised);
    return revised;
  }

  /** `built`: scored just now, its reasons as the rules returned them (see `VERDICT_CODEC`). */
  private remember(decision: Decision, built = false): void {
    this.decisions.set(decision.conversionId, decision, built);
    this.holds.track(decision);
  }

  /** Facts for the publisher-level rules as of now, for a conversion decided earlier. */
  private publisherFacts(held: Decision, ruleset: RuleSet) {
    const t = this.state.now;
    const publisherId = held.publisherId!;
    const obs: ConversionObservation = {
      t,
      click: { ...NO_CLICK, id: held.clickId, t, offerId: held.offerId ?? '', publisherId, subId: held.subId, reasonCodes: [] },
      ctitSeconds: held.ctitSeconds,
      duplicateOrderOf: null,
      ipConversions: null,
      deviceConversions: null,
      publisher: this.state.publisherWindow(publisherId, null, t),
      subId: held.subId ? this.state.publisherWindow(publisherId, held.subId, t) : null,
      network: this.state.networkWindow(t),
      // Publisher-level rules read none of these.
      ipHistory: null,
      deviceHistory: null,
      offerDay: null,
      offerPublisherDay: null,
      offerSubIdDay: null,
    };
    const event = {
      kind: 'conversion',
      id: held.conversionId,
      clickId: held.clickId,
      ts: held.ts,
      receivedAt: held.ts,
      partition: held.partition,
      amount: held.amount,
      ipCountry: null,
    } as ConversionEvent;
    return { event, obs, offer: null, publisher: null, advertiserId: held.advertiserId, type: 'sale', lists: ruleset.lists };
  }
}

function toResolver(rules: RuleSetResolver | RuleSet): RuleSetResolver {
  return rules instanceof RuleSetResolver ? rules : RuleSetResolver.fixed(rules);
}
