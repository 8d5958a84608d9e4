import { Inject, Injectable } from '@nestjs/common';
import type { JetStreamManager } from '@nats-io/jetstream';
import { CatalogCache } from '@app/catalog';
import { Decision, Topology } from '@app/contracts';
import { BrokerReadError, JETSTREAM_MANAGER, JetStreamPublisher, Outgoing, StoredIdsRead, readStoredIds } from '@app/messaging';
import { componentLogger } from '@app/observability';
import { deliveryId } from '@app/webhooks';
import { PostbackDirectory } from './postback-directory.service';

/**
 * One decision to fan out; when an earlier attempt may have published it, the earliest it may have:
 * for a redelivery when VERDICTS stored it (its server's clock), for a replayed dead letter when the
 * scorer decided it.
 */
export interface Fanout {
  decision: Decision;
  redeliveredFrom?: Date;
}

/**
 * A redelivery older than this share of the duplicate window may repeat a publish JetStream no
 * longer remembers: the DECISIONS stream is read back first. Lateness is judged again after every
 * read (reads take time), so the other half covers only the publish itself (an ack waits 10 s at
 * most) and the skew between this host's clock and the NATS servers'.
 */
const LATE_SHARE = 0.5;

/**
 * The read starts this long before `redeliveredFrom`: the VERDICTS leader that stamped it and the
 * DECISIONS leader that stored the earlier copy may be different servers whose clocks differ (and
 * a replay's time is the scorer's clock). Only the read moves; lateness is judged on the time itself.
 */
const CLOCK_SKEW_MS = 60_000;

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
  /** The clock lateness is judged on (a test moves it to stand for a slow read). */
  private readonly now = (): number => Date.now();

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

  /**
   * The ids DECISIONS holds for the late redeliveries of the batch (none for a prompt batch: no
   * read). Each subject with late items is read whole, from the earliest of them (less the clock
   * skew), every batch anew: nothing is kept across batches, so what a read finds is what the
   * stream holds now. Judged again after each round of reads, until no item became late meanwhile:
   * an item young enough at first may be past half the window once slow reads are done. A subject
   * is read again only from a strictly earlier time, so each round reads a subject at most once
   * and the rounds end (at most one per late item).
   */
  private async publishedLate(batch: readonly Fanout[]): Promise<Set<string>> {
    const published = new Set<string>();
    if (!batch.some((f) => f.redeliveredFrom)) return published;
    // Only now is the window known to be needed (one stream lookup per process).
    const lateAfterMs = (await this.duplicateWindowMs()) * LATE_SHARE;
    const readFrom = new Map<string, number>();
    let read = 0;
    for (;;) {
      const due = new Map<string, number>();
      const now = this.now();
      for (const { decision, redeliveredFrom } of batch) {
        if (!redeliveredFrom || now - redeliveredFrom.getTime() <= lateAfterMs) continue;
        const subject = this.topology.decisions(decision.advertiserId);
        const from = redeliveredFrom.getTime() - CLOCK_SKEW_MS;
        if ((readFrom.get(subject) ?? Infinity) <= from) continue;
        if ((due.get(subject) ?? Infinity) > from) due.set(subject, from);
      }
      if (due.size === 0) break;
      for (const [subject, from] of due) {
        const got = await this.readSubject(subject, new Date(from));
        for (const id of got.ids) published.add(id);
        read += got.read;
        readFrom.set(subject, from);
      }
    }
    if (readFrom.size > 0) {
      const skipped = batch.filter(({ decision: d }) => published.has(`${d.conversionId}:${d.revision}`)).length;
      this.log.info({ subjects: readFrom.size, read, skipped }, 'late redelivery: decisions already published are not published again');
    }
    return published;
  }

  /** Every id DECISIONS holds on `subject` from `since` on, read whole (a test counts the reads). */
  private readSubject(subject: string, since: Date): Promise<StoredIdsRead> {
    return readStoredIds(this.jsm, this.topology.streams.decisions, subject, since);
  }

  private duplicateWindowMs(): Promise<number> {
    this.windowMs ??= this.jsm.streams.info(this.topology.streams.decisions).then(
      (info) => info.config.duplicate_window / 1e6,
      (e: unknown) => {
        this.windowMs = undefined;
        throw new BrokerReadError(`reading the duplicate window of ${this.topology.streams.decisions}: ${(e as Error)?.message ?? e}`, {
          cause: e,
        });
      },
    );
    return this.windowMs;
  }
}
