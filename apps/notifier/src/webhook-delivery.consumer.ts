import { Controller, Inject, OnApplicationShutdown } from '@nestjs/common';
import type { Dispatcher } from 'undici';
import { EventPattern, Payload } from '@nestjs/microservices';
import { ARBITER_CONFIG, ArbiterConfig } from '@app/config';
import { ConsumerName, Decision } from '@app/contracts';
import { Delivery } from '@app/messaging';
import { componentLogger, metrics } from '@app/observability';
import { WebhookRepository } from '@app/storage';
import { DeliveryPolicy, PRIOR_ATTEMPTS_HEADER, deliveryAgent, deliveryId, postDecision, retryDelayMs } from '@app/webhooks';

/**
 * One webhook delivery per message: POST the signed decision; on failure, record the attempt and
 * ask JetStream for the message again after an exponential, jittered delay; after the last attempt,
 * or once the endpoint is parked, dead-letter it (replayable through the API). Every attempt is a
 * row in webhook_attempts, numbered across replays.
 */
@Controller()
export class WebhookDeliveryConsumer implements OnApplicationShutdown {
  private readonly policy: DeliveryPolicy;
  private readonly agent: Dispatcher;
  private readonly allowPrivateNetworks: boolean;
  private readonly log = componentLogger('webhooks');

  constructor(
    private readonly webhooks: WebhookRepository,
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
    // Attempts before a replay count too; the retry budget starts afresh with each replay.
    const attempt = Number(delivery.header(PRIOR_ATTEMPTS_HEADER) ?? 0) + delivery.deliveryCount;
    const last = delivery.deliveryCount >= this.policy.maxAttempts;
    // Redelivered after the receiver already took it (we died before the ack): do not send twice.
    if (await this.webhooks.delivered(id)) return;
    const endpoint = decision.advertiserId ? await this.webhooks.endpoint(decision.advertiserId) : null;
    if (!endpoint?.url || !endpoint.secret) return; // the advertiser removed its webhook since
    const base = {
      deliveryId: id,
      attempt,
      advertiserId: endpoint.advertiserId,
      conversionId: decision.conversionId,
      revision: decision.revision,
      url: endpoint.url,
    };
    if (endpoint.status === 'parked') {
      await this.webhooks.record(
        { ...base, statusCode: null, error: 'endpoint parked', durationMs: 0, outcome: 'parked' },
        this.policy.parkAfter,
      );
      metrics.webhookDeliveries.labels('parked').inc();
      delivery.reject(new Error(`webhook of ${endpoint.advertiserId} is parked`));
      return;
    }
    const result = await postDecision({ ...endpoint, url: endpoint.url, secret: endpoint.secret }, decision, attempt, {
      timeoutMs: this.policy.timeoutMs,
      dispatcher: this.agent,
      allowPrivateNetworks: this.allowPrivateNetworks,
    });
    if (result.ok) {
      await this.webhooks.record({ ...base, ...result, outcome: 'delivered' }, this.policy.parkAfter);
      metrics.webhookDeliveries.labels('delivered').inc();
      return;
    }
    const parked = await this.webhooks.record({ ...base, ...result, outcome: last ? 'dead_letter' : 'retry' }, this.policy.parkAfter);
    if (last) {
      metrics.webhookDeliveries.labels('dead_letter').inc();
      if (parked) this.log.warn({ advertiserId: endpoint.advertiserId }, 'webhook endpoint parked after repeated failed deliveries');
      delivery.reject(new Error(`webhook delivery failed after ${attempt} attempt(s): ${result.error}`));
    } else if (parked) {
      // Another delivery parked the endpoint meanwhile: this one waits in the dead letters too.
      await this.webhooks.record(
        { ...base, statusCode: null, error: 'endpoint parked', durationMs: 0, outcome: 'parked' },
        this.policy.parkAfter,
      );
      metrics.webhookDeliveries.labels('parked').inc();
      delivery.reject(new Error(`webhook of ${endpoint.advertiserId} is parked`));
    } else {
      metrics.webhookDeliveries.labels('retry').inc();
      delivery.retry(retryDelayMs(delivery.deliveryCount, this.policy.retryBaseMs));
    }
  }
}
