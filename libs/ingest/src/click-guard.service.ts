import { Inject, Injectable, OnApplicationBootstrap, OnApplicationShutdown } from '@nestjs/common';
import type { NatsConnection } from '@nats-io/nats-core';
import type { ClickEvent, Offer, Publisher } from '@app/contracts';
import { Topology } from '@app/contracts';
import { ClickTimeOutcome, clickTimeOutcome } from '@app/decisions';
import { NATS_CONNECTION } from '@app/messaging';
import { metrics } from '@app/observability';
import { EMPTY_RULESET_CONFIG, RuleSetConfig } from '@app/rules';
import { RuleSetWatcher } from '@app/live-config';
import { RuleSetRepository } from '@app/storage';

/**
 * The tracking link's click-time checks (DESIGN §12): follows the active rule sets like a scorer
 * (the KV bucket, the database before anything was published) and judges a click with the
 * scorer's own cheap rules before the visitor is redirected.
 */
@Injectable()
export class ClickGuard implements OnApplicationBootstrap, OnApplicationShutdown {
  private watcher?: RuleSetWatcher;

  constructor(
    @Inject(NATS_CONNECTION) private readonly nc: NatsConnection,
    private readonly topology: Topology,
    private readonly rulesets: RuleSetRepository,
  ) {}

  async onApplicationBootstrap(): Promise<void> {
    this.watcher = new RuleSetWatcher(this.nc, this.topology, (resolver) =>
      metrics.ruleSetVersion.labels('gateway').set(resolver.config.version),
    );
    await this.watcher.start(async () => (await this.rulesets.latest<RuleSetConfig>())?.config ?? EMPTY_RULESET_CONFIG);
  }

  onApplicationShutdown(): void {
    this.watcher?.stop();
  }

  /** Whether this click goes to the fallback instead of the offer, and why. */
  check(event: ClickEvent, offer: Offer | null, publisher: Publisher | null): ClickTimeOutcome {
    const ruleset = (this.watcher?.current ?? null)?.for(offer?.advertiserId, event.offerId);
    if (!ruleset) return { blocked: false, fallbackUrl: null, reasons: [] };
    return clickTimeOutcome(ruleset, { event, offer, publisher });
  }
}
