import { DiscardPolicy, RetentionPolicy, StorageType, jetstreamManager } from '@nats-io/jetstream';
import { NatsConnection } from '@nats-io/nats-core';
import { connect } from '@nats-io/transport-node';
import { JetStreamPublisher, PublishError } from '@app/messaging';
import { TEST_NATS_URL, testNamespace } from '@app/testing';
import { NatsServer, stopAll } from '../faults/support/servers';

/** The pipelined publisher against the real NATS: acks, deduplication, refusals, timeouts, closing. */
describe('JetStreamPublisher', () => {
  let nc: NatsConnection;
  const stream = testNamespace();
  beforeAll(async () => {
    nc = await connect({ servers: TEST_NATS_URL });
    await (
      await jetstreamManager(nc)
    ).streams.add({
      name: stream,
      subjects: [`${stream}.>`],
      storage: StorageType.File,
      retention: RetentionPolicy.Limits,
      discard: DiscardPolicy.New,
      max_msgs: 1000,
      duplicate_window: 60_000_000_000,
    });
  });
  afterAll(async () => {
    await (await jetstreamManager(nc)).streams.delete(stream);
    await nc.close();
  });

  it('resolves each publish with its stream sequence once stored, pipelined, and flags a re-sent id', async () => {
    const publisher = new JetStreamPublisher(nc);
    const acks = await publisher.publishAll(
      Array.from({ length: 200 }, (_, i) => ({ subject: `${stream}.a`, payload: { i }, msgId: `m${i}` })),
    );
    expect(new Set(acks.map((a) => a.seq)).size).toBe(200);
    expect(acks.every((a) => a.stream === stream && !a.duplicate)).toBe(true);
    const again = await publisher.publish(`${stream}.a`, { i: 7 }, 'm7');
    expect(again).toMatchObject({ duplicate: true, seq: acks[7].seq });
    const stored = await (await jetstreamManager(nc)).streams.getMessage(stream, { seq: acks[3].seq });
    expect(stored!.json()).toEqual({ i: 3 });
    expect(stored!.header!.get('Nats-Msg-Id')).toBe('m3');
    publisher.close();
  });

  it('reports, per message, a subject no stream takes and a stream that refuses', async () => {
    const publisher = new JetStreamPublisher(nc);
    await expect(publisher.publish(`${stream}-nowhere.x`, {}, 'n1')).rejects.toThrow(/no stream takes .*503/);
    // The stream holds 1000 at most and discards new ones: past that, each further message is refused on its own.
    const before = (await (await jetstreamManager(nc)).streams.info(stream)).state.messages;
    const results = await publisher.publishEach(
      Array.from({ length: 1010 - before }, (_, i) => ({ subject: `${stream}.b`, payload: { i }, msgId: `fill${i}` })),
    );
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1000 - before);
    const refused = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
    expect(refused).toHaveLength(10);
    for (const r of refused) {
      expect(r.reason).toBeInstanceOf(PublishError);
      expect(r.reason.message).toMatch(/maximum messages exceeded/i);
      // Not a poison message: the stream may have room later, so consumers retry instead of dead-lettering.
      expect(r.reason.transient).toBe(true);
    }
    publisher.close();
  });

  it('rejects what is not acknowledged in time, and what waits when it is closed', async () => {
    // A subscriber that answers nothing stands in for a stream that never acks.
    const silent = nc.subscribe(`${stream}-silent.>`, { callback: () => undefined });
    const quick = new JetStreamPublisher(nc, 300);
    await expect(quick.publish(`${stream}-silent.x`, {}, 's1')).rejects.toThrow(/no JetStream ack .* within 300 ms/);
    quick.close();
    const slow = new JetStreamPublisher(nc, 60_000);
    const pending = slow.publish(`${stream}-silent.y`, {}, 's2');
    slow.close();
    await expect(pending).rejects.toThrow(/closed before JetStream acknowledged/);
    // A closed publisher refuses at once instead of waiting for an ack nobody listens for.
    await expect(slow.publish(`${stream}.a`, {}, 's3')).rejects.toMatchObject({ message: 'the publisher is closed', transient: true });
    silent.unsubscribe();
  });

  it('fails what waits as soon as the connection drops, not at the timeout', async () => {
    const server = await NatsServer.single('publisher');
    const own = await connect({ servers: server.url, maxReconnectAttempts: -1, reconnectTimeWait: 200 });
    try {
      // A subscriber that answers nothing: the publish waits for an ack until the server goes away.
      own.subscribe('silent.>', { callback: () => undefined });
      await own.flush();
      const publisher = new JetStreamPublisher(own, 60_000);
      const pending = publisher.publish('silent.x', {}, 'd1');
      const refused = expect(pending).rejects.toMatchObject({ transient: true, message: expect.stringMatching(/dropped/) });
      const started = Date.now();
      await server.crash();
      await refused;
      expect(Date.now() - started).toBeLessThan(30_000);
      publisher.close();
    } finally {
      await own.close();
      await stopAll();
    }
  });
});
