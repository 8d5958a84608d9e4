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
    return this.fanout.deliver(batch.map((d) => d.data));
  }
}
