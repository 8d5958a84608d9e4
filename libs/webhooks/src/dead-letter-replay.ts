import { DeliverPolicy, JetStreamManager, JsMsg, jetstream } from '@nats-io/jetstream';
import { headers as natsHeaders, type NatsConnection } from '@nats-io/nats-core';
import { natsToken, type Topology } from '@app/contracts';

/** The durable consumer that delivers webhooks (its dead letters are on `<root>.webhook-dlq.<advertiser>`). */
export const WEBHOOK_DURABLE = 'notifier-webhooks';

/** Header carrying the attempts a delivery already had before it was replayed. */
export const PRIOR_ATTEMPTS_HEADER = 'Arbiter-Prior-Attempts';

const FETCH = 256;

export interface ReplayResult {
  /** Deliveries put back in the queue. */
  requeued: number;
  /** Advertisers whose deliveries were requeued (their endpoints should be un-parked). */
  advertisers: string[];
  /** Dead letters that could not be read (left where they are). */
  unreadable: number;
}

/**
 * Puts dead-lettered webhook deliveries (one advertiser's, or all) back on the delivery subject and
 * removes them from the dead-letter stream. Safe to run twice at once: a requeued message's id is
 * derived from its dead-letter sequence, so JetStream drops the second copy, and a message already
 * removed by the other run is skipped. The attempts it already had travel with it in a header, so
 * attempt numbers keep counting.
 */
export async function replayWebhookDeadLetters(
  nc: NatsConnection,
  jsm: JetStreamManager,
  topology: Topology,
  advertiserId?: string,
): Promise<ReplayResult> {
  const stream = topology.streams.webhookDlq;
  const subject = advertiserId ? topology.webhookDeadLetters(natsToken(advertiserId)) : topology.allWebhookDeadLetters;
  const result: ReplayResult = { requeued: 0, advertisers: [], unreadable: 0 };
  const info = await jsm.streams.info(stream, { subjects_filter: subject }).catch(() => null);
  const pending = Object.values(info?.state.subjects ?? {}).reduce((a, b) => a + b, 0);
  if (!pending) return result;
  const js = jetstream(nc);
  const consumer = await js.consumers.get(stream, { filter_subjects: subject, deliver_policy: DeliverPolicy.All });
  const advertisers = new Set<string>();
  try {
    let seen = 0;
    while (seen < pending) {
      let got = 0;
      for await (const m of await consumer.fetch({ max_messages: Math.min(FETCH, pending - seen), expires: 5000 })) {
        got++;
        seen++;
        const advertiser = await requeue(m);
        if (advertiser === null) result.unreadable++;
        else if (advertiser !== undefined) {
          result.requeued++;
          advertisers.add(advertiser);
        }
      }
      if (got === 0) break; // removed meanwhile (another replay): nothing more to read
    }
  } finally {
    await consumer.delete().catch(() => undefined);
  }
  result.advertisers = [...advertisers];
  return result;

  /** The advertiser id when requeued, undefined when another replay took it, null when unreadable. */
  async function requeue(m: JsMsg): Promise<string | null | undefined> {
    let advertiser: string | null;
    try {
      advertiser = (JSON.parse(m.string()) as { advertiserId?: string | null }).advertiserId ?? null;
    } catch {
      return null;
    }
    const prior = Number(m.headers?.get(PRIOR_ATTEMPTS_HEADER) || 0) + Number(m.headers?.get('Arbiter-Deliveries') || 0);
    const h = natsHeaders();
    h.set(PRIOR_ATTEMPTS_HEADER, String(prior));
    // Publish before deleting (a crash in between leaves a copy, never nothing); the id makes a concurrent replay's copy a duplicate.
    await js.publish(topology.webhooks(advertiser), m.data, { msgID: `replay:${stream}:${m.seq}`, headers: h });
    const removed = await jsm.streams.deleteMessage(stream, m.seq).catch((e: Error) => {
      if (/no message found|not found/i.test(e.message)) return false;
      throw e;
    });
    return removed ? (advertiser ?? '') : undefined;
  }
}
