import { Injectable } from '@nestjs/common';
import { Decision, Topology } from '@app/contracts';
import { JetStreamPublisher } from '@app/messaging';
import { componentLogger } from '@app/observability';

/**
 * Publishes every decision on `<root>.decisions.<advertiserId>` (kept in the DECISIONS stream, so
 * an advertiser may read it with its own durable consumer). The message id carries the revision, so
 * a later revision (hold → approved) is a new message while a redelivery is dropped as a duplicate.
 */
@Injectable()
export class DecisionFanoutService {
  private readonly log = componentLogger('notifier');

  constructor(
    private readonly publisher: JetStreamPublisher,
    private readonly topology: Topology,
  ) {}

  async deliver(decisions: readonly Decision[]): Promise<void> {
    await this.publisher.publishAll(
      decisions.map((d) => ({ subject: this.topology.decisions(d.advertiserId), payload: d, msgId: `${d.conversionId}:${d.revision}` })),
    );
    for (const d of decisions) {
      this.log.debug({ conversionId: d.conversionId, advertiserId: d.advertiserId, status: d.status }, 'decision published');
    }
  }
}
