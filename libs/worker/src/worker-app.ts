import { DynamicModule } from '@nestjs/common';
import { NestFastifyApplication } from '@nestjs/platform-fastify';
import type { NatsConnection } from '@nats-io/nats-core';
import type { ArbiterConfig } from '@app/config';
import { createHttpApp, listen } from '@app/http';
import { JetStreamTransport, NATS_CONNECTION } from '@app/messaging';

/**
 * A headless service (scorer, recorder, notifier): JetStream consumers, plus `/health` and
 * `/metrics` on `port` when it runs on its own (0: no HTTP, as inside `arbiter start`).
 */
export async function createWorkerApp(module: DynamicModule, config: ArbiterConfig): Promise<NestFastifyApplication> {
  const app = await createHttpApp(module);
  // The consumers pull over the service's one NATS connection (MessagingModule's), which is
  // drained at shutdown after they stopped. inheritAppConfig: the consumers get the app's global
  // error filter (errors reach the transport intact).
  const nc = app.get<NatsConnection>(NATS_CONNECTION);
  app.connectMicroservice({ strategy: new JetStreamTransport(nc, config) }, { inheritAppConfig: true });
  return app;
}

/** Runs start-up hooks (state rebuild, catalog load) first, then consumes, then serves HTTP. */
export async function startWorkerApp(app: NestFastifyApplication, name: string, port: number, host: string): Promise<void> {
  await app.init();
  await app.startAllMicroservices();
  if (port > 0) await listen(app, name, port, host);
}
