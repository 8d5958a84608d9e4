import { eventually } from '@app/testing';
import { ADMIN_KEY, TestEngine, bootEngine } from './support/engine';
import { call, seedTenant, sendTraffic } from './support/tenants';

/**
 * DESIGN §7 end to end: an offer's revenue and payout models and a publisher's own payout decide
 * the money of each conversion, computed by the network; each audience sees its own figures.
 */
describe('money: sale amount, revenue and payout (services booted, local NATS and PostgreSQL)', () => {
  let t: TestEngine;

  beforeAll(async () => {
    t = await bootEngine({ config: { ROLLUP_REFRESH_SECONDS: 1 } });
  });
  afterAll(async () => {
    await t.stop();
  });

  it('bills the offer’s revenue model, pays the publisher’s own payout, and shows each audience its figures', async () => {
    // 30 % of the sale to the network; the offer pays publishers 4.5 each, this publisher 20 % of the sale.
    const a = await seedTenant(t, 'money', { revenueModel: 'percent', revenue: 30, payoutModel: 'fixed', payout: 4.5 });
    const path = `/v1/admin/offers/${a.offerId}/payouts/${a.publisherId}`;
    expect((await call(t.api, 'PUT', path, ADMIN_KEY, { payoutModel: 'percent', payout: 150 })).status).toBe(400);
    expect((await call(t.api, 'PUT', `/v1/admin/offers/${a.offerId}/payouts/nobody`, ADMIN_KEY, { payout: 1 })).status).toBe(404);
    const set = await call(t.api, 'PUT', path, ADMIN_KEY, { payoutModel: 'percent', payout: 20 });
    expect(set).toMatchObject({
      status: 200,
      body: { offerId: a.offerId, publisherId: a.publisherId, payoutModel: 'percent', payout: 20 },
    });
    const offers = (await call(t.api, 'GET', '/v1/admin/offers', ADMIN_KEY)).body as any[];
    expect(offers.find((o) => o.id === a.offerId).publisherPayouts).toEqual({ [a.publisherId]: { payoutModel: 'percent', payout: 20 } });

    const traffic = await sendTraffic(t, a); // conversions of 40 each: approved, rejected, held

    const asAdmin = (await call(t.api, 'GET', `/v1/conversions/${traffic.approved.conversionId}/decision`, ADMIN_KEY)).body;
    expect(asAdmin).toMatchObject({ status: 'approved', amount: 40, revenue: 12, payout: 8 });
    const asAdvertiser = (await call(t.api, 'GET', `/v1/conversions/${traffic.approved.conversionId}/decision`, a.advertiserKey)).body;
    expect(asAdvertiser).toMatchObject({ amount: 40, revenue: 12 });
    const asPublisher = (await call(t.api, 'GET', `/v1/conversions/${traffic.approved.conversionId}/decision`, a.publisherKey)).body;
    expect(asPublisher).toMatchObject({ payout: 8 });
    expect(asPublisher.revenue).toBeUndefined();
    expect(asPublisher.amount).toBeUndefined();

    // KPIs: revenue 12 and payout 8 approved (margin 4), 8 payout and 12 advertiser cost saved by the rejection.
    // sendTraffic waits for the decisions, not for every click's verdict: wait for the four clicks
    // in the rollup too, or a refresh between the two leaves revenue per click over too few clicks.
    const total = (rows: any[], k: string) => rows.reduce((s, r) => s + r[k], 0);
    const admin = await eventually(
      async () => (await call(t.api, 'GET', `/v1/admin/stats?offerId=${a.offerId}`, ADMIN_KEY)).body.rows as any[],
      (rows) => total(rows, 'conversions') === 3 && total(rows, 'clicks') === 4,
    );
    expect(['saleAmount', 'revenue', 'payout', 'margin', 'savedPayout', 'savedAdvertiserCost'].map((k) => total(admin, k))).toEqual([
      40, 12, 8, 4, 8, 12,
    ]);
    // Per click, weighted by each row's clicks: the clicks are dated 10 minutes back and the
    // conversions now, so in the first 10 minutes of a UTC day they fall in two daily rows (3 clicks
    // and no revenue yesterday, 1 click and all of it today). With one row this is rpc = 12 / 4.
    const perClick = (k: string) => admin.reduce((s, r) => s + (r[k] ?? 0) * r.clicks, 0);
    expect(perClick('rpc')).toBeCloseTo(12);
    expect(perClick('epc')).toBeCloseTo(8);

    const advertiser = (await call(t.api, 'GET', '/v1/advertiser/stats', a.advertiserKey)).body.rows as any[];
    expect([total(advertiser, 'revenue'), total(advertiser, 'savedAdvertiserCost')]).toEqual([12, 12]);
    expect(advertiser.every((r) => r.margin === undefined && r.marginRate === undefined)).toBe(true);

    const publisher = (await call(t.api, 'GET', '/v1/publisher/stats', a.publisherKey)).body.rows as any[];
    expect(total(publisher, 'payout')).toBe(8);
    expect(publisher.every((r) => r.revenue === undefined && r.margin === undefined && r.savedAdvertiserCost === undefined)).toBe(true);

    // Removing the publisher's own terms: the offer's payout applies again to new conversions.
    expect((await call(t.api, 'DELETE', path, ADMIN_KEY)).status).toBe(204);
    expect((await call(t.api, 'DELETE', path, ADMIN_KEY)).status).toBe(404);
    const later = await sendTraffic(t, a);
    const again = (await call(t.api, 'GET', `/v1/conversions/${later.approved.conversionId}/decision`, ADMIN_KEY)).body;
    expect(again).toMatchObject({ amount: 40, revenue: 12, payout: 4.5 });
  });
});
