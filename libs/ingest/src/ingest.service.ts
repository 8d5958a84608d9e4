import { Inject, Injectable } from '@nestjs/common';
import type { JetStreamManager } from '@nats-io/jetstream';
import { ARBITER_CONFIG, ArbiterConfig } from '@app/config';
import { ClickEvent, ConversionEvent, EventKind, FieldError, Topology } from '@app/contracts';
import { CatalogCache } from '@app/catalog';
import { EventNormalizer } from './normalizer';
import { SenderIdentity, TrustOptions, applyTrust } from './trust';
import { ITEMS_PER_MESSAGE, JETSTREAM_MANAGER, JetStreamPublisher, Outgoing, PublishError, batchMessages } from '@app/messaging';
import { componentLogger, metrics } from '@app/observability';

export type ItemResult =
  | { index: number; status: 'accepted'; id: string; duplicate: boolean }
  | { index: number; status: 'rejected'; errors: FieldError[] }
  | { index: number; status: 'failed'; id: string; error: string };

/** A partner's click or conversion as the gateway stores it on EVENTS (feedback has its own path). */
type IngestedEvent = ClickEvent | ConversionEvent;

/** How long the stream's max_msg_size is taken as read; a message refused for its size reads it again. */
const STREAM_LIMIT_TTL_MS = 30_000;

/** A message to publish and the events it answers for. */
interface Pending {
  message: Outgoing;
  events: Valid[];
}

/** An event that passed validation and trust; `minted`: the engine gave it its id. */
interface Valid {
  index: number;
  event: IngestedEvent;
  minted: boolean;
}

/**
 * Validates events, completes them (id, time, partition, IP country) and stores them on the
 * EVENTS stream. An event counts as accepted only once JetStream has acknowledged it (the message
 * that carries it). A sender's own id, scoped to that sender (`applyTrust`), is the stream's
 * de-duplication key, so a re-sent event is stored once and answered `duplicate`; events whose ids
 * the engine minted travel several to a message.
 */
@Injectable()
export class IngestService {
  private readonly normalizer: EventNormalizer;
  private readonly trust: TrustOptions;
  private readonly log = componentLogger('ingest');
  /** The EVENTS stream's max_msg_size (Infinity: none), as last read. */
  private streamLimit?: { bytes: Promise<number>; at: number };

  constructor(
    @Inject(ARBITER_CONFIG) config: ArbiterConfig,
    private readonly publisher: JetStreamPublisher,
    private readonly topology: Topology,
    private readonly catalog: CatalogCache,
    @Inject(JETSTREAM_MANAGER) private readonly jsm: JetStreamManager,
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
      const raw = items[index] as { ts?: unknown; id?: unknown } | null;
      const sent = { ts: raw?.ts !== undefined, id: raw?.id !== undefined };
      const trusted = n.ok
        ? applyTrust(n.event as ClickEvent | ConversionEvent, from, sent, this.trust, (id) => this.catalog.offer(id))
        : n;
      // Minted: the sender gave no id (a click's idMinted; a conversion's id is minted the same way).
      if (trusted.ok) valid.push({ index, event: trusted.event, minted: !sent.id });
      else results[index] = { index, status: 'rejected', errors: trusted.errors };
    });
    return this.store(kind, items.length, valid, results);
  }

  private async store(kind: EventKind, count: number, valid: Valid[], results: ItemResult[]): Promise<ItemResult[]> {
    if (count - valid.length) metrics.eventsRejected.labels(kind).inc(count - valid.length);

    let pending = this.messages(kind, valid, await this.batchBytes());
    while (pending.length) {
      const acks = await this.publisher.publishEach(pending.map((m) => m.message));
      const again: Pending[] = [];
      acks.forEach((ack, i) => {
        const { message, events } = pending[i];
        // Refused for its size (a limit lowered since it was read): its events in halves, down to
        // one a message, which is what each would have been without batching. They land after the
        // request's later messages of their partition: only while the limit is being read again.
        if (ack.status === 'rejected' && events.length > 1 && ack.reason instanceof PublishError && ack.reason.tooLarge) {
          this.streamLimit = undefined;
          const half = Math.ceil(events.length / 2);
          for (const part of [events.slice(0, half), events.slice(half)]) again.push(...this.group(kind, message.subject, part, Infinity));
          return;
        }
        // A batch message is stored whole or not at all: its ack answers for each of its events.
        if (ack.status === 'fulfilled') {
          for (const { index, event } of events)
            results[index] = { index, status: 'accepted', id: event.id, duplicate: ack.value.duplicate };
          metrics.eventsIngested.labels(kind, String(ack.value.duplicate)).inc(events.length);
        } else {
          // EVENTS full (discard new: nothing stored is ever dropped for room) or JetStream unavailable:
          // the sender is told to send them again (503 with Retry-After), and it is counted.
          this.log.warn({ err: ack.reason, eventId: events[0].event.id, events: events.length, kind }, 'could not store event');
          metrics.eventsFailed.labels(kind).inc(events.length);
          for (const { index, event } of events)
            results[index] = { index, status: 'failed', id: event.id, error: 'the event store is unavailable; send it again later' };
        }
      });
      pending = again;
    }
    return results;
  }

  /**
   * The largest batch message body the limits in force take: the connected server's max_payload and
   * the EVENTS stream's max_msg_size, and MAX_BATCH_BYTES. A message refused for its size anyway (a
   * limit lowered since it was read) is split again (`store`); a raised limit is seen within
   * STREAM_LIMIT_TTL_MS (meanwhile messages are only smaller than they could be).
   */
  private async batchBytes(): Promise<number> {
    const now = Date.now();
    if (!this.streamLimit || now - this.streamLimit.at > STREAM_LIMIT_TTL_MS) {
      const bytes = this.jsm.streams.info(this.topology.streams.events).then(
        (info) => (info.config.max_msg_size > 0 ? info.config.max_msg_size : Infinity),
        // Not readable now: the server's limit alone; a refusal for size still splits.
        () => Infinity,
      );
      this.streamLimit = { bytes, at: now };
    }
    return this.publisher.maxBatchBytes(await this.streamLimit.bytes);
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
  private messages(kind: EventKind, valid: readonly Valid[], maxBytes: number): Pending[] {
    const groups: { subject: string; events: Valid[] }[] = [];
    /** Per subject, the group of minted events still taking more. */
    const open = new Map<string, { subject: string; events: Valid[] }>();
    for (const v of valid) {
      const subject = this.topology.event(kind, v.event.partition);
      if (!v.minted) {
        groups.push({ subject, events: [v] });
        // The partition's events reach the stream in request order (which event DUPLICATE_CLICK,
        // IP_VELOCITY or DUPLICATE_CONVERSION flags depends on it): minted events after this one
        // start a new message instead of joining one stored before it.
        open.delete(subject);
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
    return groups.flatMap(({ subject, events }) => this.group(kind, subject, events, maxBytes));
  }

  /** The messages of one group of `subject`, bodies under `maxBytes`, each with the events it covers. */
  private group(kind: EventKind, subject: string, events: Valid[], maxBytes: number): Pending[] {
    const messages = batchMessages(
      subject,
      events.map(({ event }) => ({ payload: event, msgId: `${kind}:${event.id}` })),
      ITEMS_PER_MESSAGE,
      maxBytes,
    );
    // Each message covers the next `items` events of its group (one unless it is a batch).
    let next = 0;
    return messages.map((message) => ({ message, events: events.slice(next, (next += message.items ?? 1)) }));
  }
}
