import { createServer, IncomingMessage, Server } from 'node:http';
import { AddressInfo } from 'node:net';
import { jetstreamManager } from '@nats-io/jetstream';
import { eventually } from '@app/testing';
import { ATTEMPT_HEADER, IDEMPOTENCY_HEADER, SIGNATURE_HEADER, verifyWebhook } from '@app/webhooks';
import { ADMIN_KEY, TestEngine, bootEngine, postJson } from './support/engine';
import { Tenant, call, freshIp, seedTenant, sendTraffic } from './support/tenants';
import { CHROME_UA } from '@app/testing';

interface Received {
  /** The first path segment: which publisher's receiver. */
  box: string;
  target: string;
  query: URLSearchParams;
  method: string;
  key: string;
  attempt: number;
  verified: boolean;
  signature: string;
  answered: number;
}

/**
 * A publisher's tracker as docs/webhooks.md says to write one for a partner postback: a GET whose
 * path and query (`req.url`, exactly as sent) are signed with the postback's secret. Each first
 * path segment is one publisher's receiver and answers as the test tells it to.
 */
class Tracker {
  readonly requests: Received[] = [];
  readonly secrets = new Map<string, string>();
  readonly behaviour = new Map<string, (attempt: number) => number>();
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
    for await (const _ of req); // a GET has no body; drain whatever comes
    const target = req.url ?? '/';
    const box = target.split('/')[1].split('?')[0];
    const attempt = Number(req.headers[ATTEMPT_HEADER]);
    const signature = String(req.headers[SIGNATURE_HEADER] ?? '');
    const verified = verifyWebhook(this.secrets.get(box) ?? '', signature, target);
    const answered = verified ? (this.behaviour.get(box)?.(attempt) ?? 200) : 401;
    const query = new URL(target, 'http://x').searchParams;
    this.requests.push({
      box,
      target,
      query,
      method: req.method ?? '',
      key: String(req.headers[IDEMPOTENCY_HEADER]),
      attempt,
      verified,
      signature,
      answered,
    });
    return answered;
  }

  accepted(box: string): Received[] {
    return this.requests.filter((r) => r.box === box && r.answered < 300);
  }
}

const TEMPLATE =
  '?cid={click_id}&conv={conversion_id}&offer={offer_id}&sub={sub_id}&s1={sub1}&s2={sub2}&p={payout}&cur={currency}&st={status}&r={reason}&rev={revision}';

describe('partner postbacks: a publisher’s tracker gets every decision, signed, retried, parked and replayable (services booted)', () => {
  let t: TestEngine;
  const tracker = new Tracker();

  beforeAll(async () => {
    await tracker.start();
    t = await bootEngine({ config: { WEBHOOK_RETRY_BASE_MS: 200, WEBHOOK_MAX_ATTEMPTS: 3, WEBHOOK_PARK_AFTER: 2 } });
  });
  afterAll(async () => {
    await t?.stop();
    await tracker.stop();
  });

  async function register(tenant: Tenant, box: string, offerId?: string): Promise<{ id: string; secret: string }> {
    const res = await call(t.api, 'POST', '/v1/publisher/postbacks', tenant.publisherKey, {
      url: `${tracker.url}/${box}${TEMPLATE}`,
      ...(offerId ? { offerId } : {}),
    });
    expect(res.status).toBe(201);
    expect(res.body.secret).toMatch(/^whsec_/);
    tracker.secrets.set(box, res.body.secret);
    return res.body;
  }

  /** A clean click with sub1/sub2 and its conversion (approved). */
  async function clickWithSubIds(tenant: Tenant): Promise<{ clickId: string; conversionId: string }> {
    const click = await postJson(`${t.gateway}/v1/clicks`, {
      offerId: tenant.offerId,
      publisherId: tenant.publisherId,
      subId: 'spring',
      subIds: { sub1: 'kw one', sub2: 'a&b=c' },
      ip: freshIp(),
      userAgent: CHROME_UA,
      ts: new Date(Date.now() - 600_000).toISOString(),
    });
    expect(click.status).toBe(202);
    // The click is recorded before its conversion is sent: sub1…sub5 are read from the stored click.
    await eventually(
      async () => (await t.db.query(`SELECT 1 FROM clicks WHERE id = $1`, [click.body.id])).rowCount,
      (n) => n === 1,
    );
    const conversion = await postJson(`${t.gateway}/v1/conversions`, { clickId: click.body.id, amount: 40 });
    expect(conversion.status).toBe(202);
    return { clickId: click.body.id, conversionId: conversion.body.id };
  }

  it('fires each decision as a signed GET with the macros substituted, a revision again, and never to another publisher', async () => {
    const a = await seedTenant(t, 'pba');
    const b = await seedTenant(t, 'pbb');
    await register(a, 'a');
    await register(b, 'b');
    // The list shows the postback, never its secret.
    const listed = await call(t.api, 'GET', '/v1/publisher/postbacks', a.publisherKey);
    expect(listed.body.items).toHaveLength(1);
    expect(listed.body.items[0]).toMatchObject({ publisherId: a.publisherId, offerId: null, status: 'active' });
    expect(JSON.stringify(listed.body)).not.toContain('whsec_');

    const withSubs = await clickWithSubIds(a);
    const traffic = await sendTraffic(t, a);
    const trafficB = await sendTraffic(t, b);
    const mine = [withSubs.conversionId, traffic.approved.conversionId, traffic.rejected.conversionId, traffic.held.conversionId];

    const got = await eventually(
      async () => tracker.accepted('a'),
      (rs) => rs.length === 4,
    );
    expect(got.every((r) => r.verified && r.method === 'GET')).toBe(true);
    expect(got.map((r) => r.query.get('conv')).sort()).toEqual([...mine].sort());
    expect(got.map((r) => r.key).sort()).toEqual(mine.map((id) => `${id}:0`).sort());
    const of = (conversionId: string) => got.find((r) => r.query.get('conv') === conversionId)!.query;
    // Macros substituted (URL-encoded on the way, decoded here), the publisher's own data only.
    expect(Object.fromEntries(of(withSubs.conversionId))).toEqual({
      cid: withSubs.clickId,
      conv: withSubs.conversionId,
      offer: a.offerId,
      sub: 'spring',
      s1: 'kw one',
      s2: 'a&b=c',
      p: '4.5',
      cur: 'USD',
      st: 'approved',
      r: '',
      rev: '0',
    });
    expect(got.find((r) => r.query.get('conv') === withSubs.conversionId)!.target).toContain('s2=a%26b%3Dc');
    expect(of(traffic.rejected.conversionId).get('st')).toBe('rejected');
    expect(of(traffic.rejected.conversionId).get('r')).toContain('CTIT_TOO_SHORT');
    expect(of(traffic.held.conversionId).get('st')).toBe('hold');
    expect(of(traffic.held.conversionId).get('r')).toContain('GEO_MISMATCH');
    // Nothing of the sale, the advertiser's revenue, the score or the visitor's address.
    for (const r of got) expect(r.target).not.toMatch(/amount|revenue|score|8\.8\.\d|81\.2\.69/);

    // Another publisher's tracker gets its own conversions and none of these, and vice versa.
    const theirs = await eventually(
      async () => tracker.accepted('b'),
      (rs) => rs.length === 3,
    );
    expect(theirs.map((r) => r.query.get('conv')).sort()).toEqual(
      [trafficB.approved.conversionId, trafficB.rejected.conversionId, trafficB.held.conversionId].sort(),
    );

    // An analyst approves the held conversion: a revision, fired again with a new idempotency key.
    const review = await call(t.api, 'POST', '/v1/review/decisions', ADMIN_KEY, {
      decisions: [{ conversionId: traffic.held.conversionId, status: 'approved' }],
      note: 'verified',
    });
    expect(review.status).toBe(202);
    const revised = await eventually(
      async () => tracker.accepted('a').find((r) => r.key === `${traffic.held.conversionId}:1`),
      (r) => r !== undefined,
    );
    expect(Object.fromEntries(revised!.query)).toMatchObject({ st: 'approved', rev: '1', r: '' });
    expect(tracker.requests.filter((r) => r.box === 'b').every((r) => !mine.includes(r.query.get('conv')!))).toBe(true);

    // Attempts: the publisher sees its own (JSON and CSV), not the other's; an admin sees both. The
    // last one is recorded just after the tracker answered it: waited for, not assumed.
    const attempts = await eventually(
      () => call(t.api, 'GET', '/v1/publisher/postbacks/attempts', a.publisherKey),
      (res) => res.body.items.length >= 5,
    );
    expect(attempts.body.items.every((i: { publisherId: string }) => i.publisherId === a.publisherId)).toBe(true);
    expect(attempts.body.items[0]).not.toHaveProperty('advertiserId');
    const csv = await fetch(`${t.api}/v1/publisher/postbacks/attempts`, {
      headers: { authorization: `Bearer ${b.publisherKey}`, accept: 'text/csv' },
    });
    const csvText = await csv.text();
    expect(csv.headers.get('content-type')).toMatch(/^text\/csv/);
    expect(csvText.split('\n')[0]).toBe(
      'deliveryId,attempt,conversionId,revision,at,statusCode,error,durationMs,outcome,publisherId,postbackId,url',
    );
    expect(csvText).toContain(trafficB.approved.conversionId);
    for (const id of mine) expect(csvText).not.toContain(id);
    const admin = await call(t.api, 'GET', `/v1/admin/webhooks/attempts?publisherId=${a.publisherId}`, ADMIN_KEY);
    expect(admin.body.items.length).toBe(attempts.body.items.length);
    const all = await call(t.api, 'GET', '/v1/admin/postbacks', ADMIN_KEY);
    expect(all.body.items.map((p: { publisherId: string }) => p.publisherId)).toEqual(
      expect.arrayContaining([a.publisherId, b.publisherId]),
    );
    expect((await call(t.api, 'GET', '/v1/admin/postbacks', a.publisherKey)).status).toBe(403);
  });

  it('retries a failing tracker, parks it, and delivers the dead-lettered postbacks on replay', async () => {
    const c = await seedTenant(t, 'pbc');
    await register(c, 'c');
    let fixed = false;
    tracker.behaviour.set('c', () => (fixed ? 200 : 503));
    const traffic = await sendTraffic(t, c);
    const keys = [traffic.approved.conversionId, traffic.rejected.conversionId, traffic.held.conversionId].map((id) => `${id}:0`);

    const jsm = await jetstreamManager(t.nc);
    const subject = t.topology.postbackDeadLetters(c.publisherId);
    const deadLetters = async () =>
      (await jsm.streams.info(t.topology.streams.webhookDlq, { subjects_filter: subject })).state.subjects?.[subject] ?? 0;
    await eventually(deadLetters, (n) => n === 3);
    // Retried with the same key, attempt numbers counting up.
    const tries = tracker.requests.filter((r) => r.box === 'c' && r.key === keys[0]);
    expect(tries.length).toBeGreaterThanOrEqual(1);
    expect(tries.map((r) => r.attempt)).toEqual(tries.map((_, i) => i + 1));
    const parked = await call(t.api, 'GET', '/v1/publisher/postbacks', c.publisherKey);
    expect(parked.body.items[0]).toMatchObject({ status: 'parked' });
    expect(parked.body.items[0].parkedAt).not.toBeNull();

    fixed = true;
    const replay = await call(t.api, 'POST', '/v1/publisher/postbacks/replay', c.publisherKey, {});
    expect(replay.body).toEqual({ requeued: 3 });
    const accepted = await eventually(
      async () => tracker.accepted('c'),
      (rs) => rs.length === 3,
    );
    expect(accepted.map((r) => r.key).sort()).toEqual(keys.sort());
    expect(accepted.every((r) => r.attempt >= 2)).toBe(true);
    expect(await deadLetters()).toBe(0);
    const active = await call(t.api, 'GET', '/v1/publisher/postbacks', c.publisherKey);
    expect(active.body.items[0]).toMatchObject({ status: 'active', consecutiveFailures: 0, failedDeliveries: 0, parkedAt: null });
  });

  it('lets a publisher scope, change, rotate and delete its postbacks, and only its own', async () => {
    const d = await seedTenant(t, 'pbd');
    const e = await seedTenant(t, 'pbe');
    const global = await register(d, 'd');
    const mk = (body: object, key = d.publisherKey) => call(t.api, 'POST', '/v1/publisher/postbacks', key, body);
    // One global postback and one per offer.
    expect((await mk({ url: `${tracker.url}/d2?c={click_id}` })).status).toBe(409);
    // Templates: known macros only, none in the host; the offer must exist.
    const bad = await mk({ url: `${tracker.url}/d?x={amount}` });
    expect([bad.status, bad.body.errors[0].field, bad.body.errors[0].message]).toEqual([400, 'url', expect.stringContaining('{amount}')]);
    expect((await mk({ url: 'http://{sub1}.example/pb' })).body.errors[0].message).toContain('only in the path and query');
    expect((await mk({ url: `${tracker.url}/x`, offerId: 'no-such-offer' })).body.errors[0].field).toBe('offerId');

    // The offer's own postback replaces the global one for that offer.
    const perOffer = await register(d, 'doffer', d.offerId);
    const traffic = await sendTraffic(t, d);
    await eventually(
      async () => tracker.accepted('doffer').length,
      (n) => n === 3,
    );
    expect(tracker.requests.filter((r) => r.box === 'd')).toEqual([]);

    // Another publisher can neither change nor delete it.
    expect((await call(t.api, 'PUT', `/v1/publisher/postbacks/${perOffer.id}`, e.publisherKey, { rotateSecret: true })).status).toBe(404);
    expect((await call(t.api, 'DELETE', `/v1/publisher/postbacks/${perOffer.id}`, e.publisherKey)).status).toBe(404);
    expect((await call(t.api, 'GET', '/v1/publisher/postbacks', e.publisherKey)).body.items).toEqual([]);

    // A rotation shows the new secret once; the previous one still signs beside it.
    const rotated = await call(t.api, 'PUT', `/v1/publisher/postbacks/${perOffer.id}`, d.publisherKey, { rotateSecret: true });
    expect(rotated.status).toBe(200);
    expect(rotated.body.secret).toMatch(/^whsec_/);
    expect(rotated.body.secret).not.toBe(perOffer.secret);
    expect(rotated.body.previousSecretUntil).not.toBeNull();
    const review = await call(t.api, 'POST', '/v1/review/decisions', ADMIN_KEY, {
      decisions: [{ conversionId: traffic.held.conversionId, status: 'rejected' }],
    });
    expect(review.status).toBe(202);
    const signed = await eventually(
      async () => tracker.accepted('doffer').find((r) => r.key === `${traffic.held.conversionId}:1`),
      (r) => r !== undefined,
    );
    expect(verifyWebhook(rotated.body.secret, signed!.signature, signed!.target)).toBe(true);
    expect(verifyWebhook(perOffer.secret, signed!.signature, signed!.target)).toBe(true);
    expect(signed!.query.get('st')).toBe('rejected');

    // Deleted: the offer falls back to the global postback.
    expect((await call(t.api, 'DELETE', `/v1/publisher/postbacks/${perOffer.id}`, d.publisherKey)).status).toBe(204);
    await sendTraffic(t, d);
    await eventually(
      async () => tracker.accepted('d').length,
      (n) => n === 3,
    );
    expect(global.id).toBeDefined();
  });
});
