import { CHROME_UA, eventually, uid } from '@app/testing';
import { ADMIN_KEY, TestEngine, bootEngine, seedCatalog } from './support/engine';
import { call, freshIp } from './support/tenants';

/**
 * DESIGN §12 end to end: the tracking link runs the click-time checks before it redirects; under a
 * `fallback` rule set an invalid click goes to the network's fallback page, never to the advertiser,
 * and is recorded with its verdict either way.
 */
describe('block at the click (services booted, local NATS and PostgreSQL)', () => {
  let t: TestEngine;

  beforeAll(async () => {
    // One trusted proxy hop: the visitor's address comes from X-Forwarded-For, as behind a load balancer.
    t = await bootEngine({ config: { GATEWAY_TRUST_PROXY: '1' } });
  });
  afterAll(async () => {
    await t.stop();
  });

  const visit = async (offerId: string, publisherId: string, userAgent: string, ip = freshIp()) => {
    const res = await fetch(`${t.gateway}/c/${offerId}?pub=${publisherId}&sub=s1`, {
      redirect: 'manual',
      headers: { 'user-agent': userAgent, 'x-forwarded-for': ip },
    });
    expect(res.status).toBe(302);
    return new URL(res.headers.get('location')!);
  };
  const verdict = (clickId: string) =>
    eventually(async () => (await t.db.query(`SELECT valid, reason_codes FROM click_verdicts WHERE click_id = $1`, [clickId])).rows[0]);

  it('sends invalid clicks to the fallback under `fallback`, lets valid ones through, and records both with their verdicts', async () => {
    const ids = await seedCatalog(t, uid('blk'));
    const other = await seedCatalog(t, uid('pass'));
    // By default (pass and score) a bot reaches the offer and is judged afterwards.
    const before = await visit(ids.offerId, ids.publisherId, 'python-requests/2.31.0');
    expect(before.origin).toBe('https://shop.example');

    const set = await call(t.api, 'PUT', `/v1/admin/rulesets/offers/${ids.offerId}`, ADMIN_KEY, {
      clickBlocking: { mode: 'fallback', fallbackUrl: 'https://network.example/blocked' },
    });
    expect(set.status).toBe(200);

    // The gateway follows the rule-set change (KV watch): a bot now lands on the fallback page.
    const blocked = await eventually(
      () => visit(ids.offerId, ids.publisherId, 'python-requests/2.31.0'),
      (u) => u.origin === 'https://network.example',
    );
    expect(blocked.pathname).toBe('/blocked');
    const blockedId = blocked.searchParams.get('click_id')!;
    expect(await verdict(blockedId)).toEqual({ valid: false, reason_codes: ['NON_BROWSER_CLIENT'] });

    // A declared crawler and a data-centre address too; a browser from a home address reaches the offer.
    expect(
      (await visit(ids.offerId, ids.publisherId, 'Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)')).origin,
    ).toBe('https://network.example');
    expect((await visit(ids.offerId, ids.publisherId, CHROME_UA, '3.5.140.2')).origin).toBe('https://network.example');
    const passed = await visit(ids.offerId, ids.publisherId, CHROME_UA);
    expect(passed.origin + passed.pathname).toBe('https://shop.example/land');
    expect(await verdict(passed.searchParams.get('cid')!)).toEqual({ valid: true, reason_codes: [] });

    // Another offer keeps the default: its bots still reach its landing page (and are scored).
    expect((await visit(other.offerId, other.publisherId, 'python-requests/2.31.0')).origin).toBe('https://shop.example');
  });

  it('blocks a deny-listed sub-id at the link under the offer’s `fallback`', async () => {
    const ids = await seedCatalog(t, uid('deny'));
    const denied = await call(t.api, 'PUT', `/v1/admin/rulesets/offers/${ids.offerId}`, ADMIN_KEY, {
      clickBlocking: { mode: 'fallback', fallbackUrl: 'https://network.example/blocked' },
      lists: { denySubIds: [`${ids.publisherId}:s1`] },
    });
    expect(denied.status).toBe(200);
    const landed = await eventually(
      () => visit(ids.offerId, ids.publisherId, CHROME_UA),
      (u) => u.origin === 'https://network.example',
    );
    expect(await verdict(landed.searchParams.get('click_id')!)).toEqual({ valid: false, reason_codes: ['DENY_LISTED'] });
  });
});
