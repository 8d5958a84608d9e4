import { Inject, Injectable } from '@nestjs/common';
import { ARBITER_CONFIG, ArbiterConfig } from '@app/config';
import { ClickEvent, ConversionEvent, EventKind, FeedbackEvent, FieldError, Topology } from '@app/contracts';
import { EventNormalizer } from '@app/ingest';
import { JetStreamPublisher } from '@app/messaging';
import { componentLogger, metrics } from '@app/observability';

export type ItemResult =
  | { index: number; status: 'accepted'; id: string; duplicate: boolean }
  | { index: number; status: 'rejected'; errors: FieldError[] }
  | { index: number; status: 'failed'; id: string; error: string };

export type StoredEvent = ClickEvent | ConversionEvent | FeedbackEvent;

/**
 * Validates events, completes them (id, time, partition, IP country) and stores them on the
 * EVENTS stream. An event counts as accepted only once JetStream has acknowledged it; its id is
 * the stream's de-duplication key, so a re-sent event is stored once.
 */
@Injectable()
export class IngestService {
  private readonly normalizer: EventNormalizer;
  private readonly log = componentLogger('ingest');

  constructor(
    @Inject(ARBITER_CONFIG) config: ArbiterConfig,
    private readonly publisher: JetStreamPublisher,
    private readonly topology: Topology,
  ) {
    this.normalizer = new EventNormalizer({
      partitions: config.ARBITER_PARTITIONS,
      maxFutureSkewMs: config.GATEWAY_MAX_FUTURE_SKEW_SECONDS * 1000,
    });
  }

  async ingest(
    kind: EventKind,
    items: readonly unknown[],
    receivedAt: Date,
    complete?: (e: StoredEvent) => StoredEvent,
  ): Promise<ItemResult[]> {
    const results: ItemResult[] = new Array(items.length);
    const valid: { index: number; event: StoredEvent }[] = [];
    items.forEach((raw, index) => {
      const normalized = this.normalizer.normalize(kind, raw, receivedAt);
      if (normalized.ok) valid.push({ index, event: complete ? complete(normalized.event) : normalized.event });
      else results[index] = { index, status: 'rejected', errors: normalized.errors };
    });
    if (items.length - valid.length) metrics.eventsRejected.labels(kind).inc(items.length - valid.length);

    const acks = await this.publisher.publishEach(
      valid.map(({ event }) => ({ subject: this.topology.event(kind, event.partition), payload: event, msgId: `${kind}:${event.id}` })),
    );
    acks.forEach((ack, i) => {
      const { index, event } = valid[i];
      if (ack.status === 'fulfilled') {
        results[index] = { index, status: 'accepted', id: event.id, duplicate: ack.value.duplicate };
        metrics.eventsIngested.labels(kind, String(ack.value.duplicate)).inc();
      } else {
        this.log.warn({ err: ack.reason, eventId: event.id, kind }, 'could not store event');
        results[index] = { index, status: 'failed', id: event.id, error: 'the event store is unavailable; send it again later' };
      }
    });
    return results;
  }
}
