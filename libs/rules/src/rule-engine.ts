import { REASON_CODES, Reason } from '@app/contracts';
import { CLICK_RULES, CONVERSION_RULES } from './catalogue';
import { ClickFacts, ConversionFacts, Rule } from './rule';
import { RuleSet } from './ruleset';

/** Runs every rule of a rule set over one event and returns the reasons that fired. */
export class RuleEngine {
  constructor(readonly ruleset: RuleSet) {}

  clickReasons(facts: ClickFacts): Reason[] {
    return this.run(CLICK_RULES, facts);
  }

  conversionReasons(facts: ConversionFacts): Reason[] {
    return this.run(CONVERSION_RULES, facts);
  }

  private run<F>(rules: readonly Rule<F, any>[], facts: F): Reason[] {
    const reasons: Reason[] = [];
    for (const rule of rules) {
      const settings = this.ruleset.rules[rule.code];
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
}
