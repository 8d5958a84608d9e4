/**
 * Batched, idempotent inserts: one `INSERT … SELECT FROM unnest(…)` per batch (COPY is not an
 * option through the embedded database's socket), guarded by the `ingest_ledger` so that an event
 * id is written once however often it is delivered or re-sent.
 */
export interface Column<T> {
  name: string;
  /** PostgreSQL element type of the parameter array. */
  type: string;
  value(row: T): unknown;
  /** Expression that turns the parameter into the column value (`$` is the input column). */
  select?: string;
}

export interface LedgeredInsert<T> {
  sql: string;
  params(rows: readonly T[]): unknown[][];
}

/** `SELECT * FROM unnest($1::type[], …) AS t(col, …)` and the parameter arrays for a batch of rows. */
export function unnestRows<T>(columns: Column<T>[]): { sql: string; params(rows: readonly T[]): unknown[][] } {
  const unnest = columns.map((c, i) => `$${i + 1}::${c.type}[]`).join(', ');
  return {
    sql: `SELECT * FROM unnest(${unnest}) AS t(${columns.map((c) => c.name).join(', ')})`,
    params: (rows) => columns.map((c) => rows.map((r) => c.value(r) ?? null)),
  };
}

/** Each column's value as selected from the `input` relation (with its conversion, if any). */
export function selectInput<T>(columns: Column<T>[]): string {
  return columns.map((c) => (c.select ? c.select.replaceAll('$', `input.${c.name}`) : `input.${c.name}`)).join(', ');
}

export function ledgeredInsert<T>(kind: string, table: string, idColumn: string, columns: Column<T>[]): LedgeredInsert<T> {
  const names = columns.map((c) => c.name);
  const input = unnestRows(columns);
  const selects = selectInput(columns);
  const sql = `WITH input AS (${input.sql}),
     fresh AS (
       INSERT INTO ingest_ledger (kind, id) SELECT '${kind}', ${idColumn} FROM input
       ON CONFLICT DO NOTHING RETURNING id)
   INSERT INTO ${table} (${names.join(', ')})
   SELECT ${selects} FROM input JOIN fresh ON fresh.id = input.${idColumn}`;
  return { sql, params: input.params };
}

/** Keeps the last row per key: a batch may carry the same event twice (redelivery, re-send). */
export function uniqueBy<T>(rows: readonly T[], key: (row: T) => string): T[] {
  const byKey = new Map<string, T>();
  for (const r of rows) byKey.set(key(r), r);
  return byKey.size === rows.length ? [...rows] : [...byKey.values()];
}

export const json = (v: unknown) => (v === undefined || v === null ? null : JSON.stringify(v));
