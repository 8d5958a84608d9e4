import { DynamicModule } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { FastifyAdapter, NestFastifyApplication } from '@nestjs/platform-fastify';
import { PinoNestLogger, componentLogger } from '@app/observability';

export interface HttpAppOptions {
  bodyLimit?: number;
  trustProxy?: boolean;
}

/** A Nest application on Fastify with Arbiter's logging; not listening yet. */
export async function createHttpApp(module: DynamicModule, options: HttpAppOptions = {}): Promise<NestFastifyApplication> {
  const adapter = new FastifyAdapter({
    bodyLimit: options.bodyLimit ?? 1_048_576,
    trustProxy: options.trustProxy ?? false,
    // Let in-flight requests finish on shutdown, but do not wait for idle keep-alive sockets.
    forceCloseConnections: 'idle',
    logger: false,
  });
  const app = await NestFactory.create<NestFastifyApplication>(module, adapter, { logger: new PinoNestLogger(), bufferLogs: false });
  return app;
}

/** Starts listening and logs where. */
export async function listen(app: NestFastifyApplication, name: string, port: number, host: string): Promise<number> {
  await app.listen(port, host);
  const address = app.getHttpServer().address();
  const actual = typeof address === 'object' && address ? address.port : port;
  componentLogger(name).info({ host, port: actual }, `${name} listening`);
  return actual;
}
