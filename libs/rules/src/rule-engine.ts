import { REASON_CODES, Reason } from '@app/contracts';
import { CLICK_RULES, CONVERSION_RULES } from './registry';
import { clickSpamPatternRule } from './conversion/click-spam-pattern.rule';
import { publisherCrAnomalyRule } from './conversion/publisher-cr-anomaly.rule';
import { ModelFacts, modelRiskRule } from './model-risk.rule';
import { ClickFacts, ConversionFacts, Rule } from './rule';
import { RuleSet } from './ruleset';

/** Rules whose evidence can grow after a decision: what a hold waits for. */
const PUBLISHER_RULES = [clickSpamPatternRule, publisherCrAnomalyRule];
const MODEL_RULES = [modelRiskRule];

/** Runs the rules of a rule set over one event and returns the reasons that fired. */
export const RuleEngine = {
  clickReasons(ruleset: RuleSet, facts: ClickFacts): Reason[] {
    return runRules(ruleset, CLICK_RULES, facts);
  },

  conversionReasons(ruleset: RuleSet, facts: ConversionFacts): Reason[] {
    return runRules(ruleset, CONVERSION_RULES, facts);
  },

  /** MODEL_RISK, from what the model said (evaluated after the other rules: their risk is a model input). */
  modelReasons(ruleset: RuleSet, facts: ModelFacts): Reason[] {
    return runRules(ruleset, MODEL_RULES, facts);
  },

  /** Only the publisher-level rules (conversion rate band, CTIT pattern), e.g. when a hold expires. */
  publisherReasons(ruleset: RuleSet, facts: ConversionFacts): Reason[] {
    return runRules(ruleset, PUBLISHER_RULES, facts);
  },
};

/** Runs these rules of a rule set (its modes, severities and parameters) over one set of facts. */
export function runRules<F>(ruleset: RuleSet, rules: readonly Rule<F, any>[], facts: F): Reason[] {
  const reasons: Reason[] = [];
  for (const rule of rules) {
    const settings = ruleset.rules[rule.code];
    if (settings.mode === 'off') continue;
    const evidence = rule.evaluate(facts, settings.params);
    if (!evidence) continue;
    const spec = REASON_CODES[rule.code];
    reasons.push({
      code: rule.code,
      category: spec.category,
      severity: settings.severity,
      message: spec.explain(evidence),
      evidence,
      monitorOnly: settings.mode === 'monitor',
    });
  }
  return reasons;
}
