import { Inject, Injectable } from '@nestjs/common';
import { CatalogCache } from '@app/catalog';
import { ARBITER_CONFIG, ArbiterConfig } from '@app/config';
import { WebhookRepository } from '@app/storage';
import { destinationProblem, newWebhookSecret } from '@app/webhooks';
import { DeadLettersService } from '../admin/dead-letters.service';
import { invalidField } from '../api-schemas';
import { advertiserAttempt } from '../postbacks/postbacks.service';

/**
 * Advertisers' webhooks: set by the advertiser (`PUT /v1/advertiser/webhook`) or by an admin with
 * the advertiser (`POST /v1/admin/advertisers`), the endpoint's health, and the replay of what it
 * could not take. The deliveries themselves are the notifier's.
 */
@Injectable()
export class WebhooksService {
  constructor(
    private readonly webhooks: WebhookRepository,
    private readonly cache: CatalogCache,
    private readonly deadLetters: DeadLettersService,
    @Inject(ARBITER_CONFIG) private readonly config: ArbiterConfig,
  ) {}

  /** 400 on `field` for a URL the notifier must not call (not http(s), credentials, a private address unless allowed). */
  async refuseUnsafe(url: string | null | undefined, field: string): Promise<void> {
    const problem = url ? await destinationProblem(url, this.config.WEBHOOK_ALLOW_PRIVATE_NETWORKS) : null;
    if (problem) throw invalidField(field, problem);
  }

  /**
   * Sets (null: removes) an advertiser's webhook and makes it active again. Returns the signing
   * secret when one was created (or rotated, with `rotateSecret`), to be shown once; a rotated
   * secret keeps signing beside the new one for WEBHOOK_SECRET_OVERLAP_HOURS. `destinationChecked`:
   * the caller ran `refuseUnsafe` on this URL just before (its host is not resolved twice).
   */
  async set(
    advertiserId: string,
    url: string | null,
    options: { rotateSecret?: boolean; field?: string; destinationChecked?: boolean } = {},
  ): Promise<string | undefined> {
    if (!options.destinationChecked) await this.refuseUnsafe(url, options.field ?? 'url');
    const overlap = this.config.WEBHOOK_SECRET_OVERLAP_HOURS * 3600;
    const secret = await this.webhooks.configure(advertiserId, url, newWebhookSecret(), options.rotateSecret, overlap);
    this.cache.announceChange();
    return secret;
  }

  /** Where the advertiser's decisions go, the endpoint's health and its latest attempts. */
  async status(advertiserId: string) {
    const endpoint = await this.webhooks.endpoint(advertiserId);
    return {
      url: endpoint?.url ?? null,
      status: endpoint?.status ?? 'active',
      consecutiveFailures: endpoint?.consecutiveFailures ?? 0,
      failedDeliveries: endpoint?.failedDeliveries ?? 0,
      parkedAt: endpoint?.parkedAt ?? null,
      recentAttempts: (await this.webhooks.attempts(advertiserId, 20)).map(advertiserAttempt),
    };
  }

  /** The advertiser's own replay: its endpoint un-parked, its dead-lettered deliveries requeued (audited, `actor`). */
  async replay(advertiserId: string, actor: string): Promise<{ requeued: number }> {
    const endpoint = await this.webhooks.endpoint(advertiserId);
    if (!endpoint?.url) throw invalidField('url', 'is not set: set a webhook URL first');
    // The same replay an admin runs for one advertiser (un-park first, then requeue).
    const { requeued } = await this.deadLetters.replayEndpoints({ advertiserId }, actor);
    return { requeued };
  }
}
