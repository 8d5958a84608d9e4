import { existsSync, mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { Worker } from 'node:worker_threads';
import { PGlite } from '@electric-sql/pglite';
import { timescaledb } from '@electric-sql/pglite/timescaledb';
import { componentLogger } from '@app/observability';
import { CheckpointPolicy, DEFAULT_CHECKPOINTS, EmbeddedCheckpoints } from './embedded-checkpoints';
import { PGliteServer } from './pglite-server';

/** What the worker thread is told, and what it answers. */
export interface EmbeddedWorkerData {
  dataDir?: string;
  port?: number;
  checkpoints?: CheckpointPolicy;
  logLevel: string;
}
export type EmbeddedWorkerReply = { type: 'ready'; port: number } | { type: 'failed'; message: string } | { type: 'stopped' };

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
   * `dataDir` undefined: in memory (tests). `thread: false` keeps it on this event loop. `checkpoints`:
   * when it checkpoints while serving (see `EmbeddedCheckpoints`; default `DEFAULT_CHECKPOINTS`).
   */
  static async start(
    options: { dataDir?: string; port?: number; thread?: boolean; checkpoints?: CheckpointPolicy } = {},
  ): Promise<EmbeddedDatabase> {
    const log = componentLogger('embedded-db');
    let dataDir: string | undefined;
    if (options.dataDir) {
      dataDir = resolve(options.dataDir);
      mkdirSync(dataDir, { recursive: true });
    }
    const script = join(__dirname, 'embedded-database.worker.js');
    const threaded = options.thread !== false && existsSync(script);
    const served = threaded
      ? await serveInWorker(script, { dataDir, port: options.port, checkpoints: options.checkpoints, logLevel: String(log.level) })
      : await serveEmbedded({ dataDir, port: options.port, checkpoints: options.checkpoints });
    const url = `postgres://postgres@127.0.0.1:${served.port}/postgres`;
    log.info({ dataDir: dataDir ?? 'memory', port: served.port, thread: threaded }, 'embedded TimescaleDB (PGlite) is serving');
    return new EmbeddedDatabase(url, served.stop, threaded);
  }

  async stop(): Promise<void> {
    await this.stopServing();
  }
}

/** PGlite and its loopback server on the calling thread. */
export async function serveEmbedded(options: {
  dataDir?: string;
  port?: number;
  checkpoints?: CheckpointPolicy;
}): Promise<{ port: number; stop(): Promise<void> }> {
  const db = await PGlite.create(options.dataDir ?? 'memory://', { extensions: { timescaledb } });
  try {
    await loadTimescaleLoader(db);
    await useDefaultMessageLevels(db);
    const server = new PGliteServer(db);
    const port = await server.listen(options.port ?? 0);
    const checkpoints = new EmbeddedCheckpoints(db, server, options.checkpoints ?? DEFAULT_CHECKPOINTS);
    checkpoints.start();
    return {
      port,
      stop: async () => {
        // Checks stop first, the server closes next: a check queued behind a connection (idle in a
        // transaction, say) then gets the database as soon as that connection's close rolls back, and does
        // nothing. Awaiting the check before closing the server waited for the hold limit (120 s).
        const checked = checkpoints.stop();
        await server.close();
        await checked;
        // Closing checkpoints once more (PostgreSQL's shutdown checkpoint): the next start replays nothing.
        await db.close();
      },
    };
  } catch (e) {
    await db.close().catch(() => undefined);
    throw e;
  }
}

async function serveInWorker(script: string, data: EmbeddedWorkerData): Promise<{ port: number; stop(): Promise<void> }> {
  const log = componentLogger('embedded-db');
  const worker = new Worker(script, { workerData: data });
  const exited = new Promise<number>((done) => worker.once('exit', done));
  const reply = (): Promise<EmbeddedWorkerReply> =>
    new Promise((done, fail) => {
      const onMessage = (m: EmbeddedWorkerReply) => {
        worker.off('error', onError);
        done(m);
      };
      const onError = (e: Error) => {
        worker.off('message', onMessage);
        fail(e);
      };
      worker.once('message', onMessage);
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
  return {
    port: first.port,
    stop: async () => {
      worker.postMessage('stop');
      const stopped = await Promise.race([reply().catch(() => null), new Promise((r) => setTimeout(r, 30_000).unref())]);
      if (!stopped) log.warn('the embedded database thread did not stop within 30 s; terminating it');
      await worker.terminate();
      await exited;
    },
  };
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
