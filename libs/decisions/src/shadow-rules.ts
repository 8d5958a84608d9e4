import type { ClickVerdict, Decision, Reason } from '@app/contracts';
import { BoundedMap } from '@app/features';
import { ClickFacts, ConversionFacts, RuleEngine, RuleSetResolver } from '@app/rules';
import { decideConversion, judgeClick } from './decision-policy';

/** What a shadow rule set would have done with one live event, beside what the active one did. */
export interface ShadowOutcome {
  kind: 'click' | 'conversion';
  eventId: string;
  ts: string;
  decidedAt: string;
  publisherId: string | null;
  offerId: string | null;
  advertiserId: string | null;
  activeVersion: string;
  /** The shadow's label (`shadow-…`). */
  shadowVersion: string;
  /** `valid` / `invalid` for a click, the status for a conversion. */
  activeStatus: string;
  shadowStatus: string;
  agree: boolean;
  activeCodes: string[];
  shadowCodes: string[];
  payout: number | null;
}

/** The model's part of an outcome, as the active rules took it (the shadow reuses it). */
export interface ModelPart {
  reasons: readonly Reason[];
  deciding: boolean;
}

const deciding = (reasons: readonly Reason[]) => reasons.filter((r) => !r.monitorOnly).map((r) => r.code);

/**
 * A candidate rule set judging live events beside the active one: the same observations (the
 * windows are the active engine's; one observation per event), the candidate's rules and policy.
 * A click's shadow verdict is remembered so that its conversion's INVALID_SOURCE_CLICK follows the
 * shadow's view of the click, not the active one's. MODEL_RISK is taken as the active rules made it.
 */
export class ShadowRules {
  private readonly clicks: BoundedMap<string, { valid: boolean; codes: readonly string[] }>;

  constructor(
    private resolverNow: RuleSetResolver,
    readonly label: string,
    remember = 50_000,
  ) {
    this.clicks = new BoundedMap(remember);
  }

  get resolver(): RuleSetResolver {
    return this.resolverNow;
  }

  /**
   * The same candidate with the network's current enforcement blocks (they are state, not rules: a
   * block made while the shadow runs applies to both sides). Keeps what the shadow remembers of clicks.
   */
  useResolver(resolver: RuleSetResolver): void {
    this.resolverNow = resolver;
  }

  click(facts: ClickFacts, model: ModelPart, active: ClickVerdict): ShadowOutcome {
    const ruleset = this.resolver.for(facts.offer?.advertiserId, facts.event.offerId);
    const ruled = RuleEngine.clickReasons(ruleset, { ...facts, lists: ruleset.lists });
    const reasons = model.reasons.length ? [...ruled, ...model.reasons] : ruled;
    const { valid } = judgeClick(model.deciding ? reasons : ruled, ruleset.policy);
    const codes = deciding(reasons);
    this.clicks.set(active.clickId, { valid, codes });
    return {
      kind: 'click',
      eventId: active.clickId,
      ts: active.ts,
      decidedAt: active.decidedAt,
      publisherId: active.publisherId,
      offerId: active.offerId,
      advertiserId: active.advertiserId,
      activeVersion: active.rulesetVersion,
      shadowVersion: this.label,
      activeStatus: active.valid ? 'valid' : 'invalid',
      shadowStatus: valid ? 'valid' : 'invalid',
      agree: valid === active.valid,
      activeCodes: deciding(active.reasons),
      shadowCodes: codes,
      payout: null,
    };
  }

  /** The shadow's status for a conversion; call before the engine credits the conversion to its click. */
  judgeConversion(facts: ConversionFacts, offerId: string | null, model: ModelPart): { status: Decision['status']; codes: string[] } {
    const ruleset = this.resolver.for(facts.advertiserId, offerId);
    const click = facts.obs.click;
    const seen = click ? this.clicks.get(click.id) : undefined;
    const obs = click && seen ? { ...facts.obs, click: { ...click, valid: seen.valid, reasonCodes: seen.codes } } : facts.obs;
    const ruled = RuleEngine.conversionReasons(ruleset, { ...facts, obs, lists: ruleset.lists });
    const reasons = model.reasons.length ? [...ruled, ...model.reasons] : ruled;
    const { status } = model.deciding
      ? decideConversion(reasons, ruleset.policy, facts.offer)
      : decideConversion(ruled, ruleset.policy, facts.offer, model.reasons);
    return { status, codes: deciding(reasons) };
  }

  conversion(judged: { status: Decision['status']; codes: string[] }, active: Decision): ShadowOutcome {
    return {
      kind: 'conversion',
      eventId: active.conversionId,
      ts: active.ts,
      decidedAt: active.decidedAt,
      publisherId: active.publisherId,
      offerId: active.offerId,
      advertiserId: active.advertiserId,
      activeVersion: active.rulesetVersion,
      shadowVersion: this.label,
      activeStatus: active.status,
      shadowStatus: judged.status,
      agree: judged.status === active.status,
      activeCodes: deciding(active.reasons),
      shadowCodes: judged.codes,
      payout: active.payout,
    };
  }
}
