import type { Queryable } from './database';
import { Rollup, aggregateSelect, rollupSelect } from './rollups';

const uniqueIndex = (r: Rollup) =>
  `CREATE UNIQUE INDEX ${r.name}_key ON ${r.name} (bucket, ${r.dimensions.map((d) => `coalesce(${d}, '')`).join(', ')})`;

/**
 * The two storage targets: TimescaleDB (hypertables, continuous aggregates, compression,
 * retention) and plain PostgreSQL ≥ 15 (plain tables and refreshed rollups under the same names),
 * so every query — the API's and the dashboards' — runs on both.
 */
export interface Dialect {
  readonly name: 'timescaledb' | 'postgres';
  /** Statements that turn a freshly created table into a time-partitioned one. */
  hypertable(table: string, timeColumn: string, chunkInterval: string): string[];
  /** SQL for the start of the `interval` bucket containing `column` (UTC-aligned). */
  bucket(interval: string, column: string): string;
  /** Statements creating a rollup (continuous aggregate, or a table the recorder refreshes). */
  rollup(r: Rollup): string[];
  /** Statements (re)creating the finer stage a rollup is refreshed through, if the dialect has one. */
  stage(r: Rollup): string[];
  /** Statements bringing a rollup up to date from `since` on (to run in one transaction). */
  refresh(r: Rollup, since: Date): { sql: string; params: unknown[] }[];
  /** Compression and retention policies (TimescaleDB only). */
  lifecycle(table: string, options: { segmentBy: string; compressAfter: string; dropAfter: string }): string[];
}

export class TimescaleDialect implements Dialect {
  readonly name = 'timescaledb' as const;
  hypertable(table: string, timeColumn: string, chunkInterval: string): string[] {
    // The long-standing signature: accepted by every TimescaleDB 2.x, including the PGlite build.
    return [
      `SELECT create_hypertable('${table}', '${timeColumn}', chunk_time_interval => INTERVAL '${chunkInterval}', if_not_exists => TRUE)`,
    ];
  }

  bucket(interval: string, column: string): string {
    return `time_bucket('${interval}', ${column})`;
  }

  rollup(r: Rollup): string[] {
    const hourly = r.grain === 'hour';
    return [
      `CREATE MATERIALIZED VIEW ${r.name} WITH (timescaledb.continuous) AS ${rollupSelect(r, (i, c) => this.bucket(i, c))} WITH NO DATA`,
      // Real-time aggregation: queries add the not-yet-materialised tail from the raw rows.
      `ALTER MATERIALIZED VIEW ${r.name} SET (timescaledb.materialized_only = false)`,
      hourly
        ? `SELECT add_continuous_aggregate_policy('${r.name}', start_offset => INTERVAL '3 days', end_offset => INTERVAL '1 hour', schedule_interval => INTERVAL '5 minutes')`
        : `SELECT add_continuous_aggregate_policy('${r.name}', start_offset => INTERVAL '30 days', end_offset => INTERVAL '1 day', schedule_interval => INTERVAL '1 hour')`,
    ];
  }

  stage(): string[] {
    // Continuous aggregates keep their own invalidation log.
    return [];
  }

  refresh(r: Rollup, since: Date): { sql: string; params: unknown[] }[] {
    // The window must start on a bucket boundary; NULL end: up to now.
    const step = r.grain === 'hour' ? 3600_000 : 86_400_000;
    const start = new Date(Math.floor(since.getTime() / step) * step).toISOString();
    return [{ sql: `CALL refresh_continuous_aggregate('${r.name}', $1::timestamptz, NULL)`, params: [start] }];
  }

  lifecycle(table: string, o: { segmentBy: string; compressAfter: string; dropAfter: string }): string[] {
    return [
      `ALTER TABLE ${table} SET (timescaledb.compress, timescaledb.compress_segmentby = '${o.segmentBy}', timescaledb.compress_orderby = 'ts DESC')`,
      `SELECT add_compression_policy('${table}', INTERVAL '${o.compressAfter}', if_not_exists => TRUE)`,
      `SELECT add_retention_policy('${table}', INTERVAL '${o.dropAfter}', if_not_exists => TRUE)`,
    ];
  }
}

/** The finer rollup an hourly one is summed from on plain PostgreSQL (`kpi_clicks_hourly` → `kpi_clicks_minutely`). */
export const minutelyStage = (r: Rollup) => r.name.replace(/_hourly$/, '_minutely');

// How long the minutely stage keeps its buckets: an event older than this (a late report, a replay)
// has its hour recomputed from the raw rows, as every hour was before the stage.
const STAGE_HOURS = 2;
const ORIGIN = `TIMESTAMPTZ '2000-01-01 00:00:00+00'`;
// The stage's horizon: the start of the oldest hour it holds. The database's clock, so that every
// recorder agrees on it; constant within the refresh's transaction.
const HORIZON = `date_bin('1 hour', now() - INTERVAL '${STAGE_HOURS} hours', ${ORIGIN})`;

export class PostgresDialect implements Dialect {
  readonly name = 'postgres' as const;
  hypertable(table: string, timeColumn: string): string[] {
    // Without chunks, a BRIN index keeps time-range scans cheap on append-mostly tables.
    return [`CREATE INDEX IF NOT EXISTS ${table}_${timeColumn}_brin ON ${table} USING brin (${timeColumn})`];
  }

  bucket(interval: string, column: string): string {
    return `date_bin('${interval}', ${column}, ${ORIGIN})`;
  }

  rollup(r: Rollup): string[] {
    return [...this.stage(r), `CREATE TABLE ${r.name} AS ${rollupSelect(r, (i, c) => this.bucket(i, c))} WITH NO DATA`, uniqueIndex(r)];
  }

  /**
   * An hourly rollup's minutely stage: derived data (dropped and recreated with its rollup). The
   * refresh recomputes the minutes written since the last one and sums the hour from them, instead
   * of re-aggregating every raw row of the current hour every ROLLUP_REFRESH_SECONDS (issue 19: at
   * the end of an hour at 10,000 events/s that was 36 million rows per refresh).
   */
  stage(r: Rollup): string[] {
    if (r.grain !== 'hour') return [];
    const name = minutelyStage(r);
    return [`DROP TABLE IF EXISTS ${name}`, `CREATE TABLE ${name} AS ${this.minutes(r)} WITH NO DATA`, uniqueIndex({ ...r, name })];
  }

  /**
   * Recomputes the buckets from `since` on (late events inside the window are picked up). An
   * hourly rollup: the hours before the stage's horizon from the raw rows; the minutes from `since`
   * (or the horizon) on from the raw rows; the hours from there on from the minutes.
   */
  refresh(r: Rollup, since: Date): { sql: string; params: unknown[] }[] {
    if (r.grain === 'day') {
      const start = floorTo(since, 86_400_000);
      return [
        { sql: `DELETE FROM ${r.name} WHERE bucket >= $1::timestamptz`, params: [start] },
        {
          sql: `INSERT INTO ${r.name} ${rollupSelect(r, (i, c) => this.bucket(i, c), `WHERE ${r.timeColumn} >= $1::timestamptz`)}`,
          params: [start],
        },
      ];
    }
    const stage = minutelyStage(r);
    const hour = [floorTo(since, 3600_000)];
    const minute = [floorTo(since, 60_000)];
    const fromThere = `greatest($1::timestamptz, ${HORIZON})`;
    return [
      // Time ranges read through the time index: the routine window is the last minute or so, and
      // on a table that was never analysed (autovacuum off) the planner, guessing that a range
      // holds a third of the table, would scan all of it.
      { sql: `SET LOCAL enable_seqscan = off`, params: [] },
      // Hours older than the stage: from the raw rows (no-ops unless `since` is that old).
      { sql: `DELETE FROM ${r.name} WHERE bucket >= $1::timestamptz AND bucket < ${HORIZON}`, params: hour },
      {
        sql: `INSERT INTO ${r.name} ${rollupSelect(r, (i, c) => this.bucket(i, c), `WHERE ${r.timeColumn} >= $1::timestamptz AND ${r.timeColumn} < ${HORIZON}`)}`,
        params: hour,
      },
      // Minutes from `since` (or the horizon) on, from the raw rows; minutes past the horizon go.
      { sql: `DELETE FROM ${stage} WHERE bucket >= ${fromThere}`, params: minute },
      { sql: `INSERT INTO ${stage} ${this.minutes(r, `WHERE ${r.timeColumn} >= ${fromThere}`)}`, params: minute },
      { sql: `DELETE FROM ${stage} WHERE bucket < ${HORIZON}`, params: [] },
      // Hours from there on, summed from the minutes.
      { sql: `DELETE FROM ${r.name} WHERE bucket >= ${fromThere}`, params: hour },
      {
        sql: `INSERT INTO ${r.name} ${aggregateSelect(r, {
          interval: '1 hour',
          source: stage,
          timeColumn: 'bucket',
          summed: true,
          bucket: (i, c) => this.bucket(i, c),
          where: `WHERE bucket >= ${fromThere}`,
        })}`,
        params: hour,
      },
      { sql: `RESET enable_seqscan`, params: [] },
    ];
  }

  /** An hourly rollup's measures in one-minute buckets, from its raw table. */
  private minutes(r: Rollup, where = ''): string {
    return aggregateSelect(r, {
      interval: '1 minute',
      source: r.source,
      timeColumn: r.timeColumn,
      summed: false,
      bucket: (i, c) => this.bucket(i, c),
      where,
    });
  }

  lifecycle(): string[] {
    return [];
  }
}

const floorTo = (t: Date, step: number) => new Date(Math.floor(t.getTime() / step) * step).toISOString();

/**
 * Uses TimescaleDB when the server has it (creating the extension if needed); otherwise plain
 * PostgreSQL. A server where the package exists but is not preloaded also falls back.
 */
export async function detectDialect(db: Queryable): Promise<Dialect> {
  const { rows } = await db.query<{ installed: boolean; available: boolean }>(
    `SELECT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'timescaledb') AS installed,
            EXISTS (SELECT 1 FROM pg_available_extensions WHERE name = 'timescaledb') AS available`,
  );
  if (rows[0].installed) return new TimescaleDialect();
  if (!rows[0].available) return new PostgresDialect();
  try {
    await db.query('CREATE EXTENSION IF NOT EXISTS timescaledb');
    return new TimescaleDialect();
  } catch {
    return new PostgresDialect();
  }
}
