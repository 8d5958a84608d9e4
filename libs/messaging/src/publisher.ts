import type { PubAck } from '@nats-io/jetstream';
import { NatsConnection, Subscription, createInbox, headers } from '@nats-io/nats-core';
import { EncodedJson, ITEMS_HEADER, MAX_BATCH_BYTES } from './batch';

export interface Outgoing {
  subject: string;
  payload: unknown;
  /** Nats-Msg-Id: JetStream drops a second publish with the same id inside the duplicate window. */
  msgId: string;
  /** Items in a batch message (`batchMessages`): sent as the `Arbiter-Items` header. */
  items?: number;
  /** Sent as the `Arbiter-Republished` header (`REPUBLISHED_HEADER`): the message repeats a publish made no earlier than this. */
  republishedFrom?: string;
}

/**
 * On a VERDICTS message whose decisions the scorer may have published before (a remembered outcome, a
 * revision whose earlier publish was not acknowledged): the earliest time that publish can have been
 * made (ISO 8601; the earliest `decidedAt` among them). Past the duplicate window JetStream stores
 * such a message again, a first delivery for the notifier, which checks it like a late redelivery.
 */
export const REPUBLISHED_HEADER = 'Arbiter-Republished';

/**
 * A publish the stream refused or did not acknowledge in time. `transient` when trying again later
 * can succeed (no ack in time, nobody answering, connection gone: NATS restarting or a cluster
 * electing a leader); the consumers then nak instead of dead-lettering the message they handle.
 */
export class PublishError extends Error {
  override readonly name = 'PublishError';
  constructor(
    message: string,
    readonly transient = false,
    /** Refused for its size (the server's max_payload, the stream's max_msg_size): a smaller message may be stored. */
    readonly tooLarge = false,
  ) {
    super(message);
  }
}

/** Room left in a message for its headers (Nats-Msg-Id, Arbiter-Items), which count against the size limits. */
const HEADER_ROOM = 512;

/** JetStream's error code for a message larger than the stream's max_msg_size. */
const MESSAGE_TOO_LARGE = 10054;

interface Waiting {
  resolve(ack: PubAck): void;
  reject(error: Error): void;
  subject: string;
  deadline: number;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/**
 * Publishes JSON to JetStream and resolves only when the stream has stored it.
 *
 * The same protocol as the client's `js.publish` (a core publish with a reply subject, the
 * stream's ack or error as the reply), pipelined over one reply subscription: no request object,
 * timer or pre-built Error per message, which was a quarter of the gateway's CPU under load. Acks
 * that do not come within `timeoutMs` reject (swept every 250 ms); the message may still have been
 * stored, which its Nats-Msg-Id makes harmless when it is sent again.
 */
export class JetStreamPublisher {
  private readonly prefix = `${createInbox()}.`;
  private readonly waiting = new Map<string, Waiting>();
  private readonly subscription: Subscription;
  private readonly sweeper: NodeJS.Timeout;
  private sequence = 0;
  private closed = false;

  constructor(
    private readonly nc: NatsConnection,
    private readonly timeoutMs = 10_000,
  ) {
    this.subscription = nc.subscribe(`${this.prefix}*`, {
      callback: (err, msg) => {
        // The reply subscription is gone (e.g. a permission error): no ack can come any more.
        if (err) return this.close(new PublishError(`JetStream acks cannot be received: ${err.message}`, true));
        const waiting = this.waiting.get(msg.subject.slice(this.prefix.length));
        if (!waiting) return; // answered after its deadline: already rejected
        this.waiting.delete(msg.subject.slice(this.prefix.length));
        if (msg.headers?.code === 503) {
          return waiting.reject(new PublishError(`no stream takes ${waiting.subject} (JetStream answered 503: no responders)`, true));
        }
        let ack: {
          stream?: string;
          seq?: number;
          duplicate?: boolean;
          domain?: string;
          error?: { code: number; err_code?: number; description: string };
        };
        try {
          ack = JSON.parse(decoder.decode(msg.data));
        } catch {
          return waiting.reject(new PublishError(`unreadable JetStream ack for ${waiting.subject}`));
        }
        // 503: the stream could not store it now (full with discard-new, JetStream unavailable): try again later.
        if (ack.error)
          return waiting.reject(
            new PublishError(
              `${ack.error.description} (${ack.error.err_code ?? ack.error.code})`,
              ack.error.code === 503,
              ack.error.err_code === MESSAGE_TOO_LARGE,
            ),
          );
        if (!ack.stream || typeof ack.seq !== 'number')
          return waiting.reject(new PublishError(`invalid JetStream ack for ${waiting.subject}`));
        waiting.resolve({ stream: ack.stream, seq: ack.seq, duplicate: ack.duplicate ?? false, domain: ack.domain } as PubAck);
      },
    });
    this.sweeper = setInterval(() => this.expire(Date.now()), 250);
    this.sweeper.unref();
    // A closed connection answers nothing more, and replies sent while disconnected are lost: fail
    // what waits (transient: sent again, its Nats-Msg-Id makes a stored copy harmless) instead of
    // holding it until the timeout.
    void nc.closed().then(() => this.close());
    void (async () => {
      for await (const s of nc.status()) {
        if (s.type === 'disconnect') this.failAll(new PublishError('the NATS connection dropped before JetStream acknowledged', true));
      }
    })();
  }

  /** The largest message, headers included, that the connected server takes (its max_payload; 1 MiB, NATS's default, before it said). */
  get maxPayload(): number {
    return this.nc.info?.max_payload ?? 1024 * 1024;
  }

  /**
   * The largest batch message body (`batchMessages`' maxBytes) this server and a stream whose
   * max_msg_size is `streamLimit` take: both limits count the headers too, hence HEADER_ROOM.
   */
  maxBatchBytes(streamLimit = Infinity): number {
    return Math.max(1, Math.min(MAX_BATCH_BYTES, this.maxPayload - HEADER_ROOM, streamLimit - HEADER_ROOM));
  }

  /** Publishes `payload` as JSON (an `EncodedJson` as it is); `items` > 1 marks a batch message. */
  publish(subject: string, payload: unknown, msgId: string, items?: number, republishedFrom?: string): Promise<PubAck> {
    return new Promise<PubAck>((resolve, reject) => {
      if (this.closed) return reject(new PublishError('the publisher is closed', true));
      const token = (++this.sequence).toString(36);
      const h = headers();
      h.set('Nats-Msg-Id', msgId);
      if (items && items > 1) h.set(ITEMS_HEADER, String(items));
      if (republishedFrom) h.set(REPUBLISHED_HEADER, republishedFrom);
      this.waiting.set(token, { resolve, reject, subject, deadline: Date.now() + this.timeoutMs });
      try {
        this.nc.publish(subject, encoder.encode(payload instanceof EncodedJson ? payload.text : JSON.stringify(payload)), {
          reply: this.prefix + token,
          headers: h,
        });
      } catch (e) {
        // Closed or draining connection, or a bad subject: the publish never left.
        this.waiting.delete(token);
        const message = (e as Error).message;
        reject(
          new PublishError(
            `could not publish to ${subject}: ${message}`,
            this.nc.isClosed() || this.nc.isDraining(),
            /max_payload/.test(message),
          ),
        );
      }
    });
  }

  /**
   * Publishes all messages pipelined (the client does not wait for one ack before sending the
   * next) and resolves with every ack; rejects if any publish failed.
   */
  publishAll(items: readonly Outgoing[]): Promise<PubAck[]> {
    return Promise.all(items.map((i) => this.publish(i.subject, i.payload, i.msgId, i.items, i.republishedFrom)));
  }

  /** Like `publishAll`, but reports each message's own result. */
  publishEach(items: readonly Outgoing[]): Promise<PromiseSettledResult<PubAck>[]> {
    return Promise.allSettled(items.map((i) => this.publish(i.subject, i.payload, i.msgId, i.items, i.republishedFrom)));
  }

  /** Stops listening for acks; whatever still waits is rejected, and so is every later publish. */
  close(reason = new PublishError('the NATS connection closed before JetStream acknowledged', true)): void {
    this.closed = true;
    clearInterval(this.sweeper);
    if (!this.subscription.isClosed()) this.subscription.unsubscribe();
    this.failAll(reason);
  }

  private expire(now: number): void {
    // Insertion order is deadline order (one timeout for all): stop at the first still in time.
    for (const [token, w] of this.waiting) {
      if (w.deadline > now) break;
      this.waiting.delete(token);
      w.reject(new PublishError(`no JetStream ack for ${w.subject} within ${this.timeoutMs} ms`, true));
    }
  }

  private failAll(error: Error): void {
    for (const w of this.waiting.values()) w.reject(error);
    this.waiting.clear();
  }
}
