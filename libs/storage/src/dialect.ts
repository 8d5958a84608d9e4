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
  rollup(r: Rollup, options?: { staged?: boolean }): string[];
  /** Statements (re)creating the finer stage a rollup is refreshed through, if the dialect has one. */
  stage(r: Rollup, keepFor?: string): string[];
  /** Statements bringing a rollup up to date from `since` on (to run in one transaction). */
  refresh(r: Rollup, since: Date): { sql: string; params: unknown[] }[];
  /** Compression and retention policies (TimescaleDB only). */
  lifecycle(table: string, options: { segmentBy: string; compressAfter: string; dropAfter: string }): string[];
}

export class TimescaleDialect implements Dialect {
  readonly name = 'timescaledb' as const;
  /**
   * `staged`: the hourly rollups are continuous aggregates on minutely ones (migration 0020), so
   * the routine refresh materialises the minutes written since the last one and then sums the
   * current hour from its minutes. Without (a database whose raw rows were pruned before 0020, so
   * the rollups could not be rebuilt), the hourly rollups read the raw rows.
   */
  constructor(readonly staged = false) {}

  hypertable(table: string, timeColumn: string, chunkInterval: string): string[] {
    // The long-standing signature: accepted by every TimescaleDB 2.x, including the PGlite build.
    return [
      `SELECT create_hypertable('${table}', '${timeColumn}', chunk_time_interval => INTERVAL '${chunkInterval}', if_not_exists => TRUE)`,
    ];
  }

  bucket(interval: string, column: string): string {
    return `time_bucket('${interval}', ${column})`;
  }

  /**
   * A continuous aggregate. An hourly rollup reads its raw table, or (`staged`) its minutely stage
   * (hierarchical continuous aggregates, TimescaleDB ≥ 2.9); a daily one reads its hourly rollup.
   */
  rollup(r: Rollup, options: { staged?: boolean } = {}): string[] {
    const hourly = r.grain === 'hour';
    const select =
      hourly && options.staged
        ? summedSelect(r, '1 hour', minutelyStage(r), (i, c) => this.bucket(i, c))
        : rollupSelect(r, (i, c) => this.bucket(i, c));
    return [
      `CREATE MATERIALIZED VIEW ${r.name} WITH (timescaledb.continuous) AS ${select} WITH NO DATA`,
      // Real-time aggregation: queries add the not-yet-materialised tail from the raw rows.
      `ALTER MATERIALIZED VIEW ${r.name} SET (timescaledb.materialized_only = false)`,
      hourly
        ? `SELECT add_continuous_aggregate_policy('${r.name}', start_offset => INTERVAL '3 days', end_offset => INTERVAL '1 hour', schedule_interval => INTERVAL '5 minutes')`
        : `SELECT add_continuous_aggregate_policy('${r.name}', start_offset => INTERVAL '30 days', end_offset => INTERVAL '1 day', schedule_interval => INTERVAL '1 hour')`,
    ];
  }

  /**
   * An hourly rollup's minutely stage: a continuous aggregate of the raw rows in one-minute buckets,
   * kept as long as the raw rows (`keepFor`, their retention). The hourly rollup sums it, so the
   * routine refresh re-aggregates the minutes written since the last one instead of every raw row
   * of the current hour (issue 19, embedded: 540 ms of CPU per refresh at 200,000 rows in the hour).
   */
  stage(r: Rollup, keepFor?: string): string[] {
    if (r.grain !== 'hour') return [];
    const name = minutelyStage(r);
    return [
      `CREATE MATERIALIZED VIEW ${name} WITH (timescaledb.continuous) AS ${aggregateSelect(r, {
        interval: '1 minute',
        source: r.source,
        timeColumn: r.timeColumn,
        summed: false,
        bucket: (i, c) => this.bucket(i, c),
      })} WITH NO DATA`,
      `ALTER MATERIALIZED VIEW ${name} SET (timescaledb.materialized_only = false)`,
      `SELECT add_continuous_aggregate_policy('${name}', start_offset => INTERVAL '3 days', end_offset => INTERVAL '1 minute', schedule_interval => INTERVAL '5 minutes')`,
      ...(keepFor ? [`SELECT add_retention_policy('${name}', INTERVAL '${keepFor}', if_not_exists => TRUE)`] : []),
    ];
  }

  refresh(r: Rollup, since: Date): { sql: string; params: unknown[] }[] {
    // The window must start on a bucket boundary; NULL end: up to now. A refresh materialises the
    // buckets of the window that were written to (the invalidated ones) and everything after the
    // last refresh: the whole current bucket, every time.
    const call = (name: string, start: string, end: string | null = null) => ({
      sql: `CALL refresh_continuous_aggregate('${name}', $1::timestamptz, $2::timestamptz)`,
      params: [start, end],
    });
    if (r.grain === 'day') return [call(r.name, floorTo(since, 86_400_000))];
    const hours = call(r.name, floorTo(since, 3600_000));
    if (!this.staged) return [hours];
    // Staged: the minutes from the raw rows, then the hours from their minutes. The minutes' window
    // is the hours': a minute written to is re-materialised whoever wrote it (another recorder that
    // stopped before its refresh), so an hour is never summed from a stale minute; the minutes not
    // written to since the last refresh cost nothing. A long window (a backfill, the three days a
    // starting recorder covers) goes a day per call: a call is one statement, and on the embedded
    // database everything else waits for it.
    const minutes: { sql: string; params: unknown[] }[] = [];
    let from = Date.parse(floorTo(since, 3600_000));
    for (; from < Date.now() - 86_400_000; from += 86_400_000)
      minutes.push(call(minutelyStage(r), new Date(from).toISOString(), new Date(from + 86_400_000).toISOString()));
    return [...minutes, call(minutelyStage(r), new Date(from).toISOString()), hours];
  }

  lifecycle(table: string, o: { segmentBy: string; compressAfter: string; dropAfter: string }): string[] {
    return [
      `ALTER TABLE ${table} SET (timescaledb.compress, timescaledb.compress_segmentby = '${o.segmentBy}', timescaledb.compress_orderby = 'ts DESC')`,
      `SELECT add_compression_policy('${table}', INTERVAL '${o.compressAfter}', if_not_exists => TRUE)`,
      `SELECT add_retention_policy('${table}', INTERVAL '${o.dropAfter}', if_not_exists => TRUE)`,
    ];
  }
}

/**
 * A rollup's measures summed from a finer rollup with the same columns, each with the type it has
 * when aggregated from the raw rows: a count summed is `numeric`, cast back to `bigint`, so the
 * readers (dashboards, API, exports) see the columns they saw before.
 */
function summedSelect(r: Rollup, interval: string, source: string, bucket: (interval: string, column: string) => string): string {
  const measures = r.measures.map(([c, e]) => (/^count\(/.test(e) ? `sum(${c})::bigint AS ${c}` : `sum(${c}) AS ${c}`));
  const dims = r.dimensions.join(', ');
  return `SELECT ${bucket(interval, 'bucket')} AS bucket, ${dims}, ${measures.join(', ')}
    FROM ${source}
    GROUP BY 1, ${r.dimensions.map((_, i) => i + 2).join(', ')}`;
}

/**
 * The finer rollup an hourly one is summed from: on TimescaleDB a minutely continuous aggregate
 * (migration 0020); on plain PostgreSQL, between migrations 0018 and 0022, a table
 * (`kpi_clicks_hourly` → `kpi_clicks_minutely`).
 */
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
  if (rows[0].installed) return new TimescaleDialect(await hasMinutelyStages(db));
  if (!rows[0].available) return new PostgresDialect();
  try {
    await db.query('CREATE EXTENSION IF NOT EXISTS timescaledb');
    return new TimescaleDialect(await hasMinutelyStages(db));
  } catch {
    return new PostgresDialect();
  }
}

/**
 * Whether this is the embedded database (PGlite: PostgreSQL compiled with Emscripten to WebAssembly,
 * which says so in `version()`), as opposed to a PostgreSQL or TimescaleDB server.
 */
export async function isEmbeddedDatabase(db: Queryable): Promise<boolean> {
  const { rows } = await db.query<{ embedded: boolean }>(`SELECT version() ILIKE '%emscripten%' AS embedded`);
  return rows[0].embedded;
}

/** Whether migration 0020 put the TimescaleDB hourly rollups on minutely stages. */
async function hasMinutelyStages(db: Queryable): Promise<boolean> {
  const { rows } = await db.query<{ staged: boolean }>(
    `SELECT EXISTS (SELECT 1 FROM timescaledb_information.continuous_aggregates WHERE view_name = 'kpi_clicks_minutely') AS staged`,
  );
  return rows[0].staged;
}
