import { Migration, run } from './migration';

/** A rotated webhook secret keeps signing beside the new one for a while (receivers switch without losing deliveries). */
export const webhookSecretOverlap: Migration = {
  id: '0010-webhook-secret-overlap',
  description: 'previous webhook signing secret and until when it still signs',
  async up(db) {
    await run(db, [
      `ALTER TABLE advertisers ADD COLUMN webhook_previous_secret text, ADD COLUMN webhook_previous_secret_until timestamptz`,
    ]);
  },
};
