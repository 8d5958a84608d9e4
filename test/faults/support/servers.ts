import { ChildProcess, execFileSync, spawn } from 'node:child_process';
import { chmodSync, chownSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { Client } from 'pg';

/**
 * Servers a fault test may stop, kill and start again: its own nats-server (file storage), a
 * three-node JetStream cluster, its own PostgreSQL. Never the shared local ones at :4222 and :5432.
 * Everything started here is killed when the test process exits, whatever happens; `stopAll()` in
 * `afterAll` does it earlier and removes the data directories.
 */

export const NATS_SERVER_BIN = process.env.NATS_SERVER_BIN ?? '/usr/sbin/nats-server';
export const PG_BIN_DIR = process.env.PG_BIN_DIR ?? '/usr/lib/postgresql/15/bin';

interface Stoppable {
  kill(): void;
  cleanup(): void;
}
const started = new Set<Stoppable>();
process.once('exit', () => {
  for (const s of started) s.kill();
});

/** Stops every server this process started and removes their data directories. */
export async function stopAll(): Promise<void> {
  for (const s of [...started]) {
    if (s instanceof NatsServer || s instanceof PostgresServer) await s.stop().catch(() => undefined);
    else s.kill();
    s.cleanup();
    started.delete(s);
  }
}

/** A free TCP port on loopback (the OS picks it; it is free at the time of the call). */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as { port: number };
      srv.close(() => resolve(port));
    });
  });
}

/** `count` distinct free ports. */
export async function freePorts(count: number): Promise<number[]> {
  const ports = new Set<number>();
  while (ports.size < count) ports.add(await freePort());
  return [...ports];
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function portOpen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = new Socket();
    s.setTimeout(500);
    s.once('connect', () => (s.destroy(), resolve(true)));
    s.once('error', () => (s.destroy(), resolve(false)));
    s.once('timeout', () => (s.destroy(), resolve(false)));
    s.connect(port, '127.0.0.1');
  });
}

async function until(what: string, probe: () => Promise<boolean>, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await probe().catch(() => false))) {
    if (Date.now() > deadline) throw new Error(`${what}: not ready within ${timeoutMs} ms`);
    await sleep(100);
  }
}

function exited(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((r) => child.once('exit', () => r()));
}

/** One nats-server with JetStream on file storage in its own directory, on a fixed loopback port across restarts. */
export class NatsServer implements Stoppable {
  private child?: ChildProcess;
  private log = '';

  private constructor(
    readonly port: number,
    readonly dir: string,
    private readonly configFile: string,
    readonly name: string,
  ) {
    started.add(this);
  }

  get url(): string {
    return `nats://127.0.0.1:${this.port}`;
  }

  get running(): boolean {
    return !!this.child && this.child.exitCode === null && this.child.signalCode === null;
  }

  /** A single server: `nats-server -js` on a free port, store in a temp dir; `config`: more lines of its configuration. */
  static async single(name = 'faults', config: string[] = []): Promise<NatsServer> {
    const [port, monitor] = await freePorts(2);
    const dir = mkdtempSync(join(tmpdir(), 'arbiter-faults-nats-'));
    const configFile = join(dir, 'nats.conf');
    writeFileSync(
      configFile,
      [
        `server_name: ${name}`,
        `listen: 127.0.0.1:${port}`,
        `http: 127.0.0.1:${monitor}`,
        `jetstream { store_dir: "${join(dir, 'store')}" }`,
        ...config,
      ].join('\n'),
    );
    const server = new NatsServer(port, dir, configFile, name);
    await server.start();
    return server;
  }

  /** @internal A cluster node; `NatsCluster` writes its configuration. */
  static node(port: number, dir: string, configFile: string, name: string): NatsServer {
    return new NatsServer(port, dir, configFile, name);
  }

  /** Starts the server (same port, same store) and waits until it accepts connections; `jetstream`: and until JetStream answers. */
  async start(options: { jetstream?: boolean } = { jetstream: true }): Promise<void> {
    if (this.running) return;
    this.log = '';
    const child = spawn(NATS_SERVER_BIN, ['-c', this.configFile], { stdio: ['ignore', 'pipe', 'pipe'] });
    const keep = (b: Buffer) => (this.log = (this.log + b.toString()).slice(-8000));
    child.stdout!.on('data', keep);
    child.stderr!.on('data', keep);
    this.child = child;
    await until(`nats-server ${this.name}`, async () => {
      if (!this.running) throw new Error(`nats-server ${this.name} exited: ${this.log}`);
      return portOpen(this.port);
    });
    if (options.jetstream !== false) await waitForJetStream([this.url]);
  }

  /** Graceful stop (SIGTERM: the server flushes its store) and wait for the exit. */
  async stop(): Promise<void> {
    const child = this.child;
    if (!child || !this.running) return;
    child.kill('SIGTERM');
    const killed = setTimeout(() => child.kill('SIGKILL'), 10_000);
    await exited(child);
    clearTimeout(killed);
  }

  /** A crash: SIGKILL, no chance to flush. */
  async crash(): Promise<void> {
    const child = this.child;
    if (!child || !this.running) return;
    child.kill('SIGKILL');
    await exited(child);
  }

  async restart(): Promise<void> {
    await this.stop();
    await this.start();
  }

  /** The server's recent output, for failure messages. */
  output(): string {
    return this.log;
  }

  kill(): void {
    if (this.running) this.child!.kill('SIGKILL');
  }

  cleanup(): void {
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/** Waits until JetStream answers account info through one of `servers` (in a cluster: a meta leader is elected). */
export async function waitForJetStream(servers: string[], timeoutMs = 30_000): Promise<void> {
  await until(
    'JetStream',
    async () => {
      const nc = await connect({ servers, timeout: 1000, reconnect: false });
      try {
        const jsm = await jetstreamManager(nc, { timeout: 2000 });
        await jsm.getAccountInfo();
        return true;
      } finally {
        await nc.close();
      }
    },
    timeoutMs,
  );
}

/** Three nats-servers routed into one JetStream cluster on loopback, each with its own store. */
export class NatsCluster {
  private constructor(readonly nodes: NatsServer[]) {}

  /** The client URL list (comma-separated, as NATS_URL takes it). */
  get url(): string {
    return this.nodes.map((n) => n.url).join(',');
  }

  get urls(): string[] {
    return this.nodes.map((n) => n.url);
  }

  static async start(size = 3): Promise<NatsCluster> {
    const ports = await freePorts(size * 3);
    const client = ports.slice(0, size);
    const route = ports.slice(size, size * 2);
    const monitor = ports.slice(size * 2);
    const root = mkdtempSync(join(tmpdir(), 'arbiter-faults-cluster-'));
    const nodes = client.map((port, i) => {
      const dir = join(root, `n${i + 1}`);
      mkdirSync(dir, { recursive: true });
      const configFile = join(dir, 'nats.conf');
      writeFileSync(
        configFile,
        [
          `server_name: n${i + 1}`,
          `listen: 127.0.0.1:${port}`,
          `http: 127.0.0.1:${monitor[i]}`,
          `jetstream { store_dir: "${join(dir, 'store')}" }`,
          `cluster {`,
          `  name: arbiter-faults`,
          `  listen: 127.0.0.1:${route[i]}`,
          `  routes: [${route
            .filter((_, j) => j !== i)
            .map((p) => `nats://127.0.0.1:${p}`)
            .join(', ')}]`,
          `}`,
        ].join('\n'),
      );
      return NatsServer.node(port, dir, configFile, `n${i + 1}`);
    });
    // Cleaning the root removes every node's store too.
    started.add({ kill: () => undefined, cleanup: () => rmSync(root, { recursive: true, force: true }) });
    // JetStream in a cluster needs a meta leader, which needs a quorum: start all, then wait.
    await Promise.all(nodes.map((n) => n.start({ jetstream: false })));
    await waitForJetStream(nodes.map((n) => n.url));
    return new NatsCluster(nodes);
  }

  /** Waits until every JetStream stream whose name holds `namespace` (any case: streams, KV and object buckets) has `replicas` replicas, all current. */
  async replicasCurrent(namespace: string, replicas: number, timeoutMs = 30_000): Promise<void> {
    await until(
      `replicas of ${namespace}`,
      async () => {
        const nc = await connect({ servers: this.urls.filter((_, i) => this.nodes[i].running), reconnect: false });
        try {
          const jsm = await jetstreamManager(nc);
          for await (const s of jsm.streams.list()) {
            if (!s.config.name.toUpperCase().includes(namespace.toUpperCase())) continue;
            const peers = s.cluster?.replicas ?? [];
            if (s.config.num_replicas !== replicas || peers.length !== replicas - 1 || peers.some((p) => !p.current || p.offline))
              return false;
          }
          return true;
        } finally {
          await nc.close();
        }
      },
      timeoutMs,
    );
  }

  async stop(): Promise<void> {
    await Promise.all(this.nodes.map((n) => n.stop()));
  }
}

/** Runs a PostgreSQL binary as the `postgres` user when this process is root (postgres refuses root). */
function pgCommand(bin: string, args: string[]): [string, string[]] {
  const path = join(PG_BIN_DIR, bin);
  return process.getuid?.() === 0 ? ['runuser', ['-u', 'postgres', '--', path, ...args]] : [path, args];
}

function pgUid(): { uid: number; gid: number } | undefined {
  if (process.getuid?.() !== 0) return undefined;
  const uid = Number(execFileSync('id', ['-u', 'postgres']).toString().trim());
  const gid = Number(execFileSync('id', ['-g', 'postgres']).toString().trim());
  return { uid, gid };
}

/**
 * Its own PostgreSQL 15 (initdb + pg_ctl) on a free loopback port, trust authentication, user
 * `postgres`; `stop()` and `start()` keep the data directory, so what was stored survives.
 */
export class PostgresServer implements Stoppable {
  private constructor(
    readonly port: number,
    readonly dir: string,
  ) {
    started.add(this);
  }

  get dataDir(): string {
    return join(this.dir, 'data');
  }

  /** A URL for database `db` (default `postgres`). */
  url(db = 'postgres'): string {
    return `postgres://postgres@127.0.0.1:${this.port}/${db}`;
  }

  static async create(): Promise<PostgresServer> {
    const port = await freePort();
    const dir = mkdtempSync(join(tmpdir(), 'arbiter-faults-pg-'));
    chmodSync(dir, 0o755);
    const owner = pgUid();
    if (owner) chownSync(dir, owner.uid, owner.gid);
    const server = new PostgresServer(port, dir);
    const [cmd, args] = pgCommand('initdb', ['-D', server.dataDir, '-U', 'postgres', '-A', 'trust', '--no-sync', '-E', 'UTF8']);
    execFileSync(cmd, args, { stdio: 'pipe' });
    await server.start();
    return server;
  }

  /** Starts the server on its port (sockets in its own directory) and waits until it answers. */
  async start(): Promise<void> {
    const options = `-p ${this.port} -k ${this.dir} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200`;
    const [cmd, args] = pgCommand('pg_ctl', [
      '-D',
      this.dataDir,
      '-l',
      join(this.dir, 'server.log'),
      '-o',
      options,
      '-w',
      '-t',
      '60',
      'start',
    ]);
    execFileSync(cmd, args, { stdio: 'pipe' });
    await until('postgres', async () => {
      const c = new Client({ connectionString: this.url(), connectionTimeoutMillis: 1000 });
      await c.connect();
      await c.end();
      return true;
    });
  }

  /** Stops it; `immediate` is a crash (no checkpoint, clients cut off), `fast` a clean shutdown that still disconnects everyone. */
  async stop(mode: 'fast' | 'immediate' = 'fast'): Promise<void> {
    const [cmd, args] = pgCommand('pg_ctl', ['-D', this.dataDir, '-m', mode, '-w', '-t', '60', 'stop']);
    try {
      execFileSync(cmd, args, { stdio: 'pipe' });
    } catch (e) {
      // Not running: nothing to stop.
      if (!/is the server running|No such file/i.test(String((e as { stderr?: Buffer }).stderr ?? e))) throw e;
    }
  }

  async createDatabase(name: string): Promise<string> {
    const c = new Client({ connectionString: this.url() });
    await c.connect();
    try {
      await c.query(`CREATE DATABASE ${name}`);
    } finally {
      await c.end();
    }
    return this.url(name);
  }

  kill(): void {
    try {
      const [cmd, args] = pgCommand('pg_ctl', ['-D', this.dataDir, '-m', 'immediate', 'stop']);
      execFileSync(cmd, args, { stdio: 'ignore' });
    } catch {
      // already stopped
    }
  }

  cleanup(): void {
    rmSync(this.dir, { recursive: true, force: true });
  }
}
