import { Static, Type } from '@sinclair/typebox';
import { EventId, IdMinted, StringEnum, Timestamp } from './events.schema';
import { ALL_REASON_CODES } from './reason-codes';

type EvidenceScalar = string | number | boolean | null;
const SCALAR_TYPES = ['string', 'number', 'boolean', 'null'];
/**
 * A union of JSON types as one `type` list rather than an `anyOf` of one branch per type: the
 * same values pass, but ajv tried each branch and built an error object for every branch that
 * failed (a MODEL_RISK reason's table of contributions cost 14 µs to validate in every consumer).
 */
const EvidenceRow = Type.Record(Type.String(), Type.Unsafe<EvidenceScalar>({ type: SCALAR_TYPES }));
type EvidenceRow = Static<typeof EvidenceRow>;

/** One rule that fired, with the numbers that made it fire. */
export const Reason = Type.Object(
  {
    code: StringEnum(ALL_REASON_CODES),
    category: StringEnum(['GIVT', 'SIVT'] as const),
    severity: StringEnum(['low', 'medium', 'high', 'critical'] as const),
    message: Type.String(),
    /** The numbers that made it fire: plain values, or a small table of rows (MODEL_RISK's `contributions`). */
    evidence: Type.Record(
      Type.String(),
      Type.Unsafe<EvidenceScalar | EvidenceRow[]>({ type: [...SCALAR_TYPES, 'array'], items: EvidenceRow }),
    ),
    /** Recorded for analysis, did not change the outcome (rule set in monitor mode). */
    monitorOnly: Type.Boolean(),
  },
  { additionalProperties: false },
);

/**
 * A reason as VERDICTS carries it to the recorder and the click_verdicts table keeps it (since
 * 2026-12-04): whole, or without its category and message (and MODEL_RISK's `drivers`) when the
 * reason-code catalogue gives them back from the code and evidence (`storedReasons` and
 * `fullReasons`, `stored-reasons.ts`). Category and message are both there or both left out: a
 * reason with only one of them is refused, as `Reason` refuses it.
 */
export const StoredReason = Type.Object(
  {
    code: Reason.properties.code,
    category: Type.Optional(Reason.properties.category),
    severity: Reason.properties.severity,
    message: Type.Optional(Reason.properties.message),
    evidence: Reason.properties.evidence,
    monitorOnly: Reason.properties.monitorOnly,
  },
  { additionalProperties: false, dependencies: { category: ['message'], message: ['category'] } },
);

const Nullable = <T extends Parameters<typeof Type.Union>[0][number]>(t: T) => Type.Union([t, Type.Null()]);

const common = {
  /** Time of the event the outcome is about (partitions the tables). */
  ts: Timestamp,
  advertiserId: Nullable(Type.String()),
  subId: Nullable(Type.String()),
  score: Type.Number({ minimum: 0, maximum: 1 }),
  reasons: Type.Array(Reason),
  rulesetVersion: Type.String(),
  modelVersion: Nullable(Type.String()),
  /** The active model's fraud probability (null without a model). */
  modelScore: Nullable(Type.Number({ minimum: 0, maximum: 1 })),
  /** A candidate model scored beside the active one, without deciding. */
  shadowModelVersion: Nullable(Type.String()),
  shadowScore: Nullable(Type.Number({ minimum: 0, maximum: 1 })),
  decidedAt: Timestamp,
  /** Event receive time to decision, in milliseconds. */
  latencyMs: Type.Number({ minimum: 0 }),
};

/** The scorer's outcome for one click. */
export const ClickVerdict = Type.Object(
  {
    kind: Type.Literal('click'),
    clickId: EventId,
    /** The click's id was minted by the engine (its `idMinted`): the verdict is idempotent on (clickId, ts). */
    idMinted: Type.Optional(IdMinted),
    offerId: Type.String(),
    publisherId: Type.String(),
    valid: Type.Boolean(),
    category: Nullable(StringEnum(['GIVT', 'SIVT'] as const)),
    ...common,
  },
  { additionalProperties: false },
);

/** A click verdict as the recorder reads it from VERDICTS: its reasons as stored (`StoredReason`). */
export const StoredClickVerdict = Type.Object(
  { ...ClickVerdict.properties, reasons: Type.Array(StoredReason) },
  { additionalProperties: false },
);

export const DecisionStatus = StringEnum(['approved', 'rejected', 'hold'] as const);

/** The validation decision for one conversion, as advertisers receive it. */
export const Decision = Type.Object(
  {
    kind: Type.Literal('conversion'),
    conversionId: EventId,
    clickId: EventId,
    /** Null when neither the conversion nor a known click names them. */
    offerId: Nullable(Type.String()),
    publisherId: Nullable(Type.String()),
    status: DecisionStatus,
    /** The sale amount the advertiser reported. */
    amount: Type.Number(),
    /** What the advertiser owes the network for it, computed by the network from the offer (DESIGN §7). */
    revenue: Type.Number(),
    /** What the network owes the publisher for it, computed by the network (offer or publisher terms). */
    payout: Type.Number(),
    currency: Type.String(),
    /** Click-to-install/conversion time in seconds; null when the click is unknown. */
    ctitSeconds: Nullable(Type.Number()),
    /** 0 for the first decision; each later change (hold resolved, feedback, analyst) adds one. */
    revision: Type.Integer({ minimum: 0 }),
    previousStatus: Nullable(DecisionStatus),
    /** Who made this revision. */
    resolvedBy: StringEnum(['engine', 'timer', 'advertiser', 'analyst'] as const),
    /** When a hold resolves by itself unless new evidence or a person decides first. */
    holdUntil: Nullable(Timestamp),
    /** The analyst's or advertiser's note on a manual change. */
    note: Nullable(Type.String({ maxLength: 1000 })),
    /** Who made a manual change: the API key id (null for the engine and timers). */
    actor: Nullable(Type.String({ maxLength: 128 })),
    /**
     * The feedback event (its id: as `POST /v1/feedback` answered it, or minted for a review-queue
     * decision) that made this revision; only on revisions made by feedback. Stored with the revision,
     * so a feedback is applied once per conversion even after a scorer restart.
     */
    feedbackId: Type.Optional(EventId),
    /** Scorer partition that owns the conversion (of its click). */
    partition: Type.Integer({ minimum: 0 }),
    ...common,
  },
  { additionalProperties: false },
);

export type Reason = Static<typeof Reason>;
export type StoredReason = Static<typeof StoredReason>;
export type StoredClickVerdict = Static<typeof StoredClickVerdict>;
export type ClickVerdict = Static<typeof ClickVerdict>;
export type Decision = Static<typeof Decision>;
export type DecisionStatus = Static<typeof DecisionStatus>;
export type Outcome = ClickVerdict | Decision;
export type ResolvedBy = Decision['resolvedBy'];
