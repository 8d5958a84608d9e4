import { createServer, Server } from 'node:http';
import { AddressInfo } from 'node:net';
import { jetstreamManager } from '@nats-io/jetstream';
import { WEBHOOK_DELIVERY_SLOTS } from '@app/config';
import { CHROME_UA } from '@app/testing';
import { WEBHOOK_DURABLE } from '@app/webhooks';
import { TestEngine, bootEngine, postJson } from './support/engine';
import { Tenant, call, freshIp, seedTenant } from './support/tenants';

const SLOW = 64;
/** Slots a partner may take, over its cap, while no one else needs them: half (8 of 16). */
const SHARED = WEBHOOK_DELIVERY_SLOTS / 2;

/**
 * All webhook and postback deliveries share the notifier's 16 slots (notifier-webhooks: concurrency 16).
 * A partner's endpoint answering 200 just before the timeout is never a failure, so never parked: before
 * the per-partner cap, its backlog held every slot and an unrelated advertiser's webhook waited behind it
 * (69 ms → 33.6 s in the hostile review, finding 7). Now that partner has its cap (WEBHOOK_MAX_IN_FLIGHT_PER_PARTNER, 4) in flight, more
 * only while half the slots are free, and the others are handed back, so the other webhook goes out while
 * most of the backlog still waits.
 */
describe('webhook fairness: a slow but successful endpoint does not hold every delivery slot', () => {
  let t: TestEngine;
  let a: Tenant; // the publisher whose postback endpoint answers 200 after 5 s
  let b: Tenant; // an unrelated advertiser with a fast webhook
  let slow: Server;
  let fast: Server;
  let slowAnswered = 0;
  let slowOpen = 0;
  let slowMostOpen = 0;
  const received = new Map<string, { answered: number; at: number }>();
  const answers = new Set<NodeJS.Timeout>();

  const listen = (s: Server) =>
    new Promise<string>((r) => s.listen(0, '127.0.0.1', () => r(`http://127.0.0.1:${(s.address() as AddressInfo).port}`)));

  beforeAll(async () => {
    t = await bootEngine();
    a = await seedTenant(t, 'slowpub');
    b = await seedTenant(t, 'otheradv');
    slow = createServer((req, res) => {
      req.resume();
      slowOpen++;
      slowMostOpen = Math.max(slowMostOpen, slowOpen);
      const answer = setTimeout(() => {
        answers.delete(answer);
        slowOpen--;
        slowAnswered++;
        res.writeHead(200).end('ok');
      }, 5_000);
      answers.add(answer);
    });
    fast = createServer((req, res) => {
      let body = '';
      req.on('data', (c) => (body += c));
      req.on('end', () => {
        received.set(JSON.parse(body).conversionId, { answered: slowAnswered, at: Date.now() });
        res.writeHead(200).end('ok');
      });
    });
    const slowUrl = await listen(slow);
    const fastUrl = await listen(fast);
    expect((await call(t.api, 'POST', '/v1/publisher/postbacks', a.publisherKey, { url: `${slowUrl}/pb?c={click_id}` })).status).toBe(201);
    expect((await call(t.api, 'PUT', '/v1/advertiser/webhook', b.advertiserKey, { url: `${fastUrl}/hook` })).status).toBe(200);
  }, 120_000);
  afterAll(async () => {
    for (const answer of answers) clearTimeout(answer);
    slow?.closeAllConnections();
    slow?.close();
    fast?.close();
    await t?.stop();
  });

  const conversions = async (tenant: Tenant, n: number) => {
    const ts = new Date(Date.now() - 600_000).toISOString();
    const clicks = await postJson(
      `${t.gateway}/v1/clicks`,
      Array.from({ length: n }, () => ({
        offerId: tenant.offerId,
        publisherId: tenant.publisherId,
        ip: freshIp(),
        userAgent: CHROME_UA,
        ts,
      })),
    );
    const ids = clicks.body.results.map((r: { id: string }) => r.id);
    await new Promise((r) => setTimeout(r, 500));
    const conv = await postJson(
      `${t.gateway}/v1/conversions`,
      ids.map((clickId: string) => ({ clickId, amount: 10 })),
    );
    expect(conv.status).toBe(202);
    return conv.body.results.map((r: { id: string }) => r.id) as string[];
  };

  it("delivers an unrelated advertiser's webhook while the slow endpoint's backlog still waits, never more than half the slots at it", async () => {
    const slowOnes = await conversions(a, SLOW);
    expect(slowOnes).toHaveLength(SLOW);
    // The slow endpoint has its deliveries in flight: every slot it may take is taken (its cap, then idle
    // slots up to half; the HTTP client opens 8 connections per receiver too).
    for (let i = 0; i < 600 && slowOpen < SHARED; i++) await new Promise((r) => setTimeout(r, 50));
    expect(slowOpen).toBe(SHARED);
    const sent = Date.now();
    const [id] = await conversions(b, 1);
    for (let i = 0; i < 1_200 && !received.has(id); i++) await new Promise((r) => setTimeout(r, 50));
    expect(received.has(id)).toBe(true);
    // Before the cap, it went out once 48 of the 64 had been answered (16 slots, in stream order).
    const { answered, at } = received.get(id)!;
    console.log(`the other advertiser's webhook: ${at - sent} ms, when ${answered} of ${SLOW} slow postbacks were answered`);
    expect(answered).toBeLessThan(SLOW / 2);
    expect(slowMostOpen).toBe(SHARED);
    // The slow endpoint's unanswered deliveries are still on WEBHOOKS, unacknowledged: handed back, not dropped.
    const c = await (await jetstreamManager(t.nc)).consumers.info(t.topology.streams.webhooks, WEBHOOK_DURABLE);
    expect(c.num_pending + c.num_ack_pending).toBeGreaterThanOrEqual(SLOW - slowAnswered - SHARED);
    // The slow endpoint's waiting deliveries are not attempts: none was recorded failed or dead-lettered.
    const outcomes = await t.db.query<{ outcome: string }>(
      `SELECT DISTINCT outcome FROM webhook_attempts WHERE publisher_id = $1 AND owner_type = 'publisher'`,
      [a.publisherId],
    );
    expect(outcomes.rows.map((r) => r.outcome).filter((o) => o !== 'delivered')).toEqual([]);
  }, 180_000);
});
