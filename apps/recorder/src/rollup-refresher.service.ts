import { Inject, Injectable, OnApplicationBootstrap, OnApplicationShutdown } from '@nestjs/common';
import type { Pool } from 'pg';
import { ARBITER_CONFIG, ArbiterConfig } from '@app/config';
import { componentLogger } from '@app/observability';
import { DATABASE_POOL, Dialect, ROLLUPS, detectDialect, inTransaction } from '@app/storage';

// A first refresh after a (re)start covers what may have been written while no recorder ran.
const STARTUP_WINDOW_MS = 3 * 86_400_000;
// Events older than this are not rolled up by the routine refresh (a replay of old history is
// rolled up once it is written: the window follows the oldest timestamp the recorder stored).
const MAX_WINDOW_MS = 400 * 86_400_000;

/**
 * Keeps the KPI rollups current. The recorder notes the oldest event time it wrote since the
 * last refresh; every ROLLUP_REFRESH_SECONDS it refreshes the hourly and then the daily rollups
 * from there. On TimescaleDB this complements the refresh policies (and is what keeps the
 * embedded PGlite build current, whose background jobs do not run); on plain PostgreSQL it is
 * the only refresh.
 */
@Injectable()
export class RollupRefresherService implements OnApplicationBootstrap, OnApplicationShutdown {
  private dirtySince: number | null = Date.now() - STARTUP_WINDOW_MS;
  private backfillSince: number | null = null;
  private dialect?: Dialect;
  private timer?: NodeJS.Timeout;
  private running?: Promise<void>;
  private readonly log = componentLogger('rollups');

  constructor(
    @Inject(ARBITER_CONFIG) private readonly config: ArbiterConfig,
    @Inject(DATABASE_POOL) private readonly pool: Pool,
  ) {}

  async onApplicationBootstrap(): Promise<void> {
    this.dialect = await detectDialect(this.pool);
    // A migration that rebuilt a rollup asks for its history to be recomputed from a point on.
    const { rows } = await this.pool.query<{ since: Date | null }>('SELECT min(since) AS since FROM rollup_backfills');
    if (rows[0].since) this.backfillSince = rows[0].since.getTime();
    if (this.backfillSince !== null) this.dirtySince = Math.min(this.dirtySince ?? Infinity, this.backfillSince);
    if (this.config.ROLLUP_REFRESH_SECONDS <= 0) return;
    this.timer = setInterval(() => void this.refresh(), this.config.ROLLUP_REFRESH_SECONDS * 1000);
    this.timer.unref();
  }

  async onApplicationShutdown(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    await this.running;
  }

  /** Notes rows written with these event times. */
  touched(timestamps: Iterable<string>): void {
    for (const ts of timestamps) {
      const t = Date.parse(ts);
      if (this.dirtySince === null || t < this.dirtySince) this.dirtySince = t;
    }
  }

  /** Refreshes now (one refresh at a time); resolves when done. */
  refresh(): Promise<void> {
    this.running ??= this.refreshOnce().finally(() => (this.running = undefined));
    return this.running;
  }

  private async refreshOnce(): Promise<void> {
    if (this.dirtySince === null || !this.dialect) return;
    const backfill = this.backfillSince !== null && this.dirtySince <= this.backfillSince;
    const since = new Date(backfill ? this.dirtySince : Math.max(this.dirtySince, Date.now() - MAX_WINDOW_MS));
    this.dirtySince = null;
    const started = Date.now();
    try {
      for (const r of ROLLUPS) {
        const steps = this.dialect.refresh(r, since);
        // One transaction per rollup: a reader never sees the buckets deleted and not yet rewritten.
        // TimescaleDB's refresh procedure cannot run inside one (and is a single statement).
        if (this.dialect.name === 'timescaledb') for (const step of steps) await this.pool.query(step.sql, step.params);
        else
          await inTransaction(this.pool, async (client) => {
            for (const step of steps) await client.query(step.sql, step.params);
          });
      }
      if (backfill) {
        await this.pool.query('DELETE FROM rollup_backfills WHERE since >= $1', [since]);
        this.backfillSince = null;
        this.log.info({ since: since.toISOString(), ms: Date.now() - started }, 'rebuilt rollups backfilled');
      }
      this.log.debug({ since: since.toISOString(), ms: Date.now() - started }, 'rollups refreshed');
    } catch (e) {
      // Try the same window again next time.
      this.dirtySince = Math.min(this.dirtySince ?? since.getTime(), since.getTime());
      this.log.warn({ err: e }, 'rollup refresh failed; will retry');
    }
  }
}
