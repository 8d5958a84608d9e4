import { CsvColumn, csvText, fieldColumns } from '@app/http';

/**
 * CSV columns of the admin lists that are not keyset pages (API keys, models, rule-set history and
 * quality, dead letters, replays, backtests): each item's fields, nested objects as their JSON unless
 * named as `parent.child`. Declared with the examples OpenAPI shows, so the two cannot drift.
 */
export function csvView(fields: readonly string[], example: object): { columns: CsvColumn<object>[]; example: string } {
  const columns = fieldColumns<object>(fields);
  return { columns, example: csvText([example], columns) };
}

/** Rows named by their bound, for `ApiListResponse`: these lists answer CSV for the rows the JSON lists. */
export const SAME_ROWS_AS_JSON = 'the rows the JSON answer lists (the same filters and `limit`)';
