import type { Reason } from '@app/contracts';
import { ClickTimeFacts, RuleSet, clickTimeReasons } from '@app/rules';
import { judgeClick } from './decision-policy';

/** What the tracking link does with one click before it redirects. */
export interface ClickTimeOutcome {
  /** True when the rule set sends invalid clicks to its fallback and this one is invalid. */
  blocked: boolean;
  /** The fallback URL of the rule set (null: the gateway's default). */
  fallbackUrl: string | null;
  /** Reasons the click-time rules gave (the scorer gives the same ones, and more, to the recorded click). */
  reasons: Reason[];
}

/**
 * The click-time verdict (DESIGN §12): the cheap rules, judged by the same policy as the scorer's
 * verdict, so a click blocked here is one the scorer marks invalid. Under `score` nothing is
 * blocked; the rules still run only when they could change where the visitor goes.
 */
export function clickTimeOutcome(ruleset: RuleSet, facts: ClickTimeFacts): ClickTimeOutcome {
  const { mode, fallbackUrl } = ruleset.clickBlocking;
  if (mode !== 'fallback') return { blocked: false, fallbackUrl, reasons: [] };
  const reasons = clickTimeReasons(ruleset, facts);
  return { blocked: reasons.length > 0 && !judgeClick(reasons, ruleset.policy).valid, fallbackUrl, reasons };
}
