import { Static, Type } from '@sinclair/typebox';
import { CountryCode, StringEnum } from './events.schema';

/** Catalog ids become NATS subject tokens and URL segments: letters, digits, `_` and `-`. */
export const CatalogKey = Type.String({ pattern: '^[A-Za-z0-9_-]{1,64}$' });
const Name = Type.String({ minLength: 1, maxLength: 200 });
const Threshold = Type.Number({ minimum: 0, maximum: 1 });
/** An IPv4 / IPv6 address or CIDR range (`203.0.113.0/24`, `2001:db8::/32`); checked further by the API. */
export const IpRange = Type.String({ pattern: '^[0-9A-Fa-f:.]+(/[0-9]{1,3})?$', maxLength: 64 });
/** How a money figure is computed from a conversion: a fixed amount, or a percentage of the sale. */
export const MoneyModel = StringEnum(['fixed', 'percent'] as const, 'fixed: an amount per conversion; percent: of the sale amount (0–100)');

export const AdvertiserInput = Type.Object(
  {
    id: CatalogKey,
    name: Name,
    status: Type.Optional(StringEnum(['active', 'paused'] as const)),
    webhookUrl: Type.Optional(Type.Union([Type.String({ pattern: '^https?://', maxLength: 2048 }), Type.Null()])),
    /** Addresses (CIDR ranges or single IPs) the advertiser's key and postback token work from; empty: any. */
    postbackAllowedIps: Type.Optional(Type.Array(IpRange, { maxItems: 100, uniqueItems: true })),
  },
  { additionalProperties: false },
);

export const PublisherInput = Type.Object(
  {
    id: CatalogKey,
    name: Name,
    status: Type.Optional(StringEnum(['active', 'suspended'] as const)),
  },
  { additionalProperties: false },
);

export const OfferInput = Type.Object(
  {
    id: CatalogKey,
    advertiserId: CatalogKey,
    name: Name,
    /** Landing page; `{click_id}` is replaced by the click id, otherwise `click_id` is appended. */
    url: Type.Optional(Type.Union([Type.String({ pattern: '^https?://', maxLength: 2048 }), Type.Null()])),
    status: Type.Optional(StringEnum(['active', 'paused'] as const)),
    /**
     * What the advertiser owes the network per approved conversion (DESIGN §7): `fixed` (a CPA in
     * the offer's currency) or `percent` (of the sale amount, 0–100). Default for a new offer:
     * 100 % of the sale.
     */
    revenueModel: Type.Optional(MoneyModel),
    revenue: Type.Optional(Type.Number({ minimum: 0, maximum: 1e9 })),
    /** What the network owes the publisher: `fixed` (default) or `percent` of the sale (0–100). */
    payoutModel: Type.Optional(MoneyModel),
    payout: Type.Optional(Type.Number({ minimum: 0, maximum: 1e9 })),
    currency: Type.Optional(Type.String({ pattern: '^[A-Z]{3}$' })),
    /** Empty: every country. */
    allowedCountries: Type.Optional(Type.Array(CountryCode, { maxItems: 250, uniqueItems: true })),
    maxConversionsPerClick: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000 })),
    /** Risk score from which a conversion is held for review (default from the rule set). */
    holdThreshold: Type.Optional(Type.Union([Threshold, Type.Null()])),
    /** Risk score from which a conversion is rejected (default from the rule set). */
    rejectThreshold: Type.Optional(Type.Union([Threshold, Type.Null()])),
    /**
     * Accept conversions without an advertiser key or postback token (a browser pixel); each one
     * carries the UNVERIFIED_SOURCE reason. Off by default.
     */
    openConversions: Type.Optional(Type.Boolean()),
  },
  { additionalProperties: false },
);

/** A publisher's own payout on an offer, overriding the offer's (admin API). */
export const PublisherPayoutInput = Type.Object(
  {
    payoutModel: Type.Optional(MoneyModel),
    payout: Type.Number({ minimum: 0, maximum: 1e9 }),
  },
  { additionalProperties: false },
);

export type AdvertiserInput = Static<typeof AdvertiserInput>;
export type MoneyModel = Static<typeof MoneyModel>;
export type PublisherPayoutInput = Static<typeof PublisherPayoutInput>;
export type PublisherInput = Static<typeof PublisherInput>;
export type OfferInput = Static<typeof OfferInput>;

export interface Advertiser {
  id: string;
  name: string;
  status: 'active' | 'paused';
  webhookUrl: string | null;
  postbackAllowedIps: string[];
}

export interface Publisher {
  id: string;
  name: string;
  status: 'active' | 'suspended';
}

export interface Offer {
  id: string;
  advertiserId: string;
  name: string;
  url: string | null;
  status: 'active' | 'paused';
  revenueModel: MoneyModel;
  /** An amount (`fixed`) or a percentage of the sale (`percent`). */
  revenue: number;
  payoutModel: MoneyModel;
  payout: number;
  /** Publishers with their own payout on this offer. */
  publisherPayouts: Record<string, PublisherPayout>;
  currency: string;
  allowedCountries: string[];
  maxConversionsPerClick: number;
  holdThreshold: number | null;
  rejectThreshold: number | null;
  openConversions: boolean;
}

/** A publisher's own payout terms on one offer. */
export interface PublisherPayout {
  payoutModel: MoneyModel;
  payout: number;
}

/** An offer with the defaults a new one gets (the admin API's and a file catalog's). */
export function offerFromInput(o: OfferInput, publisherPayouts: Record<string, PublisherPayout> = {}): Offer {
  return {
    id: o.id,
    advertiserId: o.advertiserId,
    name: o.name,
    url: o.url ?? null,
    status: o.status ?? 'active',
    revenueModel: o.revenueModel ?? 'percent',
    revenue: o.revenue ?? 100,
    payoutModel: o.payoutModel ?? 'fixed',
    payout: o.payout ?? 0,
    publisherPayouts,
    currency: o.currency ?? 'USD',
    allowedCountries: o.allowedCountries ?? [],
    maxConversionsPerClick: o.maxConversionsPerClick ?? 1,
    holdThreshold: o.holdThreshold ?? null,
    rejectThreshold: o.rejectThreshold ?? null,
    openConversions: o.openConversions ?? false,
  };
}
