import type { Category, DecisionStatus, Reason } from '@app/contracts';
import type { PolicySettings } from '@app/rules';

export interface Risk {
  /** 0..1; 1 when a critical reason is enforced. */
  score: number;
  critical: boolean;
}

/**
 * Combines the enforced reasons into one risk score: 1 − Π(1 − wᵢ), the probability that at
 * least one independent signal is right. Monitor-only reasons are recorded but add nothing.
 */
export function riskOf(reasons: readonly Reason[], policy: PolicySettings): Risk {
  let clean = 1;
  let critical = false;
  for (const r of reasons) {
    if (r.monitorOnly) continue;
    if (r.severity === 'critical') critical = true;
    else clean *= 1 - policy.weights[r.severity];
  }
  return { score: critical ? 1 : round(1 - clean), critical };
}

/** A click is invalid at or above the click threshold; its category is the gravest fired. */
export function judgeClick(
  reasons: readonly Reason[],
  policy: PolicySettings,
): { valid: boolean; score: number; category: Category | null } {
  const risk = riskOf(reasons, policy);
  const valid = risk.score < policy.clickInvalidThreshold;
  if (valid) return { valid, score: risk.score, category: null };
  const enforced = reasons.filter((r) => !r.monitorOnly);
  return { valid, score: risk.score, category: enforced.some((r) => r.category === 'GIVT') ? 'GIVT' : 'SIVT' };
}

export interface Thresholds {
  holdThreshold: number;
  rejectThreshold: number;
}

/**
 * Maps a conversion's risk to approved / hold / rejected; the offer may override the thresholds.
 * `advisory`: reasons of a model that has not earned the power to decide (DESIGN §5): they add no
 * risk, and when one of them is enforced a conversion the other reasons approve is held for review.
 */
export function decideConversion(
  reasons: readonly Reason[],
  policy: PolicySettings,
  offer?: { holdThreshold: number | null; rejectThreshold: number | null } | null,
  advisory: readonly Reason[] = [],
): { status: DecisionStatus; score: number } {
  const risk = riskOf(reasons, policy);
  const reject = offer?.rejectThreshold ?? policy.rejectThreshold;
  const hold = Math.min(offer?.holdThreshold ?? policy.holdThreshold, reject);
  const status: DecisionStatus = risk.critical || risk.score >= reject ? 'rejected' : risk.score >= hold ? 'hold' : 'approved';
  if (status === 'approved' && (advisory.some((r) => !r.monitorOnly) || mustBeConfirmed(reasons)))
    return { status: 'hold', score: risk.score };
  return { status, score: risk.score };
}

/**
 * Whether a conversion waits for a person: its payout rests on an amount nobody authenticated (an open
 * pixel's, where the publisher is paid a percentage of the sale: UNVERIFIED_SOURCE with
 * `amountSetsPayout`). The engine never approves it: it is held, and its hold expires into a rejection
 * unless its advertiser or an analyst approves it first (DESIGN §3a: an anonymous sender sets no
 * payout). A rule set that monitors UNVERIFIED_SOURCE only (trusting its pixels) lifts this for the
 * conversions it scores from then on.
 */
export function mustBeConfirmed(reasons: readonly Reason[]): boolean {
  return reasons.some((r) => r.code === 'UNVERIFIED_SOURCE' && r.evidence.amountSetsPayout === true && !r.monitorOnly);
}

const round = (x: number) => Math.round(x * 10_000) / 10_000;
