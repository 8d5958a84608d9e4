import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { ChildProcess } from 'node:child_process';
import { INestApplication } from '@nestjs/common';
import { Command } from 'commander';
import { ArbiterConfig, loadConfig } from '@app/config';
import { listen } from '@app/http';
import { componentLogger, rootLogger } from '@app/observability';
import { EmbeddedDatabase, createPool, migrate } from '@app/storage';
import { createApi } from '../../../api/src/api.app';
import { createGateway } from '../../../gateway/src/gateway.app';
import { ensureNats } from '../embedded-nats';
import { CONSUMER_SERVICES, ConsumerService } from '../engine/consumer-services';
import { RunningService, serviceThreadScript, startService } from '../engine/service-thread';

export type WorkerName = ConsumerService;

/**
 * The consumer services that get a thread of their own: the scorer and the recorder do most of the
 * engine's work per event. The notifier (about 2 ms of CPU per 1,000 events) stays on the main
 * thread: a thread is a V8 heap of its own, 50-90 MB of RSS for nothing it needs.
 */
const THREADED: readonly WorkerName[] = ['scorer', 'recorder'];

/** A running all-in-one engine. */
export interface Engine {
  config: ArbiterConfig;
  gatewayPort: number;
  apiPort: number;
  adminKey: string;
  /** Where an operator finds the admin key, for banners: never the key itself (it would end up in logs). */
  adminKeyHint: string;
  /** The HTTP applications, for in-process inspection (routes, OpenAPI). */
  http: { api: NestFastifyApplication; gateway: NestFastifyApplication };
  /** Which consumer services run in a worker thread of their own now: the scorer and the recorder (none from TypeScript sources). */
  readonly threads: WorkerName[];
  /** Stops one consumer service (draining it) and starts a fresh one, as after a crash or a deploy. */
  restart(service: WorkerName): Promise<void>;
  /** Resolves (never rejects) when a service's thread ended on its own: the engine no longer does all of its work. */
  failure: Promise<Error>;
  stop(): Promise<void>;
}

export interface EngineOptions {
  /**
   * The compiled script the consumer services' threads run (default: the one next to the compiled
   * engine; none from TypeScript sources, where the services then share the main thread); null: no
   * threads.
   */
  serviceThreadScript?: string | null;
}

/**
 * Starts every service in this process: the gateway and API on their ports and the notifier, on
 * the main thread; the scorer and the recorder as consumers, each in a worker thread of its own
 * (from the compiled engine). Without DATABASE_URL, an embedded TimescaleDB (PGlite) is served on a local
 * port, from a worker thread of its own too; without a reachable NATS, a `nats-server` from PATH
 * is started. Every service talks to NATS and the database over its own connections, as in the
 * one-process-per-service shape.
 */
export async function startEngine(
  env: Record<string, string | undefined>,
  overrides: Partial<ArbiterConfig> = {},
  options: EngineOptions = {},
): Promise<Engine> {
  const base = loadConfig(env, overrides);
  rootLogger(base.LOG_LEVEL);
  const log = componentLogger('engine');
  const dataDir = resolve(base.ARBITER_DATA_DIR);
  mkdirSync(dataDir, { recursive: true });

  const script = options.serviceThreadScript === undefined ? serviceThreadScript() : options.serviceThreadScript;
  let db: EmbeddedDatabase | undefined;
  let nats: ChildProcess | null = null;
  const http: INestApplication[] = [];
  const consumers = new Map<WorkerName, RunningService>();
  let failed!: (e: Error) => void;
  const failure = new Promise<Error>((done) => (failed = done));
  let stopped: Promise<void> | undefined;
  // Once: a second call (a signal during shutdown) waits for the first.
  const stop = () => (stopped ??= stopAll());
  const stopAll = async () => {
    // Ingest stops first, consumers drain next (each on its own thread, at once), then the infrastructure goes.
    for (const app of [...http].reverse()) await app.close().catch((e) => log.warn({ err: e }, 'service did not close cleanly'));
    await Promise.all(
      [...consumers.values()].map((s) => s.stop().catch((e) => log.warn({ err: e, service: s.name }, 'service did not close cleanly'))),
    );
    consumers.clear();
    await db?.stop();
    nats?.kill('SIGTERM');
  };

  try {
    if (!base.DATABASE_URL)
      db = await EmbeddedDatabase.start({
        dataDir: resolve(dataDir, 'pglite'),
        port: base.EMBEDDED_DB_PORT,
        checkpoints: { walMb: base.EMBEDDED_DB_CHECKPOINT_WAL_MB, seconds: base.EMBEDDED_DB_CHECKPOINT_SECONDS },
      });
    nats = await ensureNats(base.NATS_URL, dataDir, base.NATS_SPAWN === 'auto');
    const adminKey = base.ARBITER_ADMIN_KEY ?? persistedAdminKey(dataDir);
    const adminKeyHint = base.ARBITER_ADMIN_KEY ? 'ARBITER_ADMIN_KEY' : `in ${resolve(dataDir, 'admin-key')}`;
    const config: ArbiterConfig = {
      ...base,
      DATABASE_URL: base.DATABASE_URL ?? db!.url,
      // The embedded database serialises statements: a small pool per service is enough.
      DATABASE_POOL_SIZE: db ? Math.min(base.DATABASE_POOL_SIZE, 4) : base.DATABASE_POOL_SIZE,
      ARBITER_ADMIN_KEY: adminKey,
      SCORER_PORT: 0,
      RECORDER_PORT: 0,
      NOTIFIER_PORT: 0,
    };

    // Migrate once, before the services (whose own check then finds nothing to do).
    const pool = createPool({ url: config.DATABASE_URL!, max: 1, applicationName: 'arbiter-migrate' });
    const report = await migrate(pool).finally(() => pool.end());
    log.info(report, 'schema ready');

    const start = (name: WorkerName) => startService(name, config, { script: THREADED.includes(name) ? script : null, onFailure: failed });
    for (const name of Object.keys(CONSUMER_SERVICES) as WorkerName[]) consumers.set(name, await start(name));
    const restart = async (name: WorkerName) => {
      if (stopped) throw new Error(`the engine is stopping: the ${name} is not restarted`);
      await consumers.get(name)?.stop();
      consumers.delete(name);
      consumers.set(name, await start(name));
    };
    const api = await createApi(config);
    http.push(api);
    const apiPort = await listen(api, 'api', config.API_PORT, config.HOST);
    const gateway = await createGateway(config);
    http.push(gateway);
    const gatewayPort = await listen(gateway, 'gateway', config.GATEWAY_PORT, config.HOST);
    const threads = () => [...consumers.values()].filter((s) => s.threaded).map((s) => s.name);
    log.info({ threads: threads() }, 'services started');
    return {
      config,
      gatewayPort,
      apiPort,
      adminKey,
      adminKeyHint,
      http: { api, gateway },
      get threads() {
        return threads();
      },
      restart,
      failure,
      stop,
    };
  } catch (e) {
    await stop();
    throw e;
  }
}

/** Embedded mode without ARBITER_ADMIN_KEY: one key, generated once and kept in the data dir. */
function persistedAdminKey(dataDir: string): string {
  const file = resolve(dataDir, 'admin-key');
  if (existsSync(file)) return readFileSync(file, 'utf8').trim();
  const key = `arb_adm_${randomBytes(32).toString('base64url')}`;
  writeFileSync(file, `${key}\n`, { mode: 0o600 });
  return key;
}

export function startCommand(): Command {
  return new Command('start')
    .description(
      'run every service in one process, the consumers in threads of their own (embedded TimescaleDB and NATS when none is configured)',
    )
    .action(async () => {
      const engine = await startEngine(process.env);
      const host = '127.0.0.1';
      process.stderr.write(
        [
          '',
          `  Arbiter is running.`,
          `  gateway  http://${host}:${engine.gatewayPort}   (POST /v1/clicks, /v1/conversions; GET /c/:offerId, /postback)`,
          `  api      http://${host}:${engine.apiPort}   (admin key: ${engine.adminKeyHint})`,
          `  health   /health and /metrics on both`,
          '',
        ].join('\n') + '\n',
      );
      let stopping = false;
      const shutdown = (signal: string) => {
        if (stopping) return;
        stopping = true;
        componentLogger('engine').info({ signal }, 'stopping: draining in-flight work');
        engine.stop().then(
          () => process.exit(0),
          () => process.exit(1),
        );
      };
      process.on('SIGINT', () => shutdown('SIGINT'));
      process.on('SIGTERM', () => shutdown('SIGTERM'));
      // A service's thread that ended on its own (an uncaught error, logged) leaves an engine that
      // accepts events it no longer decides or records: stop the rest cleanly and exit non-zero,
      // for a supervisor to restart it (an uncaught error on one shared thread ended the process too).
      void engine.failure.then(() => {
        process.exitCode = 1;
        if (stopping) return;
        stopping = true;
        engine.stop().finally(() => process.exit(1));
      });
    });
}
