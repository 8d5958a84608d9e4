import { Migration, run } from './migration';

/**
 * Who is sending a delivery right now: one row per (delivery, owner) while a notifier holds it, taken
 * before the request and removed with the attempt's record (`WebhookRepository.claim`, `record`). Two
 * copies of one delivery on WEBHOOKS (queued again while the first was being retried, or two parked
 * copies replayed) were both sent when handled at the same moment (16 at once per notifier, several
 * notifiers). The lease bounds a claim whose holder died mid-send. A row lives only while a send is in
 * flight; each leaves a dead one, which the notifier vacuums itself (`WebhookRepository.claimsVacuum`).
 *
 * webhook_attempts.replay: the dead-letter replay round an attempt was made in (the Arbiter-Replays
 * header of its copy; 0 before any replay). A delivery's retry budget is the requests of its round,
 * shared by every copy replayed in it (`WebhookRepository.progress`); a constant default, so adding it
 * rewrites no rows.
 */
export const webhookClaims: Migration = {
  id: '0030-webhook-claims',
  description:
    'webhook and postback delivery claims: one send in flight per delivery and owner, under a lease; the replay round of each attempt',
  async up(db) {
    await run(db, [
      `CREATE TABLE webhook_claims (
         delivery_id text NOT NULL,
         owner_type text NOT NULL CHECK (owner_type IN ('advertiser', 'publisher')),
         holder text NOT NULL,
         lease_until timestamptz NOT NULL,
         PRIMARY KEY (delivery_id, owner_type))`,
      `ALTER TABLE webhook_attempts ADD COLUMN replay integer NOT NULL DEFAULT 0`,
    ]);
  },
};
