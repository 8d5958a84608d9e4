import { Migration, run } from './migration';

/** A shadow outcome is written once per event, however often the scorer's batch is redelivered. */
export const shadowIdempotent: Migration = {
  id: '0008-shadow-idempotent',
  description: 'shadow outcomes unique per event',
  async up(db) {
    await run(db, [
      // Unique keys on a hypertable must contain its time column; an event's ts never changes.
      `DROP INDEX IF EXISTS shadow_outcomes_event_idx`,
      `CREATE UNIQUE INDEX shadow_outcomes_event_key ON shadow_outcomes (event_id, shadow_version, ts)`,
    ]);
  },
};
