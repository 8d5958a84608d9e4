import { Migration, run } from './migration';

/** Who may send what (DESIGN §3a): postback tokens, open-pixel offers, advertisers' address allow-lists. */
export const ingestTrust: Migration = {
  id: '0007-ingest-trust',
  description: 'postback tokens (api_keys.scope), offers open to pixel conversions, advertiser postback address allow-lists',
  async up(db) {
    await run(db, [
      // A postback token is an advertiser credential that only sends conversions: it travels in
      // URLs (postback templates, logs), so it must never read anything.
      `ALTER TABLE api_keys ADD COLUMN scope text NOT NULL DEFAULT 'api' CHECK (scope IN ('api', 'postback'))`,
      `ALTER TABLE api_keys ADD CONSTRAINT api_keys_postback_is_advertiser CHECK (scope = 'api' OR role = 'advertiser')`,
      `ALTER TABLE offers ADD COLUMN open_conversions boolean NOT NULL DEFAULT false`,
      // Empty: any address. Otherwise advertiser keys and postback tokens work only from these ranges.
      `ALTER TABLE advertisers ADD COLUMN postback_allowed_ips text[] NOT NULL DEFAULT '{}'`,
    ]);
  },
};
