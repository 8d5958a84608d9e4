import { createServer, IncomingMessage, Server } from 'node:http';
import { AddressInfo } from 'node:net';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import type { Decision } from '@app/contracts';
import { replayDurable } from '@app/messaging';
import { eventually } from '@app/testing';
import { ATTEMPT_HEADER, IDEMPOTENCY_HEADER, SIGNATURE_HEADER, WEBHOOK_DURABLE, verifyWebhook } from '@app/webhooks';
import { ADMIN_KEY, TestEngine, bootEngine } from './support/engine';
import { Tenant, call, seedTenant, sendTraffic } from './support/tenants';

interface Received {
  path: string;
  key: string;
  attempt: number;
  verified: boolean;
  body: string;
  signature: string;
  at: number;
  answered: number;
}

/**
 * A webhook receiver as an advertiser would write one (docs/webhooks.md): verify the signature over
 * "<t>.<raw body>" with the shared secret, use the idempotency key to drop duplicates. Each path
 * answers as the test tells it to.
 */
class Receiver {
  readonly requests: Received[] = [];
  readonly secrets = new Map<string, string>();
  readonly behaviour = new Map<string, (key: string, attempt: number) => number | Promise<number>>();
  private server!: Server;
  url = '';

  async start(): Promise<void> {
    this.server = createServer((req, res) => void this.handle(req).then((status) => res.writeHead(status).end()));
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  stop(): Promise<void> {
    return new Promise((resolve) => this.server.close(() => resolve()));
  }

  private async handle(req: IncomingMessage): Promise<number> {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const body = Buffer.concat(chunks).toString('utf8');
    const path = req.url ?? '/';
    const key = String(req.headers[IDEMPOTENCY_HEADER]);
    const attempt = Number(req.headers[ATTEMPT_HEADER]);
    const verified = verifyWebhook(this.secrets.get(path) ?? '', req.headers[SIGNATURE_HEADER] as string | undefined, body);
    const answered = verified ? await (this.behaviour.get(path)?.(key, attempt) ?? 200) : 401;
    const signature = String(req.headers[SIGNATURE_HEADER] ?? '');
    this.requests.push({ path, key, attempt, verified, body, signature, at: Date.now(), answered });
    return answered;
  }

  /** Idempotency keys this path accepted (2xx), with how many times each. */
  accepted(path: string): Map<string, number> {
    const out = new Map<string, number>();
    for (const r of this.requests) if (r.path === path && r.answered < 300) out.set(r.key, (out.get(r.key) ?? 0) + 1);
    return out;
  }
}

describe('signed webhooks: retries, idempotency, parking, dead letters and replay (services booted)', () => {
  let t: TestEngine;
  const receiver = new Receiver();

  beforeAll(async () => {
    await receiver.start();
    t = await bootEngine({ config: { WEBHOOK_RETRY_BASE_MS: 200, WEBHOOK_MAX_ATTEMPTS: 3, WEBHOOK_PARK_AFTER: 2 } });
  });
  afterAll(async () => {
    await t?.stop();
    await receiver.stop();
  });

  async function subscribe(tenant: Tenant, path: string): Promise<void> {
    const res = await call(t.api, 'PUT', '/v1/advertiser/webhook', tenant.advertiserKey, { url: `${receiver.url}${path}` });
    expect(res.status).toBe(200);
    expect(res.body.secret).toMatch(/^whsec_/);
    receiver.secrets.set(path, res.body.secret);
  }

  async function deadLettersOf(advertiserId: string): Promise<number> {
    const jsm = await jetstreamManager(t.nc);
    const subject = t.topology.webhookDeadLetters(advertiserId);
    const info = await jsm.streams.info(t.topology.streams.webhookDlq, { subjects_filter: subject });
    return info.state.subjects?.[subject] ?? 0;
  }

  /** Nothing waiting or in flight on WEBHOOKS, nor among the replayed dead letters (REPLAY, same handler). */
  async function webhookQueueIdle(): Promise<void> {
    const jsm = await jetstreamManager(t.nc);
    await eventually(
      async () => {
        const c = await jsm.consumers.info(t.topology.streams.webhooks, WEBHOOK_DURABLE);
        const r = await jsm.consumers.info(t.topology.streams.replay, replayDurable(WEBHOOK_DURABLE));
        return c.num_pending + c.num_ack_pending + r.num_pending + r.num_ack_pending;
      },
      (n) => n === 0,
    );
  }

  let a: Tenant;
  let firstKeys: string[] = [];

  it('delivers every decision signed, retrying after 500s with back-off, the same idempotency key each time', async () => {
    a = await seedTenant(t, 'wha');
    await subscribe(a, '/a');
    // Fail the first two attempts of every delivery.
    receiver.behaviour.set('/a', (_key, attempt) => (attempt <= 2 ? 500 : 200));
    const traffic = await sendTraffic(t, a);
    const conversions = [traffic.approved.conversionId, traffic.rejected.conversionId, traffic.held.conversionId];

    const accepted = await eventually(
      async () => receiver.accepted('/a'),
      (m) => m.size === 3,
    );
    firstKeys = [...accepted.keys()];
    expect(firstKeys.sort()).toEqual(conversions.map((id) => `${id}:0`).sort());
    const requests = receiver.requests.filter((r) => r.path === '/a');
    expect(requests.every((r) => r.verified)).toBe(true);
    for (const key of firstKeys) {
      const tries = requests.filter((r) => r.key === key);
      expect(tries.map((r) => [r.attempt, r.answered])).toEqual([
        [1, 500],
        [2, 500],
        [3, 200],
      ]);
      // The same signed body every time, and it is the decision.
      expect(new Set(tries.map((r) => r.body)).size).toBe(1);
      const decision = JSON.parse(tries[0].body) as Decision;
      expect(`${decision.conversionId}:${decision.revision}`).toBe(key);
      expect(decision.advertiserId).toBe(a.advertiserId);
      // Back-off: at least the base delay less its jitter (200 ms × 0.8), then three times that.
      expect(tries[1].at - tries[0].at).toBeGreaterThanOrEqual(150);
      expect(tries[2].at - tries[1].at).toBeGreaterThanOrEqual(450);
    }

    // Every attempt is recorded (the last one just after the receiver answered), and the advertiser can see them.
    const rows = await eventually(
      async () =>
        (
          await t.db.query(`SELECT outcome, count(*)::int AS n FROM webhook_attempts WHERE advertiser_id = $1 GROUP BY outcome`, [
            a.advertiserId,
          ])
        ).rows as { outcome: string; n: number }[],
      (r) => r.reduce((sum, x) => sum + x.n, 0) >= 9,
    );
    expect(Object.fromEntries(rows.map((r) => [r.outcome, r.n]))).toEqual({ retry: 6, delivered: 3 });
    const view = await call(t.api, 'GET', '/v1/advertiser/webhook', a.advertiserKey);
    expect(view.body).toMatchObject({ url: `${receiver.url}/a`, status: 'active', consecutiveFailures: 0 });
    expect(view.body.recentAttempts).toHaveLength(9);
  });

  it('does not deliver twice after a notifier restart or a redelivered job, and delivers a revision as a new key', async () => {
    receiver.behaviour.set('/a', () => 200);
    await t.engine.restart('notifier');
    const traffic = await sendTraffic(t, a);
    await eventually(
      async () => receiver.accepted('/a'),
      (m) => m.size === 6,
    );

    // A job redelivered after the receiver took it (the notifier died before its ack) is not sent again.
    const first = receiver.requests.find((r) => r.key === firstKeys[0])!;
    const js = jetstream(t.nc);
    await js.publish(t.topology.webhooks(a.advertiserId), first.body, { msgID: `redelivery-probe:${Date.now()}` });
    await webhookQueueIdle();

    // An analyst's decision on the held conversion is a new revision: a new delivery, a new key.
    const review = await call(t.api, 'POST', '/v1/review/decisions', ADMIN_KEY, {
      decisions: [{ conversionId: traffic.held.conversionId, status: 'approved' }],
      note: 'verified',
    });
    expect(review.status).toBe(202);
    const accepted = await eventually(
      async () => receiver.accepted('/a'),
      (m) => m.has(`${traffic.held.conversionId}:1`),
    );
    await webhookQueueIdle();
    expect([...accepted.values()].every((n) => n === 1)).toBe(true);
    expect(accepted.size).toBe(7);
  });

  it('parks an endpoint that keeps failing, dead-letters its deliveries, and delivers them on replay', async () => {
    const b = await seedTenant(t, 'whb');
    await subscribe(b, '/b');
    let fixed = false;
    receiver.behaviour.set('/b', () => (fixed ? 200 : 503));
    const traffic = await sendTraffic(t, b);
    const keys = [traffic.approved.conversionId, traffic.rejected.conversionId, traffic.held.conversionId].map((id) => `${id}:0`);

    const deadLetters = () => deadLettersOf(b.advertiserId);
    await eventually(deadLetters, (n) => n === 3);
    const parked = await call(t.api, 'GET', '/v1/advertiser/webhook', b.advertiserKey);
    expect(parked.body).toMatchObject({ status: 'parked' });
    expect(parked.body.failedDeliveries).toBeGreaterThanOrEqual(2);
    expect(parked.body.parkedAt).not.toBeNull();
    // Two deliveries that failed all three attempts park the endpoint. How far the third got first
    // depends on when the pipeline emitted its decision (under load, hundreds of ms after the others):
    // its last attempt already on the way (three POSTs, dead-lettered like the others), or one or two
    // POSTs, or none, before it found the endpoint parked. Every such interleaving obeys the same rules.
    const posts = receiver.requests.filter((r) => r.path === '/b');
    expect(posts.every((r) => r.answered === 503)).toBe(true);
    const rows = (await t.db.query(`SELECT delivery_id, attempt, outcome FROM webhook_attempts WHERE advertiser_id = $1`, [b.advertiserId]))
      .rows as { delivery_id: string; attempt: number; outcome: string }[];
    // Every POST is recorded once, as a failure, under its own attempt number; the parked streak counts them all.
    expect(
      rows
        .filter((r) => r.outcome === 'retry' || r.outcome === 'dead_letter')
        .map((r) => `${r.delivery_id}#${r.attempt}`)
        .sort(),
    ).toEqual(posts.map((r) => `${r.key}#${r.attempt}`).sort());
    expect(parked.body.consecutiveFailures).toBe(posts.length);
    const ranOut = keys.filter((key) => rows.some((r) => r.delivery_id === key && r.outcome === 'dead_letter'));
    expect(ranOut.length).toBeGreaterThanOrEqual(2);
    for (const key of keys) {
      const tries = posts.filter((r) => r.key === key).map((r) => r.attempt);
      const recorded = rows
        .filter((r) => r.delivery_id === key)
        .sort((x, y) => x.attempt - y.attempt || x.outcome.localeCompare(y.outcome));
      if (ranOut.includes(key)) {
        // Its whole retry schedule: failures while other deliveries were still being retried do not park.
        expect(tries).toEqual([1, 2, 3]);
        expect(recorded.map((r) => [r.attempt, r.outcome])).toEqual([
          [1, 'retry'],
          [2, 'retry'],
          [3, 'dead_letter'],
        ]);
      } else {
        // Dead-lettered as parked, with no POST after it found the endpoint parked.
        expect(tries).toEqual([1, 2].slice(0, tries.length));
        const park = recorded.filter((r) => r.outcome === 'parked');
        expect(park).toHaveLength(1);
        expect([tries.length, tries.length + 1]).toContain(park[0].attempt);
      }
    }
    // A delivery that comes once the endpoint is parked gets no request at all: an analyst's new revision
    // of the held conversion waits in the dead letters too.
    const review = await call(t.api, 'POST', '/v1/review/decisions', ADMIN_KEY, {
      decisions: [{ conversionId: traffic.held.conversionId, status: 'approved' }],
      note: 'verified',
    });
    expect(review.status).toBe(202);
    const revision = `${traffic.held.conversionId}:1`;
    keys.push(revision);
    await eventually(deadLetters, (n) => n === 4);
    expect(receiver.requests.filter((r) => r.key === revision)).toEqual([]);
    const revisionRows = await t.db.query(`SELECT attempt, outcome FROM webhook_attempts WHERE delivery_id = $1`, [revision]);
    expect(revisionRows.rows).toEqual([{ attempt: 1, outcome: 'parked' }]);

    fixed = true;
    const replay = await call(t.api, 'POST', '/v1/advertiser/webhook/replay', b.advertiserKey, {});
    expect(replay.body).toEqual({ requeued: 4 });
    const accepted = await eventually(
      async () => receiver.accepted('/b'),
      (m) => m.size === 4,
    );
    expect([...accepted.keys()].sort()).toEqual(keys.sort());
    expect([...accepted.values()].every((n) => n === 1)).toBe(true);
    expect(await deadLetters()).toBe(0);
    const active = await call(t.api, 'GET', '/v1/advertiser/webhook', b.advertiserKey);
    expect(active.body).toMatchObject({ status: 'active', failedDeliveries: 0, parkedAt: null });
    // Attempt numbers go on counting after the replay, and each delivery is recorded as delivered once
    // (just after the receiver answered it: waited for, not assumed).
    const delivered = await eventually(
      async () =>
        (
          await t.db.query(`SELECT delivery_id, attempt FROM webhook_attempts WHERE advertiser_id = $1 AND outcome = 'delivered'`, [
            b.advertiserId,
          ])
        ).rows as { delivery_id: string; attempt: number }[],
      (r) => r.length >= 4,
    );
    expect(delivered.map((r) => r.delivery_id).sort()).toEqual(keys.sort());
    expect(delivered.every((r) => r.attempt >= 2)).toBe(true);
    const lastTry = receiver.requests.filter((r) => r.path === '/b' && r.answered === 200);
    expect(lastTry.every((r) => r.attempt >= 2)).toBe(true);
    expect((await call(t.api, 'GET', '/v1/advertiser/webhook', b.advertiserKey)).body).toMatchObject({
      status: 'active',
      consecutiveFailures: 0,
    });
  });

  /** A decision this advertiser's webhook was sent, as a new delivery (a revision never made): the same body, another key. */
  function anotherDelivery(body: string, revision: number): { decision: Decision; key: string } {
    const decision = { ...(JSON.parse(body) as Decision), revision };
    return { decision, key: `${decision.conversionId}:${revision}` };
  }

  it('sends one request when two copies of one delivery are attempted at once (a delivery queued again while the first waits)', async () => {
    const d = await seedTenant(t, 'whdup');
    await subscribe(d, '/dup');
    // Slow enough that the two copies are in flight together (the consumer handles 16 at once).
    receiver.behaviour.set('/dup', () => new Promise((r) => setTimeout(() => r(200), 400)));
    await sendTraffic(t, d);
    const sent = await eventually(
      async () => receiver.requests.filter((r) => r.path === '/dup'),
      (rs) => rs.length === 3,
    );
    await webhookQueueIdle();
    const { decision, key } = anotherDelivery(sent[0].body, 7);
    const js = jetstream(t.nc);
    await Promise.all(
      ['one', 'two'].map((copy) => js.publish(t.topology.webhooks(d.advertiserId), JSON.stringify(decision), { msgID: `${key}:${copy}` })),
    );
    await eventually(
      async () => receiver.accepted('/dup').get(key) ?? 0,
      (n) => n >= 1,
    );
    await webhookQueueIdle();
    expect(receiver.requests.filter((r) => r.key === key)).toHaveLength(1);
    const rows = await t.db.query(`SELECT outcome FROM webhook_attempts WHERE delivery_id = $1`, [key]);
    expect(rows.rows).toEqual([{ outcome: 'delivered' }]);
    // Claims last only while a send is in flight: none is left behind.
    expect((await t.db.query(`SELECT delivery_id FROM webhook_claims WHERE delivery_id = $1`, [key])).rows).toEqual([]);
  });

  it('sends one request when two parked copies of one delivery are replayed', async () => {
    const e = await seedTenant(t, 'whdupp');
    await subscribe(e, '/dup-parked');
    let fixed = false;
    receiver.behaviour.set('/dup-parked', () => (fixed ? new Promise((r) => setTimeout(() => r(200), 400)) : 500));
    await sendTraffic(t, e);
    await eventually(
      () => deadLettersOf(e.advertiserId),
      (n) => n === 3,
    );
    expect((await call(t.api, 'GET', '/v1/advertiser/webhook', e.advertiserKey)).body.status).toBe('parked');
    // Two copies of one delivery reach the parked endpoint: both wait in the dead letters.
    const body = receiver.requests.find((r) => r.path === '/dup-parked')!.body;
    const { decision, key } = anotherDelivery(body, 7);
    const js = jetstream(t.nc);
    for (const copy of ['one', 'two'])
      await js.publish(t.topology.webhooks(e.advertiserId), JSON.stringify(decision), { msgID: `${key}:${copy}` });
    await eventually(
      () => deadLettersOf(e.advertiserId),
      (n) => n === 5,
    );
    fixed = true;
    const replay = await call(t.api, 'POST', '/v1/advertiser/webhook/replay', e.advertiserKey, {});
    expect(replay.body).toEqual({ requeued: 5 });
    await eventually(
      async () => receiver.accepted('/dup-parked').size,
      (n) => n === 4,
    );
    await webhookQueueIdle();
    expect(receiver.requests.filter((r) => r.key === key && r.answered === 200)).toHaveLength(1);
    expect([...receiver.accepted('/dup-parked').values()]).toEqual([1, 1, 1, 1]);
    expect((await t.db.query(`SELECT delivery_id FROM webhook_claims WHERE delivery_id = $1`, [key])).rows).toEqual([]);
  });

  it('lets an admin replay every parked endpoint’s dead letters, un-parking them', async () => {
    const c = await seedTenant(t, 'whc');
    await subscribe(c, '/c');
    let fixed = false;
    receiver.behaviour.set('/c', () => (fixed ? 200 : 500));
    await sendTraffic(t, c);
    await eventually(
      () => deadLettersOf(c.advertiserId),
      (n) => n === 3,
    );
    expect((await call(t.api, 'GET', '/v1/advertiser/webhook', c.advertiserKey)).body.status).toBe('parked');
    fixed = true;
    const replay = await call(t.api, 'POST', '/v1/admin/webhooks/replay', ADMIN_KEY, {});
    expect(replay.body).toEqual({ requeued: 3, unreadable: 0 });
    await eventually(
      async () => receiver.accepted('/c').size,
      (n) => n === 3,
    );
    expect((await call(t.api, 'GET', '/v1/advertiser/webhook', c.advertiserKey)).body.status).toBe('active');
  });

  it('signs with the previous secret too while a rotation overlaps, so a receiver switches at its own pace', async () => {
    const c = await seedTenant(t, 'whrot');
    await subscribe(c, '/rot');
    const previous = receiver.secrets.get('/rot')!;
    const rotated = await call(t.api, 'PUT', '/v1/advertiser/webhook', c.advertiserKey, { url: `${receiver.url}/rot`, rotateSecret: true });
    expect(rotated.body.secret).toMatch(/^whsec_/);
    // The receiver still verifies with the previous secret: nothing is refused.
    await sendTraffic(t, c);
    const signed = await eventually(
      async () => receiver.requests.filter((r) => r.path === '/rot'),
      (rs) => rs.length >= 3,
    );
    expect(signed.every((r) => r.verified)).toBe(true);
    for (const r of signed) {
      expect(verifyWebhook(rotated.body.secret, r.signature, r.body)).toBe(true);
      expect(verifyWebhook(previous, r.signature, r.body)).toBe(true);
    }
  });

  it('shows a signing secret once: when the first URL is set, again only when rotated, for the admin path too', async () => {
    const c = await seedTenant(t, 'whsecret');
    const put = (body: object) => call(t.api, 'PUT', '/v1/advertiser/webhook', c.advertiserKey, body);
    const stored = async () =>
      (await t.db.query(`SELECT webhook_url, webhook_secret FROM advertisers WHERE id = $1`, [c.advertiserId])).rows[0];
    const first = await put({ url: 'https://shop.example/one' });
    expect(first.body.secret).toMatch(/^whsec_/);
    expect(await stored()).toEqual({ webhook_url: 'https://shop.example/one', webhook_secret: first.body.secret });
    const moved = await put({ url: 'https://shop.example/two' });
    expect(moved.body.secret).toBeUndefined();
    expect(await stored()).toEqual({ webhook_url: 'https://shop.example/two', webhook_secret: first.body.secret });
    const rotated = await put({ url: 'https://shop.example/two', rotateSecret: true });
    expect(rotated.body.secret).toMatch(/^whsec_/);
    expect(rotated.body.secret).not.toBe(first.body.secret);
    expect((await stored()).webhook_secret).toBe(rotated.body.secret);
    // Removing the webhook keeps no URL; rotating without one makes no secret.
    expect((await put({ url: null, rotateSecret: true })).body.secret).toBeUndefined();
    expect(await stored()).toEqual({ webhook_url: null, webhook_secret: rotated.body.secret });

    // An admin creating an advertiser with a URL gets its secret, once, and the URL back.
    const created = await t.admin('/v1/admin/advertisers', {
      id: 'adv-whsecret-admin',
      name: 'Shop',
      webhookUrl: 'https://shop.example/adm',
    });
    const body = (await created.json()) as { webhookSecret?: string };
    expect(created.status).toBe(201);
    expect(body).toMatchObject({ webhookUrl: 'https://shop.example/adm', webhookSecret: expect.stringMatching(/^whsec_/) });
    const updated = await t.admin('/v1/admin/advertisers', {
      id: 'adv-whsecret-admin',
      name: 'Shop',
      webhookUrl: 'https://shop.example/adm2',
    });
    const again = (await updated.json()) as { webhookSecret?: string };
    expect(again).toMatchObject({ webhookUrl: 'https://shop.example/adm2' });
    expect(again.webhookSecret).toBeUndefined();
    const row = (await t.db.query(`SELECT webhook_url, webhook_secret FROM advertisers WHERE id = 'adv-whsecret-admin'`)).rows[0];
    expect(row).toEqual({ webhook_url: 'https://shop.example/adm2', webhook_secret: body.webhookSecret });
  });

  it('refuses a webhook URL that is not http(s), naming the field', async () => {
    const res = await call(t.api, 'PUT', '/v1/advertiser/webhook', a.advertiserKey, { url: 'ftp://shop.example/hook' });
    expect(res.status).toBe(400);
    expect(res.body.errors[0].field).toBe('url');
  });
});
