import { TestEngine, bootEngine } from './support/engine';
import { Tenant, call, seedTenant } from './support/tenants';

const LIMIT = 8;

/** Issue 5: each API key has its own budget of requests per minute; beyond it, 429 and Retry-After. */
describe('rate limits per API key (services booted)', () => {
  let t: TestEngine;
  let tenant: Tenant;

  beforeAll(async () => {
    t = await bootEngine({ config: { API_RATE_LIMIT_PER_MINUTE: LIMIT } });
    tenant = await seedTenant(t, 'rl'); // five admin requests
  });
  afterAll(async () => {
    await t?.stop();
  });

  it('answers 429 with Retry-After once a key has used its budget, on any route', async () => {
    const remaining: number[] = [];
    for (let i = 0; i < LIMIT; i++) {
      const path = i % 2 ? '/v1/publisher/rejections' : '/v1/publisher/stats';
      const res = await call(t.api, 'GET', path, tenant.publisherKey);
      expect(res.status).toBe(200);
      remaining.push(Number(res.headers.get('x-ratelimit-remaining')));
    }
    expect(remaining).toEqual(Array.from({ length: LIMIT }, (_, i) => LIMIT - 1 - i));

    const refused = await call(t.api, 'GET', '/v1/publisher/rejections', tenant.publisherKey);
    expect(refused.status).toBe(429);
    expect(refused.body).toMatchObject({ error: 'rate_limited', message: expect.stringContaining('this API key') });
    const retryAfter = Number(refused.headers.get('retry-after'));
    expect(retryAfter).toBeGreaterThan(0);
    expect(retryAfter).toBeLessThanOrEqual(60);
  });

  it('keeps other keys’ budgets apart, and never limits health checks', async () => {
    expect((await call(t.api, 'GET', '/v1/advertiser/decisions', tenant.advertiserKey)).status).toBe(200);
    for (let i = 0; i < LIMIT + 2; i++) expect((await call(t.api, 'GET', '/health')).status).toBe(200);
  });
});
