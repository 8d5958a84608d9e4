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
  ...fieldColumns<Decision>(Object.keys(Decision.properties).filter((k) => k !== 'reasons')),
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
