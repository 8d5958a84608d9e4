import { BadRequestException, Injectable, NotFoundException } from '@nestjs/common';
import { CatalogCache } from '@app/catalog';
import type { AdvertiserInput, OfferInput, PublisherInput, PublisherPayoutInput } from '@app/contracts';
import { CatalogRepository, InvalidTermsError, UnknownReferenceError } from '@app/storage';
import { invalidField } from '../api-schemas';
import { WebhooksService } from '../advertiser/webhooks.service';

/**
 * Catalog changes: each one is written, then announced, so running scorers and gateways reload at
 * once. Creates or updates by id (`created` says which); fields left out of an update keep their value.
 */
@Injectable()
export class CatalogService {
  constructor(
    private readonly catalog: CatalogRepository,
    private readonly cache: CatalogCache,
    private readonly webhooks: WebhooksService,
  ) {}

  /** Every advertiser, publisher and offer, as one consistent snapshot. */
  snapshot() {
    return this.catalog.snapshot();
  }

  /** An advertiser; with a `webhookUrl`, its webhook too, and the signing secret when one was created (shown once). */
  async upsertAdvertiser(body: AdvertiserInput) {
    // Refused before anything is written; the URL is then set with its secret, in one statement, not by the upsert.
    await this.webhooks.refuseUnsafe(body.webhookUrl, 'webhookUrl');
    const { webhookUrl, ...fields } = body;
    const { advertiser, created } = await this.catalog.upsertAdvertiser(fields);
    let secret: string | undefined;
    if (webhookUrl !== undefined) {
      secret = await this.webhooks.set(body.id, webhookUrl, { field: 'webhookUrl', destinationChecked: true }); // announces the change
      advertiser.webhookUrl = webhookUrl;
    } else this.cache.announceChange();
    return { advertiser, created, secret };
  }

  async upsertPublisher(body: PublisherInput) {
    const result = await this.catalog.upsertPublisher(body);
    this.cache.announceChange();
    return result;
  }

  /** An offer of an existing advertiser (400 naming the field otherwise, or for a percentage over 100). */
  async upsertOffer(body: OfferInput) {
    const result = await refusingBadTerms(() => this.catalog.upsertOffer(body));
    this.cache.announceChange();
    return result;
  }

  /** A publisher's own payout on an offer (404 when either does not exist). */
  async setPublisherPayout(offerId: string, publisherId: string, body: PublisherPayoutInput) {
    const terms = { payoutModel: body.payoutModel ?? 'fixed', payout: body.payout } as const;
    const found = await refusingBadTerms(() => this.catalog.setPublisherPayout(offerId, publisherId, terms));
    if (!found) throw new NotFoundException({ error: 'not_found', message: 'no such offer or publisher' });
    this.cache.announceChange();
    return { offerId, publisherId, ...terms };
  }

  /** Removes a publisher's own payout (404 when it had none): the offer's applies again. */
  async removePublisherPayout(offerId: string, publisherId: string): Promise<void> {
    if (!(await this.catalog.removePublisherPayout(offerId, publisherId)))
      throw new NotFoundException({ error: 'not_found', message: 'the publisher has no payout of its own on this offer' });
    this.cache.announceChange();
  }
}

/** The repository's refusals as 400s naming the field. */
async function refusingBadTerms<T>(write: () => Promise<T>): Promise<T> {
  try {
    return await write();
  } catch (e) {
    if (e instanceof UnknownReferenceError)
      throw new BadRequestException({
        error: 'validation_failed',
        message: e.message,
        errors: [{ field: e.field, message: 'does not exist' }],
      });
    if (e instanceof InvalidTermsError) throw invalidField(e.field, 'a percentage of the sale is at most 100');
    throw e;
  }
}
