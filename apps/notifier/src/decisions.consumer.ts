import { Controller } from '@nestjs/common';
import { EventPattern, Payload } from '@nestjs/microservices';
import { ConsumerName, Decision } from '@app/contracts';
import { Delivery } from '@app/messaging';
import { DecisionFanoutService } from './decision-fanout.service';

/** Decisions from VERDICTS → each advertiser's delivery channels. */
@Controller()
export class DecisionsConsumer {
  constructor(private readonly fanout: DecisionFanoutService) {}

  @EventPattern(ConsumerName.NotifierDecisions)
  deliver(@Payload() batch: Delivery<Decision>[]): Promise<void> {
    // A redelivery may repeat a publish made before the duplicate window: the fan-out checks it when late.
    return this.fanout.deliver(batch.map((d) => ({ decision: d.data, redeliveredFrom: earlierPublishFrom(d) })));
  }
}

/**
 * From when an earlier attempt may have published this decision: none on a first delivery; for a
 * redelivery, when VERDICTS stored it; for a replayed dead letter (a message of the REPLAY stream,
 * delivered once there), when the scorer decided it.
 */
function earlierPublishFrom(d: Delivery<Decision>): Date | undefined {
  if (d.subject !== d.msg.subject) return new Date(Date.parse(d.data.decidedAt));
  return d.redelivered ? d.msg.time : undefined;
}
