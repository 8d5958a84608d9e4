import { coreSchema } from './0001-core';
import { holdsAndRuleSets } from './0002-holds-and-rulesets';
import { modelScores } from './0003-model-scores';
import { Migration } from './migration';

/** Every migration, in the order it applies. Append only. */
export const MIGRATIONS: readonly Migration[] = [coreSchema, holdsAndRuleSets, modelScores];
export type { Migration } from './migration';
