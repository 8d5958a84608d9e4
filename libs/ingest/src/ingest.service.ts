import { Inject, Injectable } from '@nestjs/common';
import { ARBITER_CONFIG, ArbiterConfig } from '@app/config';
import { ClickEvent, ConversionEvent, EventKind, FieldError, Topology } from '@app/contracts';
import { CatalogCache } from '@app/catalog';
import { EventNormalizer } from './normalizer';
import { SenderIdentity, TrustOptions, applyTrust } from './trust';
import { ITEMS_PER_MESSAGE, JetStreamPublisher, MAX_BATCH_BYTES, Outgoing, batchMessages } from '@app/messaging';
import { componentLogger, metrics } from '@app/observability';

export type ItemResult =
  | { index: number; status: 'accepted'; id: string; duplicate: boolean }
  | { index: number; status: 'rejected'; errors: FieldError[] }
  | { index: number; status: 'failed'; id: string; error: string };

/** A partner's click or conversion as the gateway stores it on EVENTS (feedback has its own path). */
type IngestedEvent = ClickEvent | ConversionEvent;

/** An event that passed validation and trust; `minted`: the engine gave it its id. */
interface Valid {
  index: number;
  event: IngestedEvent;
  minted: boolean;
}

/**
 * Validates events, completes them (id, time, partition, IP country) and stores them on the
 * EVENTS stream. An event counts as accepted only once JetStream has acknowledged it (the message
 * that carries it). A sender's own id is the stream's de-duplication key, so a re-sent event is
 * stored once and answered `duplicate`; events whose ids the engine minted travel several to a message.
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
    const valid: Valid[] = [];
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
      // Minted: the sender gave no id (a click's idMinted; a conversion's id is minted the same way).
      if (trusted.ok) valid.push({ index, event: trusted.event, minted: (raw as { id?: unknown }).id === undefined });
      else results[index] = { index, status: 'rejected', errors: trusted.errors };
    });
    return this.store(kind, items.length, valid, results);
  }

  private async store(kind: EventKind, count: number, valid: Valid[], results: ItemResult[]): Promise<ItemResult[]> {
    if (count - valid.length) metrics.eventsRejected.labels(kind).inc(count - valid.length);

    const messages = this.messages(kind, valid);
    const acks = await this.publisher.publishEach(messages.map((m) => m.message));
    acks.forEach((ack, i) => {
      // A batch message is stored whole or not at all: its ack answers for each of its events.
      for (const { index, event } of messages[i].events) {
        if (ack.status === 'fulfilled') {
          results[index] = { index, status: 'accepted', id: event.id, duplicate: ack.value.duplicate };
          metrics.eventsIngested.labels(kind, String(ack.value.duplicate)).inc();
        } else {
          this.log.warn({ err: ack.reason, eventId: event.id, kind }, 'could not store event');
          results[index] = { index, status: 'failed', id: event.id, error: 'the event store is unavailable; send it again later' };
        }
      }
    });
    return results;
  }

  /**
   * The messages that store `valid`, in the order of their first event. An event with its sender's
   * id travels alone under `<kind>:<id>`: JetStream's de-duplication answers a re-send `duplicate`,
   * exactly per event. Events whose id the engine minted cannot be re-sent (a fresh id is never a
   * duplicate), so per-event de-duplication buys nothing for them: they go ITEMS_PER_MESSAGE to a
   * message per subject (partition), whose msgId derives from their ids (`batchMessages`), and
   * per-message publish, ack and delivery cost is paid once for many (DESIGN §2: the wire unit may
   * be a batch of events). A lone minted event is a single message as before.
   */
  private messages(kind: EventKind, valid: readonly Valid[]): { message: Outgoing; events: Valid[] }[] {
    const groups: { subject: string; events: Valid[] }[] = [];
    /** Per subject, the group of minted events still taking more. */
    const open = new Map<string, { subject: string; events: Valid[] }>();
    for (const v of valid) {
      const subject = this.topology.event(kind, v.event.partition);
      if (!v.minted) {
        groups.push({ subject, events: [v] });
        continue;
      }
      let group = open.get(subject);
      if (!group || group.events.length === ITEMS_PER_MESSAGE) {
        group = { subject, events: [] };
        open.set(subject, group);
        groups.push(group);
      }
      group.events.push(v);
    }
    const out: { message: Outgoing; events: Valid[] }[] = [];
    for (const { subject, events } of groups) {
      const messages = batchMessages(
        subject,
        events.map(({ event }) => ({ payload: event, msgId: `${kind}:${event.id}` })),
        ITEMS_PER_MESSAGE,
        MAX_BATCH_BYTES,
      );
      // Each message covers the next `items` events of its group (one unless it is a batch).
      let next = 0;
      for (const message of messages) out.push({ message, events: events.slice(next, (next += message.items ?? 1)) });
    }
    return out;
  }
}
