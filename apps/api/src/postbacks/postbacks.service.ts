import { BadRequestException, ConflictException, Inject, Injectable, NotFoundException } from '@nestjs/common';
import { CatalogCache } from '@app/catalog';
import { ARBITER_CONFIG, ArbiterConfig } from '@app/config';
import { mintEventId } from '@app/contracts';
import { CatalogRepository, Postback, PostbackRepository, PostbackScopeTakenError, WebhookAttempt, WebhookRepository } from '@app/storage';
import { destinationProblem, newWebhookSecret, postbackTemplateProblem, renderPostback } from '@app/webhooks';
import { invalidField } from '../api-schemas';
import { DeadLettersService } from '../admin/dead-letters.service';

const SHOWN_ONCE = 'store the secret now: it is not shown again';

/** A postback attempt as its publisher sees it: the request it made and how it went. */
export type PostbackAttemptView = Omit<WebhookAttempt, 'owner' | 'advertiserId'>;

/**
 * Publishers' partner postbacks (DESIGN §12): create, change, rotate, delete, their attempts and
 * the replay of what they could not take. Every operation is scoped to the calling publisher; the
 * deliveries themselves are the notifier's, through the advertisers' webhook mechanism.
 */
@Injectable()
export class PostbacksService {
  constructor(
    private readonly postbacks: PostbackRepository,
    private readonly webhooks: WebhookRepository,
    private readonly catalog: CatalogRepository,
    private readonly cache: CatalogCache,
    private readonly deadLetters: DeadLettersService,
    @Inject(ARBITER_CONFIG) private readonly config: ArbiterConfig,
  ) {}

  list(publisherId?: string): Promise<Postback[]> {
    return this.postbacks.list(publisherId);
  }

  /** Creates a postback; its signing secret is returned here and never again. */
  async create(publisherId: string, input: { url: string; offerId?: string | null }): Promise<Postback & { secret: string; note: string }> {
    await this.check(input);
    const secret = newWebhookSecret();
    const created = await this.scoped(() =>
      this.postbacks.create({ id: mintEventId(), publisherId, offerId: input.offerId ?? null, url: input.url, secret }),
    );
    this.cache.announceChange();
    return { ...created, secret, note: SHOWN_ONCE };
  }

  /** Changes the template or scope, or rotates the secret (returned once); un-parks the postback. */
  async update(
    publisherId: string,
    id: string,
    change: { url?: string; offerId?: string | null; rotateSecret?: boolean },
  ): Promise<Postback & { secret?: string; note?: string }> {
    await this.check(change);
    const secret = change.rotateSecret ? newWebhookSecret() : undefined;
    const updated = await this.scoped(() =>
      this.postbacks.update(publisherId, id, {
        url: change.url,
        offerId: change.offerId,
        rotateTo: secret,
        overlapSeconds: this.config.WEBHOOK_SECRET_OVERLAP_HOURS * 3600,
      }),
    );
    if (!updated) throw notFound(id);
    this.cache.announceChange();
    return secret ? { ...updated, secret, note: SHOWN_ONCE } : updated;
  }

  async delete(publisherId: string, id: string): Promise<void> {
    if (!(await this.postbacks.delete(publisherId, id))) throw notFound(id);
    this.cache.announceChange();
  }

  /** A publisher's postback attempts, newest first, one page. */
  async attempts(publisherId: string, q: { postbackId?: string; limit: number; after?: { id: string } }) {
    const page = await this.webhooks.attemptsPage({
      owner: 'publisher',
      publisherId,
      postbackId: q.postbackId,
      limit: q.limit,
      after: attemptPosition(q.after),
    });
    return { items: page.items.map(publisherAttempt), next: page.next };
  }

  /** Puts the publisher's dead-lettered postbacks back in the queue, un-parking its postbacks. */
  replay(publisherId: string, actor: string) {
    return this.deadLetters.replayPostbacks(publisherId, actor);
  }

  /** Template and destination (the same SSRF filter as advertisers' webhooks), and the offer. */
  private async check(input: { url?: string; offerId?: string | null }): Promise<void> {
    if (input.url !== undefined) {
      const problem =
        postbackTemplateProblem(input.url) ??
        (await destinationProblem(renderPostback(input.url, {}), this.config.WEBHOOK_ALLOW_PRIVATE_NETWORKS));
      if (problem) throw invalidField('url', problem);
    }
    if (input.offerId && !(await this.catalog.findOffer(input.offerId)))
      throw invalidField('offerId', `offer "${input.offerId}" does not exist`);
  }

  private async scoped<T>(write: () => Promise<T>): Promise<T> {
    try {
      return await write();
    } catch (e) {
      if (e instanceof PostbackScopeTakenError)
        throw new ConflictException({ error: 'conflict', message: `you already have a postback for ${e.message}: change that one` });
      throw e;
    }
  }
}

/** An attempt without the fields of the other audience. */
export function publisherAttempt({ owner: _o, advertiserId: _a, ...attempt }: WebhookAttempt): PostbackAttemptView {
  return attempt;
}

function notFound(id: string): NotFoundException {
  return new NotFoundException({ error: 'not_found', message: `no postback "${id}"` });
}

/** The position of an attempts list's cursor (the attempt's row number); 400 for any other cursor. */
export function attemptPosition<P extends { id: string }>(position: P | undefined): P | undefined {
  if (position && !/^\d{1,18}$/.test(position.id))
    throw new BadRequestException({
      error: 'validation_failed',
      message: 'cursor is not one this API returned',
      errors: [{ field: 'cursor', message: 'is invalid' }],
    });
  return position;
}

/** An advertiser's webhook attempt without the fields of the other audience. */
export function advertiserAttempt({
  owner: _o,
  publisherId: _p,
  postbackId: _b,
  ...attempt
}: WebhookAttempt): Omit<WebhookAttempt, 'owner' | 'publisherId' | 'postbackId'> {
  return attempt;
}
