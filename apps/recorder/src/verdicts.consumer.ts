import { Controller } from '@nestjs/common';
import { EventPattern, Payload } from '@nestjs/microservices';
import { ConsumerName } from '@app/contracts';
import { Delivery, StoredOutcome } from '@app/messaging';
import { metrics } from '@app/observability';
import { OutcomeRepository } from '@app/storage';
import { RollupRefresherService } from './rollup-refresher.service';

/** VERDICTS → click_verdicts and decisions tables. Acked only after the commit. */
@Controller()
export class VerdictsConsumer {
  constructor(
    private readonly outcomes: OutcomeRepository,
    private readonly rollups: RollupRefresherService,
  ) {}

  @EventPattern(ConsumerName.RecorderVerdicts)
  async record(@Payload() batch: Delivery<StoredOutcome>[]): Promise<void> {
    const written = await this.outcomes.insert(batch.map((d) => d.data));
    this.rollups.touched(batch.map((d) => d.data));
    this.rollups.progress(ConsumerName.RecorderVerdicts, batch);
    metrics.rowsWritten.labels('click_verdicts').inc(written.verdicts);
    metrics.rowsWritten.labels('decisions').inc(written.decisions);
  }
}
