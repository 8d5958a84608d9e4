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
/** How often a check that keeps failing is warned about. */
const WARN_EVERY_MS = 60_000;

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
  /** The check queued or running: at most one (a tick while it waits adds none). */
  private pending?: Promise<void>;
  /** Set by `stop`: a check that gets the database afterwards does nothing. */
  private stopping = false;
  private lastAt = Date.now();
  /** The WAL position just after the last checkpoint made here (a time-based one is skipped when nothing was written since). */
  private lastLsn = '';
  /** Checks failed in a row, and when the last warning about them went out. */
  private failures = 0;
  private warnedAt = 0;
  private readonly log = componentLogger('embedded-db');

  constructor(
    private readonly db: PGlite,
    private readonly server: PGliteServer,
    private readonly policy: CheckpointPolicy,
  ) {}

  start(): void {
    const every = Math.min(LOOK_MS, this.policy.seconds * 1000);
    this.timer = setInterval(() => void this.tick(), every);
    this.timer.unref();
  }

  /**
   * Stops checking, after the check under way. One queued behind a connection does nothing once it gets
   * the database: close the server first (its connections dropped, what they began rolled back), then
   * await this, then close the database (which makes the last checkpoint). `stopping` is set before the
   * first await, so calling this and then closing the server is enough.
   */
  async stop(): Promise<void> {
    this.stopping = true;
    clearInterval(this.timer);
    await this.pending;
  }

  /** @internal Queues one check, unless one is queued or running already; resolves when it is done. */
  tick(): Promise<void> | undefined {
    if (this.pending || this.stopping) return this.pending;
    this.pending = this.look()
      .then(
        () => this.recovered(),
        (e: unknown) => this.failed(e),
      )
      .finally(() => (this.pending = undefined));
    return this.pending;
  }

  private look(): Promise<void> {
    return this.server.exclusive(async () => {
      if (this.stopping) return;
      const { rows } = await this.db.query<{ lsn: string; since: number }>(
        `SELECT pg_current_wal_lsn()::text AS lsn, pg_wal_lsn_diff(pg_current_wal_lsn(), redo_lsn)::float8 AS since FROM pg_control_checkpoint()`,
      );
      const { lsn, since } = rows[0];
      const due =
        since >= this.policy.walMb * 1024 * 1024 || (Date.now() - this.lastAt >= this.policy.seconds * 1000 && lsn !== this.lastLsn);
      if (!due || this.stopping) return;
      const started = Date.now();
      await this.db.exec('CHECKPOINT');
      this.lastAt = Date.now();
      this.lastLsn = (await this.db.query<{ lsn: string }>(`SELECT pg_current_wal_lsn()::text AS lsn`)).rows[0].lsn;
      this.log.debug({ walMb: Math.round(since / 1024 / 1024), ms: this.lastAt - started }, 'embedded database checkpointed');
    });
  }

  /** The first failure is logged, then at most one line a minute while they go on (a dead database fails every second). */
  private failed(e: unknown): void {
    this.failures += 1;
    const now = Date.now();
    if (this.failures > 1 && now - this.warnedAt < WARN_EVERY_MS) return;
    this.warnedAt = now;
    this.log.warn(
      { err: e, failures: this.failures },
      'the embedded database did not checkpoint (said at most once a minute while it fails)',
    );
  }

  private recovered(): void {
    if (this.failures > 0) this.log.info({ failures: this.failures }, 'the embedded database checkpoints again');
    this.failures = 0;
  }
}
