import { mkdirSync } from 'node:fs';
import { resolve } from 'node:path';
import { PGlite } from '@electric-sql/pglite';
import { timescaledb } from '@electric-sql/pglite/timescaledb';
import { componentLogger } from '@app/observability';
import { PGliteServer } from './pglite-server';

/**
 * The embedded default database: TimescaleDB-enabled PGlite, persisted under a data directory and
 * served to `pg` on a loopback port, so the engine runs the same SQL as in production.
 */
export class EmbeddedDatabase {
  private constructor(
    private readonly db: PGlite,
    private readonly server: PGliteServer,
    readonly url: string,
  ) {}

  /** `dataDir` undefined: in memory (tests). */
  static async start(options: { dataDir?: string; port?: number } = {}): Promise<EmbeddedDatabase> {
    const log = componentLogger('embedded-db');
    let dataDir: string | undefined;
    if (options.dataDir) {
      dataDir = resolve(options.dataDir);
      mkdirSync(dataDir, { recursive: true });
    }
    const db = await PGlite.create(dataDir ?? 'memory://', { extensions: { timescaledb } });
    await loadTimescaleLoader(db);
    const server = new PGliteServer(db);
    const port = await server.listen(options.port ?? 0);
    const url = `postgres://postgres@127.0.0.1:${port}/postgres`;
    log.info({ dataDir: dataDir ?? 'memory', port }, 'embedded TimescaleDB (PGlite) is serving');
    return new EmbeddedDatabase(db, server, url);
  }

  async stop(): Promise<void> {
    await this.server.close();
    await this.db.close();
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
