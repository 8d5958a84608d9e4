import { Static, Type } from '@sinclair/typebox';
import { CountryCode, StringEnum } from './events.schema';

/** Catalog ids become NATS subject tokens and URL segments: letters, digits, `_` and `-`. */
export const CatalogKey = Type.String({ pattern: '^[A-Za-z0-9_-]{1,64}$' });
const Name = Type.String({ minLength: 1, maxLength: 200 });
const Threshold = Type.Number({ minimum: 0, maximum: 1 });
/** An IPv4 / IPv6 address or CIDR range (`203.0.113.0/24`, `2001:db8::/32`); checked further by the API. */
export const IpRange = Type.String({ pattern: '^[0-9A-Fa-f:.]+(/[0-9]{1,3})?$', maxLength: 64 });

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

export type AdvertiserInput = Static<typeof AdvertiserInput>;
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
  payout: number;
  currency: string;
  allowedCountries: string[];
  maxConversionsPerClick: number;
  holdThreshold: number | null;
  rejectThreshold: number | null;
  openConversions: boolean;
}
