import { JetStreamClient, JetStreamManager, jetstream, jetstreamManager } from '@nats-io/jetstream';
import { NatsConnection } from '@nats-io/nats-core';
import { connect } from '@nats-io/transport-node';
import { Module } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { Topology } from '@app/contracts';
import { ConfigModule, loadConfig } from '@app/config';
import { DeadLetterGauge, MessagingModule, provisionStreams } from '@app/messaging';
import { metricsRegistry } from '@app/observability';
import { TEST_NATS_URL, deleteNamespace, eventually, testNamespace } from '@app/testing';

/** `arbiter_dead_letters` against the real local NATS: the depth of the DLQ and WEBHOOK_DLQ streams of a namespace. */
describe('dead-letter gauge', () => {
  let nc: NatsConnection;
  let js: JetStreamClient;
  let jsm: JetStreamManager;
  let namespace: string;
  let topology: Topology;

  beforeEach(async () => {
    namespace = testNamespace();
    topology = new Topology(namespace);
    nc = await connect({ servers: TEST_NATS_URL });
    js = jetstream(nc);
    jsm = await jetstreamManager(nc);
  });

  afterEach(async () => {
    await nc.close();
    await deleteNamespace(namespace);
  });

  const config = () => loadConfig({ ARBITER_NAMESPACE: namespace, NATS_URL: TEST_NATS_URL, EVENTS_MAX_BYTES: String(64 * 1024 ** 2) });
  const provision = () => provisionStreams(jsm, topology, config());

  async function deadLetters(): Promise<Record<string, number>> {
    const metric = metricsRegistry.getSingleMetric('arbiter_dead_letters');
    if (!metric) throw new Error('arbiter_dead_letters is not registered');
    return Object.fromEntries((await metric.get()).values.map((v) => [String(v.labels.stream), v.value]));
  }

  it('reports the messages waiting in each dead-letter stream, by logical name', async () => {
    await provision();
    await js.publish(topology.dlq('recorder-events'), '{"n":"x"}');
    await js.publish(topology.dlq('scorer-events'), '{"n":"y"}');
    await new DeadLetterGauge(jsm, topology).refresh();
    expect(await deadLetters()).toEqual({ DLQ: 2, WEBHOOK_DLQ: 0 });

    await js.publish(topology.webhookDeadLetters('shop'), '{"advertiserId":"shop"}');
    await jsm.streams.purge(topology.streams.dlq);
    await new DeadLetterGauge(jsm, topology).refresh();
    expect(await deadLetters()).toEqual({ DLQ: 0, WEBHOOK_DLQ: 1 });
  });

  it('counts a stream that does not exist as 0', async () => {
    await new DeadLetterGauge(jsm, topology).refresh();
    expect(await deadLetters()).toEqual({ DLQ: 0, WEBHOOK_DLQ: 0 });
  });

  it('keeps the last value and does not throw when NATS cannot answer', async () => {
    await provision();
    await js.publish(topology.dlq('recorder-events'), '{}');
    const gauge = new DeadLetterGauge(jsm, topology);
    await gauge.refresh();
    await nc.close();
    await expect(gauge.refresh()).resolves.toBeUndefined();
    expect(await deadLetters()).toEqual({ DLQ: 1, WEBHOOK_DLQ: 0 });
  });

  it('sets the gauge at start and stops on shutdown', async () => {
    await provision();
    for (let i = 0; i < 3; i++) await js.publish(topology.dlq('recorder-events'), '{}');
    const gauge = new DeadLetterGauge(jsm, topology);
    gauge.onApplicationBootstrap();
    try {
      await eventually(deadLetters, (v) => v.DLQ === 3 && v.WEBHOOK_DLQ === 0);
    } finally {
      await gauge.onModuleDestroy();
    }
    expect((gauge as unknown as { timer?: NodeJS.Timeout }).timer).toBeUndefined();
  });

  it('is provided by MessagingModule: every service that imports it reports the gauge', async () => {
    await provision();
    for (let i = 0; i < 4; i++) await js.publish(topology.dlq('recorder-events'), '{}');
    await js.publish(topology.webhookDeadLetters('shop'), '{}');
    @Module({ imports: [ConfigModule.forRoot(config()), MessagingModule.forRoot('dead-letter-test')] })
    class ServiceModule {}
    const app = await NestFactory.createApplicationContext(ServiceModule, { logger: false });
    try {
      expect(app.get(DeadLetterGauge)).toBeInstanceOf(DeadLetterGauge);
      await eventually(deadLetters, (v) => v.DLQ === 4 && v.WEBHOOK_DLQ === 1);
    } finally {
      await app.close();
    }
  });
});
