import { DynamicModule } from '@nestjs/common';
import { NestFastifyApplication } from '@nestjs/platform-fastify';
import type { ArbiterConfig } from '@app/config';
import { JetStreamTransport } from '@app/messaging';
import { createHttpApp, listen } from './http-app';

/**
 * A headless service (scorer, recorder, notifier): JetStream consumers, plus `/health` and
 * `/metrics` on `port` when it runs on its own (0: no HTTP, as inside `arbiter start`).
 */
export async function createWorkerApp(module: DynamicModule, config: ArbiterConfig, name: string): Promise<NestFastifyApplication> {
  const app = await createHttpApp(module);
  // inheritAppConfig: the consumers get the app's global error filter (errors reach the transport intact).
  app.connectMicroservice({ strategy: new JetStreamTransport(config, name) }, { inheritAppConfig: true });
  return app;
}

/** Runs start-up hooks (state rebuild, catalog load) first, then consumes, then serves HTTP. */
export async function startWorkerApp(app: NestFastifyApplication, name: string, port: number, host: string): Promise<void> {
  await app.init();
  await app.startAllMicroservices();
  if (port > 0) await listen(app, name, port, host);
}
