import { request as httpRequest } from 'node:http';
import { CHROME_UA } from '@app/testing';
import { TestEngine, bootEngine, postJson } from './support/engine';
import { Tenant, freshIp, seedTenant } from './support/tenants';

const PER_ADDRESS = 10;

/**
 * Hostile review 2026-12-04, findings 4 and 5 (test/e2e/attack-anonymous-amplification.test.ts in
 * the reviewer's clone): the ingest doors did their catalog and key work before the batch-size check
 * and before any budget, so an anonymous request cost the gateway's pool thousands of queries and
 * invented keys were never limited. What a request may cost is now bounded before that work. The
 * cost is read as the database's committed transactions (every query of the gateway's pool is one),
 * never as a time: the other services' background work adds a few, far below the margins used.
 */
describe('ingest doors: the work before a refusal is bounded', () => {
  let t: TestEngine;
  let a: Tenant;

  beforeAll(async () => {
    t = await bootEngine({
      config: { GATEWAY_RATE_LIMIT_PER_ADDRESS_PER_MINUTE: PER_ADDRESS, API_RATE_LIMIT_PER_IP_PER_MINUTE: 10 },
    });
    a = await seedTenant(t, 'doors');
  }, 120_000);
  afterAll(() => t?.stop());

  const commits = async () => {
    await new Promise((r) => setTimeout(r, 12_000)); // backends flush their statistics when idle (≤ 10 s)
    const r = await t.db.query(`SELECT xact_commit::bigint AS n FROM pg_stat_database WHERE datname = current_database()`);
    return Number(r.rows[0].n);
  };
  /** A request from `local` (another loopback address: each test spends its own address budget). */
  const from = (local: string, method: string, url: string, body?: unknown, headers: Record<string, string> = {}) =>
    new Promise<number>((resolve, reject) => {
      const req = httpRequest(
        url,
        { method, localAddress: local, headers: body === undefined ? headers : { 'content-type': 'application/json', ...headers } },
        (res) => {
          res.resume();
          res.on('end', () => resolve(res.statusCode!));
        },
      );
      req.on('error', reject);
      req.end(body === undefined ? undefined : JSON.stringify(body));
    });
  const tally = (statuses: number[]) => statuses.reduce<Record<number, number>>((m, s) => ({ ...m, [s]: (m[s] ?? 0) + 1 }), {});

  it('refuses an anonymous 50,000-item POST /v1/conversions 413 before any catalog look-up; a partner is not held up', async () => {
    const body = Array.from({ length: 50_000 }, (_, i) => ({ offerId: `o${i}` })); // under the 1 MiB body limit
    const before = await commits();
    const attack = postJson(`${t.gateway}/v1/conversions`, body, {}, { anonymous: true });
    const honest = await postJson(
      `${t.gateway}/v1/clicks`,
      { offerId: a.offerId, publisherId: a.publisherId, ip: freshIp(), userAgent: CHROME_UA },
      { authorization: `Bearer ${a.publisherKey}` },
    );
    const res = await attack;
    const used = (await commits()) - before;
    console.log(`50,000 offers, anonymous: ${res.status}; transactions: ${used}; a partner's click meanwhile: ${honest.status}`);
    // Before: 401 (or 500, look-ups timing out for a pool connection) after ~20,000 transactions.
    expect(res.status).toBe(413);
    expect(res.body.error).toBe('batch_too_large');
    expect(honest.status).toBe(202);
    expect(used).toBeLessThan(500);
  }, 180_000);

  it('an anonymous batch of unknown offers spends its address budget before any catalog look-up', async () => {
    const before = await commits();
    const statuses: number[] = [];
    for (let i = 0; i < 40; i++) {
      // Half the address budget each: the third request in a minute is refused before any look-up.
      const body = Array.from({ length: PER_ADDRESS / 2 }, (_, j) => ({ offerId: `unknown-${i}-${j}-${Math.random()}` }));
      statuses.push(await from('127.0.0.2', 'POST', `${t.gateway}/v1/conversions`, body));
    }
    const used = (await commits()) - before;
    const counts = tally(statuses);
    console.log(`40 anonymous batches of ${PER_ADDRESS / 2} unknown offers: ${JSON.stringify(counts)}; transactions: ${used}`);
    // Two requests a minute get as far as the catalog (a minute may turn once meanwhile).
    expect(counts[401]).toBeGreaterThanOrEqual(2);
    expect(counts[401]).toBeLessThanOrEqual(4);
    expect(counts[429]).toBeGreaterThanOrEqual(36);
    // Before: 5 look-ups for each of the 40 requests (200), none refused 429. The count includes the
    // engine's own background transactions (5-60 seen in a window, more on a loaded machine).
    expect(used).toBeLessThan(150);
  }, 120_000);

  it('limits invented keys and tokens per address: each failed one counts, and is a key-store read', async () => {
    // A key this gateway has seen (here from another address) is never checked against the failures.
    const click = () => ({ offerId: a.offerId, publisherId: a.publisherId, ip: freshIp(), userAgent: CHROME_UA });
    expect(await from('127.0.0.4', 'POST', `${t.gateway}/v1/clicks`, click(), { authorization: `Bearer ${a.publisherKey}` })).toBe(202);
    const before = await commits();
    const statuses: number[] = [];
    for (let i = 0; i < 200; i++) {
      statuses.push(await from('127.0.0.3', 'GET', `${t.gateway}/postback?click_id=x&amount=1&token=invented-${i}-${Math.random()}`));
    }
    for (let i = 0; i < 50; i++) {
      statuses.push(
        await from('127.0.0.3', 'POST', `${t.gateway}/v1/clicks`, click(), { authorization: `Bearer invented-${i}-${Math.random()}` }),
      );
    }
    const used = (await commits()) - before;
    const counts = tally(statuses);
    console.log(`250 requests with invented keys and tokens: ${JSON.stringify(counts)}; transactions: ${used}`);
    // Before: {"401":250} and a read each (≥ 250 transactions).
    expect(counts[401]).toBeGreaterThanOrEqual(PER_ADDRESS);
    expect(counts[401]).toBeLessThanOrEqual(2 * PER_ADDRESS);
    expect(counts[429]).toBeGreaterThanOrEqual(250 - 2 * PER_ADDRESS);
    // Before: at least 250 (a read each); the engine's background adds 5-60 here, more when loaded.
    expect(used).toBeLessThan(200);
    // A partner's known key is not an invented one: its requests go on (its own budget).
    expect(await from('127.0.0.3', 'POST', `${t.gateway}/v1/clicks`, click(), { authorization: `Bearer ${a.publisherKey}` })).toBe(202);
  }, 180_000);
});
