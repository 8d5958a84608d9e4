import { Decision, DecisionStatus, FeedbackEvent, REASON_CODES, Reason, ResolvedBy } from '@app/contracts';
import type { PolicySettings } from '@app/rules';
import { mustBeConfirmed, riskOf } from './decision-policy';

/** A later revision of a decision: who changed it, to what, why. */
export function revise(
  current: Decision,
  change: {
    status: DecisionStatus;
    resolvedBy: ResolvedBy;
    reasons?: Reason[];
    score?: number;
    note?: string | null;
    actor?: string | null;
    /** The feedback event that made it (feedback revisions only). */
    feedbackId?: string;
  },
  decidedAtMs: number,
  triggeredAtMs = decidedAtMs,
): Decision {
  // A revision names only the feedback that made it, never the one that made the revision before.
  const { feedbackId: _made, ...base } = current;
  const revised: Decision = {
    ...base,
    revision: current.revision + 1,
    previousStatus: current.status,
    status: change.status,
    resolvedBy: change.resolvedBy,
    reasons: change.reasons ?? current.reasons,
    score: change.score ?? current.score,
    note: change.note ?? null,
    actor: change.actor ?? null,
    holdUntil: null,
    decidedAt: new Date(decidedAtMs).toISOString(),
    latencyMs: Math.max(0, decidedAtMs - triggeredAtMs),
  };
  if (change.feedbackId !== undefined) revised.feedbackId = change.feedbackId;
  return revised;
}

/**
 * A hold whose time is up. `evidenceNow` are the publisher-level reasons (conversion-rate band,
 * CTIT pattern) as they stand at expiry, over all the traffic seen since the decision. If any
 * holds, the suspicion is confirmed and the conversion is rejected (with the evidence as it is
 * now); if none does — a one-off signal such as a traveller's country mismatch, or a publisher
 * anomaly that has since washed out — it is approved, unless it had to be confirmed by a person
 * (`mustBeConfirmed`: a payout resting on an amount nobody authenticated) and nobody did: then it
 * is rejected, its reasons as they were.
 */
export function expireHold(current: Decision, evidenceNow: readonly Reason[], policy: PolicySettings, nowMs: number): Decision {
  const confirmed = evidenceNow.filter((r) => !r.monitorOnly);
  if (confirmed.length === 0) {
    const unconfirmed = mustBeConfirmed(current.reasons);
    return revise(current, { status: unconfirmed ? 'rejected' : 'approved', resolvedBy: 'timer' }, nowMs);
  }
  const updated = new Set(confirmed.map((r) => r.code));
  const reasons = [...current.reasons.filter((r) => !updated.has(r.code)), ...confirmed];
  return revise(current, { status: 'rejected', resolvedBy: 'timer', reasons, score: riskOf(reasons, policy).score }, nowMs);
}

/**
 * A person's word on a conversion. An advertiser's rejection always applies (it pays); its
 * approval settles a hold but does not overturn the engine's rejection (that one stays the
 * network's call, and the label still trains the model). An analyst's decision always applies.
 * Returns null when nothing changes.
 */
export function applyFeedback(current: Decision, feedback: FeedbackEvent, nowMs: number): Decision | null {
  const at = Date.parse(feedback.receivedAt);
  const note = feedback.reason ?? null;
  const actor = feedback.actor ?? null;
  const feedbackId = feedback.id;
  if (feedback.source === 'analyst') {
    if (feedback.status === current.status) return null;
    const evidence = { status: feedback.status, note };
    const reason = manual('ANALYST_OVERRIDE', evidence);
    return revise(
      current,
      { status: feedback.status, resolvedBy: 'analyst', reasons: [...current.reasons, reason], note, actor, feedbackId },
      nowMs,
      at,
    );
  }
  if (feedback.status === 'rejected' && current.status !== 'rejected') {
    const reason = manual('ADVERTISER_REJECTED', { reason: note });
    return revise(
      current,
      { status: 'rejected', resolvedBy: 'advertiser', reasons: [...current.reasons, reason], score: 1, note, feedbackId },
      nowMs,
      at,
    );
  }
  if (feedback.status === 'approved' && current.status === 'hold') {
    return revise(current, { status: 'approved', resolvedBy: 'advertiser', note, actor, feedbackId }, nowMs, at);
  }
  return null;
}

function manual(code: 'ANALYST_OVERRIDE' | 'ADVERTISER_REJECTED', evidence: Reason['evidence']): Reason {
  const spec = REASON_CODES[code];
  return { code, category: spec.category, severity: spec.severity, message: spec.explain(evidence), evidence, monitorOnly: false };
}
