import type { Queryable } from './database';
import { Rollup, aggregateSelect, rollupSelect } from './rollups';

/**
 * A plain-PostgreSQL rollup's key: its bucket and dimensions, with NULLs not distinct — the same
 * groups its `GROUP BY` makes. (Keyed on `coalesce(dimension, '')` until migration 0022, the index
 * took a sub-id sent empty and one not sent for one group where the refresh made two, and every
 * refresh failed on a duplicate key from then on.)
 */
export const uniqueIndex = (r: Pick<Rollup, 'name' | 'dimensions'>) =>
  `CREATE UNIQUE INDEX ${r.name}_key ON ${r.name} (bucket, ${r.dimensions.join(', ')}) NULLS NOT DISTINCT`;

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

/** The finer rollup an hourly one was summed from on plain PostgreSQL (`kpi_clicks_hourly` → `kpi_clicks_minutely`). */
export const minutelyStage = (r: Rollup) => r.name.replace(/_hourly$/, '_minutely');

const ORIGIN = `TIMESTAMPTZ '2000-01-01 00:00:00+00'`;

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
    return [`CREATE TABLE ${r.name} AS ${rollupSelect(r, (i, c) => this.bucket(i, c))} WITH NO DATA`, uniqueIndex(r)];
  }

  /**
   * Only for migration 0018, as it was when applied: the minutely stage the routine refresh summed
   * the hours from between ecab7e4 and migration 0022, which drops it (a stage minute was only
   * recomputed by the recorder that wrote it, so a recorder that stopped behind the others left its
   * last rows out of the KPIs for good). Nothing reads or refreshes it.
   */
  stage(r: Rollup): string[] {
    if (r.grain !== 'hour') return [];
    if (!/_hourly$/.test(r.name)) throw new Error(`rollup ${r.name}: an hourly rollup's name ends in _hourly`);
    const name = minutelyStage(r);
    const minutes = aggregateSelect(r, {
      interval: '1 minute',
      source: r.source,
      timeColumn: r.timeColumn,
      summed: false,
      bucket: (i, c) => this.bucket(i, c),
    });
    return [`DROP TABLE IF EXISTS ${name}`, `CREATE TABLE ${name} AS ${minutes} WITH NO DATA`, uniqueIndex({ ...r, name })];
  }

  /**
   * Recomputes the buckets from `since` on, from the raw rows (late events inside the window are
   * picked up), in one transaction. Refreshers of several recorders take turns per rollup (an
   * advisory lock held to the end of the transaction): two deleting and re-inserting the same
   * buckets at once would fail each other on the rollup's key.
   */
  refresh(r: Rollup, since: Date): { sql: string; params: unknown[] }[] {
    const start = floorTo(since, r.grain === 'hour' ? 3600_000 : 86_400_000);
    return [
      { sql: `SELECT pg_advisory_xact_lock(hashtext($1))`, params: [`arbiter-rollup:${r.name}`] },
      { sql: `DELETE FROM ${r.name} WHERE bucket >= $1::timestamptz`, params: [start] },
      {
        sql: `INSERT INTO ${r.name} ${rollupSelect(r, (i, c) => this.bucket(i, c), `WHERE ${r.timeColumn} >= $1::timestamptz`)}`,
        params: [start],
      },
    ];
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
