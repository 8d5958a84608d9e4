import { ClickEvent, ClickVerdict, ConsumerName, ConversionEvent, Decision, FeedbackEvent, Topology, compiled } from '@app/contracts';
import type { ArbiterConfig } from '@app/config';
import { ownedPartitions } from '@app/config';
import { TSchema } from '@sinclair/typebox';
import { PoisonMessageError } from './errors';

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
  /** Where a message that cannot be handled goes; default `<root>.dlq.<durable>`. */
  deadLetterSubject?(subject: string): string;
}

const decoder = new TextDecoder();

/** Parses JSON and checks it against the schema chosen by the subject; throws PoisonMessageError. */
export function jsonDecoder<T>(schemaFor: (subject: string) => TSchema | null): (subject: string, data: Uint8Array) => T {
  return (subject, data) => {
    const schema = schemaFor(subject);
    if (!schema) throw new PoisonMessageError(`no contract for subject ${subject}`);
    let parsed: unknown;
    try {
      parsed = JSON.parse(decoder.decode(data));
    } catch (e) {
      throw new PoisonMessageError(`not JSON: ${(e as Error).message}`);
    }
    const checked = compiled(schema).check(parsed);
    if (!checked.ok) {
      throw new PoisonMessageError(`contract violation: ${checked.errors.map((x) => `${x.field || '(event)'} ${x.message}`).join('; ')}`);
    }
    return checked.value as T;
  };
}

export type StoredEvent = ClickEvent | ConversionEvent | FeedbackEvent;
export type StoredOutcome = ClickVerdict | Decision;

/** Every durable consumer of the engine, by the handler name that binds to it. */
export function consumerSpecs(topology: Topology, config: ArbiterConfig): Map<ConsumerName, ConsumerSpec[]> {
  const eventSchema = (subject: string): TSchema | null => {
    const kind = topology.kindOf(subject);
    return kind === 'click' ? ClickEvent : kind === 'conversion' ? ConversionEvent : kind === 'feedback' ? FeedbackEvent : null;
  };
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
        batch: config.SCORER_BATCH,
        concurrency: 1,
        maxAckPending: config.SCORER_BATCH * 8,
        decode: jsonDecoder<StoredEvent>(eventSchema),
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
          batch: config.RECORDER_BATCH,
          concurrency: config.RECORDER_CONCURRENCY,
          maxAckPending: config.RECORDER_BATCH * config.RECORDER_CONCURRENCY * 4,
          decode: jsonDecoder<StoredEvent>(eventSchema),
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
          batch: config.RECORDER_BATCH,
          concurrency: config.RECORDER_CONCURRENCY,
          maxAckPending: config.RECORDER_BATCH * config.RECORDER_CONCURRENCY * 4,
          decode: jsonDecoder<StoredOutcome>(outcomeSchema),
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
          maxAckPending: 2000,
          decode: jsonDecoder<Decision>(outcomeSchema),
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
          concurrency: 16,
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
