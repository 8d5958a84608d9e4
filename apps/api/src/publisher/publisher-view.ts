import { Decision, REASON_CODES, Reason, isReasonCode, maskIp, publisherReason } from '@app/contracts';
import { CsvColumn, fieldColumns } from '@app/http';
import type { Rejection } from '@app/storage';

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

/** A rejected click or conversion as its publisher sees it (the JSON list and the CSV export alike). */
export function publisherRejection(r: Rejection) {
  return {
    kind: r.kind,
    id: r.id,
    ts: r.ts,
    offerId: r.offerId,
    subId: r.subId,
    status: r.status,
    ip: r.ip ? maskIp(r.ip) : null,
    country: r.country,
    userAgent: r.userAgent,
    payout: r.payout,
    reasons: publisherReasons(r.reasons),
  };
}
export type PublisherRejection = ReturnType<typeof publisherRejection>;

/** Reasons in two readable cells beside their JSON: the codes, and the plain messages. */
export function reasonColumns<T extends { reasons: readonly { code: string; message: string }[] }>(): CsvColumn<T>[] {
  return [
    { header: 'reasonCodes', value: (row) => row.reasons.map((r) => r.code).join(' ') },
    { header: 'messages', value: (row) => row.reasons.map((r) => r.message).join(' | ') },
  ];
}

/** The CSV export of a publisher's rejections: the fields of `publisherRejection`, nothing more. */
export const PUBLISHER_REJECTION_CSV: CsvColumn<PublisherRejection>[] = [
  ...fieldColumns<PublisherRejection>(['kind', 'id', 'ts', 'offerId', 'subId', 'status', 'ip', 'country', 'userAgent', 'payout']),
  ...reasonColumns<PublisherRejection>(),
  ...fieldColumns<PublisherRejection>(['reasons']),
];
