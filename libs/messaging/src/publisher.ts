import type { JetStreamClient, PubAck } from '@nats-io/jetstream';

export interface Outgoing {
  subject: string;
  payload: unknown;
  /** Nats-Msg-Id: JetStream drops a second publish with the same id inside the duplicate window. */
  msgId: string;
}

/** Publishes JSON to JetStream and resolves only when the stream has stored it. */
export class JetStreamPublisher {
  constructor(
    private readonly js: JetStreamClient,
    private readonly timeoutMs = 10_000,
  ) {}

  publish(subject: string, payload: unknown, msgId: string): Promise<PubAck> {
    return this.js.publish(subject, JSON.stringify(payload), { msgID: msgId, timeout: this.timeoutMs });
  }

  /**
   * Publishes all messages pipelined (the client does not wait for one ack before sending the
   * next) and resolves with every ack; rejects if any publish failed.
   */
  publishAll(items: readonly Outgoing[]): Promise<PubAck[]> {
    return Promise.all(items.map((i) => this.publish(i.subject, i.payload, i.msgId)));
  }

  /** Like `publishAll`, but reports each message's own result. */
  publishEach(items: readonly Outgoing[]): Promise<PromiseSettledResult<PubAck>[]> {
    return Promise.allSettled(items.map((i) => this.publish(i.subject, i.payload, i.msgId)));
  }
}
