import type { JetStreamManager } from '@nats-io/jetstream';
import { BrokerReadError, readStoredIds } from '@app/messaging';
import { componentLogger, metrics } from '@app/observability';

/** How much one batch of late redeliveries may read (about 0.7 s at the 7 µs a message measured). */
export const MAX_READ_MESSAGES = 100_000;
/** Ids kept across batches, all subjects together (tens of MB); the least recently used subjects go first. */
const MAX_CACHED_IDS = 500_000;

/** What DECISIONS holds on one subject: every id stored from `from` through sequence `readTo`. */
interface Read {
  from: Date;
  readTo: number;
  ids: Set<string>;
}

/**
 * The message ids DECISIONS already holds, per advertiser subject, for the late check of the
 * notifier. A subject is read once from the earliest time asked and then extended from the
 * sequence reached, so a burst of late redeliveries after an outage (batch after batch for the
 * same advertisers) reads each stored decision once, not once per batch.
 */
export class StoredDecisionIds {
  private readonly log = componentLogger('decisions');
  private readonly reads = new Map<string, Read>();

  constructor(
    private readonly jsm: JetStreamManager,
    private readonly stream: string,
    private readonly maxCachedIds = MAX_CACHED_IDS,
  ) {}

  /**
   * The ids stored on `subject` from `since` on (and possibly some stored before it), up to its last
   * message now. Reads at most `budget.left` messages, and takes them off it. When the budget ends
   * the read first, rejects (a `BrokerReadError`: the batch is retried after a back-off) and keeps
   * what it read, so that the next attempt continues from there.
   */
  async since(subject: string, since: Date, budget: { left: number }): Promise<Set<string>> {
    let read = this.reads.get(subject);
    // An earlier read from a later time misses what is asked: read again from `since`.
    if (!read || read.from > since) read = { from: since, readTo: 0, ids: new Set() };
    const got = await readStoredIds(
      this.jsm,
      this.stream,
      subject,
      read.readTo > 0 ? { afterSeq: read.readTo } : { since: read.from },
      budget.left,
    );
    budget.left -= got.read;
    for (const id of got.ids) read.ids.add(id);
    read.readTo = Math.max(read.readTo, got.readTo);
    this.keep(subject, read);
    if (got.readTo < got.lastSeq) {
      metrics.lateReadsCapped.inc();
      this.log.warn(
        { subject, readTo: got.readTo, lastSeq: got.lastSeq, maxMessages: MAX_READ_MESSAGES },
        'late redelivery: DECISIONS holds more than one batch may read; the batch is retried and the read continues from here',
      );
      throw new BrokerReadError(`read ${subject} back to sequence ${got.readTo} of ${got.lastSeq}: continues on the next attempt`);
    }
    return read.ids;
  }

  /** Keeps `read` as the most recent, dropping the least recently used others beyond the size bound. */
  private keep(subject: string, read: Read): void {
    this.reads.delete(subject);
    this.reads.set(subject, read);
    let total = 0;
    for (const r of this.reads.values()) total += r.ids.size;
    for (const [s, r] of this.reads) {
      if (total <= this.maxCachedIds || s === subject) break;
      this.reads.delete(s);
      total -= r.ids.size;
    }
  }
}
