import { Injectable } from '@nestjs/common';
import { Decision, Topology } from '@app/contracts';
import { PostbackRepository, WebhookEndpoint, WebhookRepository } from '@app/storage';
import { SignedRequest, deliveryId, postbackValues, renderPostback } from '@app/webhooks';

/** Where a queued delivery goes and what is sent, minus the attempt number. */
export interface DeliveryTarget {
  endpoint: WebhookEndpoint & { url: string; secret: string };
  request: Omit<SignedRequest, 'attempt'>;
}

/**
 * Resolves a queued delivery (a decision on a WEBHOOKS subject) to its endpoint and request, at the
 * time of the attempt, so an endpoint changed or removed since the decision is honoured:
 * - an advertiser's webhook: the decision POSTed as JSON;
 * - a publisher's partner postback: its offer's postback, else its global one, fired as a GET with
 *   the macros substituted from the decision as the publisher may see it (DESIGN §3a).
 * Both are signed with the endpoint's secret and carry the same idempotency key (`<conversion>:<revision>`).
 */
@Injectable()
export class DeliveryTargetService {
  constructor(
    private readonly webhooks: WebhookRepository,
    private readonly postbacks: PostbackRepository,
    private readonly topology: Topology,
  ) {}

  /** Null when the owner has no endpoint for it (any more). */
  async resolve(subject: string, decision: Decision): Promise<DeliveryTarget | null> {
    if (this.topology.webhookOwner(subject) === 'advertiser') {
      const endpoint = decision.advertiserId ? await this.webhooks.endpoint({ owner: 'advertiser', id: decision.advertiserId }) : null;
      if (!isUsable(endpoint)) return null;
      return {
        endpoint,
        request: {
          ...signing(endpoint, decision),
          method: 'POST',
          url: endpoint.url,
          body: JSON.stringify(decision),
          userAgent: 'Arbiter-Webhooks/1',
        },
      };
    }
    if (!decision.publisherId) return null;
    const postback = await this.postbacks.effective(decision.publisherId, decision.offerId);
    const endpoint = postback ? await this.webhooks.endpoint({ owner: 'publisher', id: postback.id }) : null;
    if (!isUsable(endpoint)) return null;
    const url = renderPostback(endpoint.url, postbackValues(decision, await this.postbacks.clickSubIds(decision.clickId)));
    return { endpoint, request: { ...signing(endpoint, decision), method: 'GET', url, userAgent: 'Arbiter-Postbacks/1' } };
  }
}

function isUsable(endpoint: WebhookEndpoint | null): endpoint is WebhookEndpoint & { url: string; secret: string } {
  return !!endpoint?.url && !!endpoint.secret;
}

function signing(endpoint: WebhookEndpoint & { secret: string }, decision: Decision) {
  return { secret: endpoint.secret, previousSecret: endpoint.previousSecret, idempotencyKey: deliveryId(decision) };
}
