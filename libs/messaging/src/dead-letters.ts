import { DeliverPolicy, JetStreamClient, JetStreamManager, jetstream } from '@nats-io/jetstream';
import { headers as natsHeaders, type MsgHdrs, type NatsConnection } from '@nats-io/nats-core';
import type { Topology } from '@app/contracts';
import { metrics } from '@app/observability';
import { DEAD_LETTER_HEADERS as H } from './dead-letter-headers';
import { ITEMS_HEADER } from './batch';

/** The dead-letter streams by the name the CLI, the API and the `arbiter_dead_letters` gauge use. */
export type DeadLetterStream = 'DLQ' | 'WEBHOOK_DLQ';
const STREAMS: DeadLetterStream[] = ['DLQ', 'WEBHOOK_DLQ'];

/** One dead letter, without its payload (payloads carry end-user IPs). */
export interface DeadLetter {
  /** `<stream>:<sequence>`, e.g. `DLQ:42`: what `replay --id` takes. */
  id: string;
  stream: DeadLetterStream;
  seq: number;
  /** When it was dead-lettered. */
  at: string;
  /** The durable consumer that parked it, and the only one a replay hands it back to. */
  consumer: string | null;
  /** Where it was consumed from: subject, stream and sequence. */
  subject: string | null;
  sourceStream: string | null;
  sourceSeq: number | null;
  eventId: string | null;
  error: string | null;
  errorType: string | null;
  deliveries: number | null;
  replays: number;
  bytes: number;
}

/** Which dead letters: every criterion given must hold. */
export interface DeadLetterFilter {
  consumer?: string;
  /** Dead-lettered at or after. */
  since?: Date;
  /** Dead-lettered before. */
  until?: Date;
  /** `<stream>:<sequence>` ids. */
  ids?: string[];
  stream?: DeadLetterStream;
  /** A subject of the dead-letter stream (one advertiser's webhook dead letters). */
  subject?: string;
}

export interface ReplayOutcome {
  /** Dead letters handed back to their consumer (and removed from the dead-letter stream). */
  replayed: number;
  byConsumer: Record<string, number>;
  /** Asked for by id but not there (already replayed, or never existed). */
  missing: string[];
  /** Left where they are: no consumer of this engine takes them back. */
  skipped: string[];
  /** The replayed dead letters. */
  items: DeadLetter[];
}

/** At most this many dead letters are read by one list or replay. */
export const DEAD_LETTER_SCAN_LIMIT = 10_000;
const FETCH = 256;

/**
 * Reads and replays the dead letters of every stream (DLQ and WEBHOOK_DLQ): one mechanism for the
 * events', the verdicts', the decisions' and the webhooks' dead letters. A replay puts each dead
 * letter on `<root>.replay.<durable>`, which only the consumer that parked it reads (its
 * `<durable>-replay` companion, the same handler), then removes it from the dead-letter stream.
 * Idempotent: the replayed copy's id is derived from the dead letter's stream and sequence (a
 * concurrent replay's copy is a duplicate JetStream drops), and a dead letter is replayed once —
 * it is gone afterwards; a replayed message that fails again becomes a new dead letter.
 */
export class DeadLetters {
  private readonly js: JetStreamClient;

  constructor(
    nc: NatsConnection,
    private readonly jsm: JetStreamManager,
    private readonly topology: Topology,
  ) {
    this.js = jetstream(nc);
  }

  /** Dead letters matching the filter, oldest first, up to `limit`; `more` when others match too. */
  async list(filter: DeadLetterFilter, limit = 100): Promise<{ items: DeadLetter[]; more: boolean }> {
    const items: DeadLetter[] = [];
    for await (const { letter } of this.scan(filter)) {
      if (items.length === limit) return { items, more: true };
      items.push(letter);
    }
    return { items, more: false };
  }

  /** Hands the matching dead letters back to the consumers that parked them (`consumers`: the engine's durables). */
  async replay(filter: DeadLetterFilter, consumers: ReadonlySet<string>): Promise<ReplayOutcome> {
    const out: ReplayOutcome = { replayed: 0, byConsumer: {}, missing: [], skipped: [], items: [] };
    const found = new Set<string>();
    for await (const { letter, data, header } of this.scan(filter)) {
      found.add(letter.id);
      if (!letter.consumer || !consumers.has(letter.consumer)) {
        out.skipped.push(letter.id);
        continue;
      }
      const h = natsHeaders();
      // Arbiter-Items: a batch message an older consumer parked whole sizes its handler calls by it again.
      for (const name of [H.subject, H.stream, H.streamSeq, H.eventId, H.error, H.errorType, ITEMS_HEADER]) {
        const v = header?.get(name);
        if (v) h.set(name, v);
      }
      // Webhook attempt numbers keep counting across replays.
      h.set(H.priorAttempts, String(Number(header?.get(H.priorAttempts) || 0) + (letter.deliveries ?? 0)));
      h.set(H.replays, String(letter.replays + 1));
      // Publish before deleting: a crash in between leaves a copy, never nothing.
      await this.js.publish(this.topology.replay(letter.consumer), data, {
        msgID: `replay:${this.name(letter.stream)}:${letter.seq}`,
        headers: h,
      });
      const removed = await this.jsm.streams.deleteMessage(this.name(letter.stream), letter.seq).catch((e: Error) => {
        if (/no message found|not found/i.test(e.message)) return false;
        throw e;
      });
      if (!removed) continue; // another replay took it meanwhile: its copy is the one kept
      out.replayed++;
      out.byConsumer[letter.consumer] = (out.byConsumer[letter.consumer] ?? 0) + 1;
      out.items.push(letter);
      metrics.deadLettersReplayed.labels(letter.consumer).inc();
    }
    out.missing = (filter.ids ?? []).filter((id) => !found.has(id));
    return out;
  }

  private name(stream: DeadLetterStream): string {
    return stream === 'DLQ' ? this.topology.streams.dlq : this.topology.streams.webhookDlq;
  }

  private async *scan(filter: DeadLetterFilter): AsyncGenerator<{ letter: DeadLetter; data: Uint8Array; header?: MsgHdrs }> {
    let seen = 0;
    const matches = (l: DeadLetter) =>
      (!filter.consumer || l.consumer === filter.consumer) &&
      (!filter.since || Date.parse(l.at) >= filter.since.getTime()) &&
      (!filter.until || Date.parse(l.at) < filter.until.getTime());
    if (filter.ids) {
      for (const id of filter.ids) {
        const [stream, seqText] = id.split(':');
        const seq = Number(seqText);
        if (!STREAMS.includes(stream as DeadLetterStream) || !Number.isSafeInteger(seq) || seq < 1) continue;
        if (filter.stream && filter.stream !== stream) continue;
        const m = await this.jsm.streams.getMessage(this.name(stream as DeadLetterStream), { seq }).catch(() => null);
        if (!m) continue;
        const letter = describe(stream as DeadLetterStream, m.seq, m.time, m.header, m.data.length);
        if (matches(letter)) yield { letter, data: m.data, header: m.header };
      }
      return;
    }
    for (const stream of filter.stream ? [filter.stream] : STREAMS) {
      const subject = this.subjectFor(stream, filter);
      if (subject === null) continue;
      const info = await this.jsm.streams.info(this.name(stream), { subjects_filter: subject }).catch(() => null);
      const pending = Object.values(info?.state.subjects ?? {}).reduce((a, b) => a + b, 0);
      if (!info || !pending) continue;
      const last = info.state.last_seq;
      const consumer = await this.js.consumers.get(this.name(stream), {
        filter_subjects: subject,
        ...(filter.since
          ? { deliver_policy: DeliverPolicy.StartTime, opt_start_time: filter.since.toISOString() }
          : { deliver_policy: DeliverPolicy.All }),
      });
      try {
        let done = false;
        while (!done) {
          let got = 0;
          for await (const m of await consumer.fetch({ max_messages: FETCH, expires: 2_000 })) {
            got++;
            const letter = describe(stream, m.seq, new Date(Math.floor(m.info.timestampNanos / 1e6)), m.headers, m.data.length);
            if (filter.until && Date.parse(letter.at) >= filter.until.getTime()) done = true;
            if (!done && matches(letter)) {
              if (++seen > DEAD_LETTER_SCAN_LIMIT) return;
              yield { letter, data: m.data, header: m.headers };
            }
            if (m.seq >= last || m.info.pending === 0) done = true;
            if (done) break;
          }
          if (got === 0) done = true;
        }
      } finally {
        await consumer.delete().catch(() => undefined);
      }
    }
  }

  /** The part of a dead-letter stream the filter can be narrowed to, or null when none of it can match. */
  private subjectFor(stream: DeadLetterStream, filter: DeadLetterFilter): string | null {
    if (filter.subject)
      return filter.subject.startsWith(`${this.topology.root}.${stream === 'DLQ' ? 'dlq' : 'webhook-dlq'}.`) ? filter.subject : null;
    if (stream === 'WEBHOOK_DLQ') return this.topology.allWebhookDeadLetters;
    // A consumer's dead letters are on its own subject, except where it chose another (webhooks).
    return filter.consumer ? this.topology.dlq(filter.consumer) : this.topology.allDlq;
  }
}

function describe(stream: DeadLetterStream, seq: number, at: Date, h: MsgHdrs | undefined, bytes: number): DeadLetter {
  const get = (name: string) => h?.get(name) || null;
  const num = (name: string) => (get(name) === null ? null : Number(get(name)));
  return {
    id: `${stream}:${seq}`,
    stream,
    seq,
    at: at.toISOString(),
    consumer: get(H.source),
    subject: get(H.subject),
    sourceStream: get(H.stream),
    sourceSeq: num(H.streamSeq),
    eventId: get(H.eventId),
    error: get(H.error),
    errorType: get(H.errorType),
    deliveries: num(H.deliveries),
    replays: num(H.replays) ?? 0,
    bytes,
  };
}
