import { Controller, Inject, OnApplicationShutdown } from '@nestjs/common';
import type { Dispatcher } from 'undici';
import { EventPattern, Payload } from '@nestjs/microservices';
import { ARBITER_CONFIG, ArbiterConfig } from '@app/config';
import { ConsumerName, Decision, Topology } from '@app/contracts';
import { Delivery } from '@app/messaging';
import { componentLogger, metrics } from '@app/observability';
import { WebhookAttempt, WebhookRepository } from '@app/storage';
import { DeliveryPolicy, PRIOR_ATTEMPTS_HEADER, deliveryAgent, deliveryId, retryDelayMs, sendSigned } from '@app/webhooks';
import { DeliveryTargetService } from './delivery-target.service';

/**
 * One delivery per message, for both audiences (an advertiser's webhook, a publisher's partner
 * postback): send the signed request; on failure, record the attempt and ask JetStream for the
 * message again after an exponential, jittered delay; after the last attempt, or once the endpoint
 * is parked, dead-letter it (replayable through the API). Every attempt is a row in
 * webhook_attempts, numbered across replays.
 */
@Controller()
export class WebhookDeliveryConsumer implements OnApplicationShutdown {
  private readonly policy: DeliveryPolicy;
  private readonly agent: Dispatcher;
  private readonly allowPrivateNetworks: boolean;
  private readonly log = componentLogger('webhooks');

  constructor(
    private readonly webhooks: WebhookRepository,
    private readonly targets: DeliveryTargetService,
    private readonly topology: Topology,
    @Inject(ARBITER_CONFIG) config: ArbiterConfig,
  ) {
    this.policy = {
      maxAttempts: config.WEBHOOK_MAX_ATTEMPTS,
      parkAfter: config.WEBHOOK_PARK_AFTER,
      timeoutMs: config.WEBHOOK_TIMEOUT_MS,
      retryBaseMs: config.WEBHOOK_RETRY_BASE_MS,
    };
    this.agent = deliveryAgent(config.WEBHOOK_ALLOW_PRIVATE_NETWORKS);
    this.allowPrivateNetworks = config.WEBHOOK_ALLOW_PRIVATE_NETWORKS;
  }

  async onApplicationShutdown(): Promise<void> {
    await this.agent.close();
  }

  @EventPattern(ConsumerName.NotifierWebhooks)
  async deliver(@Payload() batch: Delivery<Decision>[]): Promise<void> {
    for (const delivery of batch) await this.attempt(delivery);
  }

  private async attempt(delivery: Delivery<Decision>): Promise<void> {
    const decision = delivery.data;
    const id = deliveryId(decision);
    const owner = this.topology.webhookOwner(delivery.subject);
    // Attempts before a replay count too; the retry budget starts afresh with each replay.
    const attempt = Number(delivery.header(PRIOR_ATTEMPTS_HEADER) ?? 0) + delivery.deliveryCount;
    const last = delivery.deliveryCount >= this.policy.maxAttempts;
    // Redelivered after the receiver already took it (we died before the ack): do not send twice.
    if (await this.webhooks.delivered(id, owner)) return;
    const target = await this.targets.resolve(delivery.subject, decision);
    if (!target) return; // the owner removed its webhook or postback since
    const { endpoint, request } = target;
    const base: Omit<WebhookAttempt, 'statusCode' | 'error' | 'durationMs' | 'outcome'> = {
      deliveryId: id,
      attempt,
      owner,
      advertiserId: owner === 'advertiser' ? endpoint.ownerId : null,
      publisherId: owner === 'publisher' ? endpoint.ownerId : null,
      postbackId: owner === 'publisher' ? endpoint.id : null,
      conversionId: decision.conversionId,
      revision: decision.revision,
      url: request.url,
    };
    const who = { owner, ownerId: endpoint.ownerId, endpointId: endpoint.id };
    if (endpoint.status === 'parked') return this.park(delivery, base, who);
    const result = await sendSigned(
      { ...request, attempt },
      { timeoutMs: this.policy.timeoutMs, dispatcher: this.agent, allowPrivateNetworks: this.allowPrivateNetworks },
    );
    if (result.ok) {
      await this.webhooks.record({ ...base, ...result, outcome: 'delivered' }, this.policy.parkAfter);
      metrics.webhookDeliveries.labels(owner, 'delivered').inc();
      return;
    }
    const parked = await this.webhooks.record({ ...base, ...result, outcome: last ? 'dead_letter' : 'retry' }, this.policy.parkAfter);
    if (last) {
      metrics.webhookDeliveries.labels(owner, 'dead_letter').inc();
      if (parked) this.log.warn(who, `${owner === 'advertiser' ? 'webhook' : 'postback'} endpoint parked after repeated failed deliveries`);
      delivery.reject(new Error(`webhook delivery failed after ${attempt} attempt(s): ${result.error}`));
    } else if (parked) {
      // Another delivery parked the endpoint meanwhile: this one waits in the dead letters too.
      await this.park(delivery, base, who);
    } else {
      metrics.webhookDeliveries.labels(owner, 'retry').inc();
      delivery.retry(retryDelayMs(delivery.deliveryCount, this.policy.retryBaseMs));
    }
  }

  /** A parked endpoint gets no request: the delivery is recorded and waits in the dead letters for a replay. */
  private async park(
    delivery: Delivery<Decision>,
    base: Omit<WebhookAttempt, 'statusCode' | 'error' | 'durationMs' | 'outcome'>,
    who: { owner: string; ownerId: string; endpointId: string },
  ): Promise<void> {
    await this.webhooks.record(
      { ...base, statusCode: null, error: 'endpoint parked', durationMs: 0, outcome: 'parked' },
      this.policy.parkAfter,
    );
    metrics.webhookDeliveries.labels(who.owner, 'parked').inc();
    delivery.reject(new Error(`${who.owner === 'advertiser' ? 'webhook' : 'postback'} of ${who.ownerId} is parked`));
  }
}
