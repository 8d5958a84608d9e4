import { AckPolicy, ConsumerMessages, DeliverPolicy, JetStreamClient, JetStreamManager, JsMsg } from '@nats-io/jetstream';
import { headers, nanos } from '@nats-io/nats-core';
import { Logger, componentLogger, metrics } from '@app/observability';
import type { Topology } from '@app/contracts';
import { ConsumerSpec } from './consumer-spec';
import { Delivery } from './delivery';
import { backoffMs, isTransient } from './errors';

export type BatchHandler<T> = (batch: Delivery<T>[]) => Promise<void>;

/**
 * Runs one durable pull consumer: pulls, decodes, hands batches to the handler and settles every
 * message only after the handler's work is durable. Transient failures nak with back-off (the
 * stream keeps the message); a message that can never succeed is isolated from its batch and
 * parked on `<root>.dlq.<durable>` with its error, so it never blocks the stream.
 */
export class ConsumerRunner<T> {
  private messages?: ConsumerMessages;
  private readonly queue: JsMsg[] = [];
  private readonly inflight = new Set<Promise<void>>();
  private stopping = false;
  private lagTimer?: NodeJS.Timeout;
  private readonly log: Logger;

  constructor(
    private readonly js: JetStreamClient,
    private readonly jsm: JetStreamManager,
    private readonly topology: Topology,
    private readonly spec: ConsumerSpec<T>,
    private readonly handler: BatchHandler<T>,
  ) {
    this.log = componentLogger('consumer', { consumer: spec.durable, stream: spec.stream });
  }

  async start(): Promise<void> {
    await ensureDurable(this.jsm, this.spec, this.log);
    const consumer = await this.js.consumers.get(this.spec.stream, this.spec.durable);
    // Callback mode feeds our own queue: batches form from whatever has arrived, with no wait
    // when traffic is quiet. The consumer's max_ack_pending bounds how much can queue up here.
    this.messages = await consumer.consume({
      max_messages: this.spec.batch * 2,
      callback: (m) => {
        this.queue.push(m);
        this.pump();
      },
    });
    const lag = metrics.consumerPending.labels(this.spec.durable);
    this.lagTimer = setInterval(() => {
      consumer.info(false).then(
        (i) => lag.set(i.num_pending + i.num_ack_pending),
        () => undefined,
      );
    }, 5_000);
    this.lagTimer.unref();
    this.log.info({ filter: this.spec.filterSubject }, 'consuming');
  }

  /** Stops pulling, finishes the batches in flight (they ack or nak), then returns. */
  async stop(): Promise<void> {
    this.stopping = true;
    if (this.lagTimer) clearInterval(this.lagTimer);
    await this.messages?.close();
    // Received but not started: give them back at once rather than after ack_wait.
    for (const m of this.queue.splice(0)) m.nak();
    while (this.inflight.size) await Promise.allSettled([...this.inflight]);
    this.log.info('drained');
  }

  /** Starts batches while there is work queued and room for another batch in flight. */
  private pump(): void {
    while (!this.stopping && this.queue.length > 0 && this.inflight.size < this.spec.concurrency) {
      const batch = this.queue.splice(0, this.spec.batch);
      const work = this.process(batch)
        .catch((e) => this.log.error({ err: e }, 'batch settlement failed'))
        .finally(() => {
          this.inflight.delete(work);
          this.pump();
        });
      this.inflight.add(work);
    }
  }

  private async process(batch: JsMsg[]): Promise<void> {
    const deliveries: Delivery<T>[] = [];
    for (const m of batch) {
      try {
        deliveries.push(new Delivery(this.spec.decode(m.subject, m.data), m));
      } catch (e) {
        await this.deadLetter(m, e as Error);
      }
    }
    if (deliveries.length === 0) return;
    metrics.batchSize.labels(this.spec.durable).observe(deliveries.length);
    await this.handle(deliveries);
  }

  private async handle(deliveries: Delivery<T>[]): Promise<void> {
    // Long handler calls (a slow database) must not let ack_wait expire and cause redelivery.
    const keepAlive = setInterval(() => deliveries.forEach((d) => d.msg.working()), this.spec.ackWaitMs / 3);
    try {
      await this.handler(deliveries);
    } catch (error) {
      clearInterval(keepAlive);
      if (isTransient(error)) {
        const delay = backoffMs(deliveries[0].deliveryCount);
        this.log.warn(
          { err: error, messages: deliveries.length, delayMs: delay, deliveries: deliveries[0].deliveryCount },
          'transient failure, will retry',
        );
        metrics.messagesProcessed.labels(this.spec.durable, 'retry').inc(deliveries.length);
        for (const d of deliveries) d.msg.nak(delay);
        return;
      }
      if (deliveries.length > 1) {
        // Find the message that fails: handle the batch one message at a time.
        for (const d of deliveries) {
          d.resetOutcome();
          await this.handle([d]);
        }
        return;
      }
      await this.deadLetter(deliveries[0].msg, error as Error);
      return;
    } finally {
      clearInterval(keepAlive);
    }
    await this.settle(deliveries);
  }

  private async settle(deliveries: Delivery<T>[]): Promise<void> {
    let acked = 0;
    for (const d of deliveries) {
      const outcome = d.outcome;
      if (outcome.kind === 'ack') {
        d.msg.ack();
        acked++;
      } else if (outcome.kind === 'retry') {
        d.msg.nak(outcome.delayMs ?? backoffMs(d.deliveryCount));
        metrics.messagesProcessed.labels(this.spec.durable, 'retry').inc();
      } else {
        await this.deadLetter(d.msg, outcome.error);
      }
    }
    metrics.messagesProcessed.labels(this.spec.durable, 'ok').inc(acked);
  }

  private async deadLetter(m: JsMsg, error: Error): Promise<void> {
    const context = {
      subject: m.subject,
      seq: m.info.streamSequence,
      deliveries: m.info.deliveryCount,
      eventId: m.headers?.get('Nats-Msg-Id'),
    };
    const h = headers();
    // One dead letter per consumer and message: a redelivered copy is dropped, but when two
    // consumers of a stream (the recorder and the scorer on EVENTS) both reject a message, each
    // parks its own (a key without the durable made the second a "duplicate" the DLQ dropped).
    h.set('Nats-Msg-Id', `${this.spec.durable}:${this.spec.stream}:${m.info.streamSequence}`);
    h.set('Arbiter-Error', oneLine(error.message));
    h.set('Arbiter-Error-Type', error.name);
    h.set('Arbiter-Source', this.spec.durable);
    h.set('Arbiter-Subject', m.subject);
    h.set('Arbiter-Stream', this.spec.stream);
    h.set('Arbiter-Stream-Seq', String(m.info.streamSequence));
    h.set('Arbiter-Deliveries', String(m.info.deliveryCount));
    try {
      await this.js.publish(this.spec.deadLetterSubject?.(m.subject) ?? this.topology.dlq(this.spec.durable), m.data, { headers: h });
    } catch (e) {
      // Never drop it: without a dead-letter copy the message stays on its stream.
      this.log.error({ ...context, err: e }, 'could not dead-letter, will retry');
      m.nak(backoffMs(m.info.deliveryCount));
      return;
    }
    // No reason text: NATS 2.9 does not understand `+TERM <reason>` and would leave the message pending.
    m.term();
    metrics.dlq.labels(this.spec.durable).inc();
    metrics.messagesProcessed.labels(this.spec.durable, 'dead_letter').inc();
    this.log.error({ ...context, error: error.message, errorType: error.name }, 'dead-lettered');
  }
}

function oneLine(s: string): string {
  return s.replace(/[\r\n]+/g, ' ').slice(0, 1000);
}

/** Creates the durable consumer, or updates what may change on an existing one. */
export async function ensureDurable(jsm: JetStreamManager, spec: ConsumerSpec<unknown>, log?: Logger): Promise<void> {
  const mutable = { ack_wait: nanos(spec.ackWaitMs), max_ack_pending: spec.maxAckPending, max_deliver: -1 };
  try {
    const info = await jsm.consumers.info(spec.stream, spec.durable);
    if (info.config.filter_subject !== spec.filterSubject) {
      log?.warn({ existing: info.config.filter_subject, wanted: spec.filterSubject }, 'durable consumer has another filter; keeping it');
    }
    if (info.config.ack_wait !== mutable.ack_wait || info.config.max_ack_pending !== mutable.max_ack_pending) {
      await jsm.consumers.update(spec.stream, spec.durable, mutable);
    }
  } catch (e) {
    if ((e as Error).name !== 'ConsumerNotFoundError' && !/consumer not found/i.test((e as Error).message)) throw e;
    await jsm.consumers.add(spec.stream, {
      durable_name: spec.durable,
      ack_policy: AckPolicy.Explicit,
      deliver_policy: DeliverPolicy.All,
      filter_subject: spec.filterSubject,
      ...mutable,
    });
  }
}
