import { Inject, Injectable, OnApplicationShutdown } from '@nestjs/common';
import { ARBITER_CONFIG, ArbiterConfig } from '@app/config';
import { componentLogger } from '@app/observability';
import { ScoringService } from './scoring.service';

/**
 * Resolves holds whose time is up (approved unless new evidence arrived) every
 * `SCORER_HOLD_TICK_MS` and publishes the revisions. A revision that could not be published stays
 * owed in the scoring service (before any later revision of its conversion) and is retried on the
 * next tick or with the conversion's next feedback; if the process dies first, the hold is still
 * open in the database and the next scorer takes it.
 */
@Injectable()
export class HoldTimerService implements OnApplicationShutdown {
  private timer?: NodeJS.Timeout;
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
    try {
      const resolved = await this.scoring.resolveHolds(now);
      if (resolved) this.log.info({ resolved }, 'holds resolved');
      return resolved;
    } catch (e) {
      this.log.warn({ err: e }, 'could not publish resolved holds; will retry');
      return 0;
    }
  }
}
