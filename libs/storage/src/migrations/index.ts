import { coreSchema } from './0001-core';
import { Migration } from './migration';

/** Every migration, in the order it applies. Append only. */
export const MIGRATIONS: readonly Migration[] = [coreSchema];
export type { Migration } from './migration';
