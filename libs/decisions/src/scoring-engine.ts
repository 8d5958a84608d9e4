import type { ClickEvent, ClickVerdict, ConversionEvent, Decision, Offer, Outcome, Publisher } from '@app/contracts';
import { BoundedMap, ClickRecord, DEFAULT_FEATURE_OPTIONS, FeatureState, FeatureStateOptions } from '@app/features';
import { RuleEngine, RuleSet } from '@app/rules';
import { decideConversion, judgeClick } from './decision-policy';

/** Catalog lookups the engine needs; the caller resolves misses before scoring. */
export interface CatalogView {
  offer(id: string): Offer | undefined;
  publisher(id: string): Publisher | undefined;
}

export interface ScoringEngineOptions {
  features?: Partial<FeatureStateOptions>;
  /** How many recent outcomes are kept to answer a redelivered event identically. */
  rememberOutcomes?: number;
}

/**
 * The scoring core: streaming features → rules → decision policy, for one event at a time, in
 * event order. No I/O and no clock: the caller passes the catalog and the decision time, so the
 * live scorer, the restart rebuild, `replay`, `train` and `evaluate` all run this same code.
 */
export class ScoringEngine {
  readonly state: FeatureState;
  private rules: RuleEngine;
  private readonly outcomes: BoundedMap<string, Outcome>;

  constructor(ruleset: RuleSet, options: ScoringEngineOptions = {}) {
    this.state = new FeatureState({ ...DEFAULT_FEATURE_OPTIONS, ...options.features });
    this.rules = new RuleEngine(ruleset);
    this.outcomes = new BoundedMap(options.rememberOutcomes ?? 100_000);
  }

  get ruleset(): RuleSet {
    return this.rules.ruleset;
  }

  /** Takes effect from the next event; the windows are kept. */
  useRuleSet(ruleset: RuleSet): void {
    this.rules = new RuleEngine(ruleset);
  }

  /** The outcome already given for this event id, if it is still remembered (redelivery). */
  previousOutcome(kind: 'click' | 'conversion', id: string): Outcome | undefined {
    return this.outcomes.get(`${kind}:${id}`);
  }

  /** True when the conversion's click is in memory (otherwise look it up before scoring). */
  holdsClick(clickId: string): boolean {
    return this.state.click(clickId) !== undefined;
  }

  scoreClick(e: ClickEvent, catalog: CatalogView, decidedAtMs: number): ClickVerdict {
    const previous = this.previousOutcome('click', e.id);
    if (previous) return previous as ClickVerdict;
    const obs = this.state.observeClick(e);
    const offer = catalog.offer(e.offerId) ?? null;
    const publisher = catalog.publisher(e.publisherId) ?? null;
    const reasons = this.rules.clickReasons({ event: e, obs, offer, publisher });
    const { valid, score, category } = judgeClick(reasons, this.ruleset.policy);
    this.state.rememberClick({
      id: e.id,
      t: obs.t,
      offerId: e.offerId,
      publisherId: e.publisherId,
      subId: e.subId ?? null,
      ip: obs.ip.normalized,
      userAgent: e.userAgent,
      deviceId: e.deviceId ?? null,
      country: e.ipCountry ?? e.country ?? null,
      valid,
      reasonCodes: reasons.filter((r) => !r.monitorOnly).map((r) => r.code),
      conversions: 0,
    });
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
      rulesetVersion: this.ruleset.version,
      modelVersion: null,
      decidedAt: new Date(decidedAtMs).toISOString(),
      latencyMs: Math.max(0, decidedAtMs - Date.parse(e.receivedAt)),
    };
    this.outcomes.set(`click:${e.id}`, verdict);
    return verdict;
  }

  /** `storedClick`: the click from the database when it is no longer in memory (or null). */
  scoreConversion(e: ConversionEvent, catalog: CatalogView, storedClick: ClickRecord | null, decidedAtMs: number): Decision {
    const previous = this.previousOutcome('conversion', e.id);
    if (previous) return previous as Decision;
    const remembered = this.state.click(e.clickId) ?? storedClick;
    const offerId = e.offerId ?? remembered?.offerId ?? null;
    const offer = offerId ? (catalog.offer(offerId) ?? null) : null;
    const advertiserId = offer?.advertiserId ?? null;
    const publisherId = remembered?.publisherId ?? null;
    const publisher = publisherId ? (catalog.publisher(publisherId) ?? null) : null;
    const obs = this.state.observeConversion(e, advertiserId, storedClick);
    const type = e.type ?? 'sale';
    const reasons = this.rules.conversionReasons({ event: e, obs, offer, publisher, advertiserId, type });
    const { status, score } = decideConversion(reasons, this.ruleset.policy, offer);
    if (!reasons.some((r) => r.code === 'DUPLICATE_CONVERSION' && !r.monitorOnly)) {
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
      payout: e.payout ?? offer?.payout ?? 0,
      currency: e.currency ?? offer?.currency ?? 'USD',
      ctitSeconds: obs.ctitSeconds === null ? null : Math.round(obs.ctitSeconds * 1000) / 1000,
      rulesetVersion: this.ruleset.version,
      modelVersion: null,
      decidedAt: new Date(decidedAtMs).toISOString(),
      latencyMs: Math.max(0, decidedAtMs - Date.parse(e.receivedAt)),
    };
    this.outcomes.set(`conversion:${e.id}`, decision);
    return decision;
  }
}
