import { Pool } from 'pg';
import { ChurnVacuum, EmbeddedDatabase, WebhookAttempt, WebhookRepository, createPool, migrate } from '@app/storage';
import { createTestDatabase, uid } from '@app/testing';

/**
 * A delivery's claim (webhook_claims, WebhookRepository.claim): one send in flight per delivery and
 * owner, however many copies of it are handled at once and by however many notifiers, on both
 * databases a notifier runs on.
 */
type Target = { name: string; setup(): Promise<{ url: string; teardown(): Promise<void> }> };

const targets: Target[] = [
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

const LEASE_MS = 70_000;

describe.each(targets)('webhook delivery claims on $name', ({ setup }) => {
  let pool: Pool;
  let teardown: () => Promise<void>;
  let sut: WebhookRepository;

  beforeAll(async () => {
    const target = await setup();
    teardown = target.teardown;
    pool = createPool({ url: target.url, max: 8, applicationName: 'webhook-claims-test' });
    await migrate(pool);
    sut = new WebhookRepository(pool);
  });
  afterAll(async () => {
    await pool.end();
    await teardown();
  });

  function anAttempt(deliveryId: string, outcome: WebhookAttempt['outcome']): WebhookAttempt {
    return {
      deliveryId,
      attempt: 1,
      owner: 'advertiser',
      advertiserId: 'adv-claims',
      publisherId: null,
      postbackId: null,
      conversionId: deliveryId.split(':')[0],
      revision: 0,
      url: 'https://shop.example/hook',
      statusCode: outcome === 'delivered' ? 200 : 503,
      error: null,
      durationMs: 3,
      outcome,
    };
  }

  it('gives a delivery to one of the copies claiming it at once', async () => {
    const id = `${uid('cnv')}:0`;
    const taken = await Promise.all(Array.from({ length: 8 }, (_, i) => sut.claim(id, 'advertiser', `copy-${i}`, LEASE_MS)));
    expect(taken.filter(Boolean)).toHaveLength(1);
    // The owner is part of the delivery: the publisher's postback of the same decision is its own.
    expect(await sut.claim(id, 'publisher', 'postback', LEASE_MS)).toBe(true);
  });

  it('holds it until the attempt is recorded; the next copy then finds it delivered', async () => {
    const id = `${uid('cnv')}:0`;
    expect(await sut.claim(id, 'advertiser', 'first', LEASE_MS)).toBe(true);
    expect(await sut.claim(id, 'advertiser', 'second', LEASE_MS)).toBe(false);
    await sut.record(anAttempt(id, 'delivered'), 5, 'first');
    expect(await sut.claim(id, 'advertiser', 'second', LEASE_MS)).toBe(true);
    expect(await sut.progress(id, 'advertiser', 0)).toEqual({ delivered: true, requests: 1, lastAttempt: 1 });
    await sut.release(id, 'advertiser', 'second');
    expect(await pool.query(`SELECT 1 FROM webhook_claims WHERE delivery_id = $1`, [id])).toMatchObject({ rowCount: 0 });
  });

  it('frees it with a failed or parked attempt, and with a release by its holder only', async () => {
    const id = `${uid('cnv')}:0`;
    expect(await sut.claim(id, 'advertiser', 'first', LEASE_MS)).toBe(true);
    await sut.record(anAttempt(id, 'retry'), 5, 'first');
    expect(await sut.claim(id, 'advertiser', 'second', LEASE_MS)).toBe(true);
    await sut.record(anAttempt(id, 'parked'), 5, 'second');
    expect(await sut.claim(id, 'advertiser', 'third', LEASE_MS)).toBe(true);
    await sut.release(id, 'advertiser', 'someone-else');
    expect(await sut.claim(id, 'advertiser', 'fourth', LEASE_MS)).toBe(false);
    await sut.release(id, 'advertiser', 'third');
    expect(await sut.claim(id, 'advertiser', 'fourth', LEASE_MS)).toBe(true);
  });

  it('lets another copy take it once the lease ran out (its holder died mid-send), and the late holder does not free it', async () => {
    const id = `${uid('cnv')}:0`;
    expect(await sut.claim(id, 'advertiser', 'dead', 1)).toBe(true);
    await new Promise((r) => setTimeout(r, 50));
    expect(await sut.claim(id, 'advertiser', 'next', LEASE_MS)).toBe(true);
    await sut.record(anAttempt(id, 'retry'), 5, 'dead');
    expect(await sut.claim(id, 'advertiser', 'third', LEASE_MS)).toBe(false);
  });

  // Meaningful on PostgreSQL: PGlite's server switches connections only between transactions, so there
  // every statement from another connection waits for the holder's open one, whatever the claim's SQL.
  it('makes a copy claiming while the holder records its delivery wait for that record, then see it delivered', async () => {
    const id = `${uid('cnv')}:0`;
    expect(await sut.claim(id, 'advertiser', 'first', LEASE_MS)).toBe(true);
    const holder = await pool.connect();
    try {
      await holder.query('BEGIN');
      await new WebhookRepository(holder as unknown as Pool).record(anAttempt(id, 'delivered'), 5, 'first');
      let settled = false;
      const claim = sut.claim(id, 'advertiser', 'second', LEASE_MS).finally(() => (settled = true));
      await new Promise((r) => setTimeout(r, 200));
      // Not decided before the holder's record is: taking it now would send it again beside the holder.
      expect(settled).toBe(false);
      await holder.query('COMMIT');
      expect(await claim).toBe(true);
      expect((await sut.progress(id, 'advertiser', 0)).delivered).toBe(true);
    } finally {
      holder.release();
    }
  });

  it("counts a delivery's requests in a replay round, whichever copy made them; parked ones are not requests; numbers over every round", async () => {
    const id = `${uid('cnv')}:0`;
    expect(await sut.progress(id, 'advertiser', 0)).toEqual({ delivered: false, requests: 0, lastAttempt: 0 });
    for (const [attempt, outcome, replay] of [
      [1, 'retry', 0],
      [2, 'dead_letter', 0],
      [3, 'parked', 1],
      [4, 'retry', 1],
    ] as const)
      await sut.record({ ...anAttempt(id, outcome), attempt, replay }, 5);
    expect(await sut.progress(id, 'advertiser', 0)).toEqual({ delivered: false, requests: 2, lastAttempt: 4 });
    expect(await sut.progress(id, 'advertiser', 1)).toEqual({ delivered: false, requests: 1, lastAttempt: 4 });
    expect(await sut.progress(id, 'advertiser', 2)).toEqual({ delivered: false, requests: 0, lastAttempt: 4 });
    expect(await sut.progress(id, 'publisher', 0)).toEqual({ delivered: false, requests: 0, lastAttempt: 0 });
  });

  // Each attempt inserts a claim and deletes it: dead rows that only a vacuum takes back, and neither
  // PGlite nor a PostgreSQL with autovacuum off runs one (found by the review of this branch).
  it('stays small after many deliveries: the notifier vacuums it every so many claims ended', async () => {
    const every = 1_000;
    const vacuum = new ChurnVacuum(pool, 'webhook_claims', every);
    const size = async () => Number((await pool.query(`SELECT pg_total_relation_size('webhook_claims') AS b`)).rows[0].b);
    const sizes: number[] = [];
    for (let round = 0; round < 4; round++) {
      for (let i = 0; i < every; i++) {
        const id = `${uid('cnv')}:0`;
        expect(await sut.claim(id, 'advertiser', `vacuum-${i}`, LEASE_MS)).toBe(true);
        await sut.record(anAttempt(id, 'delivered'), 5, `vacuum-${i}`);
        await vacuum.deleted(1);
      }
      sizes.push(await size());
    }
    expect(Number((await pool.query(`SELECT count(*) AS n FROM webhook_claims WHERE holder LIKE 'vacuum-%'`)).rows[0].n)).toBe(0);
    // About flat once vacuumed (0-40 KB seen: the key's index may take a page or two more); without the
    // vacuum it grows by about 115 B per delivery, every round (180-192 KB between rounds 1 and 3).
    expect(sizes[3] - sizes[1]).toBeLessThanOrEqual(96 * 1024);
  }, 300_000);
});
