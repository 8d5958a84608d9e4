import { Pool } from 'pg';
import { EmbeddedDatabase, EventHistoryRepository, HistoricalEvent, createPool, migrate } from '@app/storage';
import { createTestDatabase } from '@app/testing';

/**
 * A history read (backtest) over chunks: every event of the range once, in stream order (receipt,
 * bare id, kind, id, ts), whatever its chunk, compressed or not, and however far its time is from
 * its receipt; and each page reads about a page of events, not the rest of the range. A compressed
 * chunk has no receipt index: a page bounded by receipt alone decompressed every event of the range
 * after it (n²/2p rows for a read of n in pages of p).
 */
const FROM = Date.parse('2026-03-01T00:00:00Z');
const DAY = 86_400_000;
const range = { from: new Date(FROM), to: new Date(FROM + 10 * DAY) };
const at = (ms: number) => new Date(FROM + ms).toISOString();

/**
 * 12,000 clicks over the range's ten days (one-day chunks, conversions' chunks are seven days): one
 * publisher, so a compressed chunk holds batches of 1,000 consecutive clicks. Then the awkward ones.
 */
async function seed(pool: Pool): Promise<void> {
  await pool.query(
    `INSERT INTO clicks (id, ts, received_at, offer_id, publisher_id, ip, user_agent, partition, label)
     SELECT 'c' || (i % 3) || '.k' || lpad(((i * 7919) % 12000)::text, 6, '0'), t, t, 'off', 'pub', '10.0.0.1', 'ua', i % 3,
            CASE WHEN i % 5 = 0 THEN 'fraud' END
       FROM generate_series(0, 11999) i, LATERAL (SELECT $1::timestamptz + (i / 3) * interval '216 seconds' AS t) x`,
    [range.from],
  );
  // A conversion received with every 20th click (same receipt, same bare id as some click: kind breaks the tie).
  await pool.query(
    `INSERT INTO conversions (id, ts, received_at, click_id, amount, partition)
     SELECT 'k' || lpad(((i * 7919) % 12000)::text, 6, '0'), t, t, 'c0.x', 1, 0
       FROM generate_series(0, 11999, 20) i, LATERAL (SELECT $1::timestamptz + (i / 3) * interval '216 seconds' AS t) x`,
    [range.from],
  );
  const click = (id: string, ts: string, receivedAt: string) =>
    pool.query(
      `INSERT INTO clicks (id, ts, received_at, offer_id, publisher_id, ip, user_agent, partition) VALUES ($1, $2, $3, 'off', 'pub', '10.0.0.1', 'ua', 0)`,
      [id, ts, receivedAt],
    );
  const conversion = (id: string, ts: string, receivedAt: string) =>
    pool.query(`INSERT INTO conversions (id, ts, received_at, click_id, amount, partition) VALUES ($1, $2, $3, 'c0.x', 1, 0)`, [
      id,
      ts,
      receivedAt,
    ]);
  // On chunk boundaries (a day's, a week's, the range's ends: `to` is excluded).
  for (const d of [0, 1, 2, 5, 7, 9]) {
    await click(`edge-click-${d}`, at(d * DAY), at(d * DAY));
    await conversion(`edge-conv-${d}`, at(d * DAY), at(d * DAY));
  }
  await click('edge-click-end', at(10 * DAY), at(10 * DAY - 1000)); // ts = to: not in the range
  await click('edge-click-last-us', at(10 * DAY - 1).replace('Z', '999Z'), at(10 * DAY - 1).replace('Z', '999Z'));
  // Late and early: a partner's conversion reported six days before receipt; an admin's click dated nine
  // days before its receipt, one two days after, one received before the range began, one dated outside it.
  await conversion('late-conv', at(1 * DAY + 3600_000), at(7 * DAY + 3600_000));
  await click('late-click', at(0 * DAY + 60_000), at(9 * DAY + 60_000));
  await click('early-click', at(8 * DAY), at(6 * DAY));
  await click('before-range', at(2 * DAY), at(-3 * DAY));
  await click('outside-range', at(-1 * DAY), at(3 * DAY));
  // Ties on the whole receipt (to the µs), ids out of receipt order; the same id twice (another ts).
  for (const id of ['tie-b', 'tie-a', 'c1.tie-c', 'tie-c']) await click(id, at(4 * DAY + 500), at(4 * DAY + 500));
  await conversion('tie-c', at(4 * DAY + 500), at(4 * DAY + 500));
  await click('tie-a', at(4 * DAY + 400), at(4 * DAY + 500));
  await click('us-apart', at(4 * DAY + 500).replace('Z', '001Z'), at(4 * DAY + 500).replace('Z', '001Z'));
}

/**
 * A burst: 40,000 clicks of one publisher received within ten minutes of a ten-day range of its own
 * (days 20-30, after the main range). A ten-thousandth of this range (86.4 s) holds ~5,800 of them,
 * more than ten pages of 500: a window cut from the range alone was a whole bucket, and each page
 * decompressed that bucket's span.
 */
const burst = { from: new Date(FROM + 20 * DAY), to: new Date(FROM + 30 * DAY) };
const BURST = 40_000;

async function seedBurst(pool: Pool): Promise<void> {
  await pool.query(
    `INSERT INTO clicks (id, ts, received_at, offer_id, publisher_id, ip, user_agent, partition)
     SELECT 'c0.b' || lpad(i::text, 6, '0'), t, t, 'off', 'pub', '10.0.0.1', 'ua', 0
       FROM generate_series(0, ${BURST - 1}) i, LATERAL (SELECT $1::timestamptz + interval '1 day' + i * interval '15 milliseconds' AS t) x`,
    [burst.from],
  );
}

/** Every event of the range in one statement, in stream order: what the reader has to return. */
async function expected(pool: Pool, within = range): Promise<string[]> {
  const { rows } = await pool.query(
    `SELECT kind || ':' || id || '@' || floor(extract(epoch FROM ts) * 1000) AS key FROM (
       SELECT 'click' AS kind, id, ts, received_at FROM clicks WHERE ts >= $1 AND ts < $2
       UNION ALL SELECT 'conversion', id, ts, received_at FROM conversions WHERE ts >= $1 AND ts < $2) e
      ORDER BY received_at, regexp_replace(id, '^c[0-9]+[.]', ''), kind, id, ts`,
    [within.from, within.to],
  );
  return rows.map((r) => r.key);
}

const keyOf = (e: HistoricalEvent) => `${e.event.kind}:${e.event.id}@${Date.parse(e.event.ts)}`;

/** The rows each page statement read from clicks and conversions (decompressed, or scanned), by EXPLAIN ANALYZE. */
function rowsRead(plan: any, tables: Set<string>): number {
  let n = 0;
  const walk = (node: any) => {
    if (tables.has(node['Relation Name'])) {
      n +=
        (node['Actual Rows'] + (node['Rows Removed by Filter'] ?? 0) + (node['Rows Removed by Index Recheck'] ?? 0)) * node['Actual Loops'];
    }
    for (const child of node.Plans ?? []) walk(child);
  };
  walk(plan);
  return n;
}

/**
 * A pool that also EXPLAIN ANALYZEs each statement the reader sends, and keeps what it read: each page
 * statement's in `perPage`, the passes that cut the range into windows in `passes`.
 */
function measured(pool: Pool, tables: Set<string>, perPage: number[], passes: number[] = []): Pool {
  return {
    query: async (sql: string, params: unknown[]) => {
      const { rows } = await pool.query(`EXPLAIN (ANALYZE, FORMAT JSON) ${sql}`, params);
      (sql.includes('WITH page AS') ? perPage : passes).push(rowsRead(rows[0]['QUERY PLAN'][0].Plan, tables));
      return pool.query(sql, params);
    },
  } as unknown as Pool;
}

async function readAll(pool: Pool, pageSize: number, within = range): Promise<{ events: HistoricalEvent[]; pages: number[] }> {
  const events: HistoricalEvent[] = [];
  const pages: number[] = [];
  for await (const page of new EventHistoryRepository(pool).stream(within, pageSize)) {
    events.push(...page);
    pages.push(page.length);
  }
  return { events, pages };
}

describe.each([
  ['PostgreSQL', 'postgres'],
  ['the embedded database (TimescaleDB, compressed and uncompressed chunks)', 'embedded'],
] as const)('history read in pages over chunks, on %s', (_name, kind) => {
  let pool: Pool;
  let stop: () => Promise<void>;
  /** The relations the event tables' rows are read from: the tables, or their chunks. */
  let tables: Set<string>;
  let compressed = 0;

  beforeAll(async () => {
    if (kind === 'postgres') {
      const db = await createTestDatabase();
      pool = createPool({ url: db.url, max: 4, applicationName: 'history-chunks-test' });
      stop = db.drop;
    } else {
      const db = await EmbeddedDatabase.start();
      pool = createPool({ url: db.url, max: 4, applicationName: 'history-chunks-test' });
      stop = () => db.stop();
    }
    await migrate(pool);
    await seed(pool);
    await seedBurst(pool);
    tables = new Set(['clicks', 'conversions']);
    if (kind === 'embedded') {
      // Compress the click chunks of days 1-7 and the conversions' chunks before day 7; the rest stay row-stored.
      const { rows } = await pool.query(
        `SELECT compress_chunk(c)::text AS c FROM show_chunks('clicks', newer_than => $1::timestamptz + interval '1 day', older_than => $1::timestamptz + interval '8 days') c
         UNION ALL SELECT compress_chunk(c)::text FROM show_chunks('conversions', older_than => $1::timestamptz + interval '7 days') c
         UNION ALL SELECT compress_chunk(c)::text FROM show_chunks('clicks', newer_than => $1::timestamptz + interval '20 days') c`,
        [range.from],
      );
      compressed = rows.length;
      const chunks = await pool.query(
        `SELECT c.chunk_name AS name FROM timescaledb_information.chunks c WHERE c.hypertable_name IN ('clicks', 'conversions')`,
      );
      for (const r of chunks.rows) tables.add(r.name);
    }
  }, 180_000);
  afterAll(async () => {
    await pool?.end();
    await stop?.();
  });

  it('seeds compressed chunks on the embedded database', () => {
    if (kind === 'embedded') expect(compressed).toBeGreaterThanOrEqual(9);
  });

  it.each([3, 50, 1_000, 100_000])(
    'reads every event once, in stream order, with pages of %i: ties, chunk and range boundaries, times far from receipt',
    async (pageSize) => {
      const want = await expected(pool);
      expect(want).toEqual(expect.arrayContaining([`click:late-click@${FROM + 60_000}`, `conversion:late-conv@${FROM + DAY + 3600_000}`]));
      expect(want.join()).not.toMatch(/edge-click-end|outside-range/);
      const { events, pages } = await readAll(pool, pageSize);
      expect(events.map(keyOf)).toEqual(want);
      // Full pages but the last.
      expect(pages.slice(0, -1).every((n) => n === pageSize)).toBe(true);
      expect(pages[pages.length - 1]).toBeGreaterThan(0);
    },
    120_000,
  );

  it('reads the same events, labels and recorded statuses in pages as in one', async () => {
    const whole = (await readAll(pool, 100_000)).events;
    const paged = (await readAll(pool, 333)).events;
    expect(paged).toEqual(whole);
    expect(whole.filter((e) => e.label === 'fraud').length).toBe(2_400);
  }, 120_000);

  it('reads about a page of events per page, not the rest of the range (rows decompressed or scanned, by EXPLAIN ANALYZE)', async () => {
    const perPage: number[] = [];
    const n = (await expected(pool)).length;
    const pageSize = 500;
    const { events } = await readAll(measured(pool, tables, perPage), pageSize);
    expect(events).toHaveLength(n);
    // A page's window of receipts holds ~500 events; a compressed batch holds 1,000 consecutive clicks,
    // so a page decompresses the one or two batches its window overlaps (and the week's late conversion).
    // Before, the first page decompressed every compressed event of the range (~8,600) and the total
    // was ~n²/2p (~100,000 here, ~8 × n).
    expect(Math.max(...perPage)).toBeLessThan(4 * pageSize + 2_000);
    expect(perPage.reduce((a, b) => a + b, 0)).toBeLessThan(4 * n);
  }, 180_000);

  it('reads about a page of events per page when a burst of receipts holds many pages in one ten-thousandth of the range', async () => {
    const perPage: number[] = [];
    const passes: number[] = [];
    const want = await expected(pool, burst);
    expect(want).toHaveLength(BURST);
    const pageSize = 500;
    const { events } = await readAll(measured(pool, tables, perPage, passes), pageSize, burst);
    expect(events.map(keyOf)).toEqual(want);
    // A window of ~500 receipts (and the bucket before its key) overlaps one or two compressed batches
    // of 1,000: 2,000 rows a page at most, ~4 × n in all on the embedded database. Cut from the range
    // alone, a window was a whole 86.4 s bucket (~5,800 clicks) and every page read all of it: 8,000
    // rows a page at most and ~8.9 × n in all embedded; 6,061 and ~6.5 × n on PostgreSQL.
    expect(Math.max(...perPage)).toBeLessThan(4 * pageSize + 2_000);
    expect(perPage.reduce((a, b) => a + b, 0)).toBeLessThan(6 * BURST);
    // Cutting the burst finer reads it about once more: the range pass (40,000), then each overfull
    // bucket's events (~5,800 each, 6,000-7,000 decompressed on the embedded database): ~2 × n.
    expect(passes.reduce((a, b) => a + b, 0)).toBeLessThan(3 * BURST);
  }, 180_000);
});
