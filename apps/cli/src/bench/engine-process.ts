import { ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createServer } from 'node:net';
import { resolve } from 'node:path';
import { jetstreamManager } from '@nats-io/jetstream';
import { Topology } from '@app/contracts';
import { connectNats, drainNats, removeNamespaceStreams } from '@app/messaging';

/** A free TCP port on loopback (asked of the OS, then released). */
export function freePort(): Promise<number> {
  return new Promise((done, fail) => {
    const server = createServer();
    server.once('error', fail);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => done(typeof address === 'object' && address ? address.port : 0));
    });
  });
}

export interface EngineProcess {
  gateway: string;
  api: string;
  databaseUrl: string;
  namespace: string;
  adminKey: string;
  child: ChildProcess;
  stop(): Promise<void>;
}

/**
 * Runs `arbiter start` as a child process, isolated by a fresh NATS namespace (and its own
 * database when none is given), so the load generator never shares the engine's event loop.
 */
export async function spawnEngine(options: {
  databaseUrl?: string;
  natsUrl: string;
  dataDir: string;
  env?: Record<string, string>;
  /** Node flags for the engine, e.g. `--cpu-prof` (the profile is written when it stops). */
  nodeArgs?: string[];
}): Promise<EngineProcess> {
  const [gatewayPort, apiPort, dbPort] = await Promise.all([freePort(), freePort(), freePort()]);
  const namespace = `bench${randomBytes(4).toString('hex')}`;
  const adminKey = `bench-${randomBytes(16).toString('hex')}`;
  const env: Record<string, string> = {
    ...(process.env as Record<string, string>),
    ARBITER_NAMESPACE: namespace,
    NATS_URL: options.natsUrl,
    NATS_SPAWN: 'never',
    HOST: '127.0.0.1',
    GATEWAY_PORT: String(gatewayPort),
    API_PORT: String(apiPort),
    EMBEDDED_DB_PORT: String(dbPort),
    ARBITER_DATA_DIR: options.dataDir,
    ARBITER_ADMIN_KEY: adminKey,
    LOG_LEVEL: 'warn',
    EVENTS_MAX_BYTES: String(1024 ** 3),
    ...options.env,
  };
  if (options.databaseUrl) env.DATABASE_URL = options.databaseUrl;
  else delete env.DATABASE_URL;
  const main = resolve(__dirname, '..', 'main.js');
  const child = spawn(process.execPath, [...(options.nodeArgs ?? []), main, 'start'], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  const keep = (d: Buffer) => (stderr = (stderr + d.toString()).slice(-4000));
  child.stdout!.on('data', keep);
  child.stderr!.on('data', keep);
  const gateway = `http://127.0.0.1:${gatewayPort}`;
  const api = `http://127.0.0.1:${apiPort}`;
  for (let i = 0; ; i++) {
    if (child.exitCode !== null) throw new Error(`engine exited (${child.exitCode}):\n${stderr}`);
    const up = await fetch(`${gateway}/health`).then(
      (r) => r.ok,
      () => false,
    );
    if (up) break;
    if (i > 600) throw new Error(`engine did not become healthy within 60 s:\n${stderr}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    gateway,
    api,
    databaseUrl: options.databaseUrl ?? `postgres://postgres@127.0.0.1:${dbPort}/postgres`,
    namespace,
    adminKey,
    child,
    stop: async () => {
      await new Promise<void>((done) => {
        if (child.exitCode !== null) return done();
        child.once('exit', () => done());
        child.kill('SIGTERM');
        setTimeout(() => child.kill('SIGKILL'), 30_000).unref();
      });
      // The streams reserve disk on the NATS server: give it back.
      const nc = await connectNats(options.natsUrl, 'arbiter-bench');
      try {
        await removeNamespaceStreams(await jetstreamManager(nc), new Topology(namespace));
      } finally {
        await drainNats(nc);
      }
    },
  };
}
