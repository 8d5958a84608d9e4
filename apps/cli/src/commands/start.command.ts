import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { ChildProcess } from 'node:child_process';
import { INestApplication } from '@nestjs/common';
import { Command } from 'commander';
import { ArbiterConfig, loadConfig } from '@app/config';
import { listen } from '@app/http';
import { startWorkerApp } from '@app/worker';
import { componentLogger, rootLogger } from '@app/observability';
import { EmbeddedDatabase, createPool, migrate } from '@app/storage';
import { createApi } from '../../../api/src/api.app';
import { createGateway } from '../../../gateway/src/gateway.app';
import { createNotifier } from '../../../notifier/src/notifier.app';
import { createRecorder } from '../../../recorder/src/recorder.app';
import { createScorer } from '../../../scorer/src/scorer.app';
import { ensureNats } from '../embedded-nats';

/** A running all-in-one engine. */
const WORKERS = { recorder: createRecorder, notifier: createNotifier, scorer: createScorer } as const;
export type WorkerName = keyof typeof WORKERS;

export interface Engine {
  config: ArbiterConfig;
  gatewayPort: number;
  apiPort: number;
  adminKey: string;
  /** Where an operator finds the admin key, for banners: never the key itself (it would end up in logs). */
  adminKeyHint: string;
  /** The HTTP applications, for in-process inspection (routes, OpenAPI). */
  http: { api: NestFastifyApplication; gateway: NestFastifyApplication };
  /** Stops one consumer service (draining it) and starts a fresh one, as after a crash or a deploy. */
  restart(service: WorkerName): Promise<void>;
  stop(): Promise<void>;
}

/**
 * Starts every service in this process: the gateway and API on their ports, the scorer, recorder
 * and notifier as consumers. Without DATABASE_URL, an embedded TimescaleDB (PGlite) is served on
 * a local port; without a reachable NATS, a `nats-server` from PATH is started.
 */
export async function startEngine(env: Record<string, string | undefined>, overrides: Partial<ArbiterConfig> = {}): Promise<Engine> {
  const base = loadConfig(env, overrides);
  rootLogger(base.LOG_LEVEL);
  const log = componentLogger('engine');
  const dataDir = resolve(base.ARBITER_DATA_DIR);
  mkdirSync(dataDir, { recursive: true });

  let db: EmbeddedDatabase | undefined;
  let nats: ChildProcess | null = null;
  const apps: INestApplication[] = [];
  const stop = async () => {
    // Ingest stops first, consumers drain next, then the infrastructure goes.
    for (const app of apps.reverse()) await app.close().catch((e) => log.warn({ err: e }, 'service did not close cleanly'));
    await db?.stop();
    nats?.kill('SIGTERM');
  };

  try {
    if (!base.DATABASE_URL) db = await EmbeddedDatabase.start({ dataDir: resolve(dataDir, 'pglite'), port: base.EMBEDDED_DB_PORT });
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

    const workers = new Map<WorkerName, INestApplication>();
    for (const name of ['recorder', 'notifier', 'scorer'] as const) {
      const app = await WORKERS[name](config);
      apps.push(app);
      workers.set(name, app);
      await startWorkerApp(app, name, 0, config.HOST);
    }
    const restart = async (name: WorkerName) => {
      const current = workers.get(name)!;
      await current.close();
      const next = await WORKERS[name](config);
      apps.splice(apps.indexOf(current), 1, next);
      workers.set(name, next);
      await startWorkerApp(next, name, 0, config.HOST);
    };
    const api = await createApi(config);
    apps.push(api);
    const apiPort = await listen(api, 'api', config.API_PORT, config.HOST);
    const gateway = await createGateway(config);
    apps.push(gateway);
    const gatewayPort = await listen(gateway, 'gateway', config.GATEWAY_PORT, config.HOST);
    return { config, gatewayPort, apiPort, adminKey, adminKeyHint, http: { api, gateway }, restart, stop };
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
    .description('run every service in one process (embedded TimescaleDB and NATS when none is configured)')
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
    });
}
