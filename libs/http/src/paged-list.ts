import type { StreamableFile } from '@nestjs/common';
import { decodeCursor, encodeCursor } from './cursor';
import { CSV_PAGE_SIZE, CsvColumn, allPages, csvFile, prefersCsv } from './csv';

type Position = { ts: string; id: string };

/** One page of a keyset-paginated list, as the repositories return it. */
export interface KeysetPage<T> {
  items: T[];
  next: Position | null;
}

/**
 * The answer of a keyset-paginated list endpoint: one page as JSON (`{ items, next }`, `next` an
 * opaque cursor), or with `Accept: text/csv` every row from the cursor on, streamed as CSV one
 * page of CSV_PAGE_SIZE at a time (`limit` does not apply).
 */
export async function pagedList<T>(
  accept: string | undefined,
  q: { cursor?: string; limit: number },
  fetchPage: (limit: number, after: Position | undefined) => Promise<KeysetPage<T>>,
  csv: { columns: readonly CsvColumn<T>[]; filename: string },
): Promise<{ items: T[]; next: string | null } | StreamableFile> {
  const after = decodeCursor(q.cursor);
  if (prefersCsv(accept))
    return csvFile(
      allPages((next) => fetchPage(CSV_PAGE_SIZE, next), after),
      csv.columns,
      csv.filename,
    );
  const page = await fetchPage(q.limit, after);
  return { items: page.items, next: encodeCursor(page.next) };
}
