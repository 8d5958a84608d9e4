import { DeliverPolicy, JetStreamManager } from '@nats-io/jetstream';
import { PublishError } from './publisher';

/** Fetches of message headers at most this large while reading a subject back. */
const READ_BATCH = 1000;

/**
 * The Nats-Msg-Id of every message `stream` holds on `subject` stored at or after `since`, as the
 * stream stood when asked. For a publisher that may publish again after the duplicate window has
 * passed (a late redelivery): JetStream no longer drops that copy, so it looks first. Reads headers
 * only, with an ordered consumer deleted afterwards; costs one lookup when nothing was stored since.
 * Rejects (transient, a broker failure) when it cannot read up to what the stream held.
 */
export async function storedMessageIds(jsm: JetStreamManager, stream: string, subject: string, since: Date): Promise<Set<string>> {
  const ids = new Set<string>();
  const last = await jsm.streams.getMessage(stream, { last_by_subj: subject }).catch((e: Error) => {
    if (/no message found|not found/i.test(e.message)) return null;
    throw e;
  });
  if (!last || last.time.getTime() < since.getTime()) return ids;
  const consumer = await jsm.jetstream().consumers.get(stream, {
    filter_subjects: subject,
    deliver_policy: DeliverPolicy.StartTime,
    opt_start_time: since.toISOString(),
    headers_only: true,
  });
  try {
    for (let done = false; !done;) {
      let seen = 0;
      for await (const m of await consumer.fetch({ max_messages: READ_BATCH, expires: 2000 })) {
        seen++;
        const id = m.headers?.get('Nats-Msg-Id');
        if (id) ids.add(id);
        // Up to the last message there was when asked: later ones are not this publisher's earlier copies.
        if (m.seq >= last.seq || m.info.pending === 0) {
          done = true;
          break;
        }
      }
      // The stream held more when asked (up to `last`): an answer missing some cannot be trusted.
      if (seen === 0) throw new PublishError(`could not read ${subject} back to sequence ${last.seq} on ${stream}`, true);
    }
  } finally {
    await consumer.delete().catch(() => undefined);
  }
  return ids;
}
