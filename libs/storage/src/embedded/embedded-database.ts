import { existsSync, mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { Worker } from 'node:worker_threads';
import { PGlite } from '@electric-sql/pglite';
import { timescaledb } from '@electric-sql/pglite/timescaledb';
import { componentLogger, metrics } from '@app/observability';
import { AnswerOptions, PGliteServer, UnansweredRequest, firstWords } from './pglite-server';

/** What the worker thread is told, and what it answers. */
export interface EmbeddedWorkerData {
  dataDir?: string;
  port?: number;
  logLevel: string;
  answerLimitMs: number;
  /** Shared with the engine: the first bytes of the request PGlite runs (see `RunningStatement`). */
  running: SharedArrayBuffer;
}
export type EmbeddedWorkerReply =
  | { type: 'ready'; port: number }
  | { type: 'failed'; message: string }
  | { type: 'stopped' }
  | { type: 'pong' }
  | { type: 'unanswered'; request: UnansweredRequest };

/** The default of `EMBEDDED_DB_ANSWER_TIMEOUT_SECONDS`, in ms. */
const ANSWER_LIMIT_MS = 60_000;

/**
 * The embedded default database: TimescaleDB-enabled PGlite, persisted under a data directory and
 * served to `pg` on a loopback port, so the engine runs the same SQL as in production.
 *
 * PGlite is WebAssembly that runs synchronously: on the engine's own event loop every statement
 * stopped HTTP ingest, NATS and scoring for its duration (about 30 % of `arbiter start`'s CPU under
 * load). It runs in a worker thread instead, on the second core, behind the same loopback port.
 * From TypeScript sources (the test runner) there is no compiled worker script: it then runs in
 * this thread, as before.
 */
export class EmbeddedDatabase {
  private constructor(
    readonly url: string,
    private readonly stopServing: () => Promise<void>,
    /** Whether it runs in its own worker thread. */
    readonly threaded: boolean,
  ) {}

  /**
   * `dataDir` undefined: in memory (tests). `thread: false` keeps it on this event loop. `answerLimitMs`:
   * see `EMBEDDED_DB_ANSWER_TIMEOUT_SECONDS`.
   */
  static async start(
    options: { dataDir?: string; port?: number; thread?: boolean; answerLimitMs?: number } = {},
  ): Promise<EmbeddedDatabase> {
    const log = componentLogger('embedded-db');
    let dataDir: string | undefined;
    if (options.dataDir) {
      dataDir = resolve(options.dataDir);
      mkdirSync(dataDir, { recursive: true });
    }
    const script = join(__dirname, 'embedded-database.worker.js');
    const threaded = options.thread !== false && existsSync(script);
    const answerLimitMs = options.answerLimitMs ?? ANSWER_LIMIT_MS;
    const served = threaded
      ? await serveInWorker(script, { dataDir, port: options.port, logLevel: String(log.level), answerLimitMs })
      : await serveEmbedded({ dataDir, port: options.port, answerLimitMs, onUnanswered: countUnanswered });
    const url = `postgres://postgres@127.0.0.1:${served.port}/postgres`;
    log.info({ dataDir: dataDir ?? 'memory', port: served.port, thread: threaded }, 'embedded TimescaleDB (PGlite) is serving');
    return new EmbeddedDatabase(url, served.stop, threaded);
  }

  async stop(): Promise<void> {
    await this.stopServing();
  }
}

/** PGlite and its loopback server on the calling thread. */
export async function serveEmbedded(
  options: { dataDir?: string; port?: number } & Pick<AnswerOptions, 'answerLimitMs' | 'onUnanswered' | 'onRunning'>,
): Promise<{ port: number; stop(): Promise<void> }> {
  const db = await PGlite.create(options.dataDir ?? 'memory://', { extensions: { timescaledb } });
  try {
    await loadTimescaleLoader(db);
    await useDefaultMessageLevels(db);
    const server = new PGliteServer(db, undefined, undefined, {
      answerLimitMs: options.answerLimitMs,
      onUnanswered: options.onUnanswered,
      onRunning: options.onRunning,
    });
    const port = await server.listen(options.port ?? 0);
    return {
      port,
      stop: async () => {
        await server.close();
        await db.close();
      },
    };
  } catch (e) {
    await db.close().catch(() => undefined);
    throw e;
  }
}

/** A request the embedded database gave up on (see `PGliteServer.giveUp`), counted by its SQLSTATE. */
function countUnanswered(request: UnansweredRequest): void {
  metrics.embeddedDbUnanswered.inc({ code: request.code });
}

async function serveInWorker(script: string, data: Omit<EmbeddedWorkerData, 'running'>): Promise<{ port: number; stop(): Promise<void> }> {
  const log = componentLogger('embedded-db');
  const running = new RunningStatement();
  const worker = new Worker(script, { workerData: { ...data, running: running.shared } });
  const exited = new Promise<number>((done) => worker.once('exit', done));
  const heartbeat = new Heartbeat(
    data.answerLimitMs,
    (m) => worker.postMessage(m),
    () => running.read(),
  );
  let stopping = false;
  // A thread that exited answers no ping: said as what it is, not as a statement that keeps it.
  void exited.then((code) => {
    heartbeat.stop();
    if (!stopping) log.error({ code }, "the embedded database's thread exited; nothing is served until the engine restarts");
  });
  // The thread's own reports come at any time; the rest answers what was asked ('ready', 'stopped').
  let answer: ((m: EmbeddedWorkerReply) => void) | undefined;
  worker.on('message', (m: EmbeddedWorkerReply) => {
    if (m.type === 'pong') heartbeat.pong();
    else if (m.type === 'unanswered') countUnanswered(m.request);
    else answer?.(m);
  });
  const reply = (): Promise<EmbeddedWorkerReply> =>
    new Promise((done, fail) => {
      const onError = (e: Error) => {
        answer = undefined;
        fail(e);
      };
      answer = (m) => {
        answer = undefined;
        worker.off('error', onError);
        done(m);
      };
      worker.once('error', onError);
      void exited.then((code) => fail(new Error(`the embedded database's thread exited (${code})`)));
    });
  const first = await reply();
  if (first.type !== 'ready') {
    await worker.terminate();
    throw new Error(`embedded database did not start: ${first.type === 'failed' ? first.message : first.type}`);
  }
  // Once serving, a failure of the thread is the database going away: loud, and visible in /health.
  worker.on('error', (e) => log.error({ err: e }, 'the embedded database thread failed'));
  heartbeat.start();
  return {
    port: first.port,
    stop: async () => {
      stopping = true;
      heartbeat.stop();
      worker.postMessage('stop');
      const stopped = await Promise.race([reply().catch(() => null), new Promise((r) => setTimeout(r, 30_000).unref())]);
      if (!stopped) log.warn('the embedded database thread did not stop within 30 s; terminating it');
      await worker.terminate();
      await exited;
    },
  };
}

/**
 * Tells a PGlite thread stuck inside a statement from a lost request: the server in the thread bounds
 * requests it has not answered (`PGliteServer.sweep`), but only while its event loop runs, and PGlite runs
 * each statement synchronously on it. This pings the thread from the engine's side every quarter of the
 * limit; unanswered past the limit (at two looks in a row: this thread may itself have been busy), it is
 * reported once, and again when the thread answers.
 *
 * Only reported: a statement inside WebAssembly cannot be interrupted, and one that is merely long (a
 * rollup refresh over months) looks the same from here. Terminating the thread would lose every
 * connection's work in flight and, were it a long statement, do so again at its retry; the committed
 * rows would survive (the data directory recovers to its last commit at the next start), so restarting
 * the engine stays the operator's call, prompted by the log, the gauge and `/health` (its `SELECT 1`
 * gets no answer meanwhile).
 */
export class Heartbeat {
  private timer?: NodeJS.Timeout;
  private lastPong = Date.now();
  private overdue = false;
  private stuckSince: number | null = null;
  private readonly log = componentLogger('embedded-db');

  constructor(
    private readonly limitMs: number,
    private readonly ping: (message: { type: 'ping' }) => void,
    /** The first words of the statement the thread runs, if known. */
    private readonly statement: () => string | undefined = () => undefined,
  ) {}

  start(): void {
    this.lastPong = Date.now();
    this.timer = setInterval(() => this.look(), Math.max(10, this.limitMs / 4));
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
  }

  pong(): void {
    const silentMs = Date.now() - this.lastPong;
    this.lastPong = Date.now();
    this.overdue = false;
    if (this.stuckSince === null) return;
    this.log.warn({ silentMs }, 'the embedded database thread answers again');
    this.stuckSince = null;
    metrics.embeddedDbStuck.set(0);
  }

  private look(): void {
    const silentMs = Date.now() - this.lastPong;
    if (silentMs >= this.limitMs && this.stuckSince === null) {
      if (this.overdue) {
        this.stuckSince = Date.now();
        metrics.embeddedDbStuck.set(1);
        const statement = this.statement();
        this.log.warn(
          { silentMs, statement },
          `PGlite's thread has not answered for ${Math.round(silentMs / 1000)} s: a long statement or a stuck one${statement ? ` (${statement})` : ''}; every connection waits meanwhile. A long one is logged with its time when it ends; restarting during a first-start refresh starts it over`,
        );
      }
      this.overdue = true;
    }
    this.ping({ type: 'ping' });
  }
}

/**
 * The first bytes (at most 256) of the request PGlite's thread runs, in memory shared with the engine:
 * the thread writes them before each request, and the engine reads them while PGlite keeps that thread
 * (it cannot answer then). Read only when the thread is silent, so the write is not torn in practice.
 */
export class RunningStatement {
  private static readonly SIZE = 256;
  readonly shared: SharedArrayBuffer;
  private readonly length: Int32Array;
  private readonly bytes: Uint8Array;

  constructor(shared?: SharedArrayBuffer) {
    this.shared = shared ?? new SharedArrayBuffer(4 + RunningStatement.SIZE);
    this.length = new Int32Array(this.shared, 0, 1);
    this.bytes = new Uint8Array(this.shared, 4, RunningStatement.SIZE);
  }

  write(what: Uint8Array | string): void {
    // A statement given as text (a COPY's) is kept as a simple query, the form `firstWords` reads.
    const bytes = typeof what === 'string' ? Buffer.from(`Q\0\0\0\0${what.slice(0, RunningStatement.SIZE)}\0`) : what;
    const n = Math.min(bytes.length, RunningStatement.SIZE);
    this.bytes.set(bytes.subarray(0, n));
    this.length[0] = n;
  }

  /** Its first words (see `firstWords`: no literal, no parameter), or undefined before any request. */
  read(): string | undefined {
    const n = this.length[0];
    return n ? firstWords(Buffer.from(this.bytes.subarray(0, n))) : undefined;
  }
}

/**
 * TimescaleDB expects its loader library (`timescaledb.so`) in `shared_preload_libraries`: the
 * loader installs the planner and utility hooks and, through the `timescaledb.license` GUC, loads
 * the TSL module that continuous aggregates and compression live in. PGlite ignores
 * `shared_preload_libraries`. On the first start `CREATE EXTENSION` loads the versioned library
 * itself, which hides the gap; on every later start of the same data directory the versioned
 * library was loaded lazily by the first trigger or function call, without the loader: inserts
 * into hypertables reached the root table ("invalid INSERT on the root table") and every TSL
 * function failed with "not supported under the current \"timescale\" license". Loading the
 * loader first, before any statement, is what a server's preload does.
 */
async function loadTimescaleLoader(db: PGlite): Promise<void> {
  await db.exec(`LOAD 'timescaledb'`);
}

/**
 * This PGlite build starts its one session with `client_min_messages = debug3` and
 * `log_min_messages = debug1`: PostgreSQL formatted debug messages at every step and answered every
 * extended-query exchange with DEBUG notices ("parse <unnamed>: <the SQL>", "bind ...") that the
 * wire server forwarded and `pg` parsed and dropped: about 45 µs of the thread per extended-query
 * statement, a quarter of a small look-up (docs/performance.md, session 9). PostgreSQL's defaults
 * instead. The session is shared by every connection and never reset between them, so this holds
 * unless a client changes it (none of ours does; `RESET ALL` or `DISCARD ALL` would bring the
 * build's levels back, costing CPU only).
 */
async function useDefaultMessageLevels(db: PGlite): Promise<void> {
  await db.exec(`SET client_min_messages = notice; SET log_min_messages = warning`);
}
