/**
 * Fault-injection harness, part 1: the engine's services as SEPARATE child processes from `dist/`.
 *
 *   const cluster = await Cluster.start({ fault: 'scorer-sigkill' });   // fresh namespace + database
 *   cluster.gateway / cluster.api                                      // http://127.0.0.1:<port>
 *   await cluster.kill('scorer');          // SIGKILL (or kill('scorer', 'SIGTERM')); resolves on exit
 *   await cluster.restart('scorer');       // start it again (same env, same ports), waits for /health
 *   await cluster.stopAll('SIGTERM');      // every service at once, waits for the exits
 *   await cluster.startAll();
 *   await cluster.close();                 // stops everything, deletes the namespace's streams, drops the database
 *
 *   // Scale-out: several processes of a service, each with its own environment and health port.
 *   const c = await Cluster.start({ env: { ARBITER_PARTITIONS: '4' },
 *     instances: { scorer: [{ SCORER_PARTITIONS: '0,1' }, { SCORER_PARTITIONS: '2,3' }], recorder: [{}, {}] } });
 *   await c.kill('scorer.2');              // the second scorer process; 'scorer' is the first
 *
 * Options (all optional): `natsUrl` (default TEST_NATS_URL), `databaseUrl` (default: a fresh database
 * from createTestDatabase(), dropped by close(); a given one is left alone), `namespace` (default:
 * testNamespace()), `services` (default gateway, scorer, recorder, notifier, api), `env` (extra
 * environment for every service, e.g. `{ RECORDER_BATCH: '200' }`), `serviceEnv` (per service),
 * `instances` (per service, one environment per process: `scorer`, `scorer.2`, …).
 *
 * Needs `npm run build` first (the services run from dist/). Each service's output goes to
 * `<logDir>/<service>.log` (a temp dir; the path is printed when a start fails). `cluster.db` is a
 * small pg Pool on the same database and `cluster.nc` a NATS connection for the tests' own use.
 */
import { ChildProcess, spawn } from 'node:child_process';
import { createWriteStream, existsSync, mkdtempSync, readFileSync, rmSync, WriteStream } from 'node:fs';
import { freePort } from '../../../apps/cli/src/bench/engine-process';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { jetstreamManager } from '@nats-io/jetstream';
import { NatsConnection } from '@nats-io/nats-core';
import { connect } from '@nats-io/transport-node';
import { Pool } from 'pg';
import { Topology } from '@app/contracts';
import { TEST_NATS_URL, createTestDatabase, deleteNamespace, eventually, testNamespace } from '@app/testing';

export type ServiceName = 'gateway' | 'scorer' | 'recorder' | 'notifier' | 'api';
export const ALL_SERVICES: readonly ServiceName[] = ['recorder', 'notifier', 'scorer', 'api', 'gateway'];
/** One process of a service: the service's name for its first process, `<service>.<n>` for the n-th (n ≥ 2). */
export type InstanceName = ServiceName | `${ServiceName}.${number}`;

/** The service an instance name belongs to. */
export function serviceOf(instance: InstanceName): ServiceName {
  return instance.split('.')[0] as ServiceName;
}

export const FAULT_ADMIN_KEY = 'faults-admin-key-0123456789abcdef';
const DIST = resolve(__dirname, '..', '..', '..', 'dist', 'apps');

export interface ClusterOptions {
  natsUrl?: string;
  databaseUrl?: string;
  namespace?: string;
  services?: readonly ServiceName[];
  env?: Record<string, string>;
  /** Extra environment for one service only, e.g. `{ scorer: { LOG_LEVEL: 'info' } }`. */
  serviceEnv?: Partial<Record<ServiceName, Record<string, string>>>;
  /**
   * Several processes of a service (scale-out), one environment each (on top of `env` and
   * `serviceEnv`): the first is named like the service, the others `<service>.2`, `<service>.3`, …
   * Each gets its own health port.
   */
  instances?: Partial<Record<ServiceName, Record<string, string>[]>>;
  /** Label for log directory names. */
  fault?: string;
}

/** A free TCP port on loopback (shared with `arbiter bench`). */
export { freePort };

interface Running {
  child: ChildProcess;
  exited: Promise<number | null>;
}

/** How a service's process ended: its exit code, or the signal that ended it. */
export interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

export class Cluster {
  readonly gateway: string;
  readonly api: string;
  readonly topology: Topology;
  readonly adminKey = FAULT_ADMIN_KEY;
  private readonly running = new Map<InstanceName, Running>();
  private readonly logs = new Map<InstanceName, WriteStream>();
  private readonly exits = new Map<InstanceName, Exit>();

  private constructor(
    readonly namespace: string,
    readonly natsUrl: string,
    readonly databaseUrl: string,
    readonly services: readonly ServiceName[],
    readonly ports: Record<ServiceName, number>,
    readonly logDir: string,
    private readonly env: Record<string, string>,
    private readonly serviceEnv: Partial<Record<ServiceName, Record<string, string>>>,
    /** Every process, in start order (a service's instances together), with its own environment and health port. */
    private readonly instanceSpecs: ReadonlyMap<InstanceName, { env: Record<string, string>; port: number }>,
    /** Direct database access for assertions. */
    readonly db: Pool,
    /** The test's own NATS connection (subscriptions, direct publishes). */
    readonly nc: NatsConnection,
    private readonly dropDatabase?: () => Promise<void>,
  ) {
    this.gateway = `http://127.0.0.1:${ports.gateway}`;
    this.api = `http://127.0.0.1:${ports.api}`;
    this.topology = new Topology(namespace, Number(env.ARBITER_PARTITIONS ?? 1));
  }

  /** Every process of the cluster, in start order: `recorder`, `recorder.2`, `scorer`, … */
  get instances(): InstanceName[] {
    return [...this.instanceSpecs.keys()];
  }

  /** Creates the namespace (and database unless given) and starts every service; resolves when all are healthy. */
  static async start(options: ClusterOptions = {}): Promise<Cluster> {
    const natsUrl = options.natsUrl ?? TEST_NATS_URL;
    const namespace = options.namespace ?? testNamespace();
    const created = options.databaseUrl ? undefined : await createTestDatabase();
    const databaseUrl = options.databaseUrl ?? created!.url;
    const services = options.services ?? ALL_SERVICES;
    const ports = {} as Record<ServiceName, number>;
    for (const s of ALL_SERVICES) ports[s] = await freePort();
    const logDir = mkdtempSync(join(tmpdir(), `arbiter-faults-${options.fault ?? 'run'}-`));
    const env: Record<string, string> = {
      PATH: process.env.PATH ?? '',
      NODE_ENV: 'production',
      ARBITER_NAMESPACE: namespace,
      NATS_URL: natsUrl,
      NATS_SPAWN: 'never',
      DATABASE_URL: databaseUrl,
      DATABASE_POOL_SIZE: '4',
      HOST: '127.0.0.1',
      GATEWAY_PORT: String(ports.gateway),
      API_PORT: String(ports.api),
      SCORER_PORT: String(ports.scorer),
      RECORDER_PORT: String(ports.recorder),
      NOTIFIER_PORT: String(ports.notifier),
      ARBITER_DATA_DIR: logDir,
      ARBITER_ADMIN_KEY: FAULT_ADMIN_KEY,
      LOG_LEVEL: process.env.FAULTS_LOG_LEVEL ?? 'warn',
      EVENTS_MAX_BYTES: String(64 * 1024 ** 2),
      // Rules only: outcomes do not depend on a model's load time, and start-up is faster.
      ARBITER_DEFAULT_MODEL: '',
      ROLLUP_REFRESH_SECONDS: '0',
      // The API's admin calls come from one IP in a burst (catalog seeding).
      API_RATE_LIMIT_PER_MINUTE: '1000000',
      API_RATE_LIMIT_PER_IP_PER_MINUTE: '10000000',
      ...options.env,
    };
    const instanceSpecs = new Map<InstanceName, { env: Record<string, string>; port: number }>();
    for (const s of services) {
      const envs = options.instances?.[s] ?? [{}];
      for (let i = 0; i < envs.length; i++) {
        const port = i === 0 ? ports[s] : await freePort();
        instanceSpecs.set(i === 0 ? s : `${s}.${i + 1}`, {
          env: { ...envs[i], [`${s.toUpperCase()}_PORT`]: String(port) },
          port,
        });
      }
    }
    const db = new Pool({ connectionString: databaseUrl, max: 2 });
    const nc = await connect({ servers: natsUrl });
    const cluster = new Cluster(
      namespace,
      natsUrl,
      databaseUrl,
      services,
      ports,
      logDir,
      env,
      options.serviceEnv ?? {},
      instanceSpecs,
      db,
      nc,
      created?.drop,
    );
    try {
      // The recorder first: its migration runs alone (the others then find nothing to do).
      await cluster.restart(services[0]);
      await Promise.all(cluster.instances.slice(1).map((s) => cluster.restart(s)));
    } catch (e) {
      await cluster.close();
      throw e;
    }
    return cluster;
  }

  /** Whether a service's process (or one instance's) is alive. */
  isRunning(service: InstanceName): boolean {
    const r = this.running.get(service);
    return !!r && r.child.exitCode === null && r.child.signalCode === null;
  }

  /** The health / metrics port of a service's process. */
  portOf(service: InstanceName): number {
    const spec = this.instanceSpecs.get(service);
    if (!spec) throw new Error(`${service} is not a process of this cluster`);
    return spec.port;
  }

  /** The pid of a running service. */
  pid(service: InstanceName): number | undefined {
    return this.running.get(service)?.child.pid;
  }

  /**
   * How a service's last run ended. Nest's shutdown hooks re-raise the signal once they are done,
   * so a graceful stop on SIGTERM reads `{ code: null, signal: 'SIGTERM' }` too: look at the log.
   */
  lastExit(service: InstanceName): Exit | undefined {
    return this.exits.get(service);
  }

  /** (Re)starts a service that is not running and waits for its /health. */
  async restart(service: InstanceName): Promise<void> {
    if (this.isRunning(service)) throw new Error(`${service} is already running`);
    const spec = this.instanceSpecs.get(service);
    if (!spec) throw new Error(`${service} is not a process of this cluster (${this.instances.join(', ')})`);
    const main = join(DIST, serviceOf(service), 'src', 'main.js');
    if (!existsSync(main)) throw new Error(`${main} not found: run \`npm run build\` first`);
    let log = this.logs.get(service);
    if (!log) {
      log = createWriteStream(join(this.logDir, `${service}.log`), { flags: 'a' });
      this.logs.set(service, log);
    }
    log.write(`\n=== ${new Date().toISOString()} start ${service}\n`);
    const child = spawn(process.execPath, [main], {
      env: { ...this.env, ...this.serviceEnv[serviceOf(service)], ...spec.env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    child.stdout!.pipe(log, { end: false });
    child.stderr!.pipe(log, { end: false });
    const exited = new Promise<number | null>((done) =>
      child.once('exit', (code, signal) => {
        log!.write(`\n=== ${new Date().toISOString()} ${service} exited (code ${code}, signal ${signal})\n`);
        this.exits.set(service, { code, signal });
        done(code);
      }),
    );
    this.running.set(service, { child, exited });
    const url = `http://127.0.0.1:${spec.port}/health`;
    await eventually(
      async () => {
        if (child.exitCode !== null)
          throw new Error(`${service} exited with ${child.exitCode} while starting; see ${this.logDir}/${service}.log`);
        return fetch(url).then(
          (r) => r.ok,
          () => false,
        );
      },
      Boolean,
      60_000,
      100,
    );
  }

  /** Sends a signal (default SIGKILL) to a service and resolves with its exit code once it has exited. */
  async kill(service: InstanceName, signal: NodeJS.Signals = 'SIGKILL', timeoutMs = 60_000): Promise<number | null> {
    const r = this.running.get(service);
    if (!r || !this.isRunning(service)) return r?.child.exitCode ?? null;
    r.child.kill(signal);
    const timer = setTimeout(() => r.child.kill('SIGKILL'), timeoutMs);
    try {
      return await r.exited;
    } finally {
      clearTimeout(timer);
    }
  }

  /** Signals every running service at once and waits for all to exit; resolves with each exit code. */
  async stopAll(signal: NodeJS.Signals = 'SIGTERM'): Promise<Partial<Record<InstanceName, number | null>>> {
    const names = this.instances.filter((s) => this.isRunning(s));
    const codes = await Promise.all(names.map((s) => this.kill(s, signal)));
    return Object.fromEntries(names.map((s, i) => [s, codes[i]]));
  }

  /** Starts every service that is not running (recorder first). */
  async startAll(): Promise<void> {
    for (const s of this.instances) if (!this.isRunning(s)) await this.restart(s);
  }

  /** A service's output so far (all its runs). */
  logOf(service: InstanceName): string {
    const file = join(this.logDir, `${service}.log`);
    return existsSync(file) ? readFileSync(file, 'utf8') : '';
  }

  /** Calls the admin API. */
  async admin(path: string, body: unknown): Promise<unknown> {
    const res = await fetch(`${this.api}${path}`, {
      method: 'POST',
      headers: { authorization: `Bearer ${this.adminKey}`, 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    if (res.status >= 300) throw new Error(`${path}: ${res.status} ${await res.text()}`);
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

  /** Stops every service (SIGTERM, then SIGKILL after 30 s), removes the namespace's streams and the database it created. */
  async close(): Promise<void> {
    await Promise.all(this.instances.map((s) => this.kill(s, 'SIGTERM', 30_000)));
    await this.db.end().catch(() => undefined);
    await this.nc.close().catch(() => undefined);
    await deleteNamespace(this.namespace, this.natsUrl).catch(() => undefined);
    await this.dropDatabase?.().catch(() => undefined);
    for (const log of this.logs.values()) log.end();
    if (!process.env.FAULTS_KEEP_LOGS) rmSync(this.logDir, { recursive: true, force: true });
  }
}
