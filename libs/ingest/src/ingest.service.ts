import { Inject, Injectable } from '@nestjs/common';
import { ARBITER_CONFIG, ArbiterConfig } from '@app/config';
import { ClickEvent, ConversionEvent, EventKind, FieldError, Topology } from '@app/contracts';
import { CatalogCache } from '@app/catalog';
import { EventNormalizer } from './normalizer';
import { SenderIdentity, TrustOptions, applyTrust } from './trust';
import { JetStreamPublisher } from '@app/messaging';
import { componentLogger, metrics } from '@app/observability';

export type ItemResult =
  | { index: number; status: 'accepted'; id: string; duplicate: boolean }
  | { index: number; status: 'rejected'; errors: FieldError[] }
  | { index: number; status: 'failed'; id: string; error: string };

/** A partner's click or conversion as the gateway stores it on EVENTS (feedback has its own path). */
type IngestedEvent = ClickEvent | ConversionEvent;

/**
 * Validates events, completes them (id, time, partition, IP country) and stores them on the
 * EVENTS stream. An event counts as accepted only once JetStream has acknowledged it; its id is
 * the stream's de-duplication key, so a re-sent event is stored once.
 */
@Injectable()
export class IngestService {
  private readonly normalizer: EventNormalizer;
  private readonly trust: TrustOptions;
  private readonly log = componentLogger('ingest');

  constructor(
    @Inject(ARBITER_CONFIG) config: ArbiterConfig,
    private readonly publisher: JetStreamPublisher,
    private readonly topology: Topology,
    private readonly catalog: CatalogCache,
  ) {
    this.normalizer = new EventNormalizer({
      partitions: config.ARBITER_PARTITIONS,
      maxFutureSkewMs: config.GATEWAY_MAX_FUTURE_SKEW_SECONDS * 1000,
    });
    this.trust = { maxReportedAgeMs: config.GATEWAY_MAX_REPORTED_AGE_SECONDS * 1000 };
  }

  /** Clicks and conversions from `from`, checked against what that sender may assert (DESIGN §3a). */
  async ingest(kind: 'click' | 'conversion', items: readonly unknown[], receivedAt: Date, from: SenderIdentity): Promise<ItemResult[]> {
    const results: ItemResult[] = new Array(items.length);
    const valid: { index: number; event: IngestedEvent }[] = [];
    const normalized = items.map((raw) => this.normalizer.normalize(kind, raw, receivedAt));
    if (from.sender === 'advertiser' || from.sender === 'pixel') {
      const offers = normalized.flatMap((n) => (n.ok && n.event.kind === 'conversion' && n.event.offerId ? [n.event.offerId] : []));
      if (offers.length) await this.catalog.resolve({ offers });
    }
    normalized.forEach((n, index) => {
      const raw = items[index];
      const reported = typeof raw === 'object' && raw !== null && (raw as { ts?: unknown }).ts !== undefined;
      const trusted = n.ok
        ? applyTrust(n.event as ClickEvent | ConversionEvent, from, reported, this.trust, (id) => this.catalog.offer(id))
        : n;
      if (trusted.ok) valid.push({ index, event: trusted.event });
      else results[index] = { index, status: 'rejected', errors: trusted.errors };
    });
    return this.store(kind, items.length, valid, results);
  }

  private async store(
    kind: EventKind,
    count: number,
    valid: { index: number; event: IngestedEvent }[],
    results: ItemResult[],
  ): Promise<ItemResult[]> {
    if (count - valid.length) metrics.eventsRejected.labels(kind).inc(count - valid.length);

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
