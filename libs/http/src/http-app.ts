import { DynamicModule } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { FastifyAdapter, NestFastifyApplication } from '@nestjs/platform-fastify';
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { ArbiterConfig, loadConfig } from '@app/config';
import { PinoNestLogger, componentLogger, rootLogger } from '@app/observability';
import { refuseUnstorableText } from './unstorable-text';
import { parseQuery, readLenientQueries, registerUtf8BodyParsers } from './utf8-body';

export interface HttpAppOptions {
  bodyLimit?: number;
  /** Fastify's: false, a hop count, or the trusted proxies' addresses and ranges (see `trustProxySetting`). */
  trustProxy?: false | number | string;
}

export interface RouteInfo {
  method: string;
  /** Fastify's form: `/v1/conversions/:id/decision`. */
  url: string;
}

const registeredRoutes = new WeakMap<NestFastifyApplication, RouteInfo[]>();

/** A Nest application on Fastify with Arbiter's logging; not listening yet. */
export async function createHttpApp(module: DynamicModule, options: HttpAppOptions = {}): Promise<NestFastifyApplication> {
  const bodyLimit = options.bodyLimit ?? 1_048_576;
  const adapter = new FastifyAdapter({
    bodyLimit,
    trustProxy: options.trustProxy ?? false,
    // Let in-flight requests finish on shutdown, but do not wait for idle keep-alive sockets.
    forceCloseConnections: 'idle',
    // Escapes that are not UTF-8 reach the edge's check as lone surrogates, not as their raw text
    // (except on the tracking link and the postback: LenientQuery).
    routerOptions: { querystringParser: parseQuery },
    logger: false,
    // The router's own refusals (a path whose percent-encoding is not UTF-8, `/c/%ED%A0%80`; a parameter
    // too long) come before any route or filter: answered in the documented error shape, not Fastify's.
    frameworkErrors: (error: FastifyError, _request: FastifyRequest, reply: FastifyReply) => {
      void reply.code(error.statusCode ?? 400).send({ error: 'bad_request', message: error.message });
    },
  });
  const routes: RouteInfo[] = [];
  adapter.getInstance().addHook('onRoute', (route) => {
    for (const method of [route.method].flat()) if (method !== 'HEAD') routes.push({ method, url: route.url });
  });
  registerUtf8BodyParsers(adapter, bodyLimit);
  readLenientQueries(adapter.getInstance());
  refuseUnstorableText(adapter.getInstance());
  const app = await NestFactory.create<NestFastifyApplication>(module, adapter, { logger: new PinoNestLogger(), bufferLogs: false });
  registeredRoutes.set(app, routes);
  return app;
}

/** Every route the application serves (complete once it is initialised), for audits such as the tenancy test. */
export function routesOf(app: NestFastifyApplication): readonly RouteInfo[] {
  return registeredRoutes.get(app) ?? [];
}

/** Starts listening and logs where. */
export async function listen(app: NestFastifyApplication, name: string, port: number, host: string): Promise<number> {
  await app.listen(port, host);
  const address = app.getHttpServer().address();
  const actual = typeof address === 'object' && address ? address.port : port;
  componentLogger(name).info({ host, port: actual }, `${name} listening`);
  return actual;
}

/**
 * The whole `main()` of a service: read and validate the configuration, set the log level, start,
 * and exit non-zero with the reason if starting fails.
 */
export function runService(name: string, start: (config: ArbiterConfig) => Promise<void>): void {
  let config: ArbiterConfig;
  try {
    config = loadConfig(process.env);
  } catch (e) {
    process.stderr.write(`${name}: ${(e as Error).message}\n`);
    process.exit(2);
  }
  rootLogger(config.LOG_LEVEL);
  start(config).catch((e) => {
    rootLogger().fatal({ err: e }, `${name} failed to start`);
    process.exit(1);
  });
}
