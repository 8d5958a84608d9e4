import { hasMintedClickShape, hasScopedShape, scopedEventId, senderScope } from '@app/contracts';
import type { ClickEvent, ConversionEvent, FieldError, Offer, Sender } from '@app/contracts';

/** Who the gateway authenticated as the sender of a request (DESIGN §3a). */
export interface SenderIdentity {
  sender: Sender;
  /** The publisher (publisher key) or advertiser (advertiser key, postback token) it speaks for. */
  id?: string;
  /** The key or token used (its budget: GATEWAY_RATE_LIMIT_PER_KEY_PER_MINUTE). */
  keyId?: string;
}

export interface TrustOptions {
  /** How far in the past a partner may report an event's time. */
  maxReportedAgeMs: number;
}

export type TrustResult<T> = { ok: true; event: T } | { ok: false; errors: FieldError[] };

/**
 * Applies the trust table of DESIGN §3a to a normalized event: whatever the sender may not assert
 * is refused (labels, patterns, payout, another publisher, another advertiser's offer) and the
 * engine's clock replaces the sender's where live rules need it, and an id the sender chose
 * becomes an id within that sender (`scopedEventId`). The admin (backfill, replay) may assert
 * anything, ids included. `sent`: whether the sender gave `ts` and `id` itself.
 */
export function applyTrust<T extends ClickEvent | ConversionEvent>(
  event: T,
  from: SenderIdentity,
  sent: { ts: boolean; id: boolean },
  options: TrustOptions,
  offer: (id: string) => Offer | undefined,
): TrustResult<T> {
  // Object.assign, not spreads: see EventNormalizer (a property after a spread costs V8 a runtime call).
  if (from.sender === 'admin') return { ok: true, event: Object.assign({}, event, { sender: 'admin' as const }) };
  const errors: FieldError[] = [];
  const reported = sent.ts;
  // A derived id is answered to its sender; sent back as its own id it would be derived again
  // into another event (and an admin file keeps it as it is).
  if (sent.id && hasScopedShape(event.id)) {
    errors.push({ field: 'id', message: 'is spelled like an id the engine derives (s-…); send your own id, or none' });
  }
  if (event.label !== undefined) errors.push({ field: 'label', message: 'comes only from feedback, review or an admin file' });
  if (event.pattern !== undefined) errors.push({ field: 'pattern', message: 'comes only from an admin file' });
  if (reported && Date.parse(event.receivedAt) - Date.parse(event.ts) > options.maxReportedAgeMs) {
    errors.push({
      field: 'ts',
      message: `is more than ${Math.round(options.maxReportedAgeMs / 1000)} s before its receipt (GATEWAY_MAX_REPORTED_AGE_SECONDS)`,
    });
  }
  const provenance: { sender: Sender; senderId?: string } = { sender: from.sender };
  if (from.id !== undefined) provenance.senderId = from.id;

  if (event.kind === 'click') {
    // Engine-minted click ids are stored on the table's (id, ts) key, not in the ledger: a sender
    // replaying one past the stream's de-duplication window would be stored a second time.
    if (!event.idMinted && hasMintedClickShape(event.id)) {
      errors.push({
        field: 'id',
        message: 'is spelled like an id the engine mints (c<partition>.<uuidv7>); choose another id or send none',
      });
    }
    if (from.sender === 'publisher' && event.publisherId !== from.id) {
      errors.push({ field: 'publisherId', message: `is not this key's publisher ("${from.id}")` });
    }
    if (errors.length) return { ok: false, errors };
    // Live rules run on the receipt: a back-dated click would stretch every CTIT measured from it.
    const click: ClickEvent = Object.assign({}, event as ClickEvent, provenance, { ts: event.receivedAt });
    if (reported && event.ts !== event.receivedAt) click.reportedTs = event.ts;
    // The link door never sends an id; a publisher's namespace is its own.
    if (sent.id) click.id = scopedEventId(senderScope('publisher', from.id), event.id);
    return { ok: true, event: click as T };
  }

  if (event.payout !== undefined) errors.push({ field: 'payout', message: 'is computed by the network from the offer' });
  if (event.offerId !== undefined && from.sender === 'advertiser') {
    const named = offer(event.offerId);
    if (named && named.advertiserId !== from.id) errors.push({ field: 'offerId', message: `is not an offer of advertiser "${from.id}"` });
  }
  if (from.sender === 'pixel') {
    const named = event.offerId === undefined ? undefined : offer(event.offerId);
    if (!named?.openConversions) {
      errors.push({
        field: 'offerId',
        message: 'must name an offer open to pixel conversions; otherwise send an advertiser key or postback token',
      });
    }
  }
  if (errors.length) return { ok: false, errors };
  // A reported time may make a CTIT shorter, never longer: it is never after the receipt.
  const ts = Date.parse(event.ts) > Date.parse(event.receivedAt) ? event.receivedAt : event.ts;
  const conversion = Object.assign({}, event, provenance, { ts });
  // Never the advertisers' namespace for a pixel: anybody may send one.
  if (sent.id)
    conversion.id = scopedEventId(
      from.sender === 'pixel' ? senderScope('pixel', event.offerId) : senderScope('advertiser', from.id),
      event.id,
    );
  return { ok: true, event: conversion };
}
