import { createHash } from 'node:crypto';
import { Inject, Injectable } from '@nestjs/common';
import { ARBITER_CONFIG, ArbiterConfig } from '@app/config';
import { Decision, FeedbackEvent, FieldError, Topology, partitionOfClickId } from '@app/contracts';
import { EventNormalizer } from '@app/ingest';
import { JetStreamPublisher } from '@app/messaging';
import { OutcomeRepository, Principal } from '@app/storage';

export type FeedbackResult =
  | { status: 'accepted'; id: string; duplicate: boolean }
  | { status: 'rejected'; errors: FieldError[] }
  | { status: 'not_found'; message: string }
  | { status: 'failed'; error: string };

/**
 * A person's word on a conversion — an advertiser's label, an analyst's review — as a feedback
 * event on the EVENTS stream, routed to the scorer partition of the conversion's click. That scorer
 * turns it into a decision revision; the recorder keeps it as a training label.
 */
@Injectable()
export class FeedbackService {
  private readonly normalizer: EventNormalizer;

  constructor(
    @Inject(ARBITER_CONFIG) private readonly config: ArbiterConfig,
    private readonly outcomes: OutcomeRepository,
    private readonly publisher: JetStreamPublisher,
    private readonly topology: Topology,
  ) {
    this.normalizer = new EventNormalizer({
      partitions: config.ARBITER_PARTITIONS,
      maxFutureSkewMs: config.GATEWAY_MAX_FUTURE_SKEW_SECONDS * 1000,
    });
  }

  /**
   * Publishes one feedback event. `known`: the conversion's current decision when an analyst's
   * caller has just read it (the review queue), so it is not read a second time.
   */
  async submit(body: unknown, principal: Principal, known?: Decision): Promise<FeedbackResult> {
    const normalized = this.normalizer.normalize('feedback', body, new Date(), principal.role === 'admin' ? 'analyst' : 'advertiser');
    if (!normalized.ok) return { status: 'rejected', errors: normalized.errors };
    // Another advertiser's conversion reads as missing: its existence is not ours to reveal.
    const given = normalized.event.conversionId;
    const decision =
      known && principal.role === 'admin' && known.conversionId === given
        ? known
        : principal.role === 'advertiser'
          ? // By the answered id or the id the advertiser chose (the stored id is derived from it).
            await this.outcomes.findAdvertiserDecision(given, principal.subjectId!)
          : await this.outcomes.findDecision(given);
    if (!decision)
      return {
        status: 'not_found',
        message: `no decided conversion "${normalized.event.conversionId}"${principal.role === 'advertiser' ? ' for this advertiser' : ''}`,
      };
    // The stored conversion id, however the caller named it: one conversion, one feedback namespace.
    const event: FeedbackEvent = {
      ...normalized.event,
      conversionId: decision.conversionId,
      id: scopedId(normalized.event.id, decision.conversionId, body, principal),
      actor: principal.keyId,
      clickId: decision.clickId,
      partition: partitionOfClickId(decision.clickId, this.config.ARBITER_PARTITIONS),
    };
    try {
      const ack = await this.publisher.publish(this.topology.event('feedback', event.partition), event, `feedback:${event.id}`);
      return { status: 'accepted', id: event.id, duplicate: ack.duplicate };
    } catch {
      return { status: 'failed', error: 'the event store is unavailable; send it again later' };
    }
  }
}

/**
 * A caller's own feedback id is its idempotency key, per tenant and per conversion: the stored id
 * is derived from the tenant, the conversion and the given id, so one advertiser cannot take (and so
 * silence) an id another will use, and an id a caller uses again on another conversion (a counter of
 * its own, say) is another feedback rather than a duplicate dropped without a word. The engine keys
 * feedback by conversion and id too (`feedbackKey`), so files replayed offline behave alike. Ids the
 * gateway mints are unique already.
 */
function scopedId(id: string, conversionId: string, body: unknown, principal: Principal): string {
  const given = typeof body === 'object' && body !== null && typeof (body as { id?: unknown }).id === 'string';
  if (!given) return id;
  const tenant = principal.role === 'admin' ? 'admin' : `${principal.role}:${principal.subjectId}`;
  return `fb-${createHash('sha256').update(`${tenant}\u0000${conversionId}\u0000${id}`).digest('base64url').slice(0, 32)}`;
}
