/**
 * Batched, idempotent inserts: one `INSERT … SELECT FROM unnest(…)` per batch (COPY is not an
 * option through the embedded database's socket). Two ways to be idempotent on an event id:
 * - `keyedInsert`: the table's unique (id, ts) key and `ON CONFLICT DO NOTHING`, for ids the engine
 *   minted (every copy of such an event is a redelivery, with the same time);
 * - `ledgeredInsert`: an `ingest_ledger` row per id, for ids a sender chose, which may come again
 *   at any later time with another timestamp.
 */
import type { Queryable } from './database';

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

/**
 * Ledgered insert: a row is written only if its id enters the ledger now. With `guard`, a row the
 * guard picks (an id spelled like an engine-minted one) is also skipped when the table already
 * holds its id: the original went in under the table's own key, without a ledger entry.
 */
export function ledgeredInsert<T>(
  kind: string,
  table: string,
  idColumn: string,
  columns: Column<T>[],
  guard?: (row: T) => boolean,
): LedgeredInsert<T> {
  const names = columns.map((c) => c.name);
  const input = unnestRows(guard ? [...columns, { name: 'guarded', type: 'boolean', value: guard }] : columns);
  const selects = selectInput(columns);
  // CASE: the lookup (over every chunk's id index) runs only for guarded rows.
  const guarded = guard
    ? `WHERE CASE WHEN input.guarded THEN NOT EXISTS (SELECT 1 FROM ${table} stored WHERE stored.${idColumn} = input.${idColumn}) ELSE true END`
    : '';
  const sql = `WITH input AS (${input.sql}),
     fresh AS (
       INSERT INTO ingest_ledger (kind, id) SELECT '${kind}', ${idColumn} FROM input
       ON CONFLICT DO NOTHING RETURNING id)
   INSERT INTO ${table} (${names.join(', ')})
   SELECT ${selects} FROM input JOIN fresh ON fresh.id = input.${idColumn}
   ${guarded}
   ON CONFLICT DO NOTHING`;
  return { sql, params: input.params };
}

export interface KeyedInsert<T> {
  /** `INSERT … ON CONFLICT DO NOTHING`: skips rows already stored. */
  sql: string;
  /** The bare `INSERT`: fails (unique_violation) if any row is already stored. */
  plainSql: string;
  params(rows: readonly T[]): unknown[][];
}

/**
 * Insert made idempotent by the table's unique (id, ts) key: a row already stored is skipped.
 * Only for ids the engine minted (see `IdMinted`).
 */
export function keyedInsert<T>(table: string, columns: Column<T>[]): KeyedInsert<T> {
  const input = unnestRows(columns);
  const plainSql = `INSERT INTO ${table} (${columns.map((c) => c.name).join(', ')})
   SELECT ${selectInput(columns)} FROM (${input.sql}) AS input`;
  return { sql: `${plainSql} ON CONFLICT DO NOTHING`, plainSql, params: input.params };
}

/**
 * Writes rows through a keyed insert on its own (outside a transaction: one statement is atomic).
 * Almost every batch is new, so it goes in as a bare insert, which costs the database less than
 * `ON CONFLICT` (a fifth less on TimescaleDB); a batch holding a row already stored (a redelivery)
 * is refused whole by the key and written again skipping what is there. Returns the rows written.
 */
export async function writeKeyed<T>(db: Queryable, insert: KeyedInsert<T>, rows: readonly T[]): Promise<number> {
  const params = insert.params(rows);
  try {
    return (await db.query(insert.plainSql, params)).rowCount ?? 0;
  } catch (e) {
    if ((e as { code?: string }).code !== UNIQUE_VIOLATION) throw e;
    return (await db.query(insert.sql, params)).rowCount ?? 0;
  }
}

const UNIQUE_VIOLATION = '23505';

/** Splits rows in two by a predicate: [those it holds for, the others]. */
export function splitBy<T>(rows: readonly T[], predicate: (row: T) => boolean): [T[], T[]] {
  const yes: T[] = [];
  const no: T[] = [];
  for (const r of rows) (predicate(r) ? yes : no).push(r);
  return [yes, no];
}

/** Keeps the last row per key: a batch may carry the same event twice (redelivery, re-send). */
export function uniqueBy<T>(rows: readonly T[], key: (row: T) => string): T[] {
  const byKey = new Map<string, T>();
  for (const r of rows) byKey.set(key(r), r);
  return byKey.size === rows.length ? [...rows] : [...byKey.values()];
}

export const json = (v: unknown) => (v === undefined || v === null ? null : JSON.stringify(v));
