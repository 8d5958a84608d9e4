import { Decision, REASON_CODES, Reason, isReasonCode, publisherReason } from '@app/contracts';

/**
 * A reason as a publisher sees it: the code, its title, and a plain message built from the
 * evidence with visitors' addresses masked and model numbers and analysts' notes left out (the
 * stored message may quote a full address: it is never passed on). Monitor-only reasons are left out: they do not count against the
 * publisher, and they would show how detection is tuned.
 */
export function publisherReasons(reasons: readonly Reason[]) {
  return reasons
    .filter((r) => !r.monitorOnly)
    .map((r) => ({
      code: r.code,
      title: isReasonCode(r.code) ? REASON_CODES[r.code].title : r.code,
      category: r.category,
      ...publisherReason(r),
    }));
}

/**
 * A decision as the publisher whose traffic it was may see it: outcome, reasons and its own payout;
 * not the advertiser's revenue, notes, who acted, or the models' scores.
 */
export function publisherDecision(d: Decision) {
  return {
    conversionId: d.conversionId,
    clickId: d.clickId,
    ts: d.ts,
    offerId: d.offerId,
    publisherId: d.publisherId,
    subId: d.subId,
    status: d.status,
    reasons: publisherReasons(d.reasons),
    payout: d.payout,
    currency: d.currency,
    ctitSeconds: d.ctitSeconds,
    revision: d.revision,
    previousStatus: d.previousStatus,
    resolvedBy: d.resolvedBy,
    holdUntil: d.holdUntil,
    decidedAt: d.decidedAt,
  };
}
