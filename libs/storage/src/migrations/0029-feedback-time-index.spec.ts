import type { Queryable } from '../database';
import { PostgresDialect, TimescaleDialect } from '../dialect';
import { feedbackTimeIndex } from './0029-feedback-time-index';

describe('migration 0029 (feedback_ts_idx on plain PostgreSQL)', () => {
  const statements = async (dialect: PostgresDialect | TimescaleDialect) => {
    const sent: string[] = [];
    const db = { query: async (sql: string) => void sent.push(sql) } as unknown as Queryable;
    await feedbackTimeIndex.up(db, dialect);
    return sent;
  };

  it('builds the index behind a lock timeout (behind a long writer it fails instead of queueing the recorder), then drops the BRIN one', async () => {
    expect(await statements(new PostgresDialect())).toEqual([
      `SET LOCAL lock_timeout = '5s'`,
      'CREATE INDEX IF NOT EXISTS feedback_ts_idx ON feedback (ts DESC)',
      'DROP INDEX IF EXISTS feedback_ts_brin',
    ]);
  });

  it('leaves a hypertable alone: TimescaleDB made its feedback_ts_idx with it', async () => {
    expect(await statements(new TimescaleDialect())).toEqual([]);
  });
});
