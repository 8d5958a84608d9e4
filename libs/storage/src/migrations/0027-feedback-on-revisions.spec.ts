import type { Queryable } from '../database';
import { feedbackOnRevisions } from './0027-feedback-on-revisions';

describe('migration 0027 (decision_transitions.feedback_id)', () => {
  it('adds the column behind a lock timeout: behind a long reader it fails instead of queueing the recorder', async () => {
    const statements: string[] = [];
    const db = { query: async (sql: string) => void statements.push(sql) } as unknown as Queryable;
    await feedbackOnRevisions.up(db, undefined as never);
    expect(statements).toEqual([`SET LOCAL lock_timeout = '5s'`, 'ALTER TABLE decision_transitions ADD COLUMN feedback_id text']);
  });
});
