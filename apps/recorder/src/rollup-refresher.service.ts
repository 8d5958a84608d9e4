import { Inject, Injectable, OnApplicationBootstrap, OnApplicationShutdown } from '@nestjs/common';
import type { JsMsg } from '@nats-io/jetstream';
import type { Pool } from 'pg';
import { ARBITER_CONFIG, ArbiterConfig } from '@app/config';
import { componentLogger, metrics } from '@app/observability';
import {
  ChurnVacuum,
  DATABASE_POOL,
  Dialect,
  ROLLUPS,
  Rollup,
  StagedRefreshReport,
  detectDialect,
  dirtyMinutesVacuum,
  inTransaction,
  refreshStaged,
} from '@app/storage';

// A first refresh after a (re)start covers what may have been written while no recorder ran.
const STARTUP_WINDOW_MS = 3 * 86_400_000;
// Events older than this are not rolled up by the routine refresh (a replay of old history is
// rolled up once it is written: the window follows the oldest timestamp the recorder stored).
const MAX_WINDOW_MS = 400 * 86_400_000;
// A batch with at least this many RECORDER_BATCHes still waiting behind it on the server is a
// backlog's (a recorder that keeps up has about a batch or two waiting). The count comes with the
// delivery, as stored by the server: no extra request, and no clock compared with the server's.
const BACKLOG_BATCHES = 10;

/**
 * Keeps the KPI rollups current, every ROLLUP_REFRESH_SECONDS.
 *
 * On plain PostgreSQL (the only refresh there), through the minutely stages (migration 0024): the
 * database records the minutes every write changed, whoever wrote them, and each refresh claims
 * them, whichever recorder runs it (`refreshStaged`): the rows written since the last refresh are
 * read, not the current hour, and nothing depends on this recorder's own notes.
 *
 * On TimescaleDB it complements the refresh policies (and is what keeps the embedded PGlite build
 * current, whose background jobs do not run): the recorder notes, per raw table (click verdicts,
 * decisions), the oldest event time it wrote since the last refresh, and refreshes that table's
 * hourly (through its minutely stage) and then daily rollups from there. Apart, so that a decision
 * revised a day after its conversion (a hold expiring) makes the conversion rollups, not the click
 * ones, re-read the day.
 *
 * While the recorder has a backlog (`progress`), the routine refresh on TimescaleDB waits, up to
 * ROLLUP_BACKLOG_REFRESH_SECONDS after the last one: a continuous aggregate re-materialises a
 * minute from all its rows, and in a backlog's drain nearly every row falls in the same minute or
 * two, so each refresh re-read everything drained so far (quadratic in the backlog; on the embedded
 * database on the one thread the writes need). Nothing is counted twice (real-time aggregation: the
 * materialised buckets, and the raw rows past them), but readers undercount meanwhile: a backlog's
 * rows are older than the last refresh, so nearly all land in buckets already materialised, and
 * readers see them only at the next refresh, up to about that bound plus a refresh later
 * (`arbiter_rollups_refreshed_timestamp_seconds`). The bound is measured on the monotonic clock,
 * and a recorder's first tick after it starts always refreshes (its first refresh covers the
 * startup window and any backfill). Plain PostgreSQL's refresh is never deferred.
 */
@Injectable()
export class RollupRefresherService implements OnApplicationBootstrap, OnApplicationShutdown {
  /** Raw table → the oldest event time written to it since the last refresh. */
  private dirty = new Map<string, number>(RAW_TABLES.map((t) => [t, Date.now() - STARTUP_WINDOW_MS]));
  private backfillSince: number | null = null;
  /** Vacuums the dirty-minute rows this refresher claimed (deleted). */
  private readonly dirtyVacuum: ChurnVacuum;
  /** When the last successful refresh started, on the monotonic clock (none yet: the first tick refreshes). */
  private refreshedAt = -Infinity;
  /** Whether a refresh since start has ended (the first is reported while it runs). */
  private refreshedOnce = false;
  /** Per recorder consumer: whether its last batch was a backlog's, and when it was written (monotonic clock). */
  private readonly backlogs = new Map<string, { backlog: boolean; at: number }>();
  private dialect?: Dialect;
  private timer?: NodeJS.Timeout;
  private running?: Promise<void>;
  private readonly log = componentLogger('rollups');

  constructor(
    @Inject(ARBITER_CONFIG) private readonly config: ArbiterConfig,
    @Inject(DATABASE_POOL) private readonly pool: Pool,
  ) {
    this.dirtyVacuum = dirtyMinutesVacuum(pool);
    // A recorder that has written nothing yet holds in the rollups every row it wrote: the gauge
    // starts now and is behind from here if no refresh ever succeeds (absent, as before its first
    // refresh, "KPI rollups lagging" could not see a recorder whose refreshes fail from its start).
    if (config.ROLLUP_REFRESH_SECONDS > 0) {
      metrics.rollupsRefreshed.set(Date.now() / 1000);
      // The lag this configuration allows (see `deferring`), for the alert to compare with: not the
      // defaults', which paged a deployment with a longer ROLLUP_BACKLOG_REFRESH_SECONDS for nothing.
      const tick = config.ROLLUP_REFRESH_SECONDS;
      metrics.rollupsLagBound.set(Math.max(config.ROLLUP_BACKLOG_REFRESH_SECONDS ?? 0, tick) + tick);
      metrics.rollupsFirstRefreshStarted.set(0);
    }
  }

  async onApplicationBootstrap(): Promise<void> {
    this.dialect = await detectDialect(this.pool);
    // A migration that rebuilt a rollup asks for its history to be recomputed from a point on.
    const { rows } = await this.pool.query<{ since: Date | null }>('SELECT min(since) AS since FROM rollup_backfills');
    if (rows[0].since) this.backfillSince = rows[0].since.getTime();
    if (this.backfillSince !== null) for (const t of RAW_TABLES) this.note(t, this.backfillSince);
    if (this.config.ROLLUP_REFRESH_SECONDS <= 0) return;
    this.timer = setInterval(() => void this.tick(), this.config.ROLLUP_REFRESH_SECONDS * 1000);
    this.timer.unref();
  }

  async onApplicationShutdown(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    await this.running;
  }

  /** Notes outcomes written (their kind says their table, their time the bucket). */
  touched(outcomes: Iterable<{ kind: 'click' | 'conversion'; ts: string }>): void {
    for (const o of outcomes) this.note(o.kind === 'click' ? 'click_verdicts' : 'decisions', Date.parse(o.ts));
  }

  private note(table: string, t: number): void {
    const since = this.dirty.get(table);
    if (since === undefined || t < since) this.dirty.set(table, t);
  }

  /**
   * A recorder consumer wrote a batch (its deliveries). A backlog's batch has at least
   * BACKLOG_BATCHES batches of items waiting behind it. The server counts messages (`pending`), and
   * a batch message carries up to ITEMS_PER_MESSAGE items (the scorer's outcomes, the gateway's
   * minted events): the messages waiting are counted at this batch's items per message. Counted as
   * messages, a million-event drain (about 10,000 messages of 100) never made ten batches of 1,000.
   */
  progress(consumer: string, batch: readonly { msg: Pick<JsMsg, 'info'> }[]): void {
    const last = batch.at(-1)?.msg;
    if (!last) return;
    // A batch message's items are consecutive deliveries sharing its JsMsg.
    let messages = 1;
    for (let i = 1; i < batch.length; i++) if (batch[i].msg !== batch[i - 1].msg) messages++;
    const waitingItems = last.info.pending * (batch.length / messages);
    const backlog = waitingItems >= BACKLOG_BATCHES * (this.config.RECORDER_BATCH ?? 1000);
    this.backlogs.set(consumer, { backlog, at: performance.now() });
  }

  /** The timer's refresh: skipped while deferring (see the class). */
  tick(): Promise<void> {
    if (!this.deferring(performance.now())) return this.refresh();
    metrics.rollupRefreshesDeferred.inc();
    return Promise.resolve();
  }

  /**
   * TimescaleDB only: a consumer's last batch, written within the refresh interval, was a
   * backlog's, and waiting one more interval keeps within ROLLUP_BACKLOG_REFRESH_SECONDS of the
   * last refresh. `now`: the monotonic clock (NTP stepping the wall clock back defers nothing).
   */
  private deferring(now: number): boolean {
    const intervalMs = this.config.ROLLUP_REFRESH_SECONDS * 1000;
    const boundMs = (this.config.ROLLUP_BACKLOG_REFRESH_SECONDS ?? 0) * 1000;
    if (this.dialect?.name !== 'timescaledb' || intervalMs <= 0 || now + intervalMs - this.refreshedAt > boundMs) return false;
    for (const { backlog, at } of this.backlogs.values()) if (backlog && now - at < intervalMs) return true;
    return false;
  }

  /**
   * Refreshes now (one refresh at a time); resolves when done. The first since start covers the
   * startup window and any history a migration asked to rebuild, and may take many minutes while
   * the timestamp gauge still says the recorder's start: it is reported while it runs
   * (`arbiter_rollups_first_refresh_started_timestamp_seconds`), so the lag alert waits for it.
   */
  refresh(): Promise<void> {
    if (this.running) return this.running;
    // Before bootstrap (no dialect yet) a refresh does nothing: it is not the first.
    const first = !this.refreshedOnce && this.dialect !== undefined;
    if (first) metrics.rollupsFirstRefreshStarted.set(Date.now() / 1000);
    this.running = this.refreshOnce().finally(() => {
      this.running = undefined;
      if (!first) return;
      // Done or failed: a first refresh that failed leaves the recorder behind since its start, and says so.
      this.refreshedOnce = true;
      metrics.rollupsFirstRefreshStarted.set(0);
    });
    return this.running;
  }

  private async refreshOnce(): Promise<void> {
    if (this.dialect?.name === 'postgres') return this.refreshThroughStages();
    if (!this.dialect) return;
    // Nothing written since the last refresh: the rollups hold everything this recorder wrote, as
    // of now (what the gauge says; nothing to ask the database).
    if (this.dirty.size === 0) return this.refreshed(Date.now(), performance.now());
    const taken = this.dirty;
    this.dirty = new Map();
    const backfillFrom = this.backfillSince;
    // A pending backfill goes as far back as it asks; the routine refresh at most MAX_WINDOW_MS.
    const backfill = backfillFrom !== null && RAW_TABLES.every((t) => (taken.get(t) ?? Infinity) <= backfillFrom);
    const sinces = new Map(
      [...taken].map(([t, since]) => [t, new Date(backfill ? since : Math.max(since, Date.now() - MAX_WINDOW_MS))] as const),
    );
    const started = Date.now();
    const startedMono = performance.now();
    try {
      for (const r of ROLLUPS) {
        const since = sinces.get(rawTable(r));
        if (!since) continue;
        const steps = this.dialect.refresh(r, since);
        // One transaction per rollup: a reader never sees the buckets deleted and not yet rewritten.
        // TimescaleDB's refresh procedure cannot run inside one (and is a single statement).
        if (this.dialect.name === 'timescaledb') for (const step of steps) await this.pool.query(step.sql, step.params);
        else
          await inTransaction(this.pool, async (client) => {
            for (const step of steps) await client.query(step.sql, step.params);
          });
      }
      const oldest = new Date(Math.min(...[...sinces.values()].map((d) => d.getTime())));
      if (backfill) {
        await this.pool.query('DELETE FROM rollup_backfills WHERE since >= $1', [oldest]);
        this.backfillSince = null;
        this.log.info({ since: oldest.toISOString(), ms: Date.now() - started }, 'rebuilt rollups backfilled');
      }
      this.refreshed(started, startedMono);
      this.log.debug(
        { since: Object.fromEntries([...sinces].map(([t, d]) => [t, d.toISOString()])), ms: Date.now() - started },
        'rollups refreshed',
      );
    } catch (e) {
      // Try the same windows again next time.
      for (const [t, since] of sinces) this.note(t, since.getTime());
      this.log.warn({ err: e }, 'rollup refresh failed; will retry');
    }
  }

  /** A refresh that started at `started` (wall clock; `startedMono` on the monotonic one) succeeded. */
  private refreshed(started: number, startedMono: number): void {
    this.refreshedAt = startedMono;
    metrics.rollupsRefreshed.set(started / 1000);
  }

  /** Plain PostgreSQL: each raw table's hourly and daily rollups, in one transaction, from the minutes written. */
  private async refreshThroughStages(): Promise<void> {
    const started = Date.now();
    const startedMono = performance.now();
    const reports: StagedRefreshReport[] = [];
    try {
      for (const [hourly, daily] of STAGED) reports.push(await inTransaction(this.pool, (client) => refreshStaged(client, hourly, daily)));
      this.refreshed(started, startedMono);
      this.log.debug({ reports, ms: Date.now() - started }, 'rollups refreshed');
      const pending = reports.filter((r) => r.rebuiltHours > 0);
      if (pending.length) this.log.info({ reports: pending, ms: Date.now() - started }, 'rollup history rebuilt from the raw rows');
    } catch (e) {
      // The minutes claimed stay dirty (the transaction rolled back): the next refresh takes them.
      this.log.warn({ err: e }, 'rollup refresh failed; will retry');
    }
    // The claims' dead rows, reclaimed here rather than left to autovacuum, which may be off.
    try {
      await this.dirtyVacuum.deleted(reports.reduce((n, r) => n + r.claimed, 0));
    } catch (e) {
      this.log.warn({ err: e }, 'could not vacuum the dirty rollup minutes; will retry');
    }
  }
}

/** The raw tables the rollups read, directly (hourly) or through their hourly rollup (daily). */
const RAW_TABLES = [...new Set(ROLLUPS.filter((r) => r.grain === 'hour').map((r) => r.source))];
const rawTable = (r: Rollup): string => (r.grain === 'hour' ? r.source : rawTable(ROLLUPS.find((x) => x.name === r.source)!));
/** Each hourly rollup and the daily one summed from it. */
const STAGED = ROLLUPS.filter((r) => r.grain === 'hour').map((h) => [h, ROLLUPS.find((d) => d.source === h.name)!] as const);
