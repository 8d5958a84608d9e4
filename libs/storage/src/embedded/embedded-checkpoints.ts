import type { PGlite } from '@electric-sql/pglite';
import { componentLogger } from '@app/observability';
import type { PGliteServer } from './pglite-server';

/** When the embedded database checkpoints: after this much WAL, or this long after its last checkpoint with WAL written since. */
export interface CheckpointPolicy {
  seconds: number;
  walMb: number;
}

/**
 * PostgreSQL's own `checkpoint_timeout` (5 min); a WAL volume well under half of `max_wal_size` (1 GB,
 * which a single-user backend cannot change): the segments a checkpoint keeps for reuse are about
 * twice the WAL between two checkpoints, so `pg_wal` stays within a few hundred MB.
 */
export const DEFAULT_CHECKPOINTS: CheckpointPolicy = { seconds: 300, walMb: 128 };

/**
 * How often the WAL written since the last checkpoint is looked at (a one-row statement): at the
 * engine's top rate (about 20 MB of WAL a second) a checkpoint comes within this of the threshold.
 */
const LOOK_MS = 1_000;

/**
 * Checkpoints the embedded database itself. PGlite runs PostgreSQL single-user: there is no
 * checkpointer process, and a backend asks for a checkpoint on WAL volume only under a postmaster.
 * Without one, `pg_wal` only grew while the engine ran (about 2.3 KB per click with its verdict, 1 GB
 * for 445,000 events; no segment ever removed or recycled) until a clean stop, and a crash replayed all
 * of it at the next start. A checkpoint here takes the database as a connection's transaction does
 * (`PGliteServer.exclusive`): between transactions, never inside one; the connections wait meanwhile.
 */
export class EmbeddedCheckpoints {
  private timer?: NodeJS.Timeout;
  private running: Promise<void> = Promise.resolve();
  private lastAt = Date.now();
  /** The WAL position just after the last checkpoint made here (a time-based one is skipped when nothing was written since). */
  private lastLsn = '';
  private readonly log = componentLogger('embedded-db');

  constructor(
    private readonly db: PGlite,
    private readonly server: PGliteServer,
    private readonly policy: CheckpointPolicy,
  ) {}

  start(): void {
    const every = Math.min(LOOK_MS, this.policy.seconds * 1000);
    this.timer = setInterval(() => {
      this.running = this.running
        .then(() => this.look())
        .catch((e) => this.log.warn({ err: e }, 'the embedded database did not checkpoint'));
    }, every);
    this.timer.unref();
  }

  /** Stops looking, after a checkpoint under way (the database's close makes the last one). */
  async stop(): Promise<void> {
    clearInterval(this.timer);
    await this.running;
  }

  private look(): Promise<void> {
    return this.server.exclusive(async () => {
      const { rows } = await this.db.query<{ lsn: string; since: number }>(
        `SELECT pg_current_wal_lsn()::text AS lsn, pg_wal_lsn_diff(pg_current_wal_lsn(), redo_lsn)::float8 AS since FROM pg_control_checkpoint()`,
      );
      const { lsn, since } = rows[0];
      const due =
        since >= this.policy.walMb * 1024 * 1024 || (Date.now() - this.lastAt >= this.policy.seconds * 1000 && lsn !== this.lastLsn);
      if (!due) return;
      const started = Date.now();
      await this.db.exec('CHECKPOINT');
      this.lastAt = Date.now();
      this.lastLsn = (await this.db.query<{ lsn: string }>(`SELECT pg_current_wal_lsn()::text AS lsn`)).rows[0].lsn;
      this.log.debug({ walMb: Math.round(since / 1024 / 1024), ms: this.lastAt - started }, 'embedded database checkpointed');
    });
  }
}
