import { CHROME_UA, eventually } from '@app/testing';
import { ADMIN_KEY, TestEngine, bootEngine, postJson } from './support/engine';
import { Tenant, call, freshIp, seedTenant } from './support/tenants';

const PER_KEY = 5;
const PER_PUBLISHER = 8;
const PER_ADDRESS = 5;
const API_PER_IP = 30;

/**
 * Issue 13: ingest has its own budgets (per key, per publisher, per source address; 429 with
 * Retry-After), the API's per-address limiter touches neither ingest nor health and metrics, and
 * no X-Forwarded-For is believed unless proxies are configured.
 */
describe('ingest limits (services booted)', () => {
  let t: TestEngine;
  let a: Tenant;

  beforeAll(async () => {
    t = await bootEngine({
      config: {
        GATEWAY_RATE_LIMIT_PER_KEY_PER_MINUTE: PER_KEY,
        GATEWAY_RATE_LIMIT_PER_PUBLISHER_PER_MINUTE: PER_PUBLISHER,
        GATEWAY_RATE_LIMIT_PER_ADDRESS_PER_MINUTE: PER_ADDRESS,
        API_RATE_LIMIT_PER_MINUTE: 1000,
        API_RATE_LIMIT_PER_IP_PER_MINUTE: API_PER_IP,
      },
    });
    a = await seedTenant(t, 'limits');
  }, 120_000);
  afterAll(() => t?.stop());

  const click = () => ({ offerId: a.offerId, publisherId: a.publisherId, ip: freshIp(), userAgent: CHROME_UA });

  it('never limits /health and /metrics on the api or the gateway, nor ingest by the API’s per-address budget', async () => {
    for (const base of [t.api, t.gateway]) {
      for (let i = 0; i < API_PER_IP + 5; i++) {
        expect((await fetch(`${base}/health`)).status).toBe(200);
        expect((await fetch(`${base}/metrics`)).status).toBe(200);
      }
    }
    // The admin key has no ingest budget (backfills, replays): more requests than the API's per-address limit.
    for (let i = 0; i < API_PER_IP + 5; i++) {
      expect((await postJson(`${t.gateway}/v1/clicks`, click(), { authorization: `Bearer ${ADMIN_KEY}` })).status).toBe(202);
    }
  });

  it('limits each partner key, then each publisher across its keys (429 with Retry-After)', async () => {
    const batch = await postJson(`${t.gateway}/v1/clicks`, Array.from({ length: PER_KEY }, click), {
      authorization: `Bearer ${a.publisherKey}`,
    });
    expect(batch.status).toBe(202);
    const over = await fetch(`${t.gateway}/v1/clicks`, {
      method: 'POST',
      headers: { authorization: `Bearer ${a.publisherKey}`, 'content-type': 'application/json' },
      body: JSON.stringify(click()),
    });
    expect(over.status).toBe(429);
    expect(Number(over.headers.get('retry-after'))).toBeGreaterThan(0);
    expect(((await over.json()) as { message: string }).message).toContain('this key');

    const second = (await call(t.api, 'POST', '/v1/admin/api-keys', ADMIN_KEY, { role: 'publisher', subjectId: a.publisherId })).body.key;
    const left = PER_PUBLISHER - PER_KEY;
    expect(
      (await postJson(`${t.gateway}/v1/clicks`, Array.from({ length: left }, click), { authorization: `Bearer ${second}` })).status,
    ).toBe(202);
    const publisherOver = await postJson(`${t.gateway}/v1/clicks`, click(), { authorization: `Bearer ${second}` });
    expect(publisherOver.status).toBe(429);
    expect(publisherOver.body.message).toContain('this publisher');
  });

  it('limits an advertiser key', async () => {
    const clicks = await postJson(`${t.gateway}/v1/clicks`, Array.from({ length: PER_KEY + 1 }, click), {
      authorization: `Bearer ${ADMIN_KEY}`,
    });
    const ids = clicks.body.results.map((r: { id: string }) => r.id);
    const send = (clickId: string) =>
      postJson(`${t.gateway}/v1/conversions`, { clickId, amount: 5 }, { authorization: `Bearer ${a.advertiserKey}` });
    for (const id of ids.slice(0, PER_KEY)) expect((await send(id)).status).toBe(202);
    expect((await send(ids[PER_KEY])).status).toBe(429);
  });

  // Last: it spends this address's budget.
  it('limits the tracking link per source address, and believes no X-Forwarded-For', async () => {
    const link = (i: number) =>
      fetch(`${t.gateway}/c/${a.offerId}?pub=${a.publisherId}&sub=xff${i}`, {
        redirect: 'manual',
        headers: { 'user-agent': CHROME_UA, 'x-forwarded-for': `203.0.113.${i + 1}` },
      });
    const answers: number[] = [];
    for (let i = 0; i < PER_ADDRESS + 1; i++) answers.push((await link(i)).status);
    expect(answers).toEqual([...Array(PER_ADDRESS).fill(302), 429]);
    const stored = await eventually(
      async () => (await t.db.query(`SELECT DISTINCT ip FROM clicks WHERE sub_id LIKE 'xff%'`)).rows,
      (rows) => rows.length > 0,
    );
    expect(stored).toEqual([{ ip: '127.0.0.1' }]);
  });
});
