import { CustomTransportStrategy, MessageHandler, Server } from '@nestjs/microservices';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { NatsConnection } from '@nats-io/nats-core';
import { lastValueFrom } from 'rxjs';
import type { ArbiterConfig } from '@app/config';
import { Topology } from '@app/contracts';
import { ConsumerRunner } from './consumer-runner';
import { consumerSpecs } from './consumer-spec';
import { Delivery } from './delivery';

/**
 * NestJS transport over JetStream durable pull consumers. Handlers stay `@EventPattern(name)`
 * methods where `name` is a `ConsumerName`; each receives a batch (`Delivery[]`) and every message
 * is acked only after the handler resolved. Nest's own NATS transport speaks core NATS only.
 * It consumes over the service's connection and leaves draining it to its owner (MessagingModule),
 * which does so after the consumers stopped.
 */
export class JetStreamTransport extends Server implements CustomTransportStrategy {
  private runners: ConsumerRunner<unknown>[] = [];

  constructor(
    private readonly nc: NatsConnection,
    private readonly config: ArbiterConfig,
  ) {
    super();
  }

  async listen(callback: (error?: unknown) => void): Promise<void> {
    try {
      const js = jetstream(this.nc);
      const jsm = await jetstreamManager(this.nc);
      const topology = new Topology(this.config.ARBITER_NAMESPACE, this.config.ARBITER_PARTITIONS);
      const specs = consumerSpecs(topology, this.config);
      for (const [pattern, handler] of this.getHandlers()) {
        const forPattern = specs.get(pattern as never);
        if (!forPattern) throw new Error(`no JetStream consumer is defined for handler pattern "${pattern}"`);
        for (const spec of forPattern) {
          const runner = new ConsumerRunner(js, jsm, topology, spec, (batch) => this.invoke(handler, batch));
          await runner.start();
          this.runners.push(runner);
        }
      }
      callback();
    } catch (e) {
      callback(e);
    }
  }

  private async invoke(handler: MessageHandler, batch: Delivery<unknown>[]): Promise<void> {
    const result = await handler(batch);
    await lastValueFrom(this.transformToObservable(result), { defaultValue: undefined });
  }

  /** Graceful: stop pulling, let in-flight batches finish and settle (the connection is drained by its owner afterwards). */
  async close(): Promise<void> {
    await Promise.all(this.runners.map((r) => r.stop()));
    this.runners = [];
  }

  on(): never {
    throw new Error('JetStreamTransport has no events to subscribe to');
  }

  unwrap<T>(): T {
    return this.nc as T;
  }
}
