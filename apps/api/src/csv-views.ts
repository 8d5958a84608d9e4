import { Decision } from '@app/contracts';
import { CsvColumn, csvText, fieldColumns } from '@app/http';
import type { ReviewAction } from '@app/storage';
import { DECISION_EXAMPLE } from './examples';
import { reasonColumns } from './publisher/publisher-view';

/**
 * CSV columns of the lists an advertiser or admin reads: every field of the JSON item (from its schema,
 * so a field added to the contract appears in the export too), the reasons also as codes and messages.
 */
export const DECISION_CSV: CsvColumn<Decision>[] = [
  // `feedbackId` is kept with the revision it made (decision_transitions), not on the decision rows the lists read.
  ...fieldColumns<Decision>(Object.keys(Decision.properties).filter((k) => k !== 'reasons' && k !== 'feedbackId')),
  ...reasonColumns<Decision>(),
  ...fieldColumns<Decision>(['reasons']),
];
export const DECISION_CSV_EXAMPLE = csvText([DECISION_EXAMPLE], DECISION_CSV);

export const REVIEW_ACTION_CSV: CsvColumn<ReviewAction>[] = fieldColumns<ReviewAction>([
  'id',
  'at',
  'actor',
  'conversionId',
  'previousStatus',
  'requestedStatus',
  'note',
]);

/**
 * CSV columns of the lists that are not keyset pages (API keys, models, rule-set history and quality,
 * dead letters, replays, backtests, enforcement blocks): each item's fields, nested objects as their JSON unless
 * named as `parent.child`. Declared with the examples OpenAPI shows, so the two cannot drift.
 */
export function csvView(fields: readonly string[], example: object): { columns: CsvColumn<object>[]; example: string } {
  const columns = fieldColumns<object>(fields);
  return { columns, example: csvText([example], columns) };
}

/** Rows named by their bound, for `ApiListResponse`: these lists answer CSV for the rows the JSON lists. */
export const SAME_ROWS_AS_JSON = 'the rows the JSON answer lists (the same filters and `limit`)';
