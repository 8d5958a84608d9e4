import { Migration, run } from './migration';

/** Who changed a decision; the analysts' review actions; webhook delivery state and attempts. */
export const reviewAndWebhooks: Migration = {
  id: '0005-review-and-webhooks',
  description: 'actors on revisions, review audit, webhook endpoints and delivery attempts',
  async up(db) {
    await run(db, [
      `ALTER TABLE decisions ADD COLUMN actor text`,
      `ALTER TABLE decision_transitions ADD COLUMN actor text`,
      // The review queue pages through every open hold, soonest resolving first.
      `CREATE INDEX decisions_hold_queue_idx ON decisions (hold_until, conversion_id) WHERE status = 'hold'`,
      // Every review request, whether or not it changed anything (an audit of the people, not the data).
      `CREATE TABLE review_actions (
         id text PRIMARY KEY,
         at timestamptz NOT NULL DEFAULT now(),
         actor text NOT NULL,
         conversion_id text NOT NULL,
         previous_status text NOT NULL,
         requested_status text NOT NULL,
         note text)`,
      `CREATE INDEX review_actions_conversion_idx ON review_actions (conversion_id)`,
      `CREATE INDEX review_actions_at_idx ON review_actions (at DESC)`,
      // A webhook whose deliveries keep failing for good is parked: deliveries go straight to the
      // dead-letter subject until the advertiser fixes it (PUT /v1/advertiser/webhook) or replays.
      `ALTER TABLE advertisers
         ADD COLUMN webhook_status text NOT NULL DEFAULT 'active' CHECK (webhook_status IN ('active', 'parked')),
         ADD COLUMN webhook_consecutive_failures integer NOT NULL DEFAULT 0,
         ADD COLUMN webhook_failed_deliveries integer NOT NULL DEFAULT 0,
         ADD COLUMN webhook_parked_at timestamptz`,
      `CREATE TABLE webhook_attempts (
         id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
         delivery_id text NOT NULL,
         attempt integer NOT NULL,
         advertiser_id text NOT NULL,
         conversion_id text NOT NULL,
         revision integer NOT NULL,
         url text NOT NULL,
         at timestamptz NOT NULL DEFAULT now(),
         status_code integer,
         error text,
         duration_ms real NOT NULL,
         outcome text NOT NULL CHECK (outcome IN ('delivered', 'retry', 'dead_letter', 'parked')))`,
      `CREATE INDEX webhook_attempts_delivery_idx ON webhook_attempts (delivery_id)`,
      `CREATE INDEX webhook_attempts_advertiser_idx ON webhook_attempts (advertiser_id, id DESC)`,
    ]);
  },
};
