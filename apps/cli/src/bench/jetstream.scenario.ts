import { randomBytes } from 'node:crypto';
import { DiscardPolicy, RetentionPolicy, StorageType, jetstream, jetstreamManager } from '@nats-io/jetstream';
import { JetStreamPublisher, connectNats, drainNats } from '@app/messaging';

export interface JetStreamBaselineResult {
  messages: number;
  bytesPerMessage: number;
  /** Publishes in flight at once (as the gateway does: a batch at a time, several batches). */
  inFlight: number;
  /** Acknowledged (stored on file) publishes per second from this Node process, with the client library's `js.publish`. */
  publishesPerSecond: number;
  /** The same through the engine's own pipelined publisher (what the gateway and scorer use). */
  enginePublisherPerSecond: number;
  enginePublisherRatio: number;
}

/**
 * The raw baseline under the gateway: acknowledged JetStream publishes of event-sized messages to a
 * scratch file-backed stream, with as many in flight as the end-to-end run keeps, deduplication
 * ids included (the gateway sets one per event). The stream is deleted afterwards.
 */
export async function jetStreamBaseline(options: {
  natsUrl: string;
  messages: number;
  inFlight: number;
}): Promise<JetStreamBaselineResult> {
  const nc = await connectNats(options.natsUrl, 'arbiter-bench-baseline');
  const name = `bench_baseline_${randomBytes(4).toString('hex')}`;
  const subject = `${name}.events`;
  const jsm = await jetstreamManager(nc);
  try {
    await jsm.streams.add({
      name,
      subjects: [subject],
      storage: StorageType.File,
      retention: RetentionPolicy.Limits,
      discard: DiscardPolicy.Old,
      max_bytes: 1024 ** 3,
      duplicate_window: 2 * 60 * 1_000_000_000,
    });
    const js = jetstream(nc);
    // A click as the gateway publishes it, about the same size.
    const payload = new TextEncoder().encode(
      JSON.stringify({
        kind: 'click',
        id: 'x'.repeat(36),
        ts: new Date().toISOString(),
        receivedAt: new Date().toISOString(),
        offerId: 'bench-offer',
        publisherId: 'bench-publisher',
        subId: 's1',
        ip: '203.0.113.10',
        userAgent: 'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36',
        partition: 0,
      }),
    );
    const timed = async (publish: (i: number) => Promise<unknown>) => {
      let next = 0;
      const started = performance.now();
      await Promise.all(
        Array.from({ length: options.inFlight }, async () => {
          while (next < options.messages) await publish(next++);
        }),
      );
      return options.messages / ((performance.now() - started) / 1000);
    };
    const library = await timed((i) => js.publish(subject, payload, { msgID: `m${i}` }));
    const publisher = new JetStreamPublisher(nc);
    const event = JSON.parse(new TextDecoder().decode(payload));
    const engine = await timed((i) => publisher.publish(subject, event, `e${i}`));
    publisher.close();
    return {
      messages: options.messages,
      bytesPerMessage: payload.length,
      inFlight: options.inFlight,
      publishesPerSecond: Math.round(library),
      enginePublisherPerSecond: Math.round(engine),
      enginePublisherRatio: Math.round((engine / library) * 100) / 100,
    };
  } finally {
    await jsm.streams.delete(name).catch(() => undefined);
    await drainNats(nc);
  }
}
