import { ADMIN_KEY, TestEngine, bootEngine } from './support/engine';
import { Tenant, call, seedTenant } from './support/tenants';

const PER_KEY = 8;
const PER_IP = 40;

/**
 * Issue 5: what protects the API from its callers — per-key and per-address budgets (429 with
 * Retry-After), and webhook and postback URLs that cannot point the notifier inside the network.
 */
describe('API protection (services booted)', () => {
  let t: TestEngine;
  let tenant: Tenant;

  beforeAll(async () => {
    t = await bootEngine({
      config: { API_RATE_LIMIT_PER_MINUTE: PER_KEY, API_RATE_LIMIT_PER_IP_PER_MINUTE: PER_IP, WEBHOOK_ALLOW_PRIVATE_NETWORKS: false },
    });
    tenant = await seedTenant(t, 'rl'); // five admin requests
  });
  afterAll(async () => {
    await t?.stop();
  });

  it('answers 429 with Retry-After once a key has used its budget, on any route', async () => {
    const remaining: number[] = [];
    for (let i = 0; i < PER_KEY; i++) {
      const path = i % 2 ? '/v1/publisher/rejections' : '/v1/publisher/stats';
      const res = await call(t.api, 'GET', path, tenant.publisherKey);
      expect(res.status).toBe(200);
      remaining.push(Number(res.headers.get('x-ratelimit-remaining')));
    }
    expect(remaining).toEqual(Array.from({ length: PER_KEY }, (_, i) => PER_KEY - 1 - i));

    const refused = await call(t.api, 'GET', '/v1/publisher/rejections', tenant.publisherKey);
    expect(refused.status).toBe(429);
    expect(refused.body).toMatchObject({ error: 'rate_limited', message: expect.stringContaining('this API key') });
    const retryAfter = Number(refused.headers.get('retry-after'));
    expect(retryAfter).toBeGreaterThan(0);
    expect(retryAfter).toBeLessThanOrEqual(60);
  });

  it('keeps other keys’ budgets apart, and never limits health checks', async () => {
    expect((await call(t.api, 'GET', '/v1/advertiser/decisions', tenant.advertiserKey)).status).toBe(200);
    for (let i = 0; i < PER_KEY + 2; i++) expect((await call(t.api, 'GET', '/health')).status).toBe(200);
  });

  it('refuses webhook URLs that point at loopback, private or link-local addresses, naming the field', async () => {
    for (const url of [
      'http://127.0.0.1:9/hook',
      'http://10.1.2.3/hook',
      'http://169.254.169.254/latest/meta-data',
      'http://[::1]/hook',
      'http://[::127.0.0.1]/',
    ]) {
      const res = await call(t.api, 'PUT', '/v1/advertiser/webhook', tenant.advertiserKey, { url });
      expect({ url, status: res.status }).toEqual({ url, status: 400 });
      expect(res.body.errors[0]).toEqual({ field: 'url', message: expect.stringContaining('private or reserved address') });
    }
    const admin = await call(t.api, 'POST', '/v1/admin/advertisers', ADMIN_KEY, {
      id: tenant.advertiserId,
      name: 'Shop',
      webhookUrl: 'http://192.168.1.10/hook',
    });
    expect(admin.status).toBe(400);
    expect(admin.body.errors[0].field).toBe('webhookUrl');
  });

  it('refuses partner postback templates that point at loopback, private or link-local addresses, like webhooks', async () => {
    // A fresh publisher key: the tenant's spent its budget above (the admin key has two requests left).
    const key = await call(t.api, 'POST', '/v1/admin/api-keys', ADMIN_KEY, { role: 'publisher', subjectId: tenant.publisherId });
    expect(key.status).toBe(201);
    for (const url of ['http://127.0.0.1:9/pb?cid={click_id}', 'http://169.254.169.254/latest/meta-data?c={click_id}', 'http://[::1]/pb']) {
      const res = await call(t.api, 'POST', '/v1/publisher/postbacks', key.body.key, { url });
      expect({ url, status: res.status }).toEqual({ url, status: 400 });
      expect(res.body.errors[0]).toEqual({ field: 'url', message: expect.stringContaining('private or reserved address') });
    }
  });

  // Last: it spends this address's budget.
  it('limits an address that invents a new key for every request', async () => {
    let status = 0;
    let sent = 0;
    for (; sent < PER_IP + 5 && status !== 429; sent++) {
      status = (await call(t.api, 'GET', '/v1/publisher/rejections', `invented-key-${sent}-0123456789`)).status;
      if (status !== 429) expect(status).toBe(401);
    }
    expect(status).toBe(429);
    expect(sent).toBeLessThanOrEqual(PER_IP);
  });
});
