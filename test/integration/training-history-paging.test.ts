import { Pool } from 'pg';
import { EmbeddedDatabase, createPool, migrate } from '@app/storage';
import { createTestDatabase } from '@app/testing';
import { databaseEvents } from '../../apps/cli/src/replay/database-events';

/**
 * `arbiter train --from-db` reads the history in time order a page per statement. Each page used to
 * read, label and sort every later event of the three tables (on plain PostgreSQL feedback had no
 * btree time index: a sequential scan): a read of n events in pages of p cost n²/2p rows. Now each
 * table gives at most a page through its time index before the three are merged; the lines are the
 * same, in the same order.
 */
const FROM = Date.parse('2026-04-01T00:00:00Z');
const DAY = 86_400_000;
const at = (ms: number) => new Date(FROM + ms).toISOString();

/** The reader as it was (main before this change): the same key, each table unlimited, sorted whole. */
async function* before(pool: Pool, pageSize: number): AsyncGenerator<unknown> {
  let after = { ts: new Date(0), id: '' };
  for (;;) {
    const { rows } = await pool.query(
      `SELECT * FROM (
         SELECT 'click' AS kind, c.ts, c.id, jsonb_strip_nulls(jsonb_build_object(
           'id', c.id, 'ts', c.ts, 'offerId', c.offer_id, 'publisherId', c.publisher_id, 'subId', c.sub_id, 'subIds', c.sub_ids,
           'ip', c.ip, 'userAgent', c.user_agent, 'referrer', c.referrer, 'deviceId', c.device_id, 'country', c.country,
           'label', c.label)) AS body
           FROM clicks c WHERE (c.ts, c.id) > ($1, $2)
         UNION ALL
         SELECT 'conversion', v.ts, v.id, jsonb_strip_nulls(jsonb_build_object(
           'id', v.id, 'ts', v.ts, 'clickId', v.click_id, 'offerId', v.offer_id, 'orderId', v.order_id, 'amount', v.amount::float8,
           'payout', v.payout::float8, 'currency', v.currency, 'type', v.type, 'ip', v.ip, 'userAgent', v.user_agent,
           'deviceId', v.device_id, 'country', v.country,
           'label', coalesce((SELECT CASE f.status WHEN 'rejected' THEN 'fraud' ELSE 'legit' END FROM feedback f
                               WHERE f.conversion_id = v.id ORDER BY f.ts DESC LIMIT 1), v.label))) AS body
           FROM conversions v WHERE (v.ts, v.id) > ($1, $2)
         UNION ALL
         SELECT 'feedback', f.ts, f.id, jsonb_strip_nulls(jsonb_build_object(
           'id', f.id, 'ts', f.ts, 'conversionId', f.conversion_id, 'status', f.status, 'reason', f.reason)) AS body
           FROM feedback f WHERE (f.ts, f.id) > ($1, $2)
       ) e ORDER BY ts, id LIMIT ${pageSize}`,
      [after.ts, after.id],
    );
    if (!rows.length) return;
    for (const r of rows) {
      const body = r.body as Record<string, unknown>;
      yield { kind: r.kind, ...body, ts: new Date(body.ts as string).toISOString() };
    }
    after = { ts: rows[rows.length - 1].ts, id: rows[rows.length - 1].id };
  }
}

/**
 * `n` clicks (6,000 unless told) over ten days (one-day chunks; conversions' and feedback's are 7 and 30 days), two in
 * three sharing their time with another; a conversion per 10 clicks, feedback on a third of them
 * (some the day after, some months later). Then events on chunk boundaries and far from the rest.
 */
async function seed(pool: Pool, n = 6_000): Promise<void> {
  await pool.query(
    `INSERT INTO clicks (id, ts, received_at, offer_id, publisher_id, ip, user_agent, partition, label)
     SELECT 'c' || (i % 3) || '.k' || lpad(((i::bigint * 7919) % $2)::text, 7, '0'), t, t, 'off', 'pub', '10.0.0.' || (i % 7), 'ua', i % 3,
            CASE i % 4 WHEN 0 THEN 'fraud' WHEN 1 THEN 'legit' END
       FROM generate_series(0, $2 - 1) i, LATERAL (SELECT $1::timestamptz + (i / 3) * (interval '432 seconds' * 6000 / $2) AS t) x`,
    [new Date(FROM), n],
  );
  await pool.query(
    `INSERT INTO conversions (id, ts, received_at, click_id, amount, partition)
     SELECT 'v' || lpad(i::text, 7, '0'), t, t, 'c0.k' || lpad(((i::bigint * 7919) % $2)::text, 7, '0'), 1 + i % 9, 0
       FROM generate_series(0, $2 - 1, 10) i, LATERAL (SELECT $1::timestamptz + (i / 3) * (interval '432 seconds' * 6000 / $2) AS t) x`,
    [new Date(FROM), n],
  );
  await pool.query(
    `INSERT INTO feedback (id, ts, received_at, conversion_id, status, source)
     SELECT 'f' || lpad(i::text, 7, '0'), t, t, 'v' || lpad(i::text, 7, '0'), CASE WHEN i % 20 = 0 THEN 'rejected' ELSE 'approved' END, 'advertiser'
       FROM generate_series(0, $2 - 1, 30) i,
            LATERAL (SELECT $1::timestamptz + (i / 3) * (interval '432 seconds' * 6000 / $2)
                            + CASE WHEN i % 60 = 0 THEN interval '60 days' ELSE interval '1 day' END AS t) x`,
    [new Date(FROM), n],
  );
  const click = (id: string, ts: string) =>
    pool.query(
      `INSERT INTO clicks (id, ts, received_at, offer_id, publisher_id, ip, user_agent, partition) VALUES ($1, $2, $2, 'off', 'pub', '10.0.0.1', 'ua', 0)`,
      [id, ts],
    );
  // On chunk boundaries, far before and after the rest, and one time shared by a click, a conversion and feedback.
  for (const d of [0, 1, 7, 30]) await click(`edge-${d}`, at(d * DAY));
  await click('long-before', at(-400 * DAY));
  await click('long-after', at(200 * DAY));
  await pool.query(
    `INSERT INTO conversions (id, ts, received_at, click_id, amount, partition) VALUES ('v-shared', $1, $1, 'edge-1', 5, 0)`,
    [at(2 * DAY)],
  );
  await pool.query(
    `INSERT INTO feedback (id, ts, received_at, conversion_id, status, source) VALUES ('f-shared', $1, $1, 'v-shared', 'rejected', 'advertiser')`,
    [at(2 * DAY)],
  );
  await click('k-shared', at(2 * DAY));
}

async function lines(url: string, pageSize: number): Promise<unknown[]> {
  const out: unknown[] = [];
  for await (const l of databaseEvents(url, pageSize)) out.push(l.value);
  return out.slice(1); // the catalog line
}

/**
 * The page statements `databaseEvents` sends (text and parameters) in its first `pages` pages, caught at
 * the `pg` pool it makes: what is measured is what the reader runs, not a copy of it.
 */
async function sentPages(url: string, pageSize: number, pages: number): Promise<{ sql: string; params: unknown[] }[]> {
  const query = jest.spyOn(Pool.prototype, 'query');
  try {
    let n = 0;
    for await (const _ of databaseEvents(url, pageSize)) if (++n > pages * pageSize) break;
    // The page statement is the one sent with parameters (key time, key id, key kind, page size).
    return (query.mock.calls as unknown as [unknown, unknown][])
      .filter(([sql, params]) => typeof sql === 'string' && Array.isArray(params) && params.length === 4)
      .map(([sql, params]) => ({ sql: sql as string, params: params as unknown[] }));
  } finally {
    query.mockRestore();
  }
}

/** The rows a page statement read from the event tables (or their chunks), by EXPLAIN ANALYZE. */
async function rowsRead(pool: Pool, tables: Set<string>, sql: string, params: unknown[]): Promise<number> {
  const { rows } = await pool.query(`EXPLAIN (ANALYZE, FORMAT JSON) ${sql}`, params);
  let n = 0;
  const walk = (node: any) => {
    if (tables.has(node['Relation Name'])) {
      n +=
        (node['Actual Rows'] + (node['Rows Removed by Filter'] ?? 0) + (node['Rows Removed by Index Recheck'] ?? 0)) * node['Actual Loops'];
    }
    for (const child of node.Plans ?? []) walk(child);
  };
  walk(rows[0]['QUERY PLAN'][0].Plan);
  return n;
}

interface Seeded {
  pool: Pool;
  url: string;
  /** The relations the event tables' rows are read from: the tables, or their chunks. */
  tables: Set<string>;
  stop(): Promise<void>;
}

/** A database of its own with `n` clicks and the rest; on the embedded one the first week compressed. */
async function seeded(kind: 'postgres' | 'embedded', n?: number, more?: (pool: Pool) => Promise<void>): Promise<Seeded> {
  let url: string;
  let drop: () => Promise<void>;
  if (kind === 'postgres') {
    const db = await createTestDatabase();
    url = db.url;
    drop = db.drop;
  } else {
    const db = await EmbeddedDatabase.start();
    url = db.url;
    drop = () => db.stop();
  }
  const pool = createPool({ url, max: 2, applicationName: 'training-paging-test' });
  await migrate(pool);
  await seed(pool, n);
  await more?.(pool);
  const tables = new Set(['clicks', 'conversions', 'feedback']);
  if (kind === 'embedded') {
    // The first week's clicks and the conversions' chunks before it compressed; the rest row-stored.
    const { rows } = await pool.query(
      `SELECT compress_chunk(c) FROM show_chunks('clicks', older_than => $1::timestamptz + interval '7 days') c
       UNION ALL SELECT compress_chunk(c) FROM show_chunks('conversions', older_than => $1::timestamptz + interval '7 days') c`,
      [new Date(FROM)],
    );
    expect(rows.length).toBeGreaterThan(7);
    const chunks = await pool.query(
      `SELECT chunk_name FROM timescaledb_information.chunks WHERE hypertable_name IN ('clicks', 'conversions', 'feedback')`,
    );
    for (const r of chunks.rows) tables.add(r.chunk_name);
  }
  await pool.query('ANALYZE');
  return {
    pool,
    url,
    tables,
    stop: async () => {
      await pool.end();
      await drop();
    },
  };
}

describe.each([
  ['PostgreSQL', 'postgres'],
  ['the embedded database (TimescaleDB, compressed and uncompressed chunks)', 'embedded'],
] as const)('train --from-db history read in pages, on %s', (_name, kind) => {
  let db: Seeded;
  beforeAll(async () => {
    db = await seeded(kind);
  }, 180_000);
  afterAll(() => db?.stop());

  it.each([7, 100, 5_000])(
    'reads the same lines in the same order as before, in pages of %i (shared times, chunk boundaries, compressed chunks)',
    async (pageSize) => {
      const was: unknown[] = [];
      for await (const l of before(db.pool, pageSize)) was.push(l);
      expect(was.length).toBeGreaterThan(6_800);
      expect(await lines(db.url, pageSize)).toEqual(was);
    },
    120_000,
  );
});

describe.each([
  ['PostgreSQL', 'postgres'],
  ['the embedded database (TimescaleDB, compressed and uncompressed chunks)', 'embedded'],
] as const)('train --from-db history read in pages of 100,000 clicks and the rest, on %s', (_name, kind) => {
  let db: Seeded;
  beforeAll(async () => {
    db = await seeded(kind, 100_000);
  }, 300_000);
  afterAll(() => db?.stop());

  it('reads about a page of each table per page, not the rest of the history (rows read, by EXPLAIN ANALYZE)', async () => {
    const pageSize = 200;
    const sent = await sentPages(db.url, pageSize, 2);
    // One statement, keyed on the page before's last event: the first two pages as the reader sent them.
    expect(sent.length).toBeGreaterThanOrEqual(2);
    expect(new Set(sent.map((s) => s.sql)).size).toBe(1);
    expect(sent[0].params).toEqual([new Date(0).toISOString(), '', '', pageSize]);
    const { sql } = sent[0];
    // The first page, one in the compressed week, and two in the row-stored days.
    for (const [ts, id, keyKind] of [
      [new Date(0), '', ''],
      [new Date(FROM + 2 * DAY), 'c0.k0000000', 'click'],
      [new Date(FROM + 8 * DAY), 'c1.k0030000', 'click'],
      [new Date(FROM + 9 * DAY), 'c2.k0050000', 'click'],
    ] as const) {
      // A page of clicks, of conversions and of feedback at most, and each conversion's feedback looked
      // up for its label. On TimescaleDB a compressed chunk is read in time order by decompressing and
      // sorting it whole (its batches are per publisher): a page reads at most the compressed day(s) it
      // spans too (10,000 clicks here). Before, the first page read, labelled and sorted all ~113,000
      // events of the three tables.
      const bound = kind === 'postgres' ? 4 * pageSize + 2_000 : 4 * pageSize + 2 * 11_000;
      expect(await rowsRead(db.pool, db.tables, sql, [ts, id, keyKind, pageSize])).toBeLessThan(bound);
    }
  }, 120_000);
});

/**
 * Events the reader's key once lost track of (it kept the key's time as a Date, milliseconds, and had
 * no kind): 30 clicks in one millisecond with distinct microseconds, inserted by SQL (ingest stores
 * milliseconds), more than a page; and a click, a conversion and feedback sharing one time and id.
 */
async function ties(pool: Pool): Promise<void> {
  await pool.query(
    `INSERT INTO clicks (id, ts, received_at, offer_id, publisher_id, ip, user_agent, partition)
     SELECT 'us-' || lpad(i::text, 2, '0'), t, t, 'off', 'pub', '10.0.0.1', 'ua', 0
       FROM generate_series(1, 30) i, LATERAL (SELECT $1::timestamptz + (31 - i) * interval '1 microsecond' AS t) x`,
    [at(3 * DAY + 123)],
  );
  const t = '2026-04-05T06:07:08.009500Z';
  await pool.query(
    `INSERT INTO clicks (id, ts, received_at, offer_id, publisher_id, ip, user_agent, partition) VALUES ('tie', $1, $1, 'off', 'pub', '10.0.0.1', 'ua', 0)`,
    [t],
  );
  await pool.query(`INSERT INTO conversions (id, ts, received_at, click_id, amount, partition) VALUES ('tie', $1, $1, 'tie', 5, 0)`, [t]);
  await pool.query(
    `INSERT INTO feedback (id, ts, received_at, conversion_id, status, source) VALUES ('tie', $1, $1, 'tie', 'approved', 'advertiser')`,
    [t],
  );
}

describe.each([
  ['PostgreSQL', 'postgres'],
  ['the embedded database (TimescaleDB, compressed and uncompressed chunks)', 'embedded'],
] as const)('train --from-db keys its pages on the exact stored time and the kind, on %s', (_name, kind) => {
  let db: Seeded;
  /** Every event, once, in the reader's order (time to the microsecond, id, kind), as kind/id. */
  let all: string[];
  beforeAll(async () => {
    db = await seeded(kind, 60, ties);
    const { rows } = await db.pool.query(
      `SELECT kind || '/' || id AS k FROM (
         SELECT 'click'::text AS kind, id, ts FROM clicks UNION ALL SELECT 'conversion', id, ts FROM conversions
         UNION ALL SELECT 'feedback', id, ts FROM feedback) e ORDER BY ts, id, kind`,
    );
    all = rows.map((r) => r.k);
  }, 180_000);
  afterAll(() => db?.stop());

  it.each([1, 7, 29])(
    'reads every event once, in order, in pages of %i: 30 clicks in one millisecond (µs apart), a click, a conversion and feedback on one time and id',
    async (pageSize) => {
      expect(all.filter((k) => k.startsWith('click/us-'))).toHaveLength(30);
      expect(all.filter((k) => k.endsWith('/tie'))).toEqual(['click/tie', 'conversion/tie', 'feedback/tie']);
      const read: string[] = [];
      // A reader that repeats pages for ever is stopped at two pages past the history, and fails below.
      for await (const l of databaseEvents(db.url, pageSize)) {
        const v = l.value as { kind: string; id?: string };
        if (v.kind !== 'catalog') read.push(`${v.kind}/${v.id}`);
        if (read.length > all.length + 2 * pageSize) break;
      }
      expect(read).toEqual(all);
    },
    120_000,
  );
});
