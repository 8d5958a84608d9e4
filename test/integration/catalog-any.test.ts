import { Pool } from 'pg';
import { CatalogRepository, EmbeddedDatabase, createPool, migrate } from '@app/storage';
import { createTestDatabase } from '@app/testing';

/**
 * The catalog's look-ups by many ids (`= ANY($1::text[])`, session 11, hostile review 2026-12-04
 * finding 4) against the real databases: the same rows as the single-id finders, ids with quotes,
 * commas, braces, backslashes and non-ASCII characters included (written by the branch's reviewer).
 */
type Target = { name: string; setup(): Promise<{ url: string; teardown(): Promise<void> }> };
const targets: Target[] = [
  {
    name: 'PostgreSQL',
    setup: async () => {
      const db = await createTestDatabase();
      return { url: db.url, teardown: db.drop };
    },
  },
  {
    name: 'PGlite',
    setup: async () => {
      const db = await EmbeddedDatabase.start();
      return { url: db.url, teardown: () => db.stop() };
    },
  },
];

describe.each(targets)('CatalogRepository.find* (= ANY) on $name', ({ setup }) => {
  let pool: Pool;
  let teardown: () => Promise<void>;
  beforeAll(async () => {
    const t = await setup();
    teardown = t.teardown;
    pool = createPool({ url: t.url, max: 2, applicationName: 'catalog-any' });
    await migrate(pool);
    await pool.query(`INSERT INTO advertisers (id, name) VALUES ('adv1', 'A')`);
    await pool.query(`INSERT INTO publishers (id, name) VALUES ('pub1', 'P')`);
    await pool.query(`INSERT INTO offers (id, advertiser_id, name) VALUES ('off1', 'adv1', 'O')`);
  }, 120_000);
  afterAll(async () => {
    await pool.end();
    await teardown();
  });

  it('finds the existing ids among 1,000 odd ones, like the single-id finders', async () => {
    const sut = new CatalogRepository(pool);
    const odd = ['a"b', 'c,d', '{e}', 'f\\g', 'NULL', ' ', 'h i', "j'k", 'ü'];
    const ids = (real: string) => [...odd, ...Array.from({ length: 990 }, (_, i) => `x${i}`), real];
    expect((await sut.findOffers(ids('off1'))).map((o) => o.id)).toEqual(['off1']);
    expect(await sut.findOffers(ids('off1'))).toEqual([await sut.findOffer('off1')]);
    expect(await sut.findPublishers(ids('pub1'))).toEqual([await sut.findPublisher('pub1')]);
    expect(await sut.findAdvertisers(ids('adv1'))).toEqual([await sut.findAdvertiser('adv1')]);
    expect(await sut.findOffers(['NULL'])).toEqual([]);
  });
});
