import type { JetStreamManager } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/nats-core';
import { natsToken, type Topology } from '@app/contracts';
import { DEAD_LETTER_HEADERS, DeadLetters, ReplayOutcome } from '@app/messaging';

/** The durable consumer that delivers webhooks (its dead letters are on `<root>.webhook-dlq.<advertiser>`). */
export const WEBHOOK_DURABLE = 'notifier-webhooks';

/** Header carrying the attempts a delivery already had before it was replayed. */
export const PRIOR_ATTEMPTS_HEADER = DEAD_LETTER_HEADERS.priorAttempts;

/**
 * Hands dead-lettered webhook deliveries (one advertiser's, or all) back to the webhook consumer:
 * the one dead-letter replay of the engine (`DeadLetters.replay`), narrowed to WEBHOOK_DLQ. The
 * attempts a delivery already had travel with it, so attempt numbers keep counting.
 */
export async function replayWebhookDeadLetters(
  nc: NatsConnection,
  jsm: JetStreamManager,
  topology: Topology,
  advertiserId?: string,
): Promise<ReplayOutcome & { requeued: number; unreadable: number }> {
  const outcome = await new DeadLetters(nc, jsm, topology).replay(
    { stream: 'WEBHOOK_DLQ', subject: advertiserId ? topology.webhookDeadLetters(natsToken(advertiserId)) : undefined },
    new Set([WEBHOOK_DURABLE]),
  );
  return { ...outcome, requeued: outcome.replayed, unreadable: outcome.skipped.length };
}
