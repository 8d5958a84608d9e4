/**
 * Fault-injection harness, part 4: the all-in-one engine on its embedded database.
 *
 *   const engine = await EmbeddedEngine.start({ fault: 'embedded-sigkill' });  // `arbiter start`, no DATABASE_URL
 *   await engine.kill('SIGKILL'); await engine.restart();                      // same .arbiter data directory
 *   await settleAndAccount(engine, 'embedded SIGKILL', sender);                // engine.db: the embedded database
 *
 * The process runs `dist/apps/cli/src/main.js start` with its own data directory, NATS namespace and
 * ports (the embedded database on a fixed port so that `db` reaches it across restarts); NATS is
 * the test server's. Needs `npm run build`.
 */
import { ChildProcess, spawn } from 'node:child_process';
import { createWriteStream, existsSync, mkdtempSync, readFileSync, rmSync, WriteStream } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { jetstreamManager } from '@nats-io/jetstream';
import { NatsConnection } from '@nats-io/nats-core';
import { connect } from '@nats-io/transport-node';
import { Pool } from 'pg';
import { Topology } from '@app/contracts';
import { TEST_NATS_URL, deleteNamespace, eventually, testNamespace } from '@app/testing';
import { FAULT_ADMIN_KEY, freePort } from './cluster';

const MAIN = resolve(__dirname, '..', '..', '..', 'dist', 'apps', 'cli', 'src', 'main.js');

export class EmbeddedEngine {
  readonly gateway: string;
  readonly api: string;
  readonly topology: Topology;
  readonly adminKey = FAULT_ADMIN_KEY;
  private child?: ChildProcess;
  private exited?: Promise<number | null>;
  private pool?: Pool;
  private readonly log: WriteStream;

  private constructor(
    readonly namespace: string,
    readonly dataDir: string,
    private readonly env: Record<string, string>,
    readonly nc: NatsConnection,
    private readonly dbPort: number,
    ports: { gateway: number; api: number },
  ) {
    this.gateway = `http://127.0.0.1:${ports.gateway}`;
    this.api = `http://127.0.0.1:${ports.api}`;
    this.topology = new Topology(namespace, 1);
    this.log = createWriteStream(join(dataDir, 'engine.log'), { flags: 'a' });
  }

  static async start(o: { fault?: string; env?: Record<string, string> } = {}): Promise<EmbeddedEngine> {
    if (!existsSync(MAIN)) throw new Error(`${MAIN} not found: run \`npm run build\` first`);
    const namespace = testNamespace();
    const dataDir = mkdtempSync(join(tmpdir(), `arbiter-faults-${o.fault ?? 'embedded'}-`));
    const ports = { gateway: await freePort(), api: await freePort() };
    const dbPort = await freePort();
    const env: Record<string, string> = {
      PATH: process.env.PATH ?? '',
      NODE_ENV: 'production',
      ARBITER_NAMESPACE: namespace,
      NATS_URL: TEST_NATS_URL,
      NATS_SPAWN: 'never',
      HOST: '127.0.0.1',
      GATEWAY_PORT: String(ports.gateway),
      API_PORT: String(ports.api),
      EMBEDDED_DB_PORT: String(dbPort),
      ARBITER_DATA_DIR: dataDir,
      ARBITER_ADMIN_KEY: FAULT_ADMIN_KEY,
      LOG_LEVEL: process.env.FAULTS_LOG_LEVEL ?? 'warn',
      EVENTS_MAX_BYTES: String(64 * 1024 ** 2),
      ARBITER_DEFAULT_MODEL: '',
      API_RATE_LIMIT_PER_MINUTE: '1000000',
      API_RATE_LIMIT_PER_IP_PER_MINUTE: '10000000',
      ...o.env,
    };
    const nc = await connect({ servers: TEST_NATS_URL });
    const engine = new EmbeddedEngine(namespace, dataDir, env, nc, dbPort, ports);
    try {
      await engine.restart();
    } catch (e) {
      await engine.close();
      throw e;
    }
    return engine;
  }

  /** The embedded database, reached through the running engine (a new pool after each restart). */
  get db(): Pool {
    if (!this.pool) {
      this.pool = new Pool({ connectionString: `postgres://postgres@127.0.0.1:${this.dbPort}/postgres`, max: 1 });
      this.pool.on('error', () => undefined); // the engine went away under an idle connection
    }
    return this.pool;
  }

  isRunning(): boolean {
    return !!this.child && this.child.exitCode === null && this.child.signalCode === null;
  }

  /** Starts `arbiter start` on the same data directory and waits for the gateway's and the API's /health. */
  async restart(): Promise<void> {
    if (this.isRunning()) throw new Error('the engine is already running');
    this.log.write(`\n=== ${new Date().toISOString()} start\n`);
    const child = spawn(process.execPath, [MAIN, 'start'], { env: this.env, stdio: ['ignore', 'pipe', 'pipe'] });
    child.stdout!.pipe(this.log, { end: false });
    child.stderr!.pipe(this.log, { end: false });
    this.exited = new Promise((done) =>
      child.once('exit', (code, signal) => {
        this.log.write(`\n=== ${new Date().toISOString()} exited (code ${code}, signal ${signal})\n`);
        done(code);
      }),
    );
    this.child = child;
    for (const url of [`${this.gateway}/health`, `${this.api}/health`]) {
      await eventually(
        async () => {
          if (child.exitCode !== null)
            throw new Error(`the engine exited with ${child.exitCode} while starting; see ${this.dataDir}/engine.log`);
          return fetch(url).then(
            (r) => r.ok,
            () => false,
          );
        },
        Boolean,
        120_000,
        200,
      );
    }
  }

  /** Signals the engine and resolves once it has exited (SIGKILL after 60 s). */
  async kill(signal: NodeJS.Signals = 'SIGKILL'): Promise<number | null> {
    if (!this.child || !this.isRunning()) return this.child?.exitCode ?? null;
    await this.pool?.end().catch(() => undefined);
    this.pool = undefined;
    this.child.kill(signal);
    const timer = setTimeout(() => this.child?.kill('SIGKILL'), 60_000);
    try {
      return await this.exited!;
    } finally {
      clearTimeout(timer);
    }
  }

  async admin(path: string, body: unknown): Promise<unknown> {
    const res = await fetch(`${this.api}${path}`, {
      method: 'POST',
      headers: { authorization: `Bearer ${this.adminKey}`, 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    if (res.status >= 300) throw new Error(`${path}: ${res.status} ${await res.text()}`);
    return res.json();
  }

  async get(path: string): Promise<any> {
    const res = await fetch(`${this.api}${path}`, { headers: { authorization: `Bearer ${this.adminKey}` } });
    return res.json();
  }

  /** Messages not yet acknowledged by the engine's durable consumers of the EVENTS and VERDICTS streams. */
  async outstanding(): Promise<number> {
    const jsm = await jetstreamManager(this.nc);
    let n = 0;
    for (const stream of [this.topology.streams.events, this.topology.streams.verdicts]) {
      for await (const c of jsm.consumers.list(stream)) if (c.config.durable_name) n += c.num_pending + c.num_ack_pending;
    }
    return n;
  }

  logText(): string {
    return existsSync(join(this.dataDir, 'engine.log')) ? readFileSync(join(this.dataDir, 'engine.log'), 'utf8') : '';
  }

  async close(): Promise<void> {
    await this.kill('SIGTERM');
    await this.pool?.end().catch(() => undefined);
    await this.nc.close().catch(() => undefined);
    await deleteNamespace(this.namespace).catch(() => undefined);
    this.log.end();
    if (!process.env.FAULTS_KEEP_LOGS) rmSync(this.dataDir, { recursive: true, force: true });
  }
}
