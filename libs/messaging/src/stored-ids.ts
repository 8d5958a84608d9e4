import { DeliverPolicy, JetStreamManager } from '@nats-io/jetstream';
import { BrokerReadError } from './errors';

/** Fetches of message headers at most this large while reading a subject back. */
const READ_BATCH = 1000;

/** What a read of a subject found. */
export interface StoredIdsRead {
  /** The Nats-Msg-Id of every message read. */
  ids: Set<string>;
  /** Messages read (the cost). */
  read: number;
}

/**
 * The Nats-Msg-Id of the messages `stream` holds on `subject` from `since` on, up to its last one
 * when asked. For a publisher that may publish again after the duplicate window has passed (a late
 * redelivery): JetStream no longer drops that copy, so it looks first. Reads headers only, with an
 * ordered consumer deleted afterwards; costs one lookup when nothing was stored since. Every failure,
 * and a read that stops short of what the stream held, rejects with a `BrokerReadError` (kept and
 * retried, never the message's fault): an answer missing some ids cannot be trusted.
 */
export async function readStoredIds(jsm: JetStreamManager, stream: string, subject: string, since: Date): Promise<StoredIdsRead> {
  const ids = new Set<string>();
  try {
    // nats.js answers null when the subject holds nothing; a missing stream is an error (retried).
    const last = await jsm.streams.getMessage(stream, { last_by_subj: subject });
    if (!last || last.time.getTime() < since.getTime()) return { ids, read: 0 };
    const consumer = await jsm.jetstream().consumers.get(stream, {
      filter_subjects: subject,
      deliver_policy: DeliverPolicy.StartTime,
      opt_start_time: since.toISOString(),
      headers_only: true,
    });
    let readTo = 0;
    let read = 0;
    try {
      while (readTo < last.seq) {
        let seen = 0;
        for await (const m of await consumer.fetch({ max_messages: READ_BATCH, expires: 2000 })) {
          seen++;
          read++;
          const id = m.headers?.get('Nats-Msg-Id');
          if (id) ids.add(id);
          readTo = m.seq;
          // Up to the last message there was when asked: later ones are not this publisher's earlier copies.
          // None pending: the last one was removed meanwhile, and there is nothing more to read.
          if (m.seq >= last.seq || m.info.pending === 0) {
            readTo = Math.max(m.seq, last.seq);
            break;
          }
        }
        // The stream held more when asked (up to `last`): an answer missing some cannot be trusted.
        if (seen === 0) throw new BrokerReadError(`could not read ${subject} back to sequence ${last.seq} on ${stream}`);
      }
    } finally {
      await consumer.delete().catch(() => undefined);
    }
    return { ids, read };
  } catch (e) {
    if (e instanceof BrokerReadError) throw e;
    // JetStreamApiError, JetStreamStatusError, heartbeats missed...: the broker's, so the message is kept.
    throw new BrokerReadError(`reading ${subject} back on ${stream}: ${(e as Error)?.message ?? e}`, { cause: e });
  }
}
