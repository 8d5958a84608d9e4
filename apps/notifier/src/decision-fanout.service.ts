import { Inject, Injectable } from '@nestjs/common';
import type { JetStreamManager } from '@nats-io/jetstream';
import { CatalogCache } from '@app/catalog';
import { Decision, Topology } from '@app/contracts';
import { JETSTREAM_MANAGER, JetStreamPublisher, Outgoing, storedMessageIds } from '@app/messaging';
import { componentLogger } from '@app/observability';
import { deliveryId } from '@app/webhooks';
import { PostbackDirectory } from './postback-directory.service';

/** One decision to fan out, with when VERDICTS stored it if this is a redelivery (it may have been published before). */
export interface Fanout {
  decision: Decision;
  redeliveredFrom?: Date;
}

/**
 * A redelivery older than this share of the duplicate window may repeat a publish JetStream no
 * longer remembers: the DECISIONS stream is read back first. The other half is the margin for the
 * time between that check and the publish (an ack waits 10 s at most) and for clock skew between
 * this host and the NATS server.
 */
const LATE_SHARE = 0.5;

/**
 * Publishes every decision on `<root>.decisions.<advertiserId>` (kept in the DECISIONS stream, so
 * an advertiser may read it with its own durable consumer) and, when the advertiser has a webhook,
 * queues its delivery on the WEBHOOKS stream; when the publisher has a partner postback, queues that
 * too (`<root>.webhooks.publisher.<publisherId>`, the same stream and delivery). Message ids carry the revision, so a later change
 * (hold → approved) is a new message while a redelivery is dropped as a duplicate. Whether an
 * advertiser has a webhook comes from the catalog cache, which reloads when the API announces a change.
 *
 * Exactly once on DECISIONS past the duplicate window: a VERDICTS message redelivered late (we died
 * before its ack, then the database held the next attempt up for minutes) finds its revision in the
 * stream and does not publish it again. Webhook and postback messages are queued again: their
 * consumer sends nothing for a delivery it recorded as delivered.
 */
@Injectable()
export class DecisionFanoutService {
  private readonly log = componentLogger('decisions');
  private windowMs?: Promise<number>;

  constructor(
    private readonly publisher: JetStreamPublisher,
    private readonly topology: Topology,
    private readonly catalog: CatalogCache,
    private readonly postbacks: PostbackDirectory,
    @Inject(JETSTREAM_MANAGER) private readonly jsm: JetStreamManager,
  ) {}

  async deliver(batch: readonly Fanout[]): Promise<void> {
    await this.catalog.resolve({ advertisers: batch.flatMap(({ decision: d }) => (d.advertiserId ? [d.advertiserId] : [])) });
    // After the catalog: the database is what can hold a redelivery up until it is late.
    const published = await this.publishedLate(batch);
    const out: Outgoing[] = [];
    for (const { decision: d } of batch) {
      const msgId = `${d.conversionId}:${d.revision}`;
      if (!published.has(msgId)) out.push({ subject: this.topology.decisions(d.advertiserId), payload: d, msgId });
      if (d.advertiserId && this.catalog.advertiser(d.advertiserId)?.webhookUrl) {
        out.push({ subject: this.topology.webhooks(d.advertiserId), payload: d, msgId: `webhook:${deliveryId(d)}` });
      }
      if (d.publisherId && this.postbacks.has(d.publisherId)) {
        out.push({ subject: this.topology.postbacks(d.publisherId), payload: d, msgId: `postback:${deliveryId(d)}` });
      }
    }
    await this.publisher.publishAll(out);
  }

  /** The ids DECISIONS holds for the late redeliveries of the batch (none for a prompt batch: no read). */
  private async publishedLate(batch: readonly Fanout[]): Promise<Set<string>> {
    const since = new Map<string, Date>();
    for (const { decision, redeliveredFrom } of batch) {
      if (!redeliveredFrom) continue;
      // Only now is the window known to be needed (one stream lookup per process).
      const lateAfterMs = (await this.duplicateWindowMs()) * LATE_SHARE;
      if (Date.now() - redeliveredFrom.getTime() <= lateAfterMs) continue;
      // Any earlier publish came after VERDICTS stored the message: read the subject from then on.
      const subject = this.topology.decisions(decision.advertiserId);
      const from = since.get(subject);
      if (!from || redeliveredFrom < from) since.set(subject, redeliveredFrom);
    }
    const published = new Set<string>();
    for (const [subject, from] of since) {
      for (const id of await storedMessageIds(this.jsm, this.topology.streams.decisions, subject, from)) published.add(id);
    }
    if (since.size > 0) {
      const skipped = batch.filter(({ decision: d }) => published.has(`${d.conversionId}:${d.revision}`)).length;
      this.log.info({ subjects: since.size, skipped }, 'late redelivery: decisions already published are not published again');
    }
    return published;
  }

  private duplicateWindowMs(): Promise<number> {
    this.windowMs ??= this.jsm.streams.info(this.topology.streams.decisions).then(
      (info) => info.config.duplicate_window / 1e6,
      (e: unknown) => {
        this.windowMs = undefined;
        throw e;
      },
    );
    return this.windowMs;
  }
}
