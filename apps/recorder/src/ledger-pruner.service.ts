import { Inject, Injectable, OnApplicationShutdown, OnModuleInit } from '@nestjs/common';
import { ARBITER_CONFIG, ArbiterConfig } from '@app/config';
import { componentLogger } from '@app/observability';
import { EventRepository } from '@app/storage';

const EVERY_MS = 3600_000;

/**
 * Forgets event ids older than LEDGER_RETENTION_DAYS, so the idempotency ledger stays the size
 * of the re-send horizon rather than of all history.
 */
@Injectable()
export class LedgerPrunerService implements OnModuleInit, OnApplicationShutdown {
  private timer?: NodeJS.Timeout;
  private readonly log = componentLogger('ledger-pruner');

  constructor(
    @Inject(ARBITER_CONFIG) private readonly config: ArbiterConfig,
    private readonly events: EventRepository,
  ) {}

  onModuleInit(): void {
    this.timer = setInterval(() => void this.prune(), EVERY_MS);
    this.timer.unref();
  }

  onApplicationShutdown(): void {
    if (this.timer) clearInterval(this.timer);
  }

  async prune(): Promise<number> {
    try {
      const removed = await this.events.pruneLedger(this.config.LEDGER_RETENTION_DAYS);
      if (removed) this.log.info({ removed }, 'ledger pruned');
      return removed;
    } catch (e) {
      this.log.warn({ err: e }, 'ledger pruning failed; will try again');
      return 0;
    }
  }
}
