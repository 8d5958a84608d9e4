import { BadRequestException } from '@nestjs/common';
import { Type } from '@sinclair/typebox';
import { CatalogKey, FeedbackInput, StringEnum } from '@app/contracts';

/** Query-string schemas of the API (coerced: `?limit=50` is a number). */
const Range = {
  from: Type.Optional(Type.String({ format: 'date-time', description: 'start (inclusive), ISO-8601; default: 7 days ago' })),
  to: Type.Optional(Type.String({ format: 'date-time', description: 'end (exclusive), ISO-8601; default: now' })),
};
const Page = {
  limit: Type.Integer({ minimum: 1, maximum: 500, default: 100 }),
  cursor: Type.Optional(Type.String({ description: 'the `next` of the previous page' })),
};

export const RejectionsQuery = Type.Object(
  {
    ...Range,
    offerId: Type.Optional(CatalogKey),
    subId: Type.Optional(Type.String({ maxLength: 256 })),
    kind: Type.Optional(StringEnum(['click', 'conversion'] as const)),
    ...Page,
  },
  { additionalProperties: false },
);

const statsQuery = <const G extends readonly string[]>(groups: G) =>
  Type.Object(
    {
      ...Range,
      interval: Type.Optional(StringEnum(['hour', 'day'] as const, 'bucket size; default day')),
      groupBy: Type.Optional(StringEnum(groups, 'default none')),
      offerId: Type.Optional(CatalogKey),
    },
    { additionalProperties: false },
  );
export const PublisherStatsQuery = statsQuery(['none', 'offer', 'sub_id'] as const);
export const AdvertiserStatsQuery = statsQuery(['none', 'offer', 'publisher', 'sub_id'] as const);
export const NetworkStatsQuery = statsQuery(['none', 'offer', 'publisher', 'advertiser', 'sub_id'] as const);

/** `groupBy` values to rollup dimensions. */
export const GROUP_DIMENSIONS = {
  none: [],
  offer: ['offer_id'],
  sub_id: ['publisher_id', 'sub_id'],
  publisher: ['publisher_id'],
  advertiser: ['advertiser_id'],
} as const;

export const DecisionsQuery = Type.Object(
  {
    ...Range,
    status: Type.Optional(StringEnum(['approved', 'rejected', 'hold'] as const)),
    offerId: Type.Optional(CatalogKey),
    publisherId: Type.Optional(CatalogKey),
    ...Page,
  },
  { additionalProperties: false },
);

export const QueueQuery = Type.Object(
  { advertiserId: Type.Optional(CatalogKey), publisherId: Type.Optional(CatalogKey), ...Page },
  { additionalProperties: false },
);

export const ReviewActionsQuery = Type.Object(
  {
    conversionId: Type.Optional(Type.String({ minLength: 1, maxLength: 64 })),
    actor: Type.Optional(Type.String({ maxLength: 64, description: 'the id of the API key that acted' })),
    ...Page,
  },
  { additionalProperties: false },
);

export const ReviewInput = Type.Object(
  {
    decisions: Type.Array(
      Type.Object(
        { conversionId: Type.String({ minLength: 1, maxLength: 64 }), status: StringEnum(['approved', 'rejected'] as const) },
        { additionalProperties: false },
      ),
      { minItems: 1, maxItems: 500 },
    ),
    // It becomes each decision's feedback reason: the same limit, or the note would be audited and then refused.
    note: Type.Optional(FeedbackInput.properties.reason),
  },
  { additionalProperties: false },
);

export const WebhookInput = Type.Object(
  {
    /** Where decisions are POSTed; null removes the webhook. */
    url: Type.Union([Type.String({ pattern: '^https?://', maxLength: 2048 }), Type.Null()]),
    /** A new signing secret (the old one stops working at once). */
    rotateSecret: Type.Optional(Type.Boolean()),
  },
  { additionalProperties: false },
);

const MAX_RANGE_DAYS = 400;

/** Defaults and bounds of a time range: 7 days back, at most 400 days wide; 400 otherwise. */
export function range(q: { from?: string; to?: string }): { from: Date; to: Date } {
  const to = q.to ? new Date(q.to) : new Date();
  const from = q.from ? new Date(q.from) : new Date(to.getTime() - 7 * 86_400_000);
  if (from >= to) throw invalid('from', 'must be before to');
  if (to.getTime() - from.getTime() > MAX_RANGE_DAYS * 86_400_000) throw invalid('from', `is more than ${MAX_RANGE_DAYS} days before to`);
  return { from, to };
}

/** A 400 naming one field. */
export function invalidField(field: string, message: string): BadRequestException {
  return invalid(field, message);
}

function invalid(field: string, message: string): BadRequestException {
  return new BadRequestException({ error: 'validation_failed', message: `${field} ${message}`, errors: [{ field, message }] });
}
