import { DynamicModule, Global, Inject, Injectable, Module, OnApplicationShutdown } from '@nestjs/common';
import { JetStreamManager, jetstreamManager } from '@nats-io/jetstream';
import { NatsConnection } from '@nats-io/nats-core';
import { ARBITER_CONFIG, ArbiterConfig } from '@app/config';
import { Topology } from '@app/contracts';
import { connectNats, drainNats } from './nats-connection';
import { DeadLetterGauge } from './dead-letter-gauge';
import { JetStreamPublisher } from './publisher';
import { provisionStreams } from './provisioner';

export const NATS_CONNECTION = Symbol('NATS_CONNECTION');
export const JETSTREAM_MANAGER = Symbol('JETSTREAM_MANAGER');

@Injectable()
class NatsLifecycle implements OnApplicationShutdown {
  constructor(@Inject(NATS_CONNECTION) private readonly nc: NatsConnection) {}
  /** After the HTTP server and consumers have stopped: flush what is still being published. */
  async onApplicationShutdown(): Promise<void> {
    await drainNats(this.nc);
  }
}

/** The NATS connection of one service, its JetStream publisher, the topology and the dead-letter gauge. */
@Global()
@Module({})
export class MessagingModule {
  static forRoot(connectionName: string): DynamicModule {
    return {
      module: MessagingModule,
      providers: [
        {
          provide: NATS_CONNECTION,
          inject: [ARBITER_CONFIG],
          // Streams are provisioned (idempotently) before anything publishes or consumes.
          useFactory: async (config: ArbiterConfig) => {
            const nc = await connectNats(config.NATS_URL, connectionName);
            await provisionStreams(await jetstreamManager(nc), new Topology(config.ARBITER_NAMESPACE, config.ARBITER_PARTITIONS), config);
            return nc;
          },
        },
        {
          provide: JETSTREAM_MANAGER,
          inject: [NATS_CONNECTION],
          useFactory: (nc: NatsConnection): Promise<JetStreamManager> => jetstreamManager(nc),
        },
        {
          provide: Topology,
          inject: [ARBITER_CONFIG],
          useFactory: (config: ArbiterConfig) => new Topology(config.ARBITER_NAMESPACE, config.ARBITER_PARTITIONS),
        },
        {
          provide: JetStreamPublisher,
          inject: [NATS_CONNECTION],
          useFactory: (nc: NatsConnection) => new JetStreamPublisher(nc),
        },
        {
          provide: DeadLetterGauge,
          inject: [JETSTREAM_MANAGER, Topology],
          useFactory: (jsm: JetStreamManager, topology: Topology) => new DeadLetterGauge(jsm, topology),
        },
        NatsLifecycle,
      ],
      exports: [NATS_CONNECTION, JETSTREAM_MANAGER, Topology, JetStreamPublisher],
    };
  }
}

/** Health check: the connection is open and the server answers a round trip. */
export const natsHealthCheck = {
  provide: 'NATS_HEALTH',
  inject: [NATS_CONNECTION],
  useFactory: (nc: NatsConnection) => ({
    name: 'nats',
    check: async () => {
      if (nc.isClosed()) throw new Error('connection closed');
      await nc.flush();
    },
  }),
};
