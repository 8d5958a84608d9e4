import { Static, TSchema, TUnsafe, Type } from '@sinclair/typebox';

/** A string enum as a plain JSON-Schema `enum` (one clear error message, clean OpenAPI). */
export function StringEnum<const T extends readonly string[]>(values: T, description?: string): TUnsafe<T[number]> {
  return Type.Unsafe<T[number]>({ type: 'string', enum: [...values], ...(description ? { description } : {}) });
}

/**
 * The event contracts of DESIGN §3, written once. The same schemas validate HTTP input, every
 * message a NATS consumer decodes, the OpenAPI document and the TypeScript types.
 */

/** Printable ASCII without spaces: safe in URLs, NATS headers and log lines. */
export const EventId = Type.String({ pattern: '^[\\x21-\\x7E]{1,64}$', description: 'at most 64 printable ASCII characters, no spaces' });
export const Timestamp = Type.String({ format: 'date-time', description: 'ISO-8601 with a time zone' });
export const CountryCode = Type.String({ pattern: '^[A-Z]{2}$', description: 'ISO 3166-1 alpha-2' });
/**
 * Text PostgreSQL can store, for every string a sender writes (DESIGN §3a). A NUL (U+0000) is refused
 * by text columns and by jsonb, and a lone surrogate (U+D800-U+DFFF, unpaired; ajv's patterns are
 * Unicode, so a pair is one code point and passes) by jsonb. A sender's string reaches both: the
 * event's row, and a reason's evidence or message (the user agent's bot token, a sub-id). An event
 * carrying one would be accepted and then never recorded, nor its verdict, on every replay: a sender
 * could keep its own invalid traffic out of the record. So the contract refuses them, with a 400 that
 * names the field, before anything is stored or scored.
 */
const STORABLE = '\\x00\\uD800-\\uDFFF';
/** No control characters (CR/LF would split a header, a log line or a CSV row): ids become stats groups. */
export const CatalogId = Type.String({
  pattern: `^[^${STORABLE}\\x01-\\x1F\\x7F]{1,64}$`,
  description: 'at most 64 characters, no control characters, no unpaired surrogates',
});
/** Who sent an event, as the gateway authenticated it (DESIGN §3a); absent in files (trusted like the admin). */
export const Sender = StringEnum(
  ['admin', 'publisher', 'advertiser', 'link', 'pixel'] as const,
  'who sent the event: admin key, publisher key, advertiser key or postback token, the public tracking link, an open pixel',
);
export const Label = StringEnum(
  ['fraud', 'legit'] as const,
  'ground truth: only from the admin key (training and evaluation files, backfills)',
);
/** The simulator's name for how an event was generated (`human`, `click_flooding`, …); files only. */
export const Pattern = Type.String({
  pattern: '^[a-z][a-z0-9_]{0,39}$',
  description: 'generator pattern, only in simulator files (admin key)',
});
// Amounts are stored as numeric(16, 4): at most 12 integer digits. 1e12 itself has 13, so an
// event carrying it was accepted and then could never be written (dead-lettered: accepted, lost).
const Money = Type.Number({ minimum: 0, exclusiveMaximum: 1e12 });
/** Any text PostgreSQL can store: no NUL, no unpaired surrogates (see STORABLE). */
const Text = (max: number) =>
  Type.String({ maxLength: max, pattern: `^[^${STORABLE}]*$`, description: 'no NUL (U+0000), no unpaired surrogates' });
/** Text that becomes a grouping key (sub-ids, order ids): no control characters, no unpaired surrogates. */
const Plain = (max: number) => Type.String({ maxLength: max, pattern: `^[^${STORABLE}\\x01-\\x1F\\x7F]*$` });

export const SubIds = Type.Object(
  {
    sub1: Type.Optional(Plain(256)),
    sub2: Type.Optional(Plain(256)),
    sub3: Type.Optional(Plain(256)),
    sub4: Type.Optional(Plain(256)),
    sub5: Type.Optional(Plain(256)),
  },
  { additionalProperties: false },
);

/**
 * A click's own id; without one the engine mints `c<partition>.<uuidv7>`, a form only the engine may use, as is the
 * derived `s-…` (`scopedEventId`: the stored id of a partner's own id).
 */
const ClickId = Type.String({
  pattern: EventId.pattern,
  description:
    'at most 64 printable ASCII characters, no spaces; omit it and the engine mints one (c<partition>.<uuidv7>, a form senders may not use).' +
    " A publisher's own id is an id within that publisher: the stored id is derived from both (s-…, a form only the admin key may send)" +
    " and answered as the click's `id` (docs/trust.md)",
});

/** A conversion's own id: within its sender, as a click's (docs/trust.md). */
const ConversionId = Type.String({
  pattern: EventId.pattern,
  description:
    'at most 64 printable ASCII characters, no spaces; minted when absent. An id an advertiser (key or token) or an open pixel chooses is an' +
    ' id within that sender: the stored id is derived from both (s-…, a form only the admin key may send) and answered as the `id`' +
    ' (docs/trust.md)',
});

const clickFields = {
  id: Type.Optional(ClickId),
  ts: Type.Optional(Timestamp),
  offerId: CatalogId,
  publisherId: CatalogId,
  subId: Type.Optional(Plain(256)),
  subIds: Type.Optional(SubIds),
  /** Any string: malformed or private addresses are accepted and flagged by INVALID_IP. */
  ip: Text(64),
  /** Any string: an empty one is accepted and flagged by NON_BROWSER_CLIENT. */
  userAgent: Text(2048),
  referrer: Type.Optional(Text(2048)),
  deviceId: Type.Optional(Plain(128)),
  country: Type.Optional(CountryCode),
  label: Type.Optional(Label),
  pattern: Type.Optional(Pattern),
};

const conversionFields = {
  id: Type.Optional(ConversionId),
  ts: Type.Optional(Timestamp),
  clickId: EventId,
  offerId: Type.Optional(CatalogId),
  orderId: Type.Optional(Plain(128)),
  amount: Money,
  payout: Type.Optional(Money),
  currency: Type.Optional(Type.String({ pattern: '^[A-Z]{3}$' })),
  type: Type.Optional(Type.String({ pattern: '^[a-z][a-z0-9_]{0,31}$', description: 'sale, lead, install, …' })),
  ip: Type.Optional(Text(64)),
  userAgent: Type.Optional(Text(2048)),
  deviceId: Type.Optional(Plain(128)),
  country: Type.Optional(CountryCode),
  label: Type.Optional(Label),
  pattern: Type.Optional(Pattern),
};

const feedbackFields = {
  id: Type.Optional(EventId),
  ts: Type.Optional(Timestamp),
  conversionId: EventId,
  status: StringEnum(['approved', 'rejected'] as const),
  reason: Type.Optional(Text(500)),
};

/** A click as a partner sends it. */
export const ClickInput = Type.Object(clickFields, { additionalProperties: false });
/** A conversion as a partner sends it. */
export const ConversionInput = Type.Object(conversionFields, { additionalProperties: false });
/** An advertiser's or analyst's label on a conversion. */
export const FeedbackInput = Type.Object(feedbackFields, { additionalProperties: false });

/** What the gateway adds to every accepted event before it reaches the stream. */
const envelope = {
  id: EventId,
  ts: Timestamp,
  receivedAt: Timestamp,
  partition: Type.Integer({ minimum: 0 }),
};

/** Who sent it (the gateway sets it; absent in files, which only an admin replays). */
const provenance = {
  sender: Type.Optional(Sender),
  /** The publisher or advertiser whose key or token sent the event. */
  senderId: Type.Optional(CatalogId),
};

/**
 * Set (only ever `true`) when the engine minted the event's id. Such an id is new and is never
 * sent again by anyone: every later copy of the event is a redelivery of the same stream message,
 * with the same time, so the recorder makes it idempotent on its (id, ts) key alone, without the
 * idempotency ledger that ids chosen by senders need (DESIGN §6). No input schema admits it.
 */
export const IdMinted = Type.Literal(true, { description: 'the engine minted the id (set by the gateway, never by a sender)' });

/** A click as stored on the EVENTS stream: id, time and partition assigned, IP country derived. */
export const ClickEvent = Type.Object(
  {
    ...clickFields,
    ...envelope,
    ...provenance,
    idMinted: Type.Optional(IdMinted),
    /** The time a publisher reported, when it is not the engine's: live rules use the receipt (`ts`). */
    reportedTs: Type.Optional(Timestamp),
    kind: Type.Literal('click'),
    ipCountry: Type.Union([CountryCode, Type.Null()]),
  },
  { additionalProperties: false },
);
export const ConversionEvent = Type.Object(
  { ...conversionFields, ...envelope, ...provenance, kind: Type.Literal('conversion'), ipCountry: Type.Union([CountryCode, Type.Null()]) },
  { additionalProperties: false },
);
export const FeedbackEvent = Type.Object(
  {
    ...feedbackFields,
    ...envelope,
    kind: Type.Literal('feedback'),
    source: StringEnum(['advertiser', 'analyst'] as const),
    actor: Type.Optional(Text(128)),
    /** The conversion's click, when the gateway could look it up (routes feedback to its scorer). */
    clickId: Type.Optional(EventId),
  },
  { additionalProperties: false },
);
export const ArbiterEvent = Type.Union([ClickEvent, ConversionEvent, FeedbackEvent]);

/**
 * A feedback's identity: its id on its conversion. It is applied once by this key, live and
 * offline. The gateway derives a caller's own id from its tenant and the conversion already; a file
 * (an admin's) carries ids as written, and one used again on another conversion is a feedback there too.
 */
export function feedbackKey(f: { id: string; conversionId: string }): string {
  return `${f.conversionId}\u0000${f.id}`;
}

export type ClickInput = Static<typeof ClickInput>;
export type ConversionInput = Static<typeof ConversionInput>;
export type FeedbackInput = Static<typeof FeedbackInput>;
export type ClickEvent = Static<typeof ClickEvent>;
export type ConversionEvent = Static<typeof ConversionEvent>;
export type FeedbackEvent = Static<typeof FeedbackEvent>;
export type ArbiterEvent = Static<typeof ArbiterEvent>;
export type EventKind = ArbiterEvent['kind'];
export type Label = Static<typeof Label>;
export type Sender = Static<typeof Sender>;

/** Input schema per kind, for endpoints and files that say the kind separately. */
export const inputSchemas: Record<EventKind, TSchema> = {
  click: ClickInput,
  conversion: ConversionInput,
  feedback: FeedbackInput,
};
