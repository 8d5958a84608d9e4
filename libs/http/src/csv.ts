import { Readable, Transform, pipeline } from 'node:stream';
import { StreamableFile } from '@nestjs/common';
import { stringify } from 'csv-stringify';
import { stringify as stringifySync } from 'csv-stringify/sync';

/** Rows read from the database per query while a CSV export streams: one page in memory at a time. */
export const CSV_PAGE_SIZE = 1000;

/** One CSV column: its header and how to read it from a row. */
export interface CsvColumn<T> {
  header: string;
  value: (row: T) => string | number | boolean | null | undefined;
}

/**
 * Whether a request's `Accept` header prefers `text/csv` to JSON: CSV with a higher quality than any
 * JSON type (application/json, application/* or any type), or the same quality and listed first: `text/csv`
 * followed by the any-type wildcard is CSV, `application/json, text/csv` is JSON.
 */
export function prefersCsv(accept: string | undefined): boolean {
  if (!accept) return false;
  let csv: { q: number; at: number } | null = null;
  let json: { q: number; at: number } | null = null;
  accept.split(',').forEach((part, at) => {
    const [type, ...params] = part.trim().toLowerCase().split(';');
    const qParam = params.map((p) => p.trim()).find((p) => p.startsWith('q='));
    const q = qParam ? Number(qParam.slice(2)) : 1;
    if (!(q > 0)) return;
    const entry = { q, at: type === 'text/csv' ? at : type === 'application/json' ? at : Number.MAX_SAFE_INTEGER };
    if (type === 'text/csv' && (!csv || q > csv.q)) csv = entry;
    else if (['application/json', 'application/*', '*/*'].includes(type) && (!json || q > json.q || (q === json.q && entry.at < json.at))) {
      json = entry;
    }
  });
  const c = csv as { q: number; at: number } | null;
  const j = json as { q: number; at: number } | null;
  return !!c && (!j || c.q > j.q || (c.q === j.q && c.at < j.at));
}

/**
 * Every item of a keyset-paginated list, page after page: one page in memory at a time, the next
 * fetched only when the reader has taken the last (the stream below pulls, it is not pushed).
 */
export async function* allPages<T, C>(
  fetchPage: (after: C | undefined) => Promise<{ items: T[]; next: C | null }>,
  start?: C,
): AsyncGenerator<T> {
  let after = start;
  for (;;) {
    const page = await fetchPage(after);
    yield* page.items;
    if (!page.next) return;
    after = page.next;
  }
}

/**
 * A CSV download streamed from `rows` (any iterable or async iterable): a header line, then one line per
 * row as the rows come, with backpressure — a slow client slows the database reads instead of filling
 * memory. Quoting by csv-stringify; cells starting with `= + - @`, a tab or a carriage return are
 * prefixed with `'` so a spreadsheet never runs them as formulas (a sub-id or user agent is sender-made).
 */
export function csvFile<T>(rows: Iterable<T> | AsyncIterable<T>, columns: readonly CsvColumn<T>[], filename: string): StreamableFile {
  const toCells = new Transform({
    objectMode: true,
    transform(row: T, _enc, done) {
      done(
        null,
        columns.map((c) => c.value(row) ?? ''),
      );
    },
  });
  const csv = stringify({
    header: true,
    columns: columns.map((c) => c.header),
    escape_formulas: true,
    cast: { boolean: (b) => String(b) },
  });
  const out = pipeline(Readable.from(rows), toCells, csv, () => undefined);
  return new StreamableFile(out, { type: 'text/csv; charset=utf-8', disposition: `attachment; filename="${filename}"` });
}

/**
 * Columns for the named fields of JSON-shaped rows (the same objects the JSON answer lists): a
 * scalar as it is, an object or array as its JSON, a missing field empty. `group.offer_id` reads a
 * nested field.
 */
export function fieldColumns<T extends object>(fields: readonly string[]): CsvColumn<T>[] {
  return fields.map((header) => {
    const path = header.split('.');
    return {
      header,
      value: (row: T) => {
        let v: unknown = row;
        for (const key of path) v = v && typeof v === 'object' ? (v as Record<string, unknown>)[key] : undefined;
        if (v === null || v === undefined) return null;
        return typeof v === 'object' ? JSON.stringify(v) : (v as string | number | boolean);
      },
    };
  });
}

/**
 * The fields of in-memory rows, in first-seen order, the named nested objects one level deep as
 * `parent.child`; of `whenEmpty` (e.g. the documented example) when there are no rows, so an empty
 * export still has its header.
 */
export function fieldsOf(rows: readonly object[], flatten: readonly string[] = [], whenEmpty?: object): string[] {
  const seen = new Set<string>();
  for (const row of rows.length || !whenEmpty ? rows : [whenEmpty]) {
    for (const [k, v] of Object.entries(row)) {
      if (flatten.includes(k) && v && typeof v === 'object') Object.keys(v).forEach((child) => seen.add(`${k}.${child}`));
      else seen.add(k);
    }
  }
  return [...seen];
}

/** What `csvFile` writes for these rows, as one string: for OpenAPI examples. */
export function csvText<T>(rows: readonly T[], columns: readonly CsvColumn<T>[]): string {
  return stringifySync(
    rows.map((row) => columns.map((c) => c.value(row) ?? '')),
    { header: true, columns: columns.map((c) => c.header), escape_formulas: true, cast: { boolean: (b) => String(b) } },
  );
}
