import { Migration, run } from './migration';

/** Decision revisions (holds resolving, feedback, analysts), their audit trail, and rule-set versions. */
export const holdsAndRuleSets: Migration = {
  id: '0002-holds-and-rulesets',
  description: 'decision revisions and transitions; versioned rule sets',
  async up(db) {
    await run(db, [
      `ALTER TABLE decisions
         ADD COLUMN revision integer NOT NULL DEFAULT 0,
         ADD COLUMN previous_status text,
         ADD COLUMN resolved_by text NOT NULL DEFAULT 'engine',
         ADD COLUMN hold_until timestamptz,
         ADD COLUMN note text,
         ADD COLUMN partition smallint NOT NULL DEFAULT 0`,
      // The scorer reloads its open holds at start; holds are a small share of decisions.
      `CREATE INDEX decisions_open_holds_idx ON decisions (partition, hold_until) WHERE status = 'hold'`,
      // Every change after the first decision, kept for audit (who, when, from, to, why).
      `CREATE TABLE decision_transitions (
         conversion_id text NOT NULL,
         revision integer NOT NULL,
         ts timestamptz NOT NULL,
         from_status text NOT NULL,
         to_status text NOT NULL,
         resolved_by text NOT NULL,
         reason_codes text[] NOT NULL,
         note text,
         advertiser_id text,
         publisher_id text,
         decided_at timestamptz NOT NULL,
         PRIMARY KEY (conversion_id, revision))`,
      `CREATE INDEX decision_transitions_decided_idx ON decision_transitions (decided_at DESC)`,
      `CREATE TABLE ruleset_versions (
         version integer PRIMARY KEY,
         config jsonb NOT NULL,
         scope text NOT NULL,
         changed_by text,
         created_at timestamptz NOT NULL DEFAULT now())`,
    ]);
  },
};
