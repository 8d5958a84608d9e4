import type { Queryable } from './database';

/**
 * The two storage targets: TimescaleDB (hypertables, continuous aggregates, compression,
 * retention) and plain PostgreSQL ≥ 15 (plain tables and refreshed rollups under the same names),
 * so every query — the API's and the dashboards' — runs on both.
 */
export interface Dialect {
  readonly name: 'timescaledb' | 'postgres';
  /** Statements that turn a freshly created table into a time-partitioned one. */
  hypertable(table: string, timeColumn: string, chunkInterval: string): string[];
}

export class TimescaleDialect implements Dialect {
  readonly name = 'timescaledb' as const;
  hypertable(table: string, timeColumn: string, chunkInterval: string): string[] {
    // The long-standing signature: accepted by every TimescaleDB 2.x, including the PGlite build.
    return [
      `SELECT create_hypertable('${table}', '${timeColumn}', chunk_time_interval => INTERVAL '${chunkInterval}', if_not_exists => TRUE)`,
    ];
  }
}

export class PostgresDialect implements Dialect {
  readonly name = 'postgres' as const;
  hypertable(table: string, timeColumn: string): string[] {
    // Without chunks, a BRIN index keeps time-range scans cheap on append-mostly tables.
    return [`CREATE INDEX IF NOT EXISTS ${table}_${timeColumn}_brin ON ${table} USING brin (${timeColumn})`];
  }
}

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
