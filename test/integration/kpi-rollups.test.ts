import { Pool } from 'pg';
import { ClickVerdict, Decision } from '@app/contracts';
import {
  CatalogRepository,
  EmbeddedDatabase,
  MIGRATIONS,
  OutcomeRepository,
  ROLLUPS,
  createPool,
  detectDialect,
  migrate,
  reasonColumn,
} from '@app/storage';
import { createTestDatabase } from '@app/testing';
import { clickVerdict, scoredOutcomes } from './support/rollup-harness';

/**
 * The KPI rollups against the same numbers computed here, independently, from the outcomes that
 * were written — on plain PostgreSQL (refreshed tables) and TimescaleDB (continuous aggregates).
 */
const targets = [
  {
    name: 'PostgreSQL 15',
    setup: async () => {
      const db = await createTestDatabase();
      return { url: db.url, teardown: db.drop };
    },
  },
  {
    name: 'TimescaleDB (PGlite)',
    setup: async () => {
      const db = await EmbeddedDatabase.start();
      return { url: db.url, teardown: () => db.stop() };
    },
  },
];

describe.each(targets)('KPI rollups on $name', ({ setup }) => {
  let pool: Pool;
  let teardown: () => Promise<void>;
  let verdicts: ClickVerdict[] = [];
  let decisions = new Map<string, Decision>();

  beforeAll(async () => {
    const target = await setup();
    teardown = target.teardown;
    pool = createPool({ url: target.url, max: 3, applicationName: 'kpi-test' });
    await migrate(pool);
    // Realistic outcomes: simulated traffic through the scoring engine, holds and feedback included.
    ({ verdicts, decisions } = await scoredOutcomes({
      seed: 3,
      events: 6000,
      hours: 30,
      start: new Date(Date.UTC(2026, 9, 1)),
      partitions: 1,
    }));
    const repository = new OutcomeRepository(pool);
    const all: (ClickVerdict | Decision)[] = [...verdicts, ...decisions.values()];
    for (let i = 0; i < all.length; i += 2000) await repository.insert(all.slice(i, i + 2000));
    const dialect = await detectDialect(pool);
    for (const r of ROLLUPS) for (const step of dialect.refresh(r, new Date(Date.UTC(2026, 8, 1)))) await pool.query(step.sql, step.params);
  });

  afterAll(async () => {
    await pool.end();
    await teardown();
  });

  const hour = (ts: string) => new Date(Math.floor(Date.parse(ts) / 3600_000) * 3600_000).toISOString();
  const day = (ts: string) => new Date(Math.floor(Date.parse(ts) / 86_400_000) * 86_400_000).toISOString();

  function expectedClicks(bucketOf: (ts: string) => string) {
    const out = new Map<string, { clicks: number; unique: number; invalid: number; ipVelocity: number }>();
    for (const v of verdicts) {
      const key = `${bucketOf(v.ts)}|${v.publisherId}`;
      const e = out.get(key) ?? { clicks: 0, unique: 0, invalid: 0, ipVelocity: 0 };
      e.clicks++;
      if (!v.reasons.some((r) => r.code === 'DUPLICATE_CLICK')) e.unique++;
      if (!v.valid) e.invalid++;
      if (v.reasons.some((r) => r.code === 'IP_VELOCITY')) e.ipVelocity++;
      out.set(key, e);
    }
    return out;
  }

  it.each([
    ['kpi_clicks_hourly', hour],
    ['kpi_clicks_daily', day],
  ] as const)('%s matches the click verdicts', async (view, bucketOf) => {
    const { rows } = await pool.query(
      `SELECT bucket, publisher_id, sum(clicks)::int AS clicks, sum(unique_clicks)::int AS unique, sum(invalid_clicks)::int AS invalid,
              sum(${reasonColumn('IP_VELOCITY')})::int AS ip_velocity
         FROM ${view} GROUP BY 1, 2`,
    );
    const actual = new Map(
      rows.map((r) => [
        `${(r.bucket as Date).toISOString()}|${r.publisher_id}`,
        { clicks: r.clicks, unique: r.unique, invalid: r.invalid, ipVelocity: r.ip_velocity },
      ]),
    );
    expect(actual).toEqual(expectedClicks(bucketOf));
    expect(verdicts.length).toBeGreaterThan(3000);
  });

  it.each([
    ['kpi_conversions_hourly', hour],
    ['kpi_conversions_daily', day],
  ] as const)('%s matches the decisions as they finally stand', async (view, bucketOf) => {
    const { rows } = await pool.query(
      `SELECT bucket, advertiser_id, sum(conversions)::int AS conversions, sum(approved)::int AS approved, sum(rejected)::int AS rejected, sum(held)::int AS held,
              round(sum(sale_amount)::numeric, 2)::float8 AS sale, round(sum(revenue)::numeric, 2)::float8 AS revenue,
              round(sum(payout)::numeric, 2)::float8 AS payout, round(sum(saved_payout)::numeric, 2)::float8 AS saved,
              round(sum(saved_cost)::numeric, 2)::float8 AS saved_cost,
              sum(ctit_under_15s)::int AS fast, sum(${reasonColumn('CTIT_TOO_SHORT')})::int AS ctit_short
         FROM ${view} GROUP BY 1, 2`,
    );
    const expected = new Map<
      string,
      {
        conversions: number;
        approved: number;
        rejected: number;
        held: number;
        sale: number;
        revenue: number;
        payout: number;
        saved: number;
        savedCost: number;
        fast: number;
        ctitShort: number;
      }
    >();
    for (const d of decisions.values()) {
      const key = `${bucketOf(d.ts)}|${d.advertiserId}`;
      const e = expected.get(key) ?? {
        conversions: 0,
        approved: 0,
        rejected: 0,
        held: 0,
        sale: 0,
        revenue: 0,
        payout: 0,
        saved: 0,
        savedCost: 0,
        fast: 0,
        ctitShort: 0,
      };
      e.conversions++;
      if (d.status === 'approved') {
        e.approved++;
        e.sale += d.amount;
        e.revenue += d.revenue;
        e.payout += d.payout;
      } else if (d.status === 'rejected') {
        e.rejected++;
        e.saved += d.payout;
        e.savedCost += d.revenue;
      } else e.held++;
      if (d.ctitSeconds !== null && d.ctitSeconds < 15) e.fast++;
      if (d.reasons.some((r) => r.code === 'CTIT_TOO_SHORT')) e.ctitShort++;
      expected.set(key, e);
    }
    const cents = (x: number) => Math.round(x * 100) / 100;
    for (const e of expected.values()) Object.assign(e, { sale: cents(e.sale), revenue: cents(e.revenue), payout: cents(e.payout) });
    for (const e of expected.values()) Object.assign(e, { saved: cents(e.saved), savedCost: cents(e.savedCost) });
    const actual = new Map(
      rows.map((r) => [
        `${(r.bucket as Date).toISOString()}|${r.advertiser_id}`,
        {
          conversions: r.conversions,
          approved: r.approved,
          rejected: r.rejected,
          held: r.held,
          sale: r.sale,
          revenue: r.revenue,
          payout: r.payout,
          saved: r.saved,
          savedCost: r.saved_cost,
          fast: r.fast,
          ctitShort: r.ctit_short,
        },
      ]),
    );
    expect(actual).toEqual(expected);
    expect([...decisions.values()].some((d) => d.revision > 0)).toBe(true);
    // Three different figures: the network's revenue is neither the sale amount nor the payout.
    const approved = [...decisions.values()].filter((d) => d.status === 'approved');
    const total = (f: (d: Decision) => number) => approved.reduce((sum, d) => sum + f(d), 0);
    expect(total((d) => d.revenue)).toBeGreaterThan(total((d) => d.payout));
    expect(approved.filter((d) => d.revenue === d.amount)).toEqual([]);
  });
});

describe.each(targets)('Money migration on $name: existing rows move forward', ({ setup }) => {
  let pool: Pool;
  let teardown: () => Promise<void>;

  beforeAll(async () => {
    const target = await setup();
    teardown = target.teardown;
    pool = createPool({ url: target.url, max: 2, applicationName: 'kpi-migration-test' });
  });

  afterAll(async () => {
    await pool.end();
    await teardown();
  });

  it('keeps the meaning old rows had: the sale amount was the revenue', async () => {
    const before = MIGRATIONS.findIndex((m) => m.id.endsWith('-money'));
    await migrate(pool, MIGRATIONS.slice(0, before));
    await pool.query(`INSERT INTO advertisers (id, name) VALUES ('adv', 'A')`);
    await pool.query(`INSERT INTO offers (id, advertiser_id, name, payout) VALUES ('old-offer', 'adv', 'O', 4)`);
    await pool.query(
      `INSERT INTO decisions (conversion_id, ts, click_id, offer_id, publisher_id, advertiser_id, status, score, reason_codes, reasons,
                              amount, payout, currency, ruleset_version, decided_at, latency_ms)
       VALUES ('old-conversion', '2026-10-02T10:30:00Z', 'c', 'old-offer', 'pub', 'adv', 'approved', 0.1, '{}', '[]', 80, 4, 'USD', 'v1', now(), 1)`,
    );

    await migrate(pool);

    const offer = await new CatalogRepository(pool).findOffer('old-offer');
    expect(offer).toMatchObject({ revenueModel: 'percent', revenue: 100, payoutModel: 'fixed', payout: 4, publisherPayouts: {} });
    const { rows } = await pool.query(`SELECT revenue::float8 AS revenue FROM decisions WHERE conversion_id = 'old-conversion'`);
    expect(rows).toEqual([{ revenue: 80 }]);
    const rollup = await pool.query(
      `SELECT sum(revenue)::float8 AS revenue, sum(payout)::float8 AS payout, sum(sale_amount)::float8 AS sale FROM kpi_conversions_hourly`,
    );
    expect(rollup.rows).toEqual([{ revenue: 80, payout: 4, sale: 80 }]);
    // TimescaleDB: the rebuilt continuous aggregates are recomputed by the recorder from the oldest row on.
    const backfills = await pool.query(`SELECT rollup, since FROM rollup_backfills ORDER BY rollup`);
    const dialect = await detectDialect(pool);
    expect(backfills.rows.length).toBe(dialect.name === 'timescaledb' ? ROLLUPS.length : 0);
    for (const b of backfills.rows) expect((b.since as Date).toISOString()).toBe('2026-10-02T10:30:00.000Z');
  });
});

describe.each(targets)('Enforcement migration on $name: the rollups gain ENFORCEMENT_BLOCK', ({ setup }) => {
  let pool: Pool;
  let teardown: () => Promise<void>;

  beforeAll(async () => {
    const target = await setup();
    teardown = target.teardown;
    pool = createPool({ url: target.url, max: 2, applicationName: 'kpi-enforcement-migration-test' });
  });

  afterAll(async () => {
    await pool.end();
    await teardown();
  });

  it('rebuilds the rollups with the new reason column, history included', async () => {
    const before = MIGRATIONS.findIndex((m) => m.id.endsWith('-enforcement'));
    await migrate(pool, MIGRATIONS.slice(0, before));
    const columns = async (rollup: string) =>
      (await pool.query(`SELECT * FROM ${rollup} LIMIT 0`)).fields.map((f) => f.name).filter((c) => c.startsWith('r_'));
    expect(await columns('kpi_clicks_hourly')).not.toContain(reasonColumn('ENFORCEMENT_BLOCK'));
    // A conversion rejected with the code before the migration (as a scorer of the new version would write it).
    await pool.query(
      `INSERT INTO decisions (conversion_id, ts, click_id, offer_id, publisher_id, advertiser_id, status, score, reason_codes, reasons,
                              amount, revenue, payout, currency, ruleset_version, decided_at, latency_ms)
       VALUES ('blocked-conversion', '2026-11-02T10:30:00Z', 'c', 'o', 'pub', 'adv', 'rejected', 1, '{ENFORCEMENT_BLOCK}', '[]', 80, 80, 4, 'USD', 'v9', now(), 1)`,
    );

    await migrate(pool);

    for (const r of ROLLUPS) expect(await columns(r.name)).toContain(reasonColumn('ENFORCEMENT_BLOCK'));
    const dialect = await detectDialect(pool);
    if (dialect.name === 'postgres') {
      const { rows } = await pool.query(`SELECT sum(r_enforcement_block)::float8 AS n FROM kpi_conversions_hourly`);
      expect(rows).toEqual([{ n: 1 }]);
    } else {
      // TimescaleDB: the recorder's refresher recomputes the rebuilt continuous aggregates from the oldest row on.
      const backfills = await pool.query(`SELECT rollup, since FROM rollup_backfills ORDER BY rollup`);
      expect(backfills.rows.map((b) => b.rollup).sort()).toEqual(ROLLUPS.map((r) => r.name).sort());
      for (const b of backfills.rows) expect((b.since as Date).toISOString()).toBe('2026-11-02T10:30:00.000Z');
    }
  });
});

/**
 * Stored before the link dropped an empty `sub=` (or sent so through the JSON API by an older
 * engine): a click with sub-id '' and one without, in one hour. Both targets count both, and go on
 * refreshing (plain PostgreSQL's key once took them for one group where its refresh made two).
 */
describe.each(targets)('KPI rollups on $name: a sub-id stored empty beside one not sent', ({ setup }) => {
  let pool: Pool;
  let teardown: () => Promise<void>;
  beforeAll(async () => {
    const target = await setup();
    teardown = target.teardown;
    pool = createPool({ url: target.url, max: 2, applicationName: 'kpi-test-sub' });
    await migrate(pool);
  });
  afterAll(async () => {
    await pool.end();
    await teardown();
  });

  it('both are counted, and later clicks too', async () => {
    const at = Date.UTC(2026, 10, 2, 10, 15);
    const click = (id: string, ts: number, subId: string | null): ClickVerdict => clickVerdict(ts, id, 'pub-sub', subId);
    const repository = new OutcomeRepository(pool);
    const dialect = await detectDialect(pool);
    const refresh = async () => {
      for (const r of ROLLUPS) for (const step of dialect.refresh(r, new Date(at - 3600_000))) await pool.query(step.sql, step.params);
    };
    await repository.insert([click('sub-a', at, ''), click('sub-b', at, null)]);
    await refresh();
    await repository.insert([click('sub-c', at + 60_000, null)]);
    await refresh();
    const sum = async (rollup: string) =>
      (await pool.query(`SELECT sum(clicks)::int AS n FROM ${rollup} WHERE publisher_id = 'pub-sub'`)).rows[0].n;
    expect(await sum('kpi_clicks_hourly')).toBe(3);
    expect(await sum('kpi_clicks_daily')).toBe(3);
  });
});
