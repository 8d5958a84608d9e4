import type { JsMsg } from '@nats-io/jetstream';

export type DeliveryOutcome = { kind: 'ack' } | { kind: 'retry'; delayMs?: number } | { kind: 'reject'; error: Error };

/**
 * @internal One JetStream message carrying several items (a batch message): it is settled once every
 * item has its fate — acked when all were handled or dead-lettered alone, nak'ed (with the largest
 * delay asked for) when any must come again; the items handled already are then handled again,
 * which the handlers' per-item idempotency makes harmless.
 */
export class Carrier {
  private open: number;
  private delayMs: number | null = null;

  constructor(
    readonly msg: JsMsg,
    items: number,
  ) {
    this.open = items;
    if (items === 0) msg.ack();
  }

  /** One item is done: handled, or parked as a dead letter of its own. */
  done(): void {
    this.close();
  }

  /** One item must come again: so does the message. */
  retry(delayMs: number): void {
    this.delayMs = Math.max(this.delayMs ?? 0, delayMs);
    this.close();
  }

  private close(): void {
    if (--this.open > 0) return;
    if (this.delayMs === null) this.msg.ack();
    else this.msg.nak(this.delayMs);
  }
}

/** @internal Where an item of a batch message sits in it. */
export interface ItemOf {
  carrier: Carrier;
  index: number;
  /** The item as it came: its dead letter carries it alone. */
  raw: unknown;
  /** Its dead-letter body when `raw` is not its JSON (see `DecodedItem`). */
  body?: string;
  /** Its own message id, when it can be read. */
  id?: string;
}

/**
 * One decoded message (or one item of a batch message) handed to a consumer handler. The handler may mark it `retry` or `reject`;
 * unmarked deliveries are acknowledged once the handler's promise resolves (never before).
 */
export class Delivery<T> {
  private mark: DeliveryOutcome = { kind: 'ack' };

  constructor(
    readonly data: T,
    readonly msg: JsMsg,
    /** The subject it was published on (a replayed dead letter arrives on another). */
    readonly subject: string = msg.subject,
    /** @internal Set when this is one item of a batch message. */
    readonly item?: ItemOf,
    /**
     * @internal Handed out before by a durable that was lost and recreated since (`ConsumerRunner`),
     * which delivers it again with a delivery count of 1.
     */
    private readonly handedOutBefore = false,
  ) {}

  get streamSequence(): number {
    return this.msg.info.streamSequence;
  }
  /**
   * JetStream's delivery count on the durable that delivered it: for back-off and attempt budgets. A
   * durable recreated after it was lost counts from 1 again; whether the message may have been
   * handled before is `redelivered`.
   */
  get deliveryCount(): number {
    return this.msg.info.deliveryCount;
  }
  /**
   * True when this message may have been handed to a handler before: JetStream delivered it before
   * (its delivery count is above 1), or a durable lost and recreated since had handed it out (counted
   * 1 again on the new one). Cheap enough to ask of every message.
   */
  get redelivered(): boolean {
    return this.handedOutBefore || redelivered(this.msg);
  }
  header(name: string): string | undefined {
    return this.msg.headers?.get(name) || undefined;
  }
  get outcome(): DeliveryOutcome {
    return this.mark;
  }

  /** Ask for this message again later (e.g. a dependency is not there yet). */
  retry(delayMs?: number): void {
    this.mark = { kind: 'retry', delayMs };
  }

  /** This message can never be processed: it goes to the dead-letter subject. */
  reject(error: Error): void {
    this.mark = { kind: 'reject', error };
  }

  /** @internal */
  resetOutcome(): void {
    this.mark = { kind: 'ack' };
  }
}

/**
 * @internal Whether the delivery count in a message's ack subject is above 1, read without parsing the
 * subject into its ten fields (`msg.info`, about 1 µs a message, which a first delivery should not pay):
 * `$JS.ACK.<stream>.<consumer>.<count>.…` (9 tokens) or `$JS.ACK.<domain>.<account>.<stream>.<consumer>.<count>.…`
 * (11 or more). Anything else is left to `msg.info`.
 */
export function redelivered(msg: Pick<JsMsg, 'info'>): boolean {
  // Not in the JsMsg interface, but what the client parses `info` from (`JsMsgImpl.reply`).
  const reply = (msg as { reply?: unknown }).reply;
  if (typeof reply !== 'string' || !reply) return msg.info.deliveryCount > 1;
  let tokens = 1;
  let after4 = -1;
  let after6 = -1;
  for (let i = reply.indexOf('.'); i >= 0; i = reply.indexOf('.', i + 1)) {
    tokens++;
    if (tokens === 5) after4 = i + 1;
    else if (tokens === 7) after6 = i + 1;
  }
  const start = tokens === 9 ? after4 : tokens >= 11 ? after6 : -1;
  if (start < 0) return msg.info.deliveryCount > 1;
  // The count has no leading zeros: it is 1 exactly when the token is "1".
  return !(reply.charCodeAt(start) === 49 && reply.charCodeAt(start + 1) === 46);
}
