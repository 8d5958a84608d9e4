import { JetStreamApiError, type JetStreamClient, type JetStreamManager, type JsMsg } from '@nats-io/jetstream';
import { type MsgHdrs, headers } from '@nats-io/nats-core';
import { ITEMS_HEADER } from './batch';
import { ConsumerName, Topology } from '@app/contracts';
import { degradations } from '@app/observability';
import { BatchHandler, ConsumerRunner } from './consumer-runner';
import type { ConsumerSpec } from './consumer-spec';
import { DEAD_LETTER_HEADERS } from './dead-letter-headers';
import { Delivery } from './delivery';
import { PoisonMessageError, TransientError } from './errors';
import { readStoredIds } from './stored-ids';

/** A message as the runner sees it, recording how it was settled. */
class FakeMsg {
  settled: { kind: 'ack' } | { kind: 'nak'; delay?: number } | { kind: 'term' } | null = null;
  readonly info: { stream: string; streamSequence: number; deliveryCount: number };
  constructor(
    readonly subject: string,
    readonly text: string,
    seq: number,
    readonly headers?: MsgHdrs,
  ) {
    this.info = { stream: 'EVENTS', streamSequence: seq, deliveryCount: 1 };
  }
  get data(): Uint8Array {
    return new TextEncoder().encode(this.text);
  }
  ack(): void {
    this.settled = { kind: 'ack' };
  }
  nak(delay?: number): void {
    this.settled = { kind: 'nak', delay };
  }
  term(): void {
    this.settled = { kind: 'term' };
  }
  workingCalls = 0;
  working(): void {
    this.workingCalls++;
  }
}

const topology = new Topology('unit', 1);
const spec: ConsumerSpec<string> = {
  name: ConsumerName.RecorderEvents,
  stream: 'EVENTS',
  durable: 'unit-durable',
  filterSubject: 'unit.events.>',
  batch: 10,
  concurrency: 1,
  ackWaitMs: 30_000,
  maxAckPending: 100,
  decode: (_subject, data) => {
    const text = new TextDecoder().decode(data);
    if (text === 'garbage') throw new PoisonMessageError('not JSON');
    return text;
  },
};

/** The broker side: a durable that exists, a subscription we feed by hand, and the publishes made. */
function fakeBroker() {
  const callbacks: ((m: JsMsg) => void)[] = [];
  const published: { subject: string; data: string; headers: MsgHdrs }[] = [];
  const messages = { status: async function* () {}, close: async () => undefined };
  const js = {
    consumers: { get: async () => ({ consume: async (o: { callback: (m: JsMsg) => void }) => (callbacks.push(o.callback), messages) }) },
    publish: async (subject: string, data: Uint8Array, o: { headers: MsgHdrs }) => {
      published.push({ subject, data: new TextDecoder().decode(data), headers: o.headers });
      return { seq: published.length };
    },
  };
  const jsm = {
    consumers: {
      info: async () => ({
        config: { filter_subject: spec.filterSubject, ack_wait: 30_000 * 1e6, max_ack_pending: 100 },
        ack_floor: { stream_seq: 0 },
        delivered: { stream_seq: 0 },
        num_pending: 0,
        num_ack_pending: 0,
      }),
      update: async () => undefined,
    },
  };
  return {
    js: js as unknown as JetStreamClient,
    jsm: jsm as unknown as JetStreamManager,
    published,
    /** Delivers messages on the durable (the first subscription; the second is the replay companion). */
    deliver: (...ms: FakeMsg[]) => ms.forEach((m) => callbacks[0](m as unknown as JsMsg)),
  };
}

async function settled(...ms: FakeMsg[]): Promise<void> {
  while (ms.some((m) => m.settled === null)) await new Promise((r) => setImmediate(r));
}

describe('ConsumerRunner', () => {
  let broker: ReturnType<typeof fakeBroker>;
  let sut: ConsumerRunner<string> | undefined;
  let seq = 0;
  const msg = (text: string) => new FakeMsg('unit.events.click.0', text, ++seq);

  async function run(handler: BatchHandler<string>, with_: ConsumerSpec<string> = spec): Promise<void> {
    broker = fakeBroker();
    sut = new ConsumerRunner(broker.js, broker.jsm, topology, with_, handler);
    await sut.start();
  }

  afterEach(async () => {
    await sut?.stop();
    sut = undefined;
    degradations.clear(`consumer ${spec.durable}`);
  });

  it('acks every message once the handler resolved, and hands it the decoded batch', async () => {
    const seen: string[] = [];
    await run(async (batch) => void seen.push(...batch.map((d) => d.data)));
    const ms = [msg('a'), msg('b'), msg('c')];
    broker.deliver(...ms);
    await settled(...ms);
    expect(ms.map((m) => m.settled?.kind)).toEqual(['ack', 'ack', 'ack']);
    expect(seen).toEqual(['a', 'b', 'c']);
    expect(broker.published).toEqual([]);
  });

  it('keeps messages waiting in its queue in progress, so that a long queue is not redelivered past ack_wait', async () => {
    let release!: () => void;
    const blocked = new Promise<void>((r) => (release = r));
    await run(
      async (batch) => {
        if (batch.some((d) => d.data === 'slow')) await blocked;
      },
      { ...spec, batch: 1, ackWaitMs: 30 },
    );
    const slow = msg('slow');
    const waiting = msg('waiting');
    broker.deliver(slow, waiting);
    await new Promise((r) => setTimeout(r, 100));
    const calls = waiting.workingCalls;
    release();
    await settled(slow, waiting);
    // The handler's message is kept alive by the handler call, the queued one by the queue.
    expect(calls).toBeGreaterThanOrEqual(2);
    expect([slow.settled?.kind, waiting.settled?.kind]).toEqual(['ack', 'ack']);
  });

  it('dead-letters a message it cannot decode, with its error, without calling the handler for it', async () => {
    const seen: string[] = [];
    await run(async (batch) => void seen.push(...batch.map((d) => d.data)));
    const good = msg('fine');
    const bad = msg('garbage');
    broker.deliver(bad, good);
    await settled(bad, good);
    expect(bad.settled).toEqual({ kind: 'term' });
    expect(good.settled).toEqual({ kind: 'ack' });
    expect(seen).toEqual(['fine']);
    expect(broker.published).toHaveLength(1);
    const [letter] = broker.published;
    expect(letter.subject).toBe(topology.dlq(spec.durable));
    expect(letter.data).toBe('garbage');
    expect(letter.headers.get(DEAD_LETTER_HEADERS.error)).toBe('not JSON');
    expect(letter.headers.get(DEAD_LETTER_HEADERS.source)).toBe(spec.durable);
    expect(letter.headers.get(DEAD_LETTER_HEADERS.streamSeq)).toBe(String(bad.info.streamSequence));
  });

  it('isolates the poison message of a failing batch: the others are acked, only it is dead-lettered', async () => {
    await run(async (batch) => {
      if (batch.some((d) => d.data === 'refused')) throw new PoisonMessageError('value out of range');
    });
    const ms = [msg('a'), msg('refused'), msg('c')];
    broker.deliver(...ms);
    await settled(...ms);
    expect(ms.map((m) => m.settled?.kind)).toEqual(['ack', 'term', 'ack']);
    expect(broker.published.map((p) => p.data)).toEqual(['refused']);
  });

  it('keeps the whole batch (nak with a delay) when the database fails, and reports the consumer degraded', async () => {
    await run(async () => {
      throw Object.assign(new Error('connection refused'), { code: 'ECONNREFUSED' });
    });
    const ms = [msg('a'), msg('b')];
    broker.deliver(...ms);
    await settled(...ms);
    for (const m of ms) expect(m.settled).toEqual({ kind: 'nak', delay: expect.any(Number) });
    expect(broker.published).toEqual([]);
    expect(degradations.list()).toEqual([expect.objectContaining({ component: `consumer ${spec.durable}`, cause: 'database' })]);
  });

  it('clears the degradation once the messages it kept go through, not at another message’s success', async () => {
    // One table refuses writes: batches with its rows fail, batches without them still succeed.
    let refused = true;
    await run(async (batch: Delivery<string>[]) => {
      if (refused && batch.some((d) => d.data === 'decision'))
        throw Object.assign(new Error('permission denied for table decisions'), { code: '42501' });
    });
    const kept = msg('decision');
    broker.deliver(kept);
    await settled(kept);
    expect(kept.settled).toEqual({ kind: 'nak', delay: expect.any(Number) });
    const other = msg('click verdict');
    broker.deliver(other);
    await settled(other);
    expect(other.settled).toEqual({ kind: 'ack' });
    expect(degradations.list()).toEqual([expect.objectContaining({ component: `consumer ${spec.durable}`, cause: 'database' })]);

    refused = false;
    kept.settled = null;
    broker.deliver(kept); // redelivered after its back-off
    await settled(kept);
    expect(kept.settled).toEqual({ kind: 'ack' });
    expect(degradations.list()).toEqual([]);
  });

  it('settles each message as the handler marked it: retry is a nak, reject a dead letter', async () => {
    await run(async (batch: Delivery<string>[]) => {
      for (const d of batch) {
        if (d.data === 'later') d.retry(1234);
        if (d.data === 'never') d.reject(new Error('unknown advertiser'));
      }
    });
    const ms = [msg('ok'), msg('later'), msg('never')];
    broker.deliver(...ms);
    await settled(...ms);
    expect(ms.map((m) => m.settled)).toEqual([{ kind: 'ack' }, { kind: 'nak', delay: 1234 }, { kind: 'term' }]);
    expect(broker.published.map((p) => p.headers.get(DEAD_LETTER_HEADERS.error))).toEqual(['unknown advertiser']);
  });

  it('keeps a message whose failure nobody explains while nothing else succeeds (not blamed on it yet)', async () => {
    await run(async () => {
      throw new TransientError('upstream hiccup');
    });
    const m = msg('a');
    broker.deliver(m);
    await settled(m);
    expect(m.settled).toEqual({ kind: 'nak', delay: expect.any(Number) });
    expect(broker.published).toEqual([]);
  });

  it('keeps (nak) a message whose read of a stream back fails at the API, beside one that succeeds: not dead-lettered', async () => {
    // The notifier's late check: JetStream refuses the read (a leader election, the consumer limit).
    const refusing = {
      streams: {
        getMessage: async () => {
          throw new JetStreamApiError({ code: 500, err_code: 10077, description: 'maximum consumers limit reached' });
        },
      },
    } as unknown as JetStreamManager;
    let release!: () => void;
    const busy = new Promise<void>((r) => (release = r));
    await run(async (batch) => {
      if (batch.some((d) => d.data === 'busy')) await busy;
      if (batch.some((d) => d.data === 'late')) await readStoredIds(refusing, 'DECISIONS', 'unit.decisions.adv', new Date(0));
    });
    // Queued behind a batch in flight, so that the late message and a prompt one share the next batch.
    const first = msg('busy');
    broker.deliver(first);
    const late = msg('late');
    const prompt = msg('prompt');
    broker.deliver(late, prompt);
    release();
    await settled(first, late, prompt);
    expect(late.settled).toEqual({ kind: 'nak', delay: expect.any(Number) });
    expect(broker.published).toEqual([]);
  });

  it('at stop, hands back (nak) what was received and not started, after the batch in flight settled', async () => {
    let release!: () => void;
    const started = new Promise<void>((r) => {
      release = r;
    });
    let entered!: () => void;
    const inHandler = new Promise<void>((r) => (entered = r));
    await run(async () => {
      entered();
      await started;
    });
    const first = msg('first');
    broker.deliver(first);
    await inHandler;
    const queued = msg('queued');
    broker.deliver(queued);
    const stopping = sut!.stop();
    release();
    await stopping;
    sut = undefined;
    expect(first.settled).toEqual({ kind: 'ack' });
    expect(queued.settled).toEqual({ kind: 'nak', delay: undefined });
  });

  describe('batch messages (several items, each with its own id)', () => {
    /** Items are strings; "garbage" breaks the contract. */
    const batched: ConsumerSpec<string> = {
      ...spec,
      batch: 5,
      decodeItems: (_subject, data) =>
        (JSON.parse(new TextDecoder().decode(data)) as string[]).map((raw) =>
          raw === 'garbage' ? { error: new PoisonMessageError('bad item'), raw, id: `id-${raw}` } : { value: raw, raw, id: `id-${raw}` },
        ),
    };
    const batch = (...items: string[]) => {
      const h = headers();
      h.set(ITEMS_HEADER, String(items.length));
      return new FakeMsg('unit.events.click.0', JSON.stringify(items), ++seq, h);
    };

    it('hands the handler one delivery per item and acks the message once all were handled', async () => {
      const seen: string[] = [];
      await run(async (ds) => void seen.push(...ds.map((d) => d.data)), batched);
      const m = batch('a', 'b', 'c');
      broker.deliver(m);
      await settled(m);
      expect(m.settled).toEqual({ kind: 'ack' });
      expect(seen).toEqual(['a', 'b', 'c']);
    });

    it('still takes single messages (old producers, replayed dead letters) beside batch messages', async () => {
      const seen: string[] = [];
      await run(async (ds) => void seen.push(...ds.map((d) => d.data)), batched);
      const ms = [msg('alone'), batch('x', 'y')];
      broker.deliver(...ms);
      await settled(...ms);
      expect(ms.map((m) => m.settled?.kind)).toEqual(['ack', 'ack']);
      expect(seen).toEqual(['alone', 'x', 'y']);
    });

    it('takes an array without the header as a batch too (one an older consumer dead-lettered whole, replayed)', async () => {
      const seen: string[] = [];
      await run(async (ds) => void seen.push(...ds.map((d) => d.data)), batched);
      const m = msg(JSON.stringify(['p', 'q']));
      broker.deliver(m);
      await settled(m);
      expect(m.settled).toEqual({ kind: 'ack' });
      expect(seen).toEqual(['p', 'q']);
    });

    it('dead-letters only the item that breaks its contract, alone, and handles its neighbours', async () => {
      const seen: string[] = [];
      await run(async (ds) => void seen.push(...ds.map((d) => d.data)), batched);
      const m = batch('a', 'garbage', 'c');
      broker.deliver(m);
      await settled(m);
      expect(m.settled).toEqual({ kind: 'ack' });
      expect(seen).toEqual(['a', 'c']);
      expect(broker.published).toHaveLength(1);
      const [letter] = broker.published;
      expect(letter.data).toBe('"garbage"'); // the item alone, in the shape a single message has
      expect(letter.headers.get(DEAD_LETTER_HEADERS.eventId)).toBe('id-garbage');
      expect(letter.headers.get('Nats-Msg-Id')).toBe(`${spec.durable}:EVENTS:${m.info.streamSequence}:1`);
      expect(letter.headers.get(ITEMS_HEADER)).toBeFalsy();
    });

    it('isolates the item the handler refuses: only it is dead-lettered, the message is acked', async () => {
      const handled: string[] = [];
      await run(async (ds) => {
        if (ds.some((d) => d.data === 'refused')) throw new PoisonMessageError('value out of range');
        handled.push(...ds.map((d) => d.data));
      }, batched);
      const m = batch('a', 'refused', 'c');
      broker.deliver(m);
      await settled(m);
      expect(m.settled).toEqual({ kind: 'ack' });
      expect(handled).toEqual(['a', 'c']);
      expect(broker.published.map((p) => p.data)).toEqual(['"refused"']);
    });

    it('asks for the whole message again when one item must be retried (the others are idempotent)', async () => {
      await run(async (ds) => {
        for (const d of ds) if (d.data === 'later') d.retry(1234);
      }, batched);
      const m = batch('a', 'later', 'c');
      broker.deliver(m);
      await settled(m);
      expect(m.settled).toEqual({ kind: 'nak', delay: 1234 });
      expect(broker.published).toEqual([]);
    });

    it('keeps the message (nak) when the database fails for its items', async () => {
      await run(async () => {
        throw Object.assign(new Error('connection refused'), { code: 'ECONNREFUSED' });
      }, batched);
      const m = batch('a', 'b');
      broker.deliver(m);
      await settled(m);
      expect(m.settled).toEqual({ kind: 'nak', delay: expect.any(Number) });
    });

    it('sizes handler calls by items, not messages', async () => {
      const sizes: number[] = [];
      let release!: () => void;
      const gate = new Promise<void>((r) => (release = r));
      await run(async (ds) => {
        sizes.push(ds.length);
        await gate;
      }, batched);
      const first = batch('a', 'b');
      broker.deliver(first); // in flight while the next three queue up
      const rest = [batch('c', 'd', 'e'), batch('f', 'g'), msg('h')];
      broker.deliver(...rest);
      release();
      await settled(first, ...rest);
      expect(sizes).toEqual([2, 5, 1]);
    });
  });
});
