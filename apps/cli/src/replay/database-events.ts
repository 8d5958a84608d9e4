import { Pool } from 'pg';
import { loadConfig } from '@app/config';
import { DeploymentSecretRepository, createPool } from '@app/storage';

/**
 * The deployment's distinct-count secret, read (never made: a training run must not mint the
 * deployment's secret; a database without one is an error), so that `train --from-db` counts the
 * history's distinct values as the deployment's scorers did.
 */
export async function databaseDistinctSecret(url = loadConfig(process.env).DATABASE_URL): Promise<string> {
  if (!url) throw new Error('--from-db needs DATABASE_URL');
  const pool: Pool = createPool({ url, max: 1, applicationName: 'arbiter-train' });
  try {
    return await new DeploymentSecretRepository(pool).distinctHash();
  } finally {
    await pool.end();
  }
}

/** Events per page of `databaseEvents`. */
const PAGE = 5000;

/**
 * One table's next events in the reader's order (time, id, kind) after the key ($1 time, $2 id, $3
 * kind), at most $4. Each table is limited before the three are merged, so a page reads about a page of
 * each through its time index (`feedback_ts_idx`: 0029 on plain PostgreSQL; TimescaleDB's own on a
 * hypertable) and sorts only within one time; `ts >= $1` repeats the key's first column where chunk
 * exclusion can use it. Without, every page read, labelled and sorted the rest of the history (a
 * sequential scan of feedback on plain PostgreSQL): a read of n events cost n²/2·5000 rows. The kind
 * is in the key because a click, a conversion and feedback may share a time and an id: keyed on
 * (time, id) alone, the second of them at a page boundary was skipped.
 */
const branch = (table: string, t: string, kind: string, body: string) => `
    (SELECT '${kind}'::text AS kind, ${t}.ts, ${t}.id, ${body} AS body
       FROM ${table} ${t} WHERE ${t}.ts >= $1 AND (${t}.ts, ${t}.id, '${kind}'::text) > ($1, $2, $3)
      ORDER BY ${t}.ts, ${t}.id LIMIT $4)`;

/**
 * A page of the history in (time, id, kind) order after the key, as `databaseEvents` reads it. Each
 * row's `key_ts` is its stored time to the microsecond, as ISO text in UTC: the next page's key. A
 * JavaScript Date keeps milliseconds only; keyed on one, every event later in the same millisecond
 * came back again, and more than a page of them in one millisecond gave the same page for ever.
 */
const TRAINING_PAGE_SQL = `
  SELECT e.kind, e.id, e.body, to_char(e.ts AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS key_ts FROM (${branch(
    'clicks',
    'c',
    'click',
    `jsonb_strip_nulls(jsonb_build_object(
             'id', c.id, 'ts', c.ts, 'offerId', c.offer_id, 'publisherId', c.publisher_id, 'subId', c.sub_id, 'subIds', c.sub_ids,
             'ip', c.ip, 'userAgent', c.user_agent, 'referrer', c.referrer, 'deviceId', c.device_id, 'country', c.country,
             'label', c.label))`,
  )}
    UNION ALL${branch(
      'conversions',
      'v',
      'conversion',
      `jsonb_strip_nulls(jsonb_build_object(
             'id', v.id, 'ts', v.ts, 'clickId', v.click_id, 'offerId', v.offer_id, 'orderId', v.order_id, 'amount', v.amount::float8,
             'payout', v.payout::float8, 'currency', v.currency, 'type', v.type, 'ip', v.ip, 'userAgent', v.user_agent,
             'deviceId', v.device_id, 'country', v.country,
             'label', coalesce((SELECT CASE f.status WHEN 'rejected' THEN 'fraud' ELSE 'legit' END FROM feedback f
                                 WHERE f.conversion_id = v.id ORDER BY f.ts DESC LIMIT 1), v.label)))`,
    )}
    UNION ALL${branch(
      'feedback',
      'f',
      'feedback',
      `jsonb_strip_nulls(jsonb_build_object(
             'id', f.id, 'ts', f.ts, 'conversionId', f.conversion_id, 'status', f.status, 'reason', f.reason))`,
    )}
  ) e ORDER BY e.ts, e.id, e.kind LIMIT $4`;

/**
 * The database's history as a traffic file: a catalog line, then clicks, conversions and feedback
 * in time order, labelled where the network knows the truth — a click's stored label (replayed
 * simulator files), a conversion's final human word (advertiser feedback, analyst decisions), else
 * its stored label. Unlabelled events still pass through the feature state (warm-up). Read a page of
 * `pageSize` events per statement, nothing held between.
 */
export async function* databaseEvents(
  url = loadConfig(process.env).DATABASE_URL,
  pageSize = PAGE,
): AsyncGenerator<{ line: number; value?: unknown }> {
  if (!url) throw new Error('--from-db needs DATABASE_URL');
  const pool: Pool = createPool({ url, max: 2, applicationName: 'arbiter-train' });
  try {
    const [advertisers, offers, publishers] = await Promise.all([
      pool.query('SELECT id, name, status FROM advertisers'),
      pool.query(
        `SELECT id, advertiser_id AS "advertiserId", name, status, revenue_model AS "revenueModel", revenue::float8 AS revenue,
                payout_model AS "payoutModel", payout::float8 AS payout, trim(currency) AS currency,
                allowed_countries AS "allowedCountries", max_conversions_per_click AS "maxConversionsPerClick" FROM offers`,
      ),
      pool.query('SELECT id, name, status FROM publishers'),
    ]);
    let line = 0;
    yield { line: ++line, value: { kind: 'catalog', advertisers: advertisers.rows, offers: offers.rows, publishers: publishers.rows } };
    // The key: the last event read, its time exact (ISO text, microseconds), its id and kind.
    let after: [string, string, string] = [new Date(0).toISOString(), '', ''];
    for (;;) {
      const { rows } = await pool.query(TRAINING_PAGE_SQL, [...after, pageSize]);
      if (!rows.length) return;
      for (const r of rows) {
        const body = r.body as Record<string, unknown>;
        if (typeof body.ts !== 'string') body.ts = new Date(body.ts as string).toISOString();
        yield { line: ++line, value: { kind: r.kind, ...body, ts: new Date(body.ts as string).toISOString() } };
      }
      const last = rows[rows.length - 1];
      after = [last.key_ts, last.id, last.kind];
    }
  } finally {
    await pool.end();
  }
}
