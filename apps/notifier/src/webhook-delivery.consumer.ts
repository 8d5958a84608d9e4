import { randomUUID } from 'node:crypto';
import { Controller, Inject, OnApplicationShutdown } from '@nestjs/common';
import type { Dispatcher } from 'undici';
import { EventPattern, Payload } from '@nestjs/microservices';
import { ARBITER_CONFIG, ArbiterConfig, WEBHOOK_DELIVERY_SLOTS } from '@app/config';
import { ConsumerName, Decision, Topology } from '@app/contracts';
import { Delivery } from '@app/messaging';
import { componentLogger, metrics } from '@app/observability';
import { ChurnVacuum, WebhookAttempt, WebhookOwner, WebhookRepository } from '@app/storage';
import {
  DeliveryPolicy,
  PRIOR_ATTEMPTS_HEADER,
  REPLAYS_HEADER,
  deliveryAgent,
  deliveryId,
  retryDelayMs,
  sendSigned,
  waitDelayMs,
} from '@app/webhooks';
import { DeliveryTargetService } from './delivery-target.service';

/**
 * One delivery per message, for both audiences (an advertiser's webhook, a publisher's partner
 * postback): send the signed request; on failure, record the attempt and ask JetStream for the
 * message again after an exponential, jittered delay; after the last attempt, or once the endpoint
 * is parked, dead-letter it (replayable through the API). Every attempt is a row in
 * webhook_attempts, numbered across replays. One send in flight per delivery and owner, across the
 * copies of a delivery on WEBHOOKS and across notifiers: each attempt claims it first (webhook_claims).
 * A partner has WEBHOOK_MAX_IN_FLIGHT_PER_PARTNER deliveries in flight in this process, more only
 * while half the slots are free: a slow endpoint cannot hold the delivery slots every partner shares,
 * and a lone busy one is not held to its cap while the others sit idle.
 */
@Controller()
export class WebhookDeliveryConsumer implements OnApplicationShutdown {
  private readonly policy: DeliveryPolicy;
  private readonly agent: Dispatcher;
  private readonly allowPrivateNetworks: boolean;
  /**
   * How long a claim holds when its holder never records the attempt (killed mid-send): longer than
   * the send's timeout, plus a minute for resolving the endpoint and recording the attempt around it.
   * A holder still sending after this may meet a second copy sent beside it.
   */
  private readonly claimLeaseMs: number;
  /** webhook_claims takes a row and deletes it per attempt: vacuumed here, as autovacuum may be off. */
  private readonly claimsVacuum: ChurnVacuum;
  private readonly maxInFlightPerPartner: number;
  /** Deliveries in flight per partner (its WEBHOOKS subject: an advertiser's webhook, a publisher's postbacks), in this process. */
  private readonly inFlight = new Map<string, number>();
  /** Deliveries in flight in this process, all partners (at most the consumer's concurrency). */
  private inFlightTotal = 0;
  /**
   * A partner at its cap takes one more slot only while fewer are in flight than this: half the slots
   * stay free for the others. A lone busy partner then gets 8, what the HTTP client opens per receiver.
   */
  private readonly sharedUpTo = WEBHOOK_DELIVERY_SLOTS / 2;
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
    this.claimLeaseMs = config.WEBHOOK_TIMEOUT_MS + 60_000;
    this.claimsVacuum = webhooks.claimsVacuum();
    this.maxInFlightPerPartner = config.WEBHOOK_MAX_IN_FLIGHT_PER_PARTNER;
  }

  async onApplicationShutdown(): Promise<void> {
    await this.agent.close();
  }

  @EventPattern(ConsumerName.NotifierWebhooks)
  async deliver(@Payload() batch: Delivery<Decision>[]): Promise<void> {
    for (const delivery of batch) await this.attempt(delivery);
  }

  private async attempt(delivery: Delivery<Decision>): Promise<void> {
    const owner = this.topology.webhookOwner(delivery.subject);
    // The subject names the partner: `….webhooks.<advertiser>`, `….webhooks.publisher.<publisher>` (all
    // its postbacks, one per offer at most: a cap per postback would multiply with its offers).
    const partner = delivery.subject;
    const busy = this.inFlight.get(partner) ?? 0;
    // Over its cap, a partner uses idle slots, not those the others may need.
    if (busy >= this.maxInFlightPerPartner && this.inFlightTotal >= this.sharedUpTo)
      return this.waitForTurn(delivery, owner, 'partner_busy');
    this.inFlight.set(partner, busy + 1);
    this.inFlightTotal++;
    try {
      await this.attemptInTurn(delivery, owner);
    } finally {
      this.inFlightTotal--;
      const left = this.inFlight.get(partner)! - 1;
      if (left > 0) this.inFlight.set(partner, left);
      else this.inFlight.delete(partner);
    }
  }

  /**
   * Hands the delivery back to JetStream without a request: not sent, not recorded, not dead-lettered,
   * and nothing of its retry budget spent (counted in recorded requests). Asked for again after a
   * short delay, 0.5 s doubling to 2 s with its deliveries (waitDelayMs): what it waits for, a slot of
   * its partner or another copy's send, ends within WEBHOOK_TIMEOUT_MS.
   */
  private waitForTurn(delivery: Delivery<Decision>, owner: WebhookOwner, why: 'partner_busy' | 'claimed_elsewhere'): void {
    metrics.webhookDeliveries.labels(owner, why).inc();
    delivery.retry(waitDelayMs(delivery.deliveryCount));
  }

  private async attemptInTurn(delivery: Delivery<Decision>, owner: WebhookOwner): Promise<void> {
    const id = deliveryId(delivery.data);
    const holder = randomUUID();
    if (!(await this.webhooks.claim(id, owner, holder, this.claimLeaseMs))) {
      // Another copy of this delivery is being sent (queued again while this one waited, a replayed
      // dead letter, another notifier): not sent beside it, not dropped either. Asked again later, it
      // is skipped once that copy delivered it, or sent if that one failed.
      return this.waitForTurn(delivery, owner, 'claimed_elsewhere');
    }
    let recorded = false;
    try {
      ({ recorded } = await this.attemptClaimed(delivery, id, owner, holder));
    } finally {
      // Ended without an attempt to record (or the record failed): the next copy need not wait for the lease.
      if (!recorded)
        await this.webhooks
          .release(id, owner, holder)
          .catch((err) => this.log.warn({ err, deliveryId: id }, 'could not release a delivery claim'));
      // The claim's row is deleted now (or its lease will be taken over): a dead row to reclaim.
      await this.claimsVacuum.deleted(1).catch((err) => this.log.warn({ err }, 'could not vacuum the delivery claims; will retry'));
    }
  }

  /** The attempt of a claimed delivery; `recorded`: an attempt was recorded, which released the claim. */
  private async attemptClaimed(
    delivery: Delivery<Decision>,
    id: string,
    owner: WebhookOwner,
    holder: string,
  ): Promise<{ recorded: boolean }> {
    const decision = delivery.data;
    // Attempts before a replay count too (numbers keep counting); the retry budget starts afresh with each replay.
    const prior = Number(delivery.header(PRIOR_ATTEMPTS_HEADER) ?? 0);
    // The replay round: every copy replayed together carries the same, whatever its own deliveries.
    const replay = Number(delivery.header(REPLAYS_HEADER) ?? 0);
    // Asked after the claim: a copy that held it until now and delivered it is seen here. The budget
    // is the requests recorded in this replay round, by any copy of it: not this copy's JetStream
    // deliveries, which count its waits on the claim too and differ between copies.
    const { delivered, requests, lastAttempt } = await this.webhooks.progress(id, owner, replay);
    // Another copy delivered it, or redelivered after the receiver already took it (we died before
    // the ack): do not send twice.
    if (delivered) return { recorded: false };
    if (requests >= this.policy.maxAttempts) {
      // Another copy spent this round's attempts and dead-lettered it: this one waits there beside
      // it (a replay of both sends once: this claim and check), with no request and no record of its
      // own (the endpoint's dead-letter count takes the delivery once).
      metrics.webhookDeliveries.labels(owner, 'spent_elsewhere').inc();
      this.log.info(
        { deliveryId: id, owner, replay, requests },
        'delivery already failed its attempts in another copy: dead-lettered beside it, unsent',
      );
      delivery.reject(new Error(`webhook delivery ${id} already failed its ${requests} attempt(s)`));
      return { recorded: false };
    }
    // Numbered after every attempt recorded, by any copy in any round (the header's count when older
    // attempts are no longer recorded).
    const attempt = Math.max(prior, lastAttempt) + 1;
    const last = requests + 1 >= this.policy.maxAttempts;
    const target = await this.targets.resolve(delivery.subject, decision);
    if (!target) return { recorded: false }; // the owner removed its webhook or postback since
    const { endpoint, request } = target;
    const base: Omit<WebhookAttempt, 'statusCode' | 'error' | 'durationMs' | 'outcome'> = {
      deliveryId: id,
      attempt,
      replay,
      owner,
      advertiserId: owner === 'advertiser' ? endpoint.ownerId : null,
      publisherId: owner === 'publisher' ? endpoint.ownerId : null,
      postbackId: owner === 'publisher' ? endpoint.id : null,
      conversionId: decision.conversionId,
      revision: decision.revision,
      url: request.url,
    };
    const who = { owner, ownerId: endpoint.ownerId, endpointId: endpoint.id };
    if (endpoint.status === 'parked') {
      await this.park(delivery, base, who, holder);
      return { recorded: true };
    }
    const result = await sendSigned(
      { ...request, attempt },
      { timeoutMs: this.policy.timeoutMs, dispatcher: this.agent, allowPrivateNetworks: this.allowPrivateNetworks },
    );
    if (result.ok) {
      await this.webhooks.record({ ...base, ...result, outcome: 'delivered' }, this.policy.parkAfter, holder);
      metrics.webhookDeliveries.labels(owner, 'delivered').inc();
      return { recorded: true };
    }
    const parked = await this.webhooks.record(
      { ...base, ...result, outcome: last ? 'dead_letter' : 'retry' },
      this.policy.parkAfter,
      holder,
    );
    if (last) {
      metrics.webhookDeliveries.labels(owner, 'dead_letter').inc();
      if (parked) this.log.warn(who, `${owner === 'advertiser' ? 'webhook' : 'postback'} endpoint parked after repeated failed deliveries`);
      delivery.reject(new Error(`webhook delivery failed after ${attempt} attempt(s): ${result.error}`));
    } else if (parked) {
      // Another delivery parked the endpoint meanwhile: this one waits in the dead letters too.
      // Its claim ended with the record above.
      await this.park(delivery, base, who, null);
    } else {
      metrics.webhookDeliveries.labels(owner, 'retry').inc();
      delivery.retry(retryDelayMs(requests + 1, this.policy.retryBaseMs));
    }
    return { recorded: true };
  }

  /** A parked endpoint gets no request: the delivery is recorded and waits in the dead letters for a replay. */
  private async park(
    delivery: Delivery<Decision>,
    base: Omit<WebhookAttempt, 'statusCode' | 'error' | 'durationMs' | 'outcome'>,
    who: { owner: string; ownerId: string; endpointId: string },
    /** The claim the record releases; null when an earlier record of this attempt released it. */
    holder: string | null,
  ): Promise<void> {
    await this.webhooks.record(
      { ...base, statusCode: null, error: 'endpoint parked', durationMs: 0, outcome: 'parked' },
      this.policy.parkAfter,
      holder ?? undefined,
    );
    metrics.webhookDeliveries.labels(who.owner, 'parked').inc();
    delivery.reject(new Error(`${who.owner === 'advertiser' ? 'webhook' : 'postback'} of ${who.ownerId} is parked`));
  }
}
