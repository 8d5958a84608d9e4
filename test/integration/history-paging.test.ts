import { Pool } from 'pg';
import { EmbeddedDatabase, EventHistoryRepository, HistoricalEvent, createPool, migrate } from '@app/storage';
import { createTestDatabase } from '@app/testing';

/**
 * A history read (a backtest, `arbiter backtest`) runs for as long as its consumer scores. On the
 * embedded database one connection at a time holds the database while it is in a transaction: a read
 * held in one transaction for its whole run (a cursor) made the recorder and every other service wait,
 * then time out. Pages are read one short statement each, in stream order, with nothing held between.
 */
const DAY = Date.parse('2026-01-10T00:00:00Z');
const range = { from: new Date(DAY), to: new Date(DAY + 86_400_000) };
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** `n` clicks in the range: `sameInstant` of them share each receipt time (µs included), ids out of receipt order. */
async function seed(pool: Pool, prefix: string, n: number, sameInstant: number): Promise<void> {
  await pool.query(
    `INSERT INTO clicks (id, ts, received_at, offer_id, publisher_id, ip, user_agent, partition)
     SELECT 'c' || (i % 3) || '.' || $1 || lpad(((i * 7919) % $2)::text, 6, '0'),
            $3::timestamptz + (i / $4) * interval '1 second',
            $3::timestamptz + (i / $4) * interval '1 second' + interval '123 microseconds',
            'off', 'pub', '10.0.0.1', 'ua', i % 3
       FROM generate_series(0, $2 - 1) i`,
    [prefix, n, range.from, sameInstant],
  );
  // Conversions interleaved with the clicks, some at a click's very receipt time.
  await pool.query(
    `INSERT INTO conversions (id, ts, received_at, click_id, amount, partition)
     SELECT $1 || 'v' || lpad(i::text, 6, '0'), $3::timestamptz + (i * 2) * interval '1 second',
            $3::timestamptz + (i * 2) * interval '1 second' + interval '123 microseconds', 'c0.x', 1, 0
       FROM generate_series(0, $2 / 10) i`,
    [prefix, n, range.from],
  );
}

/** Every event of the range in one statement, in the stream order the readers need. */
async function expected(pool: Pool): Promise<string[]> {
  const { rows } = await pool.query(
    `SELECT id FROM (SELECT id, received_at FROM clicks WHERE ts >= $1 AND ts < $2
                     UNION ALL SELECT id, received_at FROM conversions WHERE ts >= $1 AND ts < $2) e
      ORDER BY received_at, regexp_replace(id, '^c[0-9]+[.]', '')`,
    [range.from, range.to],
  );
  return rows.map((r) => r.id);
}

async function readAll(sut: EventHistoryRepository, pageSize: number): Promise<HistoricalEvent[]> {
  const events: HistoricalEvent[] = [];
  for await (const page of sut.stream(range, pageSize)) events.push(...page);
  return events;
}

describe.each([
  ['PostgreSQL', 'postgres'],
  ['the embedded database', 'embedded'],
] as const)('history read in pages, on %s', (_name, kind) => {
  let pool: Pool;
  let stop: () => Promise<void>;

  beforeAll(async () => {
    let url: string;
    if (kind === 'postgres') {
      const db = await createTestDatabase();
      url = db.url;
      stop = db.drop;
    } else {
      const db = await EmbeddedDatabase.start();
      url = db.url;
      stop = () => db.stop();
    }
    pool = createPool({ url, max: 4, applicationName: 'history-paging-test' });
    await migrate(pool);
    await seed(pool, 'h', 2_000, 7);
  }, 120_000);
  afterAll(async () => {
    await pool.end();
    await stop();
  });

  it.each([3, 6, 7, 100, 5_000])(
    'reads every event once, in stream order, with pages of %i (receipt times shared across page ends)',
    async (pageSize) => {
      const events = await readAll(new EventHistoryRepository(pool), pageSize);
      expect(events.map((e) => e.event.id)).toEqual(await expected(pool));
    },
  );

  it("lets another connection's insert complete while a slow consumer reads", async () => {
    const sut = new EventHistoryRepository(pool);
    let inserted: Promise<unknown> | undefined;
    let insertedBeforeTheEnd = false;
    let pages = 0;
    for await (const page of sut.stream(range, 100)) {
      expect(page.length).toBeGreaterThan(0);
      pages++;
      // The recorder's write, begun while the read is in progress.
      inserted ??= pool
        .query(
          `INSERT INTO clicks (id, ts, received_at, offer_id, publisher_id, ip, user_agent, partition)
           VALUES ('late-' || gen_random_uuid(), now(), now(), 'off', 'pub', '10.0.0.1', 'ua', 0)`,
        )
        .then(() => (insertedBeforeTheEnd = true));
      // A slow consumer: scoring a page takes a while.
      await Promise.race([inserted, sleep(20)]);
    }
    expect(pages).toBeGreaterThan(2);
    expect(insertedBeforeTheEnd).toBe(true);
    await inserted;
  });

  it("reads an event stored after the read began if it is ahead of the read and within the range's receipts when it began; never one already passed, never twice", async () => {
    const sut = new EventHistoryRepository(pool);
    const seen: string[] = [];
    let added = false;
    for await (const page of sut.stream(range, 50)) {
      seen.push(...page.map((e) => e.event.id));
      if (!added) {
        added = true;
        // One received ahead of the read (within the range's receipts when it began), one at the
        // range's start (already passed), one after the range's newest receipt when the read began.
        await pool.query(
          `INSERT INTO clicks (id, ts, received_at, offer_id, publisher_id, ip, user_agent, partition)
           VALUES ('ahead-' || $3, $1::timestamptz + interval '200 seconds', $1::timestamptz + interval '200 seconds', 'off', 'pub', '10.0.0.1', 'ua', 0),
                  ('behind-' || $3, $1, $1, 'off', 'pub', '10.0.0.1', 'ua', 0),
                  ('newer-' || $3, $2::timestamptz - interval '1 second', $2::timestamptz - interval '1 second', 'off', 'pub', '10.0.0.1', 'ua', 0)`,
          [range.from, range.to, kind],
        );
      }
    }
    expect(seen).toContain(`ahead-${kind}`);
    expect(seen).not.toContain(`behind-${kind}`);
    expect(seen).not.toContain(`newer-${kind}`);
    expect(new Set(seen).size).toBe(seen.length);
    await pool.query(`DELETE FROM clicks WHERE id IN ($1, $2, $3)`, [`ahead-${kind}`, `behind-${kind}`, `newer-${kind}`]);
  });
});
