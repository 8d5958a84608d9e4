import { Controller } from '@nestjs/common';
import { EventPattern, Payload } from '@nestjs/microservices';
import { ConsumerName, Decision } from '@app/contracts';
import { Delivery, REPUBLISHED_HEADER } from '@app/messaging';
import { DecisionFanoutService } from './decision-fanout.service';

/** Decisions from VERDICTS → each advertiser's delivery channels. */
@Controller()
export class DecisionsConsumer {
  constructor(private readonly fanout: DecisionFanoutService) {}

  @EventPattern(ConsumerName.NotifierDecisions)
  deliver(@Payload() batch: Delivery<Decision>[]): Promise<void> {
    // A redelivery (or a message the scorer published again) may repeat a publish made before the
    // duplicate window: the fan-out checks it when late.
    return this.fanout.deliver(batch.map((d) => ({ decision: d.data, redeliveredFrom: earlierPublishFrom(d) })));
  }
}

/**
 * From when an earlier attempt may have published this decision: none on a first delivery; for a
 * redelivery, when VERDICTS stored it; for a message the scorer published again (`REPUBLISHED_HEADER`),
 * the time it gives, when earlier; for a replayed dead letter (a message of the REPLAY stream,
 * delivered once there), when the scorer decided it.
 *
 * The header is not a sender's: only scorers publish on VERDICTS. And it can only make the fan-out
 * read DECISIONS back, which skips only what the stream holds: whatever it says, a decision DECISIONS
 * lacks is published (an unreadable or future time is read as no header).
 */
function earlierPublishFrom(d: Delivery<Decision>): Date | undefined {
  if (d.subject !== d.msg.subject) return new Date(Date.parse(d.data.decidedAt));
  const stored = d.redelivered ? d.msg.time.getTime() : Infinity;
  const republished = Date.parse(d.header(REPUBLISHED_HEADER) ?? '');
  const from = Number.isNaN(republished) || republished > Date.now() ? stored : Math.min(stored, republished);
  return Number.isFinite(from) ? new Date(from) : undefined;
}
