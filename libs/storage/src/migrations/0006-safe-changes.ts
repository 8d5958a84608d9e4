import { Migration, run } from './migration';

/** Safe rule-set changes: backtest jobs, shadow outcomes, and rule-set history that says what changed and who. */
export const safeChanges: Migration = {
  id: '0006-safe-changes',
  description: 'backtest jobs, shadow rule-set outcomes, rule-set diffs and actor labels',
  async up(db, dialect) {
    await run(db, [
      // The audit row says what changed and who, as it was when changed: a key relabelled or
      // revoked later does not rewrite history.
      `ALTER TABLE ruleset_versions ADD COLUMN changed_by_label text, ADD COLUMN diff jsonb`,
      // A backtest of a long range runs for minutes: its progress and answer are rows, so any API
      // instance can answer a poll and the result outlives the process that computed it.
      `CREATE TABLE backtest_jobs (
         id text PRIMARY KEY,
         status text NOT NULL CHECK (status IN ('running', 'done', 'failed')),
         request jsonb NOT NULL,
         done bigint NOT NULL DEFAULT 0,
         total bigint NOT NULL DEFAULT 0,
         result jsonb,
         error text,
         created_by text,
         created_by_label text,
         created_at timestamptz NOT NULL DEFAULT now(),
         updated_at timestamptz NOT NULL DEFAULT now(),
         finished_at timestamptz)`,
      `CREATE INDEX backtest_jobs_created_idx ON backtest_jobs (created_at DESC)`,
      // What a shadow rule set would have decided for each live event, beside what the active one
      // did: recorded, never acted on.
      `CREATE TABLE shadow_outcomes (
         event_id text NOT NULL,
         kind text NOT NULL CHECK (kind IN ('click', 'conversion')),
         ts timestamptz NOT NULL,
         decided_at timestamptz NOT NULL,
         publisher_id text,
         offer_id text,
         advertiser_id text,
         active_version text NOT NULL,
         shadow_version text NOT NULL,
         active_status text NOT NULL,
         shadow_status text NOT NULL,
         agree boolean NOT NULL,
         active_codes text[] NOT NULL,
         shadow_codes text[] NOT NULL,
         payout numeric(16, 4))`,
      ...dialect.hypertable('shadow_outcomes', 'ts', '1 day'),
      `CREATE INDEX shadow_outcomes_event_idx ON shadow_outcomes (event_id)`,
      `CREATE INDEX shadow_outcomes_version_ts_idx ON shadow_outcomes (shadow_version, ts DESC)`,
    ]);
  },
};
