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

export function ledgeredInsert<T>(kind: string, table: string, idColumn: string, columns: Column<T>[]): LedgeredInsert<T> {
  const names = columns.map((c) => c.name);
  const unnest = columns.map((c, i) => `$${i + 1}::${c.type}[]`).join(', ');
  const selects = columns.map((c) => (c.select ? c.select.replaceAll('$', `input.${c.name}`) : `input.${c.name}`)).join(', ');
  const sql = `WITH input AS (SELECT * FROM unnest(${unnest}) AS t(${names.join(', ')})),
     fresh AS (
       INSERT INTO ingest_ledger (kind, id) SELECT '${kind}', ${idColumn} FROM input
       ON CONFLICT DO NOTHING RETURNING id)
   INSERT INTO ${table} (${names.join(', ')})
   SELECT ${selects} FROM input JOIN fresh ON fresh.id = input.${idColumn}`;
  return {
    sql,
    params: (rows) => columns.map((c) => rows.map((r) => c.value(r) ?? null)),
  };
}

/** Keeps the last row per key: a batch may carry the same event twice (redelivery, re-send). */
export function uniqueBy<T>(rows: readonly T[], key: (row: T) => string): T[] {
  const byKey = new Map<string, T>();
  for (const r of rows) byKey.set(key(r), r);
  return byKey.size === rows.length ? [...rows] : [...byKey.values()];
}

export const json = (v: unknown) => (v === undefined || v === null ? null : JSON.stringify(v));
