import { CHROME_UA, eventually, uid } from '@app/testing';
import { TestEngine, bootEngine, postJson, seedCatalog } from './support/engine';

/** `npm start` without DATABASE_URL: the same flow on the embedded TimescaleDB (PGlite). */
describe('embedded mode (TimescaleDB PGlite served by the engine)', () => {
  let t: TestEngine;

  // Booting starts PGlite in a worker and runs every migration on a fresh data directory: over a
  // minute on a loaded machine (a rehearsal timed out at 60 s), seconds on an idle one.
  beforeAll(async () => {
    t = await bootEngine({ embedded: true });
  }, 240_000);
  afterAll(async () => {
    await t?.stop();
  });

  it('decides a conversion and stores everything in hypertables', async () => {
    const ids = await seedCatalog(t, uid('emb'));
    const click = await postJson(`${t.gateway}/v1/clicks`, {
      offerId: ids.offerId,
      publisherId: ids.publisherId,
      ip: '8.8.8.8',
      userAgent: CHROME_UA,
      ts: new Date(Date.now() - 60_000).toISOString(),
    });
    const conversion = await postJson(`${t.gateway}/v1/conversions`, { clickId: click.body.id, amount: 12 });
    const decision = await eventually(
      async () => (await t.db.query(`SELECT status FROM decisions WHERE conversion_id = $1`, [conversion.body.id])).rows[0],
    );
    expect(decision).toEqual({ status: 'approved' });
    const { rows } = await t.db.query(`SELECT hypertable_name FROM timescaledb_information.hypertables ORDER BY 1`);
    expect(rows.map((r) => r.hypertable_name)).toEqual([
      'click_verdicts',
      'clicks',
      'conversions',
      'decisions',
      'feedback',
      'shadow_outcomes',
    ]);
  });
});
