import { CHROME_UA, eventually } from '@app/testing';
import { ADMIN_KEY, TestEngine, bootEngine, postJson } from './support/engine';
import { Tenant, call, seedTenant } from './support/tenants';

/**
 * Issue 13: what a publisher reads is built from masked evidence. The stored reason message of a
 * deny-listed address quotes it in full ("The IP address \"81.2.69.99\" is on the network's deny
 * list."); the publisher's API and CSV must not.
 */
describe('publisher view of reasons (services booted)', () => {
  let t: TestEngine;
  let a: Tenant;

  beforeAll(async () => {
    t = await bootEngine();
    a = await seedTenant(t, 'pubview');
  }, 120_000);
  afterAll(() => t?.stop());

  it('masks visitors’ addresses in reason messages, in JSON and CSV, while the network’s own record keeps them', async () => {
    const ip = '81.2.69.99';
    const put = await fetch(`${t.api}/v1/admin/rulesets/offers/${a.offerId}`, {
      method: 'PUT',
      headers: { authorization: `Bearer ${ADMIN_KEY}`, 'content-type': 'application/json' },
      body: JSON.stringify({ lists: { denyIps: [ip] } }),
    });
    expect(put.status).toBe(200);
    // The scorers follow the KV bucket: send until the deny list is live.
    const clickId = await eventually(
      async () => {
        const res = await postJson(
          `${t.gateway}/v1/clicks`,
          { offerId: a.offerId, publisherId: a.publisherId, ip, userAgent: CHROME_UA },
          { authorization: `Bearer ${a.publisherKey}` },
        );
        const row = await eventually(
          async () => (await t.db.query(`SELECT reason_codes FROM click_verdicts WHERE click_id = $1`, [res.body.id])).rows[0],
        );
        return row.reason_codes.includes('DENY_LISTED') ? (res.body.id as string) : null;
      },
      (id) => id !== null,
    );
    const stored = (await t.db.query(`SELECT reasons FROM click_verdicts WHERE click_id = $1`, [clickId])).rows[0].reasons;
    expect(JSON.stringify(stored)).toContain(ip); // the network's own record keeps the evidence

    const page = await eventually(
      async () => (await call(t.api, 'GET', '/v1/publisher/rejections?kind=click&limit=100', a.publisherKey)).body,
      (b) => b.items?.some((i: { id: string }) => i.id === clickId),
    );
    const item = page.items.find((i: { id: string }) => i.id === clickId);
    const deny = item.reasons.find((r: { code: string }) => r.code === 'DENY_LISTED');
    expect(deny.message).toBe('The IP address "81.2.69.x" is on the network\'s deny list.');
    expect(JSON.stringify(item)).not.toContain(ip);

    const csv = await fetch(`${t.api}/v1/publisher/rejections?kind=click&limit=100`, {
      headers: { authorization: `Bearer ${a.publisherKey}`, accept: 'text/csv' },
    });
    const text = await csv.text();
    expect(text).toContain('81.2.69.x');
    expect(text).not.toContain(ip);
  });
});
