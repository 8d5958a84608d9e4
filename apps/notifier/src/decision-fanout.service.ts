import { Injectable } from '@nestjs/common';
import { CatalogCache } from '@app/catalog';
import { Decision, Topology } from '@app/contracts';
import { JetStreamPublisher, Outgoing } from '@app/messaging';
import { deliveryId } from '@app/webhooks';
import { PostbackDirectory } from './postback-directory.service';

/**
 * Publishes every decision on `<root>.decisions.<advertiserId>` (kept in the DECISIONS stream, so
 * an advertiser may read it with its own durable consumer) and, when the advertiser has a webhook,
 * queues its delivery on the WEBHOOKS stream; when the publisher has a partner postback, queues that
 * too (`<root>.webhooks.publisher.<publisherId>`, the same stream and delivery). Message ids carry the revision, so a later change
 * (hold → approved) is a new message while a redelivery is dropped as a duplicate. Whether an
 * advertiser has a webhook comes from the catalog cache, which reloads when the API announces a change.
 */
@Injectable()
export class DecisionFanoutService {
  constructor(
    private readonly publisher: JetStreamPublisher,
    private readonly topology: Topology,
    private readonly catalog: CatalogCache,
    private readonly postbacks: PostbackDirectory,
  ) {}

  async deliver(decisions: readonly Decision[]): Promise<void> {
    await this.catalog.resolve({ advertisers: decisions.flatMap((d) => (d.advertiserId ? [d.advertiserId] : [])) });
    const out: Outgoing[] = [];
    for (const d of decisions) {
      out.push({ subject: this.topology.decisions(d.advertiserId), payload: d, msgId: `${d.conversionId}:${d.revision}` });
      if (d.advertiserId && this.catalog.advertiser(d.advertiserId)?.webhookUrl) {
        out.push({ subject: this.topology.webhooks(d.advertiserId), payload: d, msgId: `webhook:${deliveryId(d)}` });
      }
      if (d.publisherId && this.postbacks.has(d.publisherId)) {
        out.push({ subject: this.topology.postbacks(d.publisherId), payload: d, msgId: `postback:${deliveryId(d)}` });
      }
    }
    await this.publisher.publishAll(out);
  }
}
