import { DeliverPolicy, JetStreamManager } from '@nats-io/jetstream';
import { BrokerReadError } from './errors';

/** Fetches of message headers at most this large while reading a subject back. */
const READ_BATCH = 1000;

/** Where a read of a subject starts: at a stored time, or after a sequence an earlier read reached. */
export type ReadFrom = { since: Date } | { afterSeq: number };

/** What a read of a subject found, and how far it got. */
export interface StoredIdsRead {
  /** The Nats-Msg-Id of every message read. */
  ids: Set<string>;
  /** The stream sequence read up to: every message of the subject from the start through it is in `ids`. */
  readTo: number;
  /** Messages read (the cost). */
  read: number;
  /** The subject's last sequence when asked; `readTo` is below it only when `maxMessages` stopped the read. */
  lastSeq: number;
}

/**
 * The Nats-Msg-Id of the messages `stream` holds on `subject` from `from` on, up to its last one
 * when asked, reading at most `maxMessages` (the caller continues from `readTo`). For a publisher
 * that may publish again after the duplicate window has passed (a late redelivery): JetStream no
 * longer drops that copy, so it looks first. Reads headers only, with an ordered consumer deleted
 * afterwards; costs one lookup when nothing was stored since. Every failure, and a read that stops
 * short of what the stream held, rejects with a `BrokerReadError` (kept and retried, never the
 * message's fault): an answer missing some ids cannot be trusted.
 */
export async function readStoredIds(
  jsm: JetStreamManager,
  stream: string,
  subject: string,
  from: ReadFrom,
  maxMessages = Infinity,
): Promise<StoredIdsRead> {
  const ids = new Set<string>();
  try {
    // nats.js answers null when the subject holds nothing; a missing stream is an error (retried).
    const last = await jsm.streams.getMessage(stream, { last_by_subj: subject });
    const after = 'afterSeq' in from ? from.afterSeq : 0;
    if (!last) return { ids, readTo: after, read: 0, lastSeq: 0 };
    if ('afterSeq' in from ? last.seq <= from.afterSeq : last.time.getTime() < from.since.getTime())
      return { ids, readTo: Math.max(after, last.seq), read: 0, lastSeq: last.seq };
    const consumer = await jsm.jetstream().consumers.get(stream, {
      filter_subjects: subject,
      ...('afterSeq' in from
        ? { deliver_policy: DeliverPolicy.StartSequence, opt_start_seq: from.afterSeq + 1 }
        : { deliver_policy: DeliverPolicy.StartTime, opt_start_time: from.since.toISOString() }),
      headers_only: true,
    });
    let readTo = after;
    let read = 0;
    try {
      while (readTo < last.seq && read < maxMessages) {
        let seen = 0;
        for await (const m of await consumer.fetch({ max_messages: Math.min(READ_BATCH, maxMessages - read), expires: 2000 })) {
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
          if (read >= maxMessages) break;
        }
        // The stream held more when asked (up to `last`): an answer missing some cannot be trusted.
        if (seen === 0) throw new BrokerReadError(`could not read ${subject} back to sequence ${last.seq} on ${stream}`);
      }
    } finally {
      await consumer.delete().catch(() => undefined);
    }
    return { ids, readTo, read, lastSeq: last.seq };
  } catch (e) {
    if (e instanceof BrokerReadError) throw e;
    // JetStreamApiError, JetStreamStatusError, heartbeats missed...: the broker's, so the message is kept.
    throw new BrokerReadError(`reading ${subject} back on ${stream}: ${(e as Error)?.message ?? e}`, { cause: e });
  }
}
