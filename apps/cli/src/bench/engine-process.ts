import { ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, readdirSync, readlinkSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { jetstreamManager } from '@nats-io/jetstream';
import { Topology } from '@app/contracts';
import { connectNats, drainNats, removeNamespaceStreams } from '@app/messaging';
import { ENGINE_NODE_FLAGS } from '../engine-flags';

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
  /** The NATS server the engine uses (the bench watches its consumers there). */
  natsUrl: string;
  namespace: string;
  adminKey: string;
  /** The `/metrics` of the processes its recorders run in (`arbiter start`: the engine's, every thread's metrics merged). */
  recorderMetrics: string[];
  /** One process (`arbiter start`), or one per service. */
  children: ChildProcess[];
  /** What each child runs, in the same order: `engine` (`arbiter start`), or the service (`scorer`, `scorer.2`, …). */
  names: string[];
  /** The end of the engine's log output (stdout and stderr, its last 4,000 characters). */
  recentOutput(): string;
  stop(): Promise<void>;
}

/**
 * CPU seconds (user + system, every thread) each child has used so far, by name; null where the OS
 * does not say (only Linux's /proc is read). Unlike wall time, this does not grow when other work on
 * a shared machine takes the cores: the work per event can be compared between runs.
 */
export function cpuSeconds(engine: EngineProcess): Record<string, number> | null {
  const out: Record<string, number> = {};
  for (let i = 0; i < engine.children.length; i++) {
    const seconds = processCpuSeconds(engine.children[i].pid!);
    if (seconds == null) return null;
    out[engine.names[i]] = seconds;
  }
  return out;
}

/** Each child's peak resident memory so far (VmHWM), in MiB, by name; null where the OS does not say. */
export function peakRssMiB(engine: EngineProcess): Record<string, number> | null {
  const out: Record<string, number> = {};
  for (let i = 0; i < engine.children.length; i++) {
    try {
      const kb = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${engine.children[i].pid}/status`, 'utf8'));
      if (!kb) return null;
      out[engine.names[i]] = Math.round(Number(kb[1]) / 1024);
    } catch {
      return null;
    }
  }
  return out;
}

/**
 * The fields of /proc/<pid>/stat after the command name (which may hold spaces and parentheses):
 * [1] the parent's pid, [11] utime, [12] stime, [13] cutime, [14] cstime (clock ticks, 100/s); null if gone.
 */
function statFields(pid: number | string): string[] | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  } catch {
    return null;
  }
}

/** utime + stime (and, with `children`, the reaped children's cutime + cstime) of a process, in seconds; null if gone. */
export function processCpuSeconds(pid: number, children = false): number | null {
  const f = statFields(pid);
  if (!f) return null;
  return (Number(f[11]) + Number(f[12]) + (children ? Number(f[13]) + Number(f[14]) : 0)) / 100;
}

/** Pids of the processes whose parent is `pid` (a scan of /proc). */
export function childPids(pid: number): number[] {
  let entries: string[];
  try {
    entries = readdirSync('/proc').filter((e) => /^\d+$/.test(e));
  } catch {
    return []; // not Linux
  }
  return entries.filter((e) => Number(statFields(e)?.[1]) === pid).map(Number);
}

/** Listening addresses a loopback URL reaches: 127.0.0.1, ::1, ::ffff:127.0.0.1, and the wildcards (as /proc/net/tcp* spells them). */
const LOOPBACK_OR_ANY = new Set([
  '0100007F',
  '00000000',
  '00000000000000000000000001000000',
  '0000000000000000FFFF00000100007F',
  '00000000000000000000000000000000',
]);

/**
 * The pid of the process listening on this machine's loopback (or every address) at TCP `port`
 * (Linux: the socket's inode in /proc/net/tcp, then the process holding it), and, with `programs`,
 * only if it runs one of them (so that a forwarder on the port, docker-proxy or ssh, is not taken for
 * the server); null when it cannot be told (another OS, another user's process).
 */
export function listenerPid(port: number, programs?: readonly string[]): number | null {
  try {
    const inodes = new Set<string>();
    for (const table of ['/proc/net/tcp', '/proc/net/tcp6']) {
      let text = '';
      try {
        text = readFileSync(table, 'utf8');
      } catch {
        continue;
      }
      for (const line of text.split('\n').slice(1)) {
        const f = line.trim().split(/\s+/);
        if (f.length <= 9 || f[3] !== '0A') continue;
        const [address, hexPort] = f[1].split(':');
        if (parseInt(hexPort, 16) === port && LOOPBACK_OR_ANY.has(address)) inodes.add(f[9]);
      }
    }
    if (!inodes.size) return null;
    for (const entry of readdirSync('/proc')) {
      if (!/^\d+$/.test(entry)) continue;
      let fds: string[];
      try {
        fds = readdirSync(`/proc/${entry}/fd`);
      } catch {
        continue;
      }
      for (const fd of fds) {
        try {
          const m = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${entry}/fd/${fd}`));
          if (m && inodes.has(m[1])) {
            if (!programs) return Number(entry);
            const program = readFileSync(`/proc/${entry}/comm`, 'utf8').trim();
            return programs.includes(program) ? Number(entry) : null;
          }
        } catch {
          // closed meanwhile
        }
      }
    }
  } catch {
    // not Linux
  }
  return null;
}

/** The servers the engine uses on this machine, found by the port they listen on. */
export interface LocalServers {
  /** nats-server's pid, when NATS is on this machine. */
  nats: number | null;
  /** PostgreSQL's postmaster, when the database is an external one on this machine. */
  postgres: number | null;
}

const LOOPBACK = new Set(['127.0.0.1', 'localhost', '[::1]']);

export function localServers(natsUrl: string, databaseUrl: string | undefined): LocalServers {
  const local = (url: string | undefined, defaultPort: number, programs: readonly string[]) => {
    if (!url) return null;
    try {
      const u = new URL(url.includes('://') ? url : `nats://${url}`);
      return LOOPBACK.has(u.hostname) ? listenerPid(Number(u.port || defaultPort), programs) : null;
    } catch {
      return null;
    }
  };
  return { nats: local(natsUrl, 4222, ['nats-server']), postgres: local(databaseUrl, 5432, ['postgres', 'postmaster']) };
}

/**
 * CPU seconds the local servers have used so far: nats-server's, and PostgreSQL's as the postmaster,
 * its living children (backends, WAL writer, checkpointer…) and the children it has reaped. A server
 * shared with other work counts that work too.
 */
export function serverCpuSeconds(servers: LocalServers): { natsServer: number | null; postgres: number | null } {
  let postgres: number | null = null;
  if (servers.postgres != null) {
    postgres = processCpuSeconds(servers.postgres, true);
    if (postgres != null) for (const child of childPids(servers.postgres)) postgres += processCpuSeconds(child) ?? 0;
  }
  return { natsServer: servers.nats == null ? null : processCpuSeconds(servers.nats), postgres };
}

/** Services in the order they start in when each runs as its own process: the recorder migrates first. */
const SERVICES = ['recorder', 'scorer', 'notifier', 'api', 'gateway'] as const;

/** How to stop each engine a bench has running (and give its streams back). */
const running = new Set<() => Promise<void>>();
let interruptedBy: NodeJS.Signals | null = null;

/** Whether a signal is stopping the engines (the bench then exits when they are stopped, not at its first error). */
export const interrupted = () => interruptedBy !== null;

/**
 * An interrupted bench (Ctrl-C, SIGTERM) stops the engines it started before it exits: they are
 * child processes, which would otherwise keep running, holding their ports, their CPU and their
 * streams on the NATS server. Installed while an engine runs.
 */
function onInterrupt(signal: NodeJS.Signals): void {
  interruptedBy = signal;
  const stops = [...running].map((stop) => stop().catch(() => undefined));
  void Promise.race([Promise.all(stops), new Promise((r) => setTimeout(r, 35_000))]).finally(() =>
    process.exit(signal === 'SIGINT' ? 130 : 143),
  );
}

function track(stop: () => Promise<void>): () => Promise<void> {
  if (!running.size) for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, onInterrupt);
  running.add(stop);
  return async () => {
    if (!running.delete(stop)) return;
    if (!running.size) for (const signal of ['SIGINT', 'SIGTERM'] as const) process.removeListener(signal, onInterrupt);
    await stop();
  };
}

/**
 * Runs the engine under test in child processes, isolated by a fresh NATS namespace (and its own
 * embedded database when none is given), so the load generator never shares its event loop:
 * `arbiter start` (all services in one process) or, with `split`, each service as its own process
 * as in production (then a database URL is required: the embedded one lives in `arbiter start`).
 */
export async function spawnEngine(options: {
  databaseUrl?: string;
  natsUrl: string;
  split?: boolean;
  env?: Record<string, string>;
  /** Node flags for the engine's processes, e.g. `--cpu-prof` (profiles are written when they stop). */
  nodeArgs?: string[];
  /** Scorer partitions (ARBITER_PARTITIONS); split, each partition gets its own scorer process. */
  partitions?: number;
  /** Split: recorder processes sharing the recorder's durables (default 1). */
  recorders?: number;
}): Promise<EngineProcess> {
  if (options.split && !options.databaseUrl) throw new Error('services in separate processes need --database-url');
  const [gatewayPort, apiPort, dbPort, scorerPort, recorderPort, notifierPort] = await Promise.all(
    Array.from({ length: 6 }, () => freePort()),
  );
  // The engine's own data directory (its embedded database, when it has one), removed when it stops:
  // also when the bench is interrupted, which exits before its callers' cleanup runs.
  const dataDir = mkdtempSync(join(tmpdir(), 'arbiter-bench-'));
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
    SCORER_PORT: String(scorerPort),
    RECORDER_PORT: String(recorderPort),
    NOTIFIER_PORT: String(notifierPort),
    EMBEDDED_DB_PORT: String(dbPort),
    ARBITER_DATA_DIR: dataDir,
    ARBITER_ADMIN_KEY: adminKey,
    LOG_LEVEL: 'warn',
    // EVENTS and VERDICTS refuse publishes at this size (discard new; until 2026-12-03 they dropped their
    // oldest messages, read or not, and a recorder further behind lost them): a recorder behind by more
    // would make the gateway answer 503, which fails the run. The engine's default, 4 GiB, holds
    // every verdict of the largest sustained run (--events 2,000,000: 3.4 GB).
    EVENTS_MAX_BYTES: String(4 * 1024 ** 3),
    ARBITER_PARTITIONS: String(options.partitions ?? 1),
    ...options.env,
  };
  if (options.databaseUrl) env.DATABASE_URL = options.databaseUrl;
  else delete env.DATABASE_URL;
  // <dist>/apps/cli/src/bench → <dist>/apps
  const apps = resolve(__dirname, '..', '..', '..');
  const children: ChildProcess[] = [];
  const names: string[] = [];
  const recorderMetrics: string[] = [];
  let output = '';
  const launch = async (name: string, script: string, args: string[], health: string, extra: Record<string, string> = {}) => {
    const child = spawn(process.execPath, [...ENGINE_NODE_FLAGS, ...(options.nodeArgs ?? []), script, ...args], {
      env: { ...env, ...extra },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    children.push(child);
    names.push(name);
    const keep = (d: Buffer) => (output = (output + d.toString()).slice(-4000));
    child.stdout!.on('data', keep);
    child.stderr!.on('data', keep);
    for (let i = 0; ; i++) {
      if (child.exitCode !== null) throw new Error(`${script} exited (${child.exitCode}):\n${output}`);
      const up = await fetch(health).then(
        (r) => r.ok,
        () => false,
      );
      if (up) return;
      if (i > 600) throw new Error(`${script} did not become healthy within 60 s:\n${output}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  };
  const ports: Record<(typeof SERVICES)[number], number> = {
    recorder: recorderPort,
    scorer: scorerPort,
    notifier: notifierPort,
    api: apiPort,
    gateway: gatewayPort,
  };
  const stopAll = track(async () => {
    await Promise.all(
      children.map(
        (child) =>
          new Promise<void>((done) => {
            if (child.exitCode !== null || child.signalCode !== null) return done();
            child.once('exit', () => done());
            child.kill('SIGTERM');
            setTimeout(() => child.kill('SIGKILL'), 30_000).unref();
          }),
      ),
    );
    rmSync(dataDir, { recursive: true, force: true });
    // The streams reserve disk on the NATS server: give it back.
    const nc = await connectNats(options.natsUrl, 'arbiter-bench');
    try {
      await removeNamespaceStreams(await jetstreamManager(nc), new Topology(namespace));
    } finally {
      await drainNats(nc);
    }
  });
  try {
    if (options.split) {
      for (const service of SERVICES) {
        const main = join(apps, service, 'src', 'main.js');
        // Scale-out: one scorer process per partition, and as many recorders as asked (DESIGN §2).
        const instances =
          service === 'scorer'
            ? Array.from({ length: options.partitions ?? 1 }, (_, p) => ({ SCORER_PARTITIONS: String(p) }))
            : service === 'recorder'
              ? Array.from({ length: options.recorders ?? 1 }, () => ({}))
              : [{}];
        await Promise.all(
          instances.map(async (extra, i) => {
            const port = i === 0 ? ports[service] : await freePort();
            if (service === 'recorder') recorderMetrics.push(`http://127.0.0.1:${port}/metrics`);
            await launch(i === 0 ? service : `${service}.${i + 1}`, main, [], `http://127.0.0.1:${port}/health`, {
              ...extra,
              [`${service.toUpperCase()}_PORT`]: String(port),
            });
          }),
        );
      }
    } else {
      await launch('engine', join(apps, 'cli', 'src', 'main.js'), ['start'], `http://127.0.0.1:${gatewayPort}/health`);
      recorderMetrics.push(`http://127.0.0.1:${gatewayPort}/metrics`);
    }
  } catch (e) {
    await stopAll();
    throw e;
  }
  return {
    gateway: `http://127.0.0.1:${gatewayPort}`,
    api: `http://127.0.0.1:${apiPort}`,
    databaseUrl: options.databaseUrl ?? `postgres://postgres@127.0.0.1:${dbPort}/postgres`,
    natsUrl: options.natsUrl,
    namespace,
    adminKey,
    recorderMetrics,
    children,
    names,
    recentOutput: () => output,
    stop: stopAll,
  };
}
