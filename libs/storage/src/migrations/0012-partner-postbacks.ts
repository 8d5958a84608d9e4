import { Migration, run } from './migration';

/**
 * Partner postbacks (DESIGN §12): a publisher's URL templates, fired on every decision about its
 * conversions through the same signed, retried, parked and replayable delivery as the advertisers'
 * webhooks. One delivery mechanism, two audiences: the attempts table gains the owner of the endpoint
 * (advertiser or publisher) instead of a second attempts table.
 */
export const partnerPostbacks: Migration = {
  id: '0012-partner-postbacks',
  description: 'publisher postback templates with their signing secrets and health; webhook attempts by owner',
  async up(db) {
    await run(db, [
      // offer_id null: every offer of the publisher that has no postback of its own.
      `CREATE TABLE postbacks (
         id text PRIMARY KEY,
         publisher_id text NOT NULL REFERENCES publishers (id) ON DELETE CASCADE,
         offer_id text REFERENCES offers (id) ON DELETE CASCADE,
         url text NOT NULL,
         secret text NOT NULL,
         previous_secret text,
         previous_secret_until timestamptz,
         status text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'parked')),
         consecutive_failures integer NOT NULL DEFAULT 0,
         failed_deliveries integer NOT NULL DEFAULT 0,
         parked_at timestamptz,
         created_at timestamptz NOT NULL DEFAULT now(),
         updated_at timestamptz NOT NULL DEFAULT now())`,
      // One global postback and one per offer, per publisher: a decision fires exactly one.
      `CREATE UNIQUE INDEX postbacks_scope_idx ON postbacks (publisher_id, (coalesce(offer_id, '')))`,
      `ALTER TABLE webhook_attempts
         ADD COLUMN owner_type text NOT NULL DEFAULT 'advertiser' CHECK (owner_type IN ('advertiser', 'publisher')),
         ADD COLUMN publisher_id text,
         ADD COLUMN postback_id text,
         ALTER COLUMN advertiser_id DROP NOT NULL,
         ADD CONSTRAINT webhook_attempts_owner CHECK (
           (owner_type = 'advertiser' AND advertiser_id IS NOT NULL) OR
           (owner_type = 'publisher' AND publisher_id IS NOT NULL AND postback_id IS NOT NULL))`,
      `CREATE INDEX webhook_attempts_publisher_idx ON webhook_attempts (publisher_id, id DESC) WHERE publisher_id IS NOT NULL`,
    ]);
  },
};
