import { Migration, run } from './migration';

/**
 * The feedback event that made a revision, kept with it: a scorer applies a feedback once per
 * conversion (docs/trust.md), and after a restart (its memory gone) it finds a redelivered one here.
 * Looked up by conversion and feedback id: the primary key's `conversion_id` prefix finds a
 * conversion's few revisions, so no index of its own. Older revisions have none (NULL).
 */
export const feedbackOnRevisions: Migration = {
  id: '0027-feedback-on-revisions',
  description: 'decision_transitions.feedback_id: the feedback event that made a revision',
  async up(db) {
    // Catalog-only (no rewrite: a nullable column without a default), but under ACCESS EXCLUSIVE: behind
    // a long reader of decision_transitions it would queue every recorder write and reader behind it.
    // After 5 s it fails instead; nothing retries a failed migrate in process: the start fails, and
    // whatever supervises it starts it again (as 0024 and 0026).
    await db.query(`SET LOCAL lock_timeout = '5s'`);
    await run(db, [`ALTER TABLE decision_transitions ADD COLUMN feedback_id text`]);
  },
};
