import { DeliverPolicy, JetStreamManager, jetstream } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/nats-core';
import type { Decision, Topology } from '@app/contracts';

/** The durable consumer that delivers webhooks (its dead letters are on `<root>.dlq.<durable>`). */
export const WEBHOOK_DURABLE = 'notifier-webhooks';

/**
 * Puts dead-lettered webhook deliveries (all, or one advertiser's) back on the delivery subject
 * and removes them from the dead-letter stream. Returns how many were requeued.
 */
export async function replayWebhookDeadLetters(
  nc: NatsConnection,
  jsm: JetStreamManager,
  topology: Topology,
  advertiserId?: string,
): Promise<number> {
  const stream = topology.streams.dlq;
  const subject = topology.dlq(WEBHOOK_DURABLE);
  const info = await jsm.streams.info(stream, { subjects_filter: subject }).catch(() => null);
  const pending = info?.state.subjects?.[subject] ?? 0;
  if (!pending) return 0;
  const js = jetstream(nc);
  const consumer = await js.consumers.get(stream, { filter_subjects: subject, deliver_policy: DeliverPolicy.All });
  let requeued = 0;
  let seen = 0;
  const messages = await consumer.fetch({ max_messages: pending, expires: 5000 });
  for await (const m of messages) {
    seen++;
    const decision = JSON.parse(m.string()) as Decision;
    if (!advertiserId || decision.advertiserId === advertiserId) {
      // A fresh message id: the original one is still inside the de-duplication window.
      await js.publish(topology.webhooks(decision.advertiserId), m.data, { msgID: `replay:${m.seq}:${Date.now()}` });
      await jsm.streams.deleteMessage(stream, m.seq);
      requeued++;
    }
    if (seen >= pending) break;
  }
  await consumer.delete().catch(() => undefined);
  return requeued;
}
