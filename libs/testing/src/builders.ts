import { randomUUID } from 'node:crypto';
import { REASON_CODES } from '@app/contracts';
import type { Advertiser, ClickEvent, ConversionEvent, Evidence, FeedbackEvent, Offer, Publisher, Reason } from '@app/contracts';

export const CHROME_UA = 'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36';
export const IPHONE_UA =
  'Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1';

/** A unique id with a readable prefix; every test builds its own data. */
export function uid(prefix = 'id'): string {
  return `${prefix}-${randomUUID().slice(0, 8)}`;
}

export const T0 = Date.parse('2026-11-02T12:00:00.000Z');

export function at(offsetMs: number): string {
  return new Date(T0 + offsetMs).toISOString();
}

/** A legitimate-looking stored click (public US IP, desktop Chrome). */
export function aClick(overrides: Partial<ClickEvent> = {}): ClickEvent {
  const ts = overrides.ts ?? at(0);
  return {
    kind: 'click',
    id: uid('clk'),
    ts,
    receivedAt: ts,
    partition: 0,
    offerId: 'offer-1',
    publisherId: 'pub-1',
    ip: '8.8.8.8',
    userAgent: CHROME_UA,
    ipCountry: 'US',
    ...overrides,
  };
}

export function aConversion(click: Pick<ClickEvent, 'id'> | null, overrides: Partial<ConversionEvent> = {}): ConversionEvent {
  const ts = overrides.ts ?? at(5 * 60_000);
  return {
    kind: 'conversion',
    id: uid('cnv'),
    ts,
    receivedAt: ts,
    partition: 0,
    clickId: click?.id ?? uid('nowhere'),
    amount: 50,
    ipCountry: null,
    ...overrides,
  };
}

/** An analyst's label on `conversion`, an hour after T0, unless overridden. */
export function aFeedback(
  conversion: Pick<ConversionEvent, 'id'>,
  status: FeedbackEvent['status'],
  overrides: Partial<FeedbackEvent> = {},
): FeedbackEvent {
  const ts = overrides.ts ?? at(3600_000);
  return {
    kind: 'feedback',
    id: uid('fb'),
    ts,
    receivedAt: ts,
    partition: 0,
    conversionId: conversion.id,
    status,
    source: 'analyst',
    ...overrides,
  };
}

export function anAdvertiser(overrides: Partial<Advertiser> = {}): Advertiser {
  return { id: 'adv-1', name: 'Advertiser One', status: 'active', webhookUrl: null, postbackAllowedIps: [], ...overrides };
}

export function anOffer(overrides: Partial<Offer> = {}): Offer {
  return {
    id: 'offer-1',
    advertiserId: 'adv-1',
    name: 'Offer One',
    url: 'https://shop.example/landing',
    status: 'active',
    revenueModel: 'fixed',
    revenue: 15,
    payoutModel: 'fixed',
    payout: 10,
    publisherPayouts: {},
    currency: 'USD',
    allowedCountries: [],
    maxConversionsPerClick: 1,
    holdThreshold: null,
    rejectThreshold: null,
    openConversions: false,
    ...overrides,
  };
}

export function aPublisher(overrides: Partial<Publisher> = {}): Publisher {
  return { id: 'pub-1', name: 'Publisher One', status: 'active', ...overrides };
}

/** An in-memory catalog for the scoring core. */
export function aCatalog(parts: { offers?: Offer[]; publishers?: Publisher[] } = {}) {
  const offers = new Map((parts.offers ?? [anOffer()]).map((o) => [o.id, o]));
  const publishers = new Map((parts.publishers ?? [aPublisher()]).map((p) => [p.id, p]));
  return { offer: (id: string) => offers.get(id), publisher: (id: string) => publishers.get(id) };
}

/** A reason as the engine builds it: the catalogue's category, severity and message for its evidence. */
export function aReason(code: Reason['code'], evidence: Evidence, overrides: Partial<Reason> = {}): Reason {
  const spec = REASON_CODES[code];
  return {
    code,
    category: spec.category,
    severity: spec.severity,
    message: spec.explain(evidence),
    evidence,
    monitorOnly: false,
    ...overrides,
  };
}
