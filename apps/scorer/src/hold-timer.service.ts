import { Inject, Injectable, OnApplicationShutdown } from '@nestjs/common';
import { ARBITER_CONFIG, ArbiterConfig } from '@app/config';
import type { Decision } from '@app/contracts';
import { componentLogger } from '@app/observability';
import { ScoringService } from './scoring.service';

/**
 * Resolves holds whose time is up (approved unless new evidence arrived) every
 * `SCORER_HOLD_TICK_MS` and publishes the revisions. A revision that could not be published is
 * retried on the next tick; if the process dies first, the hold is still open in the database and the next scorer takes it.
 */
@Injectable()
export class HoldTimerService implements OnApplicationShutdown {
  private timer?: NodeJS.Timeout;
  private unpublished: Decision[] = [];
  private running?: Promise<void>;
  private readonly log = componentLogger('hold-timer');

  constructor(
    @Inject(ARBITER_CONFIG) private readonly config: ArbiterConfig,
    private readonly scoring: ScoringService,
  ) {}

  start(): void {
    this.timer = setInterval(() => {
      this.running ??= this.tick()
        .then(() => undefined)
        .finally(() => (this.running = undefined));
    }, this.config.SCORER_HOLD_TICK_MS);
    this.timer.unref();
  }

  async onApplicationShutdown(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    await this.running;
  }

  async tick(now = Date.now()): Promise<number> {
    const revised = [...this.unpublished, ...this.scoring.expireHolds(now)];
    this.unpublished = [];
    if (revised.length === 0) return 0;
    try {
      await this.scoring.publish(revised);
      this.log.info({ resolved: revised.length }, 'holds resolved');
      return revised.length;
    } catch (e) {
      this.unpublished = revised;
      this.log.warn({ err: e, pending: revised.length }, 'could not publish resolved holds; will retry');
      return 0;
    }
  }
}
