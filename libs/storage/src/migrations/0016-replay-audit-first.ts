import { Migration, run } from './migration';

/**
 * A dead-letter replay is audited before it starts and completed after: `finished_at` stays NULL
 * for a replay that was interrupted (the process died, NATS failed mid-way), so no replay goes
 * unrecorded. Replays recorded before this migration were written once done: finished when made.
 */
export const replayAuditFirst: Migration = {
  id: '0016-replay-audit-first',
  description: 'dead_letter_replays.finished_at: the audit row is written before the replay, completed after',
  async up(db) {
    await run(db, [
      `ALTER TABLE dead_letter_replays ADD COLUMN finished_at timestamptz`,
      `UPDATE dead_letter_replays SET finished_at = at`,
    ]);
  },
};
