import { coreSchema } from './0001-core';
import { holdsAndRuleSets } from './0002-holds-and-rulesets';
import { modelScores } from './0003-model-scores';
import { kpiRollups } from './0004-kpi-rollups';
import { reviewAndWebhooks } from './0005-review-and-webhooks';
import { safeChanges } from './0006-safe-changes';
import { ingestTrust } from './0007-ingest-trust';
import { shadowIdempotent } from './0008-shadow-idempotent';
import { deadLetterReplays } from './0009-dead-letter-replays';
import { webhookSecretOverlap } from './0010-webhook-secret-overlap';
import { money } from './0011-money';
import { partnerPostbacks } from './0012-partner-postbacks';
import { enforcement } from './0013-enforcement';
import { mintedIdKeys } from './0014-minted-id-keys';
import { timeIndexes } from './0015-time-indexes';
import { replayAuditFirst } from './0016-replay-audit-first';
import { writePathIndexes } from './0017-write-path-indexes';
import { minutelyRollupStages } from './0018-minutely-rollup-stages';
import { lz4Reasons } from './0019-lz4-reasons';
import { minutelyRollupCaggs } from './0020-minutely-rollup-caggs';
import { deploymentSecrets } from './0021-deployment-secrets';
import { rollupKeysNullsNotDistinct } from './0022-rollup-keys-nulls-not-distinct';
import { distinctSecretInDatabase } from './0023-distinct-secret-in-database';
import { rollupDirtyMinutes } from './0024-rollup-dirty-minutes';
import { dirtyMinutesTriggerSearchPath } from './0025-dirty-minutes-trigger-search-path';
import { uncompressedReasons } from './0026-uncompressed-reasons';
import { feedbackOnRevisions } from './0027-feedback-on-revisions';
import { receiptIndexes } from './0028-receipt-indexes';
import { feedbackTimeIndex } from './0029-feedback-time-index';
import { webhookClaims } from './0030-webhook-claims';
import { Migration } from './migration';

/** Every migration, in the order it applies. Append only. */
export const MIGRATIONS: readonly Migration[] = [
  coreSchema,
  holdsAndRuleSets,
  modelScores,
  kpiRollups,
  reviewAndWebhooks,
  safeChanges,
  ingestTrust,
  shadowIdempotent,
  deadLetterReplays,
  webhookSecretOverlap,
  money,
  partnerPostbacks,
  enforcement,
  mintedIdKeys,
  timeIndexes,
  replayAuditFirst,
  writePathIndexes,
  minutelyRollupStages,
  lz4Reasons,
  minutelyRollupCaggs,
  deploymentSecrets,
  rollupKeysNullsNotDistinct,
  distinctSecretInDatabase,
  rollupDirtyMinutes,
  dirtyMinutesTriggerSearchPath,
  uncompressedReasons,
  feedbackOnRevisions,
  receiptIndexes,
  feedbackTimeIndex,
  webhookClaims,
];
export type { Migration } from './migration';
