import type { JsMsg } from '@nats-io/jetstream';

export type DeliveryOutcome = { kind: 'ack' } | { kind: 'retry'; delayMs?: number } | { kind: 'reject'; error: Error };

/**
 * One decoded message handed to a consumer handler. The handler may mark it `retry` or `reject`;
 * unmarked deliveries are acknowledged once the handler's promise resolves (never before).
 */
export class Delivery<T> {
  private mark: DeliveryOutcome = { kind: 'ack' };

  constructor(
    readonly data: T,
    readonly msg: JsMsg,
    /** The subject it was published on (a replayed dead letter arrives on another). */
    readonly subject: string = msg.subject,
  ) {}

  get streamSequence(): number {
    return this.msg.info.streamSequence;
  }
  get deliveryCount(): number {
    return this.msg.info.deliveryCount;
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
