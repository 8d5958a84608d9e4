import { Controller } from '@nestjs/common';
import { EventPattern, Payload } from '@nestjs/microservices';
import { ConsumerName } from '@app/contracts';
import { Delivery, StoredEvent } from '@app/messaging';
import { ScoringService } from './scoring.service';

/** EVENTS → verdicts and decisions, one partition's events in stream order. */
@Controller()
export class ScoringConsumer {
  constructor(private readonly scoring: ScoringService) {}

  @EventPattern(ConsumerName.ScorerEvents)
  score(@Payload() batch: Delivery<StoredEvent>[]): Promise<void> {
    return this.scoring.process(batch);
  }
}
