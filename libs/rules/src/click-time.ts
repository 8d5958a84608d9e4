import type { ClickEvent, Offer, Publisher, Reason } from '@app/contracts';
import { classifyIp, classifyUserAgent, type ClickObservation } from '@app/features';
import { CLICK_RULES } from './registry';
import type { ClickFacts } from './rule';
import { runRules } from './rule-engine';
import type { RuleSet } from './ruleset';

/**
 * The click rules cheap enough to run before the tracking link redirects (DESIGN §12): they read
 * the event, the catalog and the rule set's lists, and of the streaming observation only the
 * classified address and user agent: no window, no state, the same rule objects the scorer runs.
 */
export const CLICK_TIME_CODES = [
  'UNKNOWN_PUBLISHER',
  'DENY_LISTED',
  'ENFORCEMENT_BLOCK',
  'INVALID_IP',
  'BOT_USER_AGENT',
  'NON_BROWSER_CLIENT',
  'DATACENTER_IP',
] as const;

/** The rule objects behind CLICK_TIME_CODES, taken from the scorer's own list. */
export const CLICK_TIME_RULES = CLICK_RULES.filter((r) => (CLICK_TIME_CODES as readonly string[]).includes(r.code));

/** What the click-time rules see: the scorer's click facts without the streaming windows. */
export interface ClickTimeFacts {
  event: ClickEvent;
  offer: Offer | null;
  publisher: Publisher | null;
}

/** The reasons the click-time rules give a click, as the scorer would give them (same rules, same settings). */
export function clickTimeReasons(ruleset: RuleSet, f: ClickTimeFacts): Reason[] {
  // Only `ip` and `ua` of the observation are read by these rules (a unit test holds them to it).
  const obs = { ip: classifyIp(f.event.ip), ua: classifyUserAgent(f.event.userAgent) } as ClickObservation;
  const facts: ClickFacts = { event: f.event, obs, offer: f.offer, publisher: f.publisher, lists: ruleset.lists };
  return runRules(ruleset, CLICK_TIME_RULES, facts);
}
