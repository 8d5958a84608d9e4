import { AckPolicy, ConsumerInfo, ConsumerMessages, DeliverPolicy, JetStreamClient, JetStreamManager, JsMsg } from '@nats-io/jetstream';
import { headers, nanos, type NatsConnection, type Subscription } from '@nats-io/nats-core';
import { Logger, componentLogger, degradations, metrics } from '@app/observability';
import type { Topology } from '@app/contracts';
import { ITEMS_HEADER, isBatchBody, itemCount } from './batch';
import { ConsumerSpec } from './consumer-spec';
import { DEAD_LETTER_HEADERS } from './dead-letter-headers';
import { Carrier, Delivery, ItemOf, redelivered } from './delivery';
import { FailureClass, backoffMs, classifyFailure } from './errors';

export type BatchHandler<T> = (batch: Delivery<T>[]) => Promise<void>;

/** One error log per consumer and reason at most this often while it keeps failing. */
const FAILURE_LOG_INTERVAL_MS = 30_000;
/** How often the consumer is looked at on the server: lag, ack floor, and whether it still exists. */
const WATCH_MS = 5_000;
/** Deliveries an unexplained failure needs, other messages succeeding meanwhile, before it counts as the message's fault. */
const UNEXPLAINED_DELIVERIES = 3;
/** Pull requests expire after this; heartbeats come at half of it, two missed ones mean a stalled subscription. */
const PULL_EXPIRES_MS = 10_000;

/** One pull subscription of the runner: the durable on its stream, or its replay companion. */
interface Feed {
  stream: string;
  durable: string;
  filterSubject: string;
  replay: boolean;
  messages?: ConsumerMessages;
  /** The server's ack floor as last seen (at open, then by the watch): where a recreated durable starts again. */
  ackFloor?: number;
  /** The highest stream sequence the server had delivered on the durable, as last seen (every process on it; up to 5 s old). */
  deliveredSeq?: number;
  /**
   * The last message received here as a first delivery (count 1): the highest sequence handed to
   * this runner so far (a durable delivers new messages in stream order). Read only when the durable
   * is recreated: `msg.info` is not parsed for every message.
   */
  lastFirst?: JsMsg;
  /**
   * After the durable was recreated: messages up to this stream sequence were handed out by the
   * lost one, and come again from the new one with a delivery count of 1. They are handed to the
   * handler as redelivered (`Delivery.redelivered`). Cleared once a first delivery above it came.
   */
  handedOutTo?: number;
  healing?: Promise<void>;
}

/** At most this many kept messages are tracked for recovery; past it, recovery waits for quiet. */
const MAX_KEPT_TRACKED = 100_000;
/** Longer than the longest retry back-off (30 s ± 25 %): no failure for this long while messages go through is recovery. */
const RECOVERY_QUIET_MS = 60_000;

function messageKey(m: JsMsg, item?: ItemOf): string {
  return item ? `${m.info.stream}:${m.info.streamSequence}:${item.index}` : `${m.info.stream}:${m.info.streamSequence}`;
}

const encoder = new TextEncoder();

/**
 * Runs one durable pull consumer: pulls, decodes, hands batches to the handler and settles every
 * message only after the handler's work is durable.
 *
 * Failures are classified in one place (`classifyFailure`): only poison — a message that breaks
 * its contract or whose own values are refused — is isolated from its batch and parked on
 * `<root>.dlq.<durable>` with its error. Anything else (the database, the broker, the
 * configuration) keeps the messages (nak with back-off), reports the consumer degraded in
 * `/health` with the cause, counts it and logs it (rate-limited), and clears by itself once the
 * messages it kept have gone through (a success of other messages does not clear it: when one table
 * refuses writes, the batches without its rows still succeed, and health would flap). Dead letters handed back by `arbiter dlq replay` arrive on a companion durable
 * (`<durable>-replay` on the REPLAY stream) and go through the same handler.
 *
 * A durable deleted under it or a subscription that stops receiving heartbeats is recreated from
 * the last ack floor seen; at stop, every message received and not handled is nak'ed at once.
 */
export class ConsumerRunner<T> {
  private readonly feeds: Feed[];
  /** Received, not started; `items` from the batch header sizes the handler calls. */
  private readonly queue: { m: JsMsg; feed: Feed; items: number; handedOut: boolean }[] = [];
  /** Bytes of the messages in `queue`. */
  private queuedBytes = 0;
  /** Pulls stopped: the queue holds `spec.maxQueueBytes` (see `regulate`). */
  private paused = false;
  private regulating?: Promise<void>;
  private regulateAgain = false;
  private readonly inflight = new Set<Promise<void>>();
  private stopping = false;
  private watchTimer?: NodeJS.Timeout;
  private queueKeepAlive?: NodeJS.Timeout;
  private readonly log: Logger;
  private readonly component: string;
  private lastFailureLog = { reason: '', at: 0, suppressed: 0 };
  private lastSuccessAt = 0;
  /** Messages failing with an unexplained error → when they first failed. */
  private readonly unexplained = new Map<string, number>();
  /** Messages kept for a retry (not their fault) and not handled since: while any is, the consumer stays degraded. */
  private readonly kept = new Set<string>();
  private lastKeptAt = 0;

  constructor(
    private readonly js: JetStreamClient,
    private readonly jsm: JetStreamManager,
    private readonly topology: Topology,
    private readonly spec: ConsumerSpec<T>,
    private readonly handler: BatchHandler<T>,
  ) {
    this.log = componentLogger('consumer', { consumer: spec.durable, stream: spec.stream });
    this.component = `consumer ${spec.durable}`;
    this.feeds = [
      { stream: spec.stream, durable: spec.durable, filterSubject: spec.filterSubject, replay: false },
      { stream: topology.streams.replay, durable: replayDurable(spec.durable), filterSubject: topology.replay(spec.durable), replay: true },
    ];
  }

  async start(): Promise<void> {
    for (const feed of this.feeds) await this.open(feed);
    const lag = metrics.consumerPending.labels(this.spec.durable);
    this.watchTimer = setInterval(() => void this.watch(lag), WATCH_MS);
    this.watchTimer.unref();
    // Received and waiting their turn is in progress too: a queue that takes longer than ack_wait to
    // work through (a backlog of batch messages of 100 events each, on a starved CPU) must not be
    // delivered a second time while it waits, which doubled the backlog's work.
    this.queueKeepAlive = setInterval(() => {
      for (const { m } of this.queue) m.working();
    }, this.spec.ackWaitMs / 3);
    this.queueKeepAlive.unref();
    this.log.info({ filter: this.spec.filterSubject }, 'consuming');
  }

  /**
   * Stops pulling, hands back at once what was received and not started (nak), lets the batches
   * in flight finish and settle, then returns.
   */
  async stop(): Promise<void> {
    this.stopping = true;
    if (this.watchTimer) clearInterval(this.watchTimer);
    if (this.queueKeepAlive) clearInterval(this.queueKeepAlive);
    await this.regulating;
    await Promise.all(this.feeds.map((f) => this.close(f)));
    // The server keeps our last pull requests after the unsubscribe and may hand a nak'ed message
    // straight back to one of them (nats-server 2.9 did, for the first one nak'ed); reading the
    // consumer's info makes it drop the requests nobody listens to any more.
    await Promise.all(this.feeds.map((f) => this.jsm.consumers.info(f.stream, f.durable).catch(() => undefined)));
    for (const { m } of this.queue.splice(0)) m.nak();
    this.queuedBytes = 0;
    while (this.inflight.size) await Promise.allSettled([...this.inflight]);
    this.log.info('drained');
  }

  private async open(feed: Feed, startAfter?: number): Promise<void> {
    const existing = await ensureDurable(
      this.jsm,
      { ...this.spec, stream: feed.stream, durable: feed.durable, filterSubject: feed.filterSubject },
      this.log,
      startAfter,
    );
    // Opened again (healing, or resuming after a pause): if the durable was lost meanwhile, recreated
    // here or by another process sharing it, the new one delivers again, counted 1, what the lost one
    // had handed out after the ack floor it starts from (or, none known, from the stream's start). The
    // highest sequence handed out is the server's as last looked at (at open or by the watch) or the highest received here,
    // whichever is later (another process may share the durable; the server's may be 5 s old). A
    // durable that survived delivers a message counted 1 only above it: the mark then costs nothing.
    const handedOut = Math.max(feed.handedOutTo ?? 0, feed.deliveredSeq ?? 0, feed.lastFirst?.info.streamSequence ?? 0);
    if (handedOut > 0) feed.handedOutTo = handedOut;
    if (!existing && handedOut > 0) {
      this.log.warn(
        { durable: feed.durable, startAfter, handedOutTo: handedOut },
        'durable recreated: the messages it had handed out come again as redeliveries',
      );
    }
    // A durable found here: what it had delivered and acked is known from now, not only from the
    // first watch 5 s later, so a loss in those seconds recreates it from its ack floor (not the
    // stream's start) and marks what it had handed out. Recorded after the mark: nothing is marked
    // on opening a durable that exists.
    if (existing) {
      feed.ackFloor = existing.ack_floor.stream_seq;
      feed.deliveredSeq = existing.delivered.stream_seq;
    }
    const consumer = await this.js.consumers.get(feed.stream, feed.durable);
    // Callback mode feeds our own queue: batches form from whatever has arrived, with no wait
    // when traffic is quiet. The consumer's max_ack_pending bounds how much can queue up here.
    // Bounded in bytes (`maxQueueBytes`): each pull asks for at most a quarter of it, and never less
    // than the largest message the server takes (a message larger than the pull stalls it).
    const size = this.spec.maxQueueBytes
      ? { max_bytes: Math.max(Math.ceil(this.spec.maxQueueBytes / 4), this.maxPayload()) }
      : { max_messages: this.spec.batch * 2 };
    const messages = await consumer.consume({
      ...size,
      expires: PULL_EXPIRES_MS,
      callback: (m) => {
        // Arriving while stopping (the last pull's messages): kept with the queue and nak'ed with
        // it once the inbox is closed (a nak now would be redelivered into this closing inbox).
        const items = this.spec.decodeItems && isBatchBody(m.data) ? itemCount(m.headers?.get(ITEMS_HEADER)) : 1;
        this.queue.push({ m, feed, items, handedOut: feed.handedOutTo !== undefined && handedOutBefore(feed, m) });
        if (!redelivered(m)) feed.lastFirst = m;
        this.queuedBytes += m.data.length;
        if (this.spec.maxQueueBytes && !this.paused && this.queuedBytes >= this.spec.maxQueueBytes) this.regulate();
        this.pump();
      },
    });
    feed.messages = messages;
    void this.listen(feed, messages);
  }

  /** The connected server's max_payload (NATS's largest possible, 64 MiB, when it cannot be read). */
  private maxPayload(): number {
    // nats.js keeps the connection of a JetStream client public on its implementation only.
    return (this.js as unknown as { nc?: NatsConnection }).nc?.info?.max_payload ?? 64 * 1024 * 1024;
  }

  /** What the runner holds received and not started: for tests and the byte bound. */
  get held(): { messages: number; bytes: number; paused: boolean } {
    return { messages: this.queue.length, bytes: this.queuedBytes, paused: this.paused };
  }

  /**
   * Stops pulling while the queue holds `maxQueueBytes` or more (nats.js has no pause: the pull
   * subscriptions are closed as at stop, and what was already sent still reaches the queue), and
   * pulls again once it has come down to half. Serialized: one change at a time.
   */
  private regulate(): void {
    if (this.regulating) {
      this.regulateAgain = true;
      return;
    }
    const cap = this.spec.maxQueueBytes!;
    this.regulating = (async () => {
      do {
        this.regulateAgain = false;
        if (this.stopping) return;
        if (!this.paused && this.queuedBytes >= cap) {
          this.paused = true;
          this.log.debug({ bytes: this.queuedBytes, messages: this.queue.length }, 'queue full: pulls paused');
          await Promise.all(this.feeds.map((f) => this.close(f)));
          // As at stop: the server drops the pull requests nobody listens to any more.
          await Promise.all(this.feeds.map((f) => this.jsm.consumers.info(f.stream, f.durable).catch(() => undefined)));
        } else if (this.paused && this.queuedBytes <= cap / 2) {
          this.paused = false;
          for (const feed of this.feeds) if (!feed.messages && !feed.healing) await this.reopen(feed);
        }
      } while (this.regulateAgain);
    })()
      .catch((e) => this.log.error({ err: e }, 'could not pause or resume pulling'))
      .finally(() => (this.regulating = undefined));
  }

  /** Opens a paused feed again, retrying until it is open or the runner stops. */
  private async reopen(feed: Feed): Promise<void> {
    for (let attempt = 1; !this.stopping && !feed.messages; attempt++) {
      try {
        // Deleted while paused: recreated after the last ack floor seen, as when healing.
        await this.open(feed, feed.replay ? undefined : feed.ackFloor);
      } catch (e) {
        this.log.warn({ err: e, durable: feed.durable, attempt }, 'could not resume pulling yet');
        await new Promise((r) => setTimeout(r, Math.min(5_000, 250 * attempt)));
      }
    }
  }

  /** Heals the subscription when nats.js reports the durable gone or the heartbeats missing. */
  private async listen(feed: Feed, messages: ConsumerMessages): Promise<void> {
    for await (const s of messages.status()) {
      if (this.stopping || feed.messages !== messages) return;
      if (s.type === 'consumer_deleted' || s.type === 'consumer_not_found') return this.heal(feed, s.type);
      if (s.type === 'heartbeats_missed' && s.count >= 2) return this.heal(feed, 'heartbeats missed');
    }
  }

  /**
   * Closes the subscription without losing what the server already sent: the inbox is drained
   * (unsubscribe, then a round trip that brings in everything sent before it), so the last pull's
   * messages reach the queue, which `stop` naks once no pull of ours can receive them again. A
   * plain unsubscribe drops them and they stay pending on the server for a whole ack_wait.
   */
  private async close(feed: Feed): Promise<void> {
    const messages = feed.messages;
    if (!messages) return;
    feed.messages = undefined;
    // nats.js keeps the pull's inbox subscription private and only unsubscribes it at close.
    const sub = (messages as unknown as { sub?: Subscription }).sub;
    if (sub && !sub.isClosed()) await sub.drain().catch(() => undefined);
    await messages.close().catch(() => undefined);
  }

  private heal(feed: Feed, why: string): Promise<void> {
    feed.healing ??= (async () => {
      this.log.warn({ durable: feed.durable, why, ackFloor: feed.ackFloor }, 'consumer subscription lost; recreating it');
      await this.close(feed);
      for (let attempt = 1; !this.stopping && !this.paused; attempt++) {
        try {
          // A recreated durable starts after the last ack floor seen: what was acked since is
          // delivered again (handlers are idempotent), nothing after it is skipped.
          await this.open(feed, feed.replay ? undefined : feed.ackFloor);
          this.log.warn({ durable: feed.durable }, 'consumer subscription recreated; consuming again');
          return;
        } catch (e) {
          this.log.warn({ err: e, durable: feed.durable, attempt }, 'could not recreate the consumer yet');
          await new Promise((r) => setTimeout(r, Math.min(5_000, 250 * attempt)));
        }
      }
    })().finally(() => (feed.healing = undefined));
    return feed.healing;
  }

  /** Lag for the metric, the ack floor for healing, and a durable deleted while idle. */
  private async watch(lag: { set(v: number): void }): Promise<void> {
    let pending = 0;
    for (const feed of this.feeds) {
      // Paused (queue full): still looked at, so the lag gauge shows the backlog rather than 0.
      if (feed.healing || (!feed.messages && !this.paused)) continue;
      try {
        const info = await this.jsm.consumers.info(feed.stream, feed.durable);
        feed.ackFloor = info.ack_floor.stream_seq;
        feed.deliveredSeq = info.delivered.stream_seq;
        if (!feed.replay) pending = info.num_pending + info.num_ack_pending;
      } catch (e) {
        if (!this.stopping && isConsumerNotFound(e)) void this.heal(feed, 'consumer not found');
      }
    }
    lag.set(pending);
  }

  /** Starts batches while there is work queued and room for another batch in flight. */
  private pump(): void {
    while (!this.stopping && this.queue.length > 0 && this.inflight.size < this.spec.concurrency) {
      const batch = this.queue.splice(0, this.batchLength());
      for (const { m } of batch) this.queuedBytes -= m.data.length;
      if (this.paused && this.queuedBytes <= this.spec.maxQueueBytes! / 2) this.regulate();
      const work = this.process(batch)
        .catch((e) => this.log.error({ err: e }, 'batch settlement failed'))
        .finally(() => {
          this.inflight.delete(work);
          this.pump();
        });
      this.inflight.add(work);
    }
  }

  /** Messages of the next handler call: up to `batch` items (a batch message counts its items), at least one message. */
  private batchLength(): number {
    let items = this.queue[0].items;
    let n = 1;
    while (n < this.queue.length && items + this.queue[n].items <= this.spec.batch) items += this.queue[n++].items;
    return n;
  }

  private async process(batch: { m: JsMsg; feed: Feed; handedOut: boolean }[]): Promise<void> {
    const deliveries: Delivery<T>[] = [];
    for (const { m, feed, handedOut } of batch) {
      const subject = feed.replay ? (m.headers?.get(DEAD_LETTER_HEADERS.subject) ?? m.subject) : m.subject;
      try {
        if (!this.spec.decodeItems || !isBatchBody(m.data)) {
          deliveries.push(new Delivery(this.spec.decode(subject, m.data), m, subject, undefined, handedOut));
          continue;
        }
        const items = this.spec.decodeItems(subject, m.data);
        const carrier = new Carrier(m, items.length);
        for (const [index, item] of items.entries()) {
          const of: ItemOf = { carrier, index, raw: item.raw, id: item.id, body: 'body' in item ? item.body : undefined };
          // Poison alone: its neighbours in the message go through (DESIGN §9).
          if ('error' in item) await this.deadLetter(m, subject, item.error, of);
          else deliveries.push(new Delivery(item.value, m, subject, of, handedOut));
        }
      } catch (e) {
        // Decoding depends on nothing but the message: whatever it throws, the message is poison.
        await this.deadLetter(m, subject, asError(e));
      }
    }
    if (deliveries.length === 0) return;
    metrics.batchSize.labels(this.spec.durable).observe(deliveries.length);
    await this.handle(deliveries);
  }

  /** Runs the handler; resolves with its error, or null once it succeeded. */
  private async attempt(deliveries: Delivery<T>[]): Promise<unknown> {
    // Long handler calls (a slow database) must not let ack_wait expire and cause redelivery.
    const msgs = new Set(deliveries.map((d) => d.msg));
    const keepAlive = setInterval(() => msgs.forEach((m) => m.working()), this.spec.ackWaitMs / 3);
    try {
      await this.handler(deliveries);
      return null;
    } catch (error) {
      return error ?? new Error('handler failed without an error');
    } finally {
      clearInterval(keepAlive);
    }
  }

  private async handle(deliveries: Delivery<T>[]): Promise<void> {
    const error = await this.attempt(deliveries);
    if (error === null) return this.settle(deliveries);
    const failure = classifyFailure(error);
    // The database, broker or configuration: every message of the batch would fail the same way.
    if (!failure.poison && failure.cause !== 'unknown') return this.keep(deliveries, failure, error);
    if (deliveries.length === 1) return this.failed(deliveries, error);
    // Find the message that fails: handle the batch one message at a time. An error nobody
    // explains is blamed on a message only when its batch-mates went through the same code.
    const unexplained: [Delivery<T>, unknown][] = [];
    let someSucceeded = false;
    for (const d of deliveries) {
      d.resetOutcome();
      const e = await this.attempt([d]);
      if (e === null) {
        someSucceeded = true;
        await this.settle([d]);
      } else if (classifyFailure(e).cause === 'unknown') unexplained.push([d, e]);
      else await this.failed([d], e);
    }
    for (const [d, e] of unexplained) {
      if (someSucceeded) await this.deadLetter(d.msg, d.subject, asError(e), d.item);
      else await this.failed([d], e);
    }
  }

  /**
   * Dead-letters poison; keeps (nak with back-off) anything else. An error nobody explains (not
   * the database's, the broker's or the contract's) is blamed on the message only with evidence:
   * it failed UNEXPLAINED_DELIVERIES times while other messages went through the same handler.
   */
  private async failed(deliveries: Delivery<T>[], error: unknown): Promise<void> {
    const failure = classifyFailure(error);
    if (failure.poison) {
      for (const d of deliveries) await this.deadLetter(d.msg, d.subject, asError(error), d.item);
      return;
    }
    if (failure.cause === 'unknown' && deliveries.length === 1) {
      const d = deliveries[0];
      const key = messageKey(d.msg, d.item);
      const first = this.unexplained.get(key) ?? Date.now();
      if (d.deliveryCount >= UNEXPLAINED_DELIVERIES && this.lastSuccessAt > first) {
        this.unexplained.delete(key);
        return this.deadLetter(d.msg, d.subject, asError(error), d.item);
      }
      if (this.unexplained.size >= 10_000) this.unexplained.clear();
      this.unexplained.set(key, first);
    }
    this.keep(deliveries, failure, error);
  }

  /** Not the messages' fault: they stay on the stream, and the consumer says loudly why it is stuck. */
  private keep(deliveries: Delivery<T>[], failure: FailureClass, error: unknown): void {
    const delay = backoffMs(Math.min(...deliveries.map((d) => d.deliveryCount)));
    for (const d of deliveries) nak(d, delay);
    this.lastKeptAt = Date.now();
    for (const d of deliveries) if (this.kept.size < MAX_KEPT_TRACKED) this.kept.add(messageKey(d.msg, d.item));
    metrics.messagesProcessed.labels(this.spec.durable, 'retry').inc(deliveries.length);
    metrics.consumerFailures.labels(this.spec.durable, failure.cause).inc(deliveries.length);
    metrics.consumerDegraded.labels(this.spec.durable).set(1);
    const err = asError(error);
    const state = degradations.report(this.component, failure.cause, failure.reason, err.message);
    const now = Date.now();
    const last = this.lastFailureLog;
    if (last.reason !== failure.reason || now - last.at >= FAILURE_LOG_INTERVAL_MS) {
      this.log.error(
        {
          err,
          cause: failure.cause,
          reason: failure.reason,
          messages: deliveries.length,
          delayMs: delay,
          deliveries: deliveries[0].deliveryCount,
          since: state.since,
          similarFailuresNotLogged: last.suppressed,
        },
        'consumer degraded: messages kept for a retry (not their fault)',
      );
      this.lastFailureLog = { reason: failure.reason, at: now, suppressed: 0 };
    } else last.suppressed++;
  }

  private recovered(): void {
    if (!degradations.clear(this.component)) return;
    metrics.consumerDegraded.labels(this.spec.durable).set(0);
    this.lastFailureLog = { reason: '', at: 0, suppressed: 0 };
    this.log.warn('consumer recovered: processing again');
  }

  private async settle(deliveries: Delivery<T>[]): Promise<void> {
    this.lastSuccessAt = Date.now();
    for (const d of deliveries) {
      if (this.unexplained.size) this.unexplained.delete(messageKey(d.msg, d.item));
      if (this.kept.size) this.kept.delete(messageKey(d.msg, d.item));
    }
    // Recovered when what was kept went through, or when nothing was kept for longer than the
    // longest back-off (kept messages the stream no longer holds, or more than could be tracked).
    if (this.kept.size === 0 || this.lastSuccessAt - this.lastKeptAt > RECOVERY_QUIET_MS) {
      this.kept.clear();
      this.recovered();
    }
    let acked = 0;
    for (const d of deliveries) {
      const outcome = d.outcome;
      if (outcome.kind === 'ack') {
        if (d.item) d.item.carrier.done();
        else d.msg.ack();
        acked++;
      } else if (outcome.kind === 'retry') {
        nak(d, outcome.delayMs ?? backoffMs(d.deliveryCount));
        metrics.messagesProcessed.labels(this.spec.durable, 'retry').inc();
      } else {
        await this.deadLetter(d.msg, d.subject, outcome.error, d.item);
      }
    }
    metrics.messagesProcessed.labels(this.spec.durable, 'ok').inc(acked);
  }

  /**
   * Parks a message, or (`item`) one item of a batch message alone: its dead letter carries only that
   * item, in the single-item shape every consumer accepts, so a replay hands back just it.
   */
  private async deadLetter(m: JsMsg, subject: string, error: Error, item?: ItemOf): Promise<void> {
    this.kept.delete(messageKey(m, item));
    const replayed = m.info.stream === this.topology.streams.replay;
    // A replayed message keeps where it first came from.
    const stream = (replayed && m.headers?.get(DEAD_LETTER_HEADERS.stream)) || this.spec.stream;
    const seq = (replayed && m.headers?.get(DEAD_LETTER_HEADERS.streamSeq)) || String(m.info.streamSequence);
    const context = {
      subject,
      seq,
      item: item?.index,
      deliveries: m.info.deliveryCount,
      eventId: item ? item.id : m.headers?.get('Nats-Msg-Id'),
    };
    const h = headers();
    // One dead letter per consumer and message: a redelivered copy is dropped, but when two
    // consumers of a stream (the recorder and the scorer on EVENTS) both reject a message, each
    // parks its own (a key without the durable made the second a "duplicate" the DLQ dropped).
    // A replay that fails again is a new dead letter (its REPLAY sequence is in the key).
    h.set('Nats-Msg-Id', `${this.spec.durable}:${m.info.stream}:${m.info.streamSequence}${item ? `:${item.index}` : ''}`);
    h.set(DEAD_LETTER_HEADERS.error, oneLine(error.message));
    h.set(DEAD_LETTER_HEADERS.errorType, error.name);
    h.set(DEAD_LETTER_HEADERS.source, this.spec.durable);
    h.set(DEAD_LETTER_HEADERS.subject, subject);
    h.set(DEAD_LETTER_HEADERS.stream, stream);
    h.set(DEAD_LETTER_HEADERS.streamSeq, seq);
    h.set(DEAD_LETTER_HEADERS.deliveries, String(m.info.deliveryCount));
    const eventId = item ? item.id : m.headers?.get(DEAD_LETTER_HEADERS.eventId) || m.headers?.get('Nats-Msg-Id');
    if (eventId) h.set(DEAD_LETTER_HEADERS.eventId, eventId);
    // A batch message parked whole (a consumer older than its producer) keeps its item count.
    for (const carried of [DEAD_LETTER_HEADERS.priorAttempts, DEAD_LETTER_HEADERS.replays, ...(item ? [] : [ITEMS_HEADER])]) {
      const v = m.headers?.get(carried);
      if (v) h.set(carried, v);
    }
    try {
      const data = item ? encoder.encode(item.body ?? JSON.stringify(item.raw)) : m.data;
      await this.js.publish(this.spec.deadLetterSubject?.(subject) ?? this.topology.dlq(this.spec.durable), data, { headers: h });
    } catch (e) {
      // Never drop it: without a dead-letter copy the message stays on its stream.
      this.log.error({ ...context, err: e }, 'could not dead-letter, will retry');
      if (item) item.carrier.retry(backoffMs(m.info.deliveryCount));
      else m.nak(backoffMs(m.info.deliveryCount));
      return;
    }
    // No reason text: NATS 2.9 does not understand `+TERM <reason>` and would leave the message pending.
    // An item's message is acked once its other items are settled.
    if (item) item.carrier.done();
    else m.term();
    metrics.dlq.labels(this.spec.durable).inc();
    metrics.messagesProcessed.labels(this.spec.durable, 'dead_letter').inc();
    this.log.error({ ...context, error: error.message, errorType: error.name }, 'dead-lettered');
  }
}

/** The companion durable that receives this consumer's replayed dead letters. */
export function replayDurable(durable: string): string {
  return `${durable}-replay`;
}

/**
 * Whether a message from a recreated durable (`feed.handedOutTo` set) was handed out by the lost one:
 * at or below the highest sequence it had. A first delivery above it means the new durable is past
 * every message the lost one had (it delivers in stream order): the mark is dropped.
 */
function handedOutBefore(feed: Feed, m: JsMsg): boolean {
  if (m.info.streamSequence <= feed.handedOutTo!) return true;
  if (m.info.deliveryCount === 1) feed.handedOutTo = undefined;
  return false;
}

/** Asks for a message again; for an item, its whole message (settled once all its items are). */
function nak<T>(d: Delivery<T>, delayMs: number): void {
  if (d.item) d.item.carrier.retry(delayMs);
  else d.msg.nak(delayMs);
}

function asError(e: unknown): Error {
  return e instanceof Error ? e : new Error(String(e));
}

function oneLine(s: string): string {
  return s.replace(/[\r\n]+/g, ' ').slice(0, 1000);
}

function isConsumerNotFound(e: unknown): boolean {
  return (e as Error)?.name === 'ConsumerNotFoundError' || /consumer not found/i.test((e as Error)?.message ?? '');
}

type DurableSpec = Pick<ConsumerSpec<unknown>, 'stream' | 'durable' | 'filterSubject' | 'ackWaitMs' | 'maxAckPending'>;

/**
 * Creates the durable consumer, or updates what may change on an existing one. A durable that is
 * recreated (it was deleted under a running consumer) starts after `startAfter`, the last ack
 * floor seen; a new one reads its stream from the start. Resolves the info of the durable it
 * found (read anyway, to compare its settings), or undefined when it created the durable.
 */
export async function ensureDurable(
  jsm: JetStreamManager,
  spec: DurableSpec,
  log?: Logger,
  startAfter?: number,
): Promise<ConsumerInfo | undefined> {
  const mutable = { ack_wait: nanos(spec.ackWaitMs), max_ack_pending: spec.maxAckPending, max_deliver: -1 };
  try {
    const info = await jsm.consumers.info(spec.stream, spec.durable);
    if (info.config.filter_subject !== spec.filterSubject) {
      log?.warn({ existing: info.config.filter_subject, wanted: spec.filterSubject }, 'durable consumer has another filter; keeping it');
    }
    if (info.config.ack_wait !== mutable.ack_wait || info.config.max_ack_pending !== mutable.max_ack_pending) {
      await jsm.consumers.update(spec.stream, spec.durable, mutable);
    }
    return info;
  } catch (e) {
    if (!isConsumerNotFound(e)) throw e;
    await jsm.consumers.add(spec.stream, {
      durable_name: spec.durable,
      ack_policy: AckPolicy.Explicit,
      ...(startAfter
        ? { deliver_policy: DeliverPolicy.StartSequence, opt_start_seq: startAfter + 1 }
        : { deliver_policy: DeliverPolicy.All }),
      filter_subject: spec.filterSubject,
      ...mutable,
    });
    return undefined;
  }
}
