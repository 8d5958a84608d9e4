import { Controller } from '@nestjs/common';
import { EventPattern, Payload } from '@nestjs/microservices';
import { ConsumerName } from '@app/contracts';
import { Delivery, StoredEvent } from '@app/messaging';
import { metrics } from '@app/observability';
import { EventRepository } from '@app/storage';
import { RollupRefresherService } from './rollup-refresher.service';

/** EVENTS → clicks, conversions and feedback tables. Acked only after the commit. */
@Controller()
export class EventsConsumer {
  constructor(
    private readonly events: EventRepository,
    private readonly rollups: RollupRefresherService,
  ) {}

  @EventPattern(ConsumerName.RecorderEvents)
  async record(@Payload() batch: Delivery<StoredEvent>[]): Promise<void> {
    const written = await this.events.insert(batch.map((d) => d.data));
    // A backlog here defers the rollups' refresh too: it needs the same database.
    this.rollups.progress(ConsumerName.RecorderEvents, batch);
    metrics.rowsWritten.labels('clicks').inc(written.clicks);
    metrics.rowsWritten.labels('conversions').inc(written.conversions);
    metrics.rowsWritten.labels('feedback').inc(written.feedback);
  }
}
