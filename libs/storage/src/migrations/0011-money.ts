import { ROLLUPS_0011 as ROLLUPS } from '../rollups';
import { Migration, run } from './migration';

/**
 * Money has three figures (DESIGN §7): offers carry a revenue model (what the advertiser owes the
 * network: fixed per conversion or a % of the sale) and a payout model (what the network owes the
 * publisher: fixed or a % of the sale), publishers may have their own payout on an offer, and
 * decisions store the revenue beside the sale amount and the payout.
 *
 * Existing rows move forward with the meaning they had: until now the sale amount was counted as
 * the network's revenue, so existing offers get "100 % of the sale" and existing decisions a
 * revenue equal to their amount. The rollups are rebuilt with the new measures (and every reason
 * code known then: ROLLUPS_0011, frozen); their history is recomputed: inline on plain PostgreSQL, by the recorder's
 * refresher on TimescaleDB (a continuous aggregate cannot be refreshed inside a transaction).
 */
export const money: Migration = {
  id: '0011-money',
  description: 'offer revenue and payout models, per-publisher payouts, decision revenue, rollups with revenue and saved cost',
  async up(db, dialect) {
    await run(db, [
      `ALTER TABLE offers
         ADD COLUMN revenue_model text NOT NULL DEFAULT 'percent' CHECK (revenue_model IN ('fixed', 'percent')),
         ADD COLUMN revenue numeric(16, 4) NOT NULL DEFAULT 100 CHECK (revenue >= 0),
         ADD COLUMN payout_model text NOT NULL DEFAULT 'fixed' CHECK (payout_model IN ('fixed', 'percent')),
         ADD CONSTRAINT offers_revenue_percent CHECK (revenue_model = 'fixed' OR revenue <= 100),
         ADD CONSTRAINT offers_payout_percent CHECK (payout_model = 'fixed' OR payout <= 100)`,
      `CREATE TABLE offer_payouts (
         offer_id text NOT NULL REFERENCES offers (id) ON DELETE CASCADE,
         publisher_id text NOT NULL REFERENCES publishers (id) ON DELETE CASCADE,
         payout_model text NOT NULL CHECK (payout_model IN ('fixed', 'percent')),
         payout numeric(16, 4) NOT NULL CHECK (payout >= 0),
         CONSTRAINT offer_payouts_percent CHECK (payout_model = 'fixed' OR payout <= 100),
         updated_at timestamptz NOT NULL DEFAULT now(),
         PRIMARY KEY (offer_id, publisher_id))`,
      `ALTER TABLE decisions ADD COLUMN revenue numeric(16, 4)`,
      `UPDATE decisions SET revenue = amount WHERE revenue IS NULL`,
      // Where the recorder's refresher starts after a rollup was rebuilt (read once, then cleared).
      `CREATE TABLE rollup_backfills (
         rollup text PRIMARY KEY,
         since timestamptz NOT NULL,
         requested_at timestamptz NOT NULL DEFAULT now())`,
    ]);
    // Daily rollups read the hourly ones: drop them first, create them last.
    for (const r of [...ROLLUPS].reverse()) {
      await run(db, [dialect.name === 'timescaledb' ? `DROP MATERIALIZED VIEW IF EXISTS ${r.name}` : `DROP TABLE IF EXISTS ${r.name}`]);
    }
    for (const r of ROLLUPS) await run(db, dialect.rollup(r));
    const { rows } = await db.query<{ since: Date | null }>(
      `SELECT least((SELECT min(ts) FROM click_verdicts), (SELECT min(ts) FROM decisions)) AS since`,
    );
    const since = rows[0].since;
    if (!since) return;
    if (dialect.name === 'postgres') {
      for (const r of ROLLUPS) for (const step of dialect.refresh(r, since)) await db.query(step.sql, step.params);
    } else {
      for (const r of ROLLUPS) await db.query(`INSERT INTO rollup_backfills (rollup, since) VALUES ($1, $2)`, [r.name, since]);
    }
  },
};
