import { Inject, Injectable, OnApplicationShutdown } from '@nestjs/common';
import { ARBITER_CONFIG, ArbiterConfig } from '@app/config';
import { componentLogger, degradations, metrics } from '@app/observability';
import { ScoringService } from './scoring.service';

/** The longest the timer waits between tries while publishing fails (or one tick, when ticks are longer). */
export const MAX_BACKOFF_MS = 60_000;
const DEGRADED_COMPONENT = 'scorer hold timer';

/**
 * Resolves holds whose time is up (approved unless new evidence arrived) every
 * `SCORER_HOLD_TICK_MS` and publishes the revisions. A revision that could not be published stays
 * owed in the scoring service (before any later revision of its conversion) and is retried with the
 * conversion's next feedback, or by the timer: after 2 ticks, then 4, 8… at most a minute apart while
 * publishing keeps failing (VERDICTS full, NATS down), back to every tick once it succeeds. Meanwhile
 * the scorer's /health is degraded ("scorer hold timer") and `arbiter_scorer_owed_revisions` counts
 * them (every tick, also while backing off); once nothing is kept any more (a feedback's batch published
 * it) the timer tries at its next tick. If the process dies first, the hold is still open in the database and the next scorer takes it.
 */
@Injectable()
export class HoldTimerService implements OnApplicationShutdown {
  private timer?: NodeJS.Timeout;
  private running?: Promise<void>;
  private readonly log = componentLogger('hold-timer');
  /** Tries that failed in a row, and the time before which the next tick does not try again. */
  private failures = 0;
  private retryAt = -Infinity;

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

  /** Resolves due holds and publishes what is owed, unless backing off after failures; returns how many holds it resolved. */
  async tick(now = Date.now()): Promise<number> {
    // Backing off while something is kept; the gauge follows it meanwhile (a feedback batch may keep or
    // publish revisions too). Nothing kept any more (a feedback batch published it all): VERDICTS takes
    // publishes again, so try now, which clears the degradation on success.
    const kept = this.scoring.owedRevisions;
    if (now < this.retryAt && kept > 0) {
      metrics.owedRevisions.set(kept);
      return 0;
    }
    try {
      const resolved = await this.scoring.resolveHolds(now);
      if (resolved) this.log.info({ resolved }, 'holds resolved');
      if (this.failures) this.log.info({ failures: this.failures }, 'owed revisions published again');
      this.failures = 0;
      this.retryAt = -Infinity;
      degradations.clear(DEGRADED_COMPONENT);
      return resolved;
    } catch (e) {
      this.failures++;
      const tick = this.config.SCORER_HOLD_TICK_MS;
      // Doubling from two ticks; the exponent is capped so that the product stays finite.
      const backoff = Math.min(tick * 2 ** Math.min(this.failures, 20), Math.max(MAX_BACKOFF_MS, tick));
      this.retryAt = now + backoff;
      const owed = this.scoring.owedRevisions;
      this.log.warn({ err: e, failures: this.failures, owed, retryInMs: backoff }, 'could not publish resolved holds; will retry');
      degradations.report(
        DEGRADED_COMPONENT,
        'broker',
        'revisions owed, not published',
        `${owed} decision revisions (hold expiries, feedback) could not be published to VERDICTS ` +
          `(${this.failures} tries in a row; next in ${Math.round(backoff / 1000)} s): ${(e as Error).message}`,
      );
      return 0;
    } finally {
      metrics.owedRevisions.set(this.scoring.owedRevisions);
    }
  }
}
