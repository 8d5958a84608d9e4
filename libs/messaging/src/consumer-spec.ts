import {
  ClickEvent,
  ClickVerdict,
  ConsumerName,
  ConversionEvent,
  Decision,
  FeedbackEvent,
  StoredClickVerdict,
  Topology,
  compiled,
  decodeOutcomeItem,
  isOutcomeItemsBody,
  outcomeItemsBody,
  outcomeItemTexts,
} from '@app/contracts';
import type { ArbiterConfig } from '@app/config';
import { WEBHOOK_DELIVERY_SLOTS, ownedPartitions } from '@app/config';
import { TSchema } from '@sinclair/typebox';
import { PoisonMessageError } from './errors';
import { ITEMS_PER_MESSAGE, isBatchBody } from './batch';

/** A durable pull consumer and how its messages are decoded. */
export interface ConsumerSpec<T = unknown> {
  name: ConsumerName;
  stream: string;
  durable: string;
  filterSubject: string;
  /** Messages per handler call at most. */
  batch: number;
  /** Handler calls in flight at once (1 keeps the stream order). */
  concurrency: number;
  ackWaitMs: number;
  maxAckPending: number;
  decode(subject: string, data: Uint8Array): T;
  /**
   * Decodes a batch message (one with the `Arbiter-Items` header) into its items, each checked on its
   * own; absent, such a message is poison. Throws PoisonMessageError when the message as a whole is.
   */
  decodeItems?(subject: string, data: Uint8Array): DecodedItem<T>[];
  /**
   * Bytes of messages received and not yet handled that the runner holds at most (about: plus one
   * pull's worth, a quarter of it). max_ack_pending counts messages, and a batch message is up to
   * MAX_BATCH_BYTES: without this, a backlog of large ones filled the queue with up to
   * max_ack_pending × 256 KiB. Unset: bounded by max_ack_pending alone.
   */
  maxQueueBytes?: number;
  /** Where a message that cannot be handled goes; default `<root>.dlq.<durable>`. */
  deadLetterSubject?(subject: string): string;
}

/**
 * One item of a batch message: its checked value, or why it is poison. `raw` is the item as it came
 * (its dead letter carries it alone), `id` its own message id when it can be read.
 */
/** `body`: the item's dead-letter body when `raw` is not the item's JSON (an outcome item that does not parse). */
export type DecodedItem<T> =
  { value: T; raw: unknown; id?: string } | { error: PoisonMessageError; raw: unknown; id?: string; body?: string };

const decoder = new TextDecoder();

function parseJson(data: Uint8Array): unknown {
  try {
    return JSON.parse(decoder.decode(data));
  } catch (e) {
    throw new PoisonMessageError(`not JSON: ${(e as Error).message}`);
  }
}

function checkAgainst<T>(schema: TSchema, parsed: unknown): T {
  const checked = compiled(schema).check(parsed);
  if (!checked.ok) {
    throw new PoisonMessageError(`contract violation: ${checked.errors.map((x) => `${x.field || '(event)'} ${x.message}`).join('; ')}`);
  }
  return checked.value as T;
}

function contractFor(schemaFor: (subject: string) => TSchema | null, subject: string): TSchema {
  const schema = schemaFor(subject);
  if (!schema) throw new PoisonMessageError(`no contract for subject ${subject}`);
  return schema;
}

/** Parses JSON and checks it against the schema chosen by the subject; throws PoisonMessageError. */
export function jsonDecoder<T>(schemaFor: (subject: string) => TSchema | null): (subject: string, data: Uint8Array) => T {
  return (subject, data) => checkAgainst<T>(contractFor(schemaFor, subject), parseJson(data));
}

/**
 * Decodes a JSON array of items, or a body of outcome items (`outcomeItemsBody`), each checked
 * against the subject's schema on its own: one bad item is poison alone (DESIGN §9), its neighbours
 * go through. `idOf` names an item for its dead letter, which carries the item as JSON (the single
 * shape, replayable to any consumer), or, for an outcome item that does not parse, as a body of that
 * one item (replayable to a consumer of outcome items).
 */
export function jsonItemsDecoder<T>(
  schemaFor: (subject: string) => TSchema | null,
  idOf: (item: Record<string, unknown>) => string | undefined,
): (subject: string, data: Uint8Array) => DecodedItem<T>[] {
  return (subject, data) => {
    const schema = contractFor(schemaFor, subject);
    if (isOutcomeItemsBody(data)) return outcomeItems<T>(schema, idOf, data);
    const parsed = parseJson(data);
    if (!Array.isArray(parsed)) throw new PoisonMessageError('a batch message must be a JSON array');
    return parsed.map((raw: unknown) => {
      const id = raw && typeof raw === 'object' ? idOf(raw as Record<string, unknown>) : undefined;
      try {
        return { value: checkAgainst<T>(schema, raw), raw, id };
      } catch (e) {
        return { error: e as PoisonMessageError, raw, id };
      }
    });
  };
}

function outcomeItems<T>(schema: TSchema, idOf: (item: Record<string, unknown>) => string | undefined, data: Uint8Array): DecodedItem<T>[] {
  return outcomeItemTexts(decoder.decode(data)).map((text): DecodedItem<T> => {
    let raw: Record<string, unknown>;
    try {
      raw = decodeOutcomeItem(text);
    } catch (e) {
      // Dead-lettered as a body of this one item, as it came: a replay reads it as an item again (as a
      // JSON string it would only ever fail the contract). It has no id: `idOf` needs the parsed item.
      return { error: new PoisonMessageError(`not an outcome item: ${(e as Error).message}`), raw: text, body: outcomeItemsBody([text]) };
    }
    const id = idOf(raw);
    try {
      return { value: checkAgainst<T>(schema, raw), raw, id };
    } catch (e) {
      return { error: e as PoisonMessageError, raw, id };
    }
  });
}

/** An outcome's own message id: what JetStream de-duplicated it by when it travelled alone. */
export function outcomeMessageId(o: Record<string, unknown>): string | undefined {
  if (o.kind === 'click' && typeof o.clickId === 'string') return `verdict:${o.clickId}`;
  if (o.kind === 'conversion' && typeof o.conversionId === 'string') return `decision:${o.conversionId}:${o.revision}`;
  return undefined;
}

/** An event's own message id: what JetStream de-duplicates it by when it travels alone (`<kind>:<id>`). */
export function eventMessageId(e: Record<string, unknown>): string | undefined {
  return typeof e.kind === 'string' && typeof e.id === 'string' ? `${e.kind}:${e.id}` : undefined;
}

/**
 * Every item of a message as the runner hands them to `spec`'s handler: one for a single message,
 * each item (or why it is poison) for a batch message. For readers of a stream outside the runner
 * (the scorer's rebuild of its windows). Throws PoisonMessageError when the message as a whole is.
 */
export function decodeMessage<T>(spec: ConsumerSpec<T>, subject: string, data: Uint8Array): DecodedItem<T>[] {
  if (!spec.decodeItems || !isBatchBody(data)) {
    const value = spec.decode(subject, data);
    return [{ value, raw: value }];
  }
  return spec.decodeItems(subject, data);
}

export type StoredEvent = ClickEvent | ConversionEvent | FeedbackEvent;
/** What the recorder reads from VERDICTS: click verdicts with their reasons as stored (`StoredReason`), decisions whole. */
export type StoredOutcome = StoredClickVerdict | Decision;

/**
 * max_ack_pending for a consumer of batch messages. It counts messages, and what is pending may all
 * wait in the runner's queue: with messages a quarter full on average, about `items` items stay in
 * memory, as many as the single-message bound allowed (a full backlog holds four times that).
 */
function batchedAckPending(items: number): number {
  return Math.max(64, Math.ceil(items / (ITEMS_PER_MESSAGE / 4)));
}

/**
 * max_ack_pending for a consumer of EVENTS, which carries both shapes: an event with its sender's id
 * alone, the events of a request with minted ids ITEMS_PER_MESSAGE to a message. Two handler calls
 * of single events per slot keep the handler fed; a backlog of batch messages holds up to
 * ITEMS_PER_MESSAGE times as many events in the runner's queue (about 40 kB a message).
 */
function eventsAckPending(batch: number, concurrency: number): number {
  return batch * concurrency * 2;
}

/**
 * What a runner of batch messages holds queued, in bytes (`maxQueueBytes`): some 300 full messages of
 * ordinary events (about 50 kB for 100), tens of handler calls ahead; 64 of the largest.
 */
export const BATCH_QUEUE_BYTES = 16 * 1024 * 1024;

/** Every durable consumer of the engine, by the handler name that binds to it. */
export function consumerSpecs(topology: Topology, config: ArbiterConfig): Map<ConsumerName, ConsumerSpec[]> {
  const eventSchema = (subject: string): TSchema | null => {
    const kind = topology.kindOf(subject);
    return kind === 'click' ? ClickEvent : kind === 'conversion' ? ConversionEvent : kind === 'feedback' ? FeedbackEvent : null;
  };
  // The recorder's: a click verdict's reasons may come without what the catalogue gives back (the
  // scorer's `storedReasons`); anything else `ClickVerdict` refuses is refused.
  const storedOutcomeSchema = (subject: string): TSchema | null =>
    subject === topology.verdict('click') ? StoredClickVerdict : subject === topology.verdict('conversion') ? Decision : null;
  const outcomeSchema = (subject: string): TSchema | null =>
    subject === topology.verdict('click') ? ClickVerdict : subject === topology.verdict('conversion') ? Decision : null;
  const base = { ackWaitMs: 30_000 };

  return new Map<ConsumerName, ConsumerSpec[]>([
    [
      ConsumerName.ScorerEvents,
      // One durable per partition; a scorer owns some of them. Concurrency 1: windows need order.
      ownedPartitions(config).map((p) => ({
        ...base,
        name: ConsumerName.ScorerEvents,
        stream: topology.streams.events,
        durable: `scorer-p${p}`,
        filterSubject: topology.partitionEvents(p),
        // Items per handler call: the runner counts a batch message's items.
        batch: config.SCORER_BATCH,
        concurrency: 1,
        maxAckPending: eventsAckPending(config.SCORER_BATCH, 1),
        decode: jsonDecoder<StoredEvent>(eventSchema),
        decodeItems: jsonItemsDecoder<StoredEvent>(eventSchema, eventMessageId),
        maxQueueBytes: BATCH_QUEUE_BYTES,
      })),
    ],
    [
      ConsumerName.RecorderEvents,
      [
        {
          ...base,
          name: ConsumerName.RecorderEvents,
          stream: topology.streams.events,
          durable: 'recorder-events',
          filterSubject: topology.allEvents,
          // Items per handler call: the runner counts a batch message's items.
          batch: config.RECORDER_BATCH,
          concurrency: config.RECORDER_CONCURRENCY,
          maxAckPending: eventsAckPending(config.RECORDER_BATCH, config.RECORDER_CONCURRENCY),
          decode: jsonDecoder<StoredEvent>(eventSchema),
          decodeItems: jsonItemsDecoder<StoredEvent>(eventSchema, eventMessageId),
          maxQueueBytes: BATCH_QUEUE_BYTES,
        },
      ],
    ],
    [
      ConsumerName.RecorderVerdicts,
      [
        {
          ...base,
          name: ConsumerName.RecorderVerdicts,
          stream: topology.streams.verdicts,
          durable: 'recorder-verdicts',
          filterSubject: topology.allVerdicts,
          // Items per handler call: the runner counts a batch message's items.
          batch: config.RECORDER_BATCH,
          concurrency: config.RECORDER_CONCURRENCY,
          maxAckPending: batchedAckPending(config.RECORDER_BATCH * config.RECORDER_CONCURRENCY * 4),
          decode: jsonDecoder<StoredOutcome>(storedOutcomeSchema),
          decodeItems: jsonItemsDecoder<StoredOutcome>(storedOutcomeSchema, outcomeMessageId),
          maxQueueBytes: BATCH_QUEUE_BYTES,
        },
      ],
    ],
    [
      ConsumerName.NotifierDecisions,
      [
        {
          ...base,
          name: ConsumerName.NotifierDecisions,
          stream: topology.streams.verdicts,
          durable: 'notifier-decisions',
          filterSubject: topology.verdict('conversion'),
          batch: 200,
          concurrency: 1,
          maxAckPending: batchedAckPending(2000),
          decode: jsonDecoder<Decision>(outcomeSchema),
          decodeItems: jsonItemsDecoder<Decision>(outcomeSchema, outcomeMessageId),
          maxQueueBytes: BATCH_QUEUE_BYTES,
        },
      ],
    ],
    [
      ConsumerName.NotifierWebhooks,
      [
        {
          // Each delivery waits on an HTTP call: many at once, one message per call.
          ackWaitMs: 60_000,
          name: ConsumerName.NotifierWebhooks,
          stream: topology.streams.webhooks,
          durable: 'notifier-webhooks',
          filterSubject: topology.allWebhooks,
          batch: 1,
          concurrency: WEBHOOK_DELIVERY_SLOTS,
          maxAckPending: 1000,
          decode: jsonDecoder<Decision>(() => Decision),
          // `<root>.webhooks.<advertiser>` → `<root>.webhook-dlq.<advertiser>` (and `….publisher.<publisher>`
          // for partner postbacks): replayable per advertiser and per publisher.
          deadLetterSubject: (subject) => topology.webhookDeadLetterOf(subject),
        },
      ],
    ],
  ]);
}

/** Every durable consumer of the engine (all scorer partitions, whoever owns them): the consumers a dead letter can be replayed to. */
export function engineDurables(topology: Topology, config: ArbiterConfig): Set<string> {
  const all = consumerSpecs(topology, { ...config, SCORER_PARTITIONS: 'all' });
  return new Set([...all.values()].flat().map((s) => s.durable));
}
