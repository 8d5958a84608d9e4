import { Migration, run } from './migration';

/** The audit of dead-letter replays: who handed which dead letters back, when, and what came of it. */
export const deadLetterReplays: Migration = {
  id: '0009-dead-letter-replays',
  description: 'audit of dead-letter replays (CLI, admin API, advertiser webhook replay)',
  async up(db) {
    await run(db, [
      `CREATE TABLE dead_letter_replays (
         id text PRIMARY KEY,
         at timestamptz NOT NULL DEFAULT now(),
         actor text NOT NULL,
         filter jsonb NOT NULL,
         replayed integer NOT NULL,
         by_consumer jsonb NOT NULL,
         dead_letters text[] NOT NULL,
         missing text[] NOT NULL,
         skipped text[] NOT NULL)`,
      `CREATE INDEX dead_letter_replays_at_idx ON dead_letter_replays (at DESC)`,
    ]);
  },
};
