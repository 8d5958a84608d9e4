import { routesOf } from '@app/http';
import { eventually } from '@app/testing';
import { ADMIN_KEY, TestEngine, bootEngine } from './support/engine';
import { Reply, Tenant, Traffic, call, seedTenant, sendTraffic } from './support/tenants';

/**
 * Issue 5: who may call what, and whose data they get. Every route the api and the gateway serve
 * must be in ROUTES (a new one fails "every route is classified" until it is); every tenant route
 * carries a probe in which tenant A's keys try to read or change tenant B's data.
 */

type Role = 'admin' | 'advertiser' | 'publisher';

interface World {
  t: TestEngine;
  a: Tenant;
  b: Tenant;
  trafficA: Traffic;
  trafficB: Traffic;
  /** A's publisher sending traffic to B's offer: A's publisher may see it, A's advertiser may not. */
  cross: Traffic;
}

type Access =
  | { kind: 'public' }
  | { kind: 'ingest' }
  | { kind: 'admin' }
  | { kind: 'tenant'; roles: Role[]; isolation: (w: World, base: string) => Promise<void> };

const ids = (items: any[], key = 'id') => items.map((i) => i[key] as string);
const conversionsOf = (x: Traffic) => [x.approved.conversionId, x.rejected.conversionId, x.held.conversionId];
const idsOf = (x: Traffic) => [
  x.botClickId,
  x.rejected.conversionId,
  x.approved.clickId,
  x.held.clickId,
  x.rejected.clickId,
  ...conversionsOf(x),
];

async function ok(reply: Promise<Reply>): Promise<any> {
  const r = await reply;
  if (r.status >= 300) throw new Error(`expected success, got ${r.status}: ${JSON.stringify(r.body)}`);
  return r.body;
}

/** Feedback on another advertiser's conversion reads as missing and changes nothing. */
const feedbackIsolation = async (w: World, base: string) => {
  const theirs = w.trafficB.approved.conversionId;
  const res = await call(base, 'POST', '/v1/feedback', w.a.advertiserKey, { conversionId: theirs, status: 'rejected', reason: 'probe' });
  expect(res.status).toBe(404);
  const mine = await call(base, 'POST', '/v1/feedback', w.a.advertiserKey, {
    conversionId: w.cross.approved.conversionId, // A's publisher's traffic, but B's offer
    status: 'rejected',
  });
  expect(mine.status).toBe(404);
  expect((await w.t.db.query(`SELECT count(*)::int AS n FROM feedback WHERE conversion_id = ANY($1)`, [[theirs]])).rows[0].n).toBe(0);
  // Idempotency keys are per tenant: A using an id first does not silence B's feedback with the same id.
  const id = `same-id-${base.slice(-5)}`;
  const a = await call(base, 'POST', '/v1/feedback', w.a.advertiserKey, {
    id,
    conversionId: w.trafficA.held.conversionId,
    status: 'approved',
  });
  const b = await call(base, 'POST', '/v1/feedback', w.b.advertiserKey, {
    id,
    conversionId: w.trafficB.held.conversionId,
    status: 'approved',
  });
  expect([a.status, a.body.duplicate, b.status, b.body.duplicate]).toEqual([202, false, 202, false]);
  expect(a.body.id).not.toBe(b.body.id);
  const again = await call(base, 'POST', '/v1/feedback', w.b.advertiserKey, {
    id,
    conversionId: w.trafficB.held.conversionId,
    status: 'approved',
  });
  expect(again.body).toEqual({ id: b.body.id, duplicate: true });
  // …and per conversion: A's id on another of its conversions is a feedback of its own, not a duplicate.
  const elsewhere = await call(base, 'POST', '/v1/feedback', w.a.advertiserKey, {
    id,
    conversionId: w.trafficA.approved.conversionId,
    status: 'rejected',
  });
  expect([elsewhere.status, elsewhere.body.duplicate]).toEqual([202, false]);
  expect(elsewhere.body.id).not.toBe(a.body.id);
};

const ROUTES: Record<string, Access> = {
  // Documentation and operations: public.
  'GET /health': { kind: 'public' },
  'GET /metrics': { kind: 'public' },
  'GET /openapi.json': { kind: 'public' },
  'GET /docs': { kind: 'public' },
  'GET /docs/': { kind: 'public' },
  'GET /docs/*': { kind: 'public' },
  'GET /docs/index.html': { kind: 'public' },
  'GET /docs/LICENSE': { kind: 'public' },
  'GET /docs/swagger-ui-init.js': { kind: 'public' },
  'GET /docs/docs/swagger-ui-init.js': { kind: 'public' },

  // Ingest (gateway): partners' own credentials (publisher keys, advertiser keys and postback
  // tokens, open pixels): test/e2e/ingest-trust.test.ts; the tracking link is public by design.
  'POST /v1/clicks': { kind: 'ingest' },
  'POST /v1/conversions': { kind: 'ingest' },
  'GET /c/:offerId': { kind: 'ingest' },
  'GET /postback': { kind: 'ingest' },

  // The network's own staff.
  'GET /v1/admin/advertisers': { kind: 'admin' },
  'GET /v1/admin/publishers': { kind: 'admin' },
  'GET /v1/admin/offers': { kind: 'admin' },
  'POST /v1/admin/advertisers': { kind: 'admin' },
  'POST /v1/admin/publishers': { kind: 'admin' },
  'POST /v1/admin/offers': { kind: 'admin' },
  'PUT /v1/admin/offers/:offerId/payouts/:publisherId': { kind: 'admin' },
  'DELETE /v1/admin/offers/:offerId/payouts/:publisherId': { kind: 'admin' },
  'GET /v1/admin/api-keys': { kind: 'admin' },
  'POST /v1/admin/api-keys': { kind: 'admin' },
  'DELETE /v1/admin/api-keys/:id': { kind: 'admin' },
  'POST /v1/admin/api-keys/postback-tokens': { kind: 'admin' },
  'GET /v1/admin/rulesets': { kind: 'admin' },
  'GET /v1/admin/rulesets/history': { kind: 'admin' },
  'GET /v1/admin/rulesets/history/:version': { kind: 'admin' },
  'POST /v1/admin/rulesets/backtest': { kind: 'admin' },
  'GET /v1/admin/rulesets/backtest': { kind: 'admin' },
  'GET /v1/admin/rulesets/backtest/:id': { kind: 'admin' },
  'GET /v1/admin/rulesets/shadow': { kind: 'admin' },
  'GET /v1/admin/rulesets/quality': { kind: 'admin' },
  'PUT /v1/admin/rulesets/shadow': { kind: 'admin' },
  'DELETE /v1/admin/rulesets/shadow': { kind: 'admin' },
  'POST /v1/admin/rulesets/shadow/promote': { kind: 'admin' },
  'GET /v1/admin/rulesets/effective': { kind: 'admin' },
  'PUT /v1/admin/rulesets/network': { kind: 'admin' },
  'PUT /v1/admin/rulesets/advertisers/:id': { kind: 'admin' },
  'PUT /v1/admin/rulesets/offers/:id': { kind: 'admin' },
  'DELETE /v1/admin/rulesets/advertisers/:id': { kind: 'admin' },
  'DELETE /v1/admin/rulesets/offers/:id': { kind: 'admin' },
  'GET /v1/admin/models': { kind: 'admin' },
  'PUT /v1/admin/models/selection': { kind: 'admin' },
  'GET /v1/admin/stats': { kind: 'admin' },
  'POST /v1/admin/webhooks/replay': { kind: 'admin' },
  'GET /v1/admin/dead-letters': { kind: 'admin' },
  'POST /v1/admin/dead-letters/replay': { kind: 'admin' },
  'GET /v1/admin/dead-letters/replays': { kind: 'admin' },
  'GET /v1/admin/enforcement/blocks': { kind: 'admin' },
  'POST /v1/admin/enforcement/blocks/:id/lift': { kind: 'admin' },
  'POST /v1/admin/enforcement/run': { kind: 'admin' },
  'GET /v1/review/queue': { kind: 'admin' },
  'GET /v1/review/actions': { kind: 'admin' },
  'POST /v1/review/decisions': { kind: 'admin' },

  // Tenants.
  'GET /v1/publisher/blocks': {
    kind: 'tenant',
    roles: ['publisher'],
    isolation: async ({ t, a, b }) => {
      // A policy on B's offer blocking any publisher with an invalid click there: B's publisher (its bot)
      // and A's (the cross traffic's bot) are both blocked on B's offer; each sees only its own block.
      const policy = {
        id: 'probe',
        entity: 'publisher',
        metric: 'invalidRate',
        minSample: 1,
        windowHours: 1,
        maxRate: 0,
        blockOn: 'offer',
        blockHours: 1,
      };
      await ok(call(t.api, 'PUT', `/v1/admin/rulesets/offers/${b.offerId}`, ADMIN_KEY, { enforcement: [policy] }));
      const run = await ok(call(t.api, 'POST', '/v1/admin/enforcement/run', ADMIN_KEY));
      try {
        const made = run.made as { id: string; publisherId: string }[];
        expect(made.map((m) => m.publisherId).sort()).toEqual([a.publisherId, b.publisherId].sort());
        const mine = (await ok(call(t.api, 'GET', '/v1/publisher/blocks', a.publisherKey))) as any[];
        const theirs = (await ok(call(t.api, 'GET', '/v1/publisher/blocks', b.publisherKey))) as any[];
        expect(mine.map((x) => x.id)).toEqual(made.filter((m) => m.publisherId === a.publisherId).map((m) => m.id));
        expect(theirs.map((x) => x.id)).toEqual(made.filter((m) => m.publisherId === b.publisherId).map((m) => m.id));
        expect(mine.every((x) => x.reason.evidence.publisherId === a.publisherId)).toBe(true);
        const forged = await call(t.api, 'GET', `/v1/publisher/blocks?publisherId=${b.publisherId}`, a.publisherKey);
        expect(forged.body).toEqual(mine);
      } finally {
        for (const m of run.made) await call(t.api, 'POST', `/v1/admin/enforcement/blocks/${m.id}/lift`, ADMIN_KEY);
        await call(t.api, 'DELETE', `/v1/admin/rulesets/offers/${b.offerId}`, ADMIN_KEY);
      }
    },
  },
  'GET /v1/publisher/rejections': {
    kind: 'tenant',
    roles: ['publisher'],
    isolation: async ({ t, a, b, trafficA, trafficB, cross }) => {
      const all = ids((await ok(call(t.api, 'GET', '/v1/publisher/rejections?limit=500', a.publisherKey))).items);
      expect(all).toEqual(
        expect.arrayContaining([trafficA.botClickId, trafficA.rejected.conversionId, cross.botClickId, cross.rejected.conversionId]),
      );
      expect(all.filter((id) => idsOf(trafficB).includes(id))).toEqual([]);
      // Filtering by the other advertiser's offer shows only A's own traffic on it.
      const onB = ids((await ok(call(t.api, 'GET', `/v1/publisher/rejections?offerId=${b.offerId}`, a.publisherKey))).items);
      expect(onB.sort()).toEqual([cross.botClickId, cross.rejected.conversionId].sort());
      // The scope is the key's, not a parameter.
      const forged = await call(t.api, 'GET', `/v1/publisher/rejections?publisherId=${b.publisherId}`, a.publisherKey);
      expect(forged.status).toBe(400);
      expect(forged.body.errors[0].field).toBe('publisherId');
    },
  },
  'GET /v1/publisher/stats': {
    kind: 'tenant',
    roles: ['publisher'],
    isolation: async ({ t, a, b }) => {
      // A's own 4 clicks on its offer and 4 on B's; B's publisher's 4 on B's offer are not A's.
      const rows = await eventually(
        async () => (await ok(call(t.api, 'GET', '/v1/publisher/stats?groupBy=offer', a.publisherKey))).rows as any[],
        (r) => r.reduce((s, x) => s + x.clicks, 0) >= 8,
      );
      expect(rows.reduce((s, x) => s + x.clicks, 0)).toBe(8);
      expect(rows.filter((r) => r.offerId === b.offerId).reduce((s, x) => s + x.clicks, 0)).toBe(4);
      expect(rows.every((r) => r.revenue === undefined && r.margin === undefined)).toBe(true);
      const forged = await call(t.api, 'GET', `/v1/publisher/stats?publisherId=${b.publisherId}`, a.publisherKey);
      expect(forged.status).toBe(400);
    },
  },
  'GET /v1/advertiser/decisions': {
    kind: 'tenant',
    roles: ['advertiser'],
    isolation: async ({ t, b, a, trafficA }) => {
      const mine = ids((await ok(call(t.api, 'GET', '/v1/advertiser/decisions?limit=500', a.advertiserKey))).items, 'conversionId');
      expect(mine.sort()).toEqual(conversionsOf(trafficA).sort());
      // Filtering by a publisher that also works for B still yields only A's conversions.
      const viaPublisher = ids(
        (await ok(call(t.api, 'GET', `/v1/advertiser/decisions?publisherId=${a.publisherId}`, a.advertiserKey))).items,
        'conversionId',
      );
      expect(viaPublisher.sort()).toEqual(conversionsOf(trafficA).sort());
      const other = await ok(call(t.api, 'GET', `/v1/advertiser/decisions?offerId=${b.offerId}`, a.advertiserKey));
      expect(other.items).toEqual([]);
    },
  },
  'GET /v1/advertiser/stats': {
    kind: 'tenant',
    roles: ['advertiser'],
    isolation: async ({ t, a, b }) => {
      const rows = await eventually(
        async () => (await ok(call(t.api, 'GET', '/v1/advertiser/stats?groupBy=publisher', a.advertiserKey))).rows as any[],
        (r) => r.reduce((s, x) => s + x.conversions, 0) >= 3,
      );
      expect(rows.reduce((s, x) => s + x.conversions, 0)).toBe(3);
      expect(rows.reduce((s, x) => s + x.clicks, 0)).toBe(4);
      const other = await ok(call(t.api, 'GET', `/v1/advertiser/stats?offerId=${b.offerId}`, a.advertiserKey));
      expect(other.rows.reduce((s: number, x: any) => s + x.clicks, 0)).toBe(0);
    },
  },
  'GET /v1/advertiser/webhook': {
    kind: 'tenant',
    roles: ['advertiser'],
    isolation: async ({ t, a }) => {
      const mine = await ok(call(t.api, 'GET', '/v1/advertiser/webhook', a.advertiserKey));
      expect(mine.url).toBe('https://a.example/hook');
      expect(mine.secret).toBeUndefined();
    },
  },
  'PUT /v1/advertiser/webhook': {
    kind: 'tenant',
    roles: ['advertiser'],
    isolation: async ({ t, a, b }) => {
      await ok(call(t.api, 'PUT', '/v1/advertiser/webhook', a.advertiserKey, { url: 'https://a.example/hook', rotateSecret: true }));
      const row = (await t.db.query(`SELECT webhook_url FROM advertisers WHERE id = $1`, [b.advertiserId])).rows[0];
      expect(row.webhook_url).toBe('https://b.example/hook');
      const forged = await call(t.api, 'PUT', '/v1/advertiser/webhook', a.advertiserKey, {
        url: 'https://a.example/hook',
        advertiserId: b.advertiserId,
      });
      expect(forged.status).toBe(400);
    },
  },
  'POST /v1/advertiser/postback-token': {
    kind: 'tenant',
    roles: ['advertiser'],
    isolation: async ({ t, a, b }) => {
      const before = (
        await t.db.query(`SELECT count(*)::int AS n FROM api_keys WHERE subject_id = $1 AND revoked_at IS NULL`, [b.advertiserId])
      ).rows[0].n;
      const res = await ok(call(t.api, 'POST', '/v1/advertiser/postback-token', a.advertiserKey, { advertiserId: b.advertiserId }));
      expect(res.token).toMatch(/^arb_pbt_/);
      const owner = (await t.db.query(`SELECT subject_id FROM api_keys WHERE id = $1`, [res.id])).rows[0].subject_id;
      expect(owner).toBe(a.advertiserId);
      const after = (
        await t.db.query(`SELECT count(*)::int AS n FROM api_keys WHERE subject_id = $1 AND revoked_at IS NULL`, [b.advertiserId])
      ).rows[0].n;
      expect(after).toBe(before);
    },
  },
  'POST /v1/advertiser/webhook/replay': {
    kind: 'tenant',
    roles: ['advertiser'],
    isolation: async ({ t, a, b }) => {
      await t.db.query(`UPDATE advertisers SET webhook_status = 'parked', webhook_parked_at = now() WHERE id = $1`, [b.advertiserId]);
      const res = await ok(call(t.api, 'POST', '/v1/advertiser/webhook/replay', a.advertiserKey, {}));
      expect(res.requeued).toBe(0);
      expect((await t.db.query(`SELECT webhook_status FROM advertisers WHERE id = $1`, [b.advertiserId])).rows[0].webhook_status).toBe(
        'parked',
      );
    },
  },
  'GET /v1/conversions/:id/decision': {
    kind: 'tenant',
    roles: ['admin', 'advertiser', 'publisher'],
    isolation: async ({ t, a, trafficA, trafficB, cross }) => {
      const get = (id: string, key: string) => call(t.api, 'GET', `/v1/conversions/${id}/decision`, key);
      expect((await get(trafficA.approved.conversionId, a.advertiserKey)).status).toBe(200);
      expect((await get(trafficA.approved.conversionId, a.publisherKey)).status).toBe(200);
      expect((await get(trafficB.approved.conversionId, a.advertiserKey)).status).toBe(404);
      expect((await get(trafficB.approved.conversionId, a.publisherKey)).status).toBe(404);
      // A's publisher brought it, B's advertiser pays for it.
      expect((await get(cross.approved.conversionId, a.publisherKey)).status).toBe(200);
      expect((await get(cross.approved.conversionId, a.advertiserKey)).status).toBe(404);
    },
  },
  'POST /v1/feedback': { kind: 'tenant', roles: ['advertiser', 'admin'], isolation: (w, base) => feedbackIsolation(w, base) },
  'GET /v1/admin/postbacks': { kind: 'admin' },
  'GET /v1/admin/webhooks/attempts': { kind: 'admin' },
  'GET /v1/advertiser/webhook/attempts': {
    kind: 'tenant',
    roles: ['advertiser'],
    isolation: async ({ t, a, b }) => {
      await t.db.query(
        `INSERT INTO webhook_attempts (delivery_id, advertiser_id, conversion_id, revision, attempt, url, outcome, duration_ms)
         VALUES ('probe-b:0', $1, 'probe-b', 0, 1, 'https://b.example/hook', 'retry', 1)`,
        [b.advertiserId],
      );
      const mine = (await ok(call(t.api, 'GET', '/v1/advertiser/webhook/attempts?limit=500', a.advertiserKey))).items as any[];
      expect(mine.filter((x) => x.advertiserId !== a.advertiserId || x.conversionId === 'probe-b')).toEqual([]);
      const forged = await call(t.api, 'GET', `/v1/advertiser/webhook/attempts?advertiserId=${b.advertiserId}`, a.advertiserKey);
      expect(forged.status).toBe(400);
    },
  },
  'GET /v1/publisher/postbacks': {
    kind: 'tenant',
    roles: ['publisher'],
    isolation: async ({ t, a, b }) => {
      const theirs = await publisherPostbackOf(t, b.publisherId);
      for (const path of ['/v1/publisher/postbacks', `/v1/publisher/postbacks?publisherId=${b.publisherId}`]) {
        const mine = (await ok(call(t.api, 'GET', path, a.publisherKey))).items as any[];
        expect(mine.filter((p) => p.id === theirs || p.publisherId !== a.publisherId)).toEqual([]);
      }
    },
  },
  'POST /v1/publisher/postbacks': {
    kind: 'tenant',
    roles: ['publisher'],
    isolation: async ({ t, a, b }) => {
      const forged = await call(t.api, 'POST', '/v1/publisher/postbacks', a.publisherKey, {
        url: 'http://127.0.0.1:9/pb?cid={click_id}',
        offerId: a.offerId,
        publisherId: b.publisherId,
      });
      expect(forged.status).toBe(400);
      const made = await ok(
        call(t.api, 'POST', '/v1/publisher/postbacks', a.publisherKey, { url: 'http://127.0.0.1:9/pb?cid={click_id}', offerId: a.offerId }),
      );
      const owner = (await t.db.query(`SELECT publisher_id FROM postbacks WHERE id = $1`, [made.id])).rows[0].publisher_id;
      expect(owner).toBe(a.publisherId);
    },
  },
  'GET /v1/publisher/postbacks/attempts': {
    kind: 'tenant',
    roles: ['publisher'],
    isolation: async ({ t, a, b }) => {
      const theirs = await publisherPostbackOf(t, b.publisherId);
      await t.db.query(
        `INSERT INTO webhook_attempts (delivery_id, owner_type, publisher_id, postback_id, conversion_id, revision, attempt, url, outcome, duration_ms)
         VALUES ('probe-pb:0', 'publisher', $1, $2, 'probe-pb', 0, 1, 'http://127.0.0.1:9/b', 'retry', 1)`,
        [b.publisherId, theirs],
      );
      const viaId = (await ok(call(t.api, 'GET', `/v1/publisher/postbacks/attempts?postbackId=${theirs}`, a.publisherKey))).items;
      expect(viaId).toEqual([]);
      const all = (await ok(call(t.api, 'GET', '/v1/publisher/postbacks/attempts?limit=500', a.publisherKey))).items as any[];
      expect(all.filter((x) => x.publisherId !== a.publisherId)).toEqual([]);
    },
  },
  'POST /v1/publisher/postbacks/replay': {
    kind: 'tenant',
    roles: ['publisher'],
    isolation: async ({ t, a, b }) => {
      const theirs = await publisherPostbackOf(t, b.publisherId);
      await t.db.query(`UPDATE postbacks SET status = 'parked', parked_at = now() WHERE id = $1`, [theirs]);
      const res = await ok(call(t.api, 'POST', '/v1/publisher/postbacks/replay', a.publisherKey, {}));
      expect(res.requeued).toBe(0);
      expect((await t.db.query(`SELECT status FROM postbacks WHERE id = $1`, [theirs])).rows[0].status).toBe('parked');
    },
  },
  'PUT /v1/publisher/postbacks/:id': {
    kind: 'tenant',
    roles: ['publisher'],
    isolation: async ({ t, a, b }) => {
      const theirs = await publisherPostbackOf(t, b.publisherId);
      const res = await call(t.api, 'PUT', `/v1/publisher/postbacks/${theirs}`, a.publisherKey, {
        url: 'http://127.0.0.1:9/stolen',
        rotateSecret: true,
      });
      expect(res.status).toBe(404);
      expect((await t.db.query(`SELECT url FROM postbacks WHERE id = $1`, [theirs])).rows[0].url).toBe(
        'http://127.0.0.1:9/b?cid={click_id}',
      );
    },
  },
  'DELETE /v1/publisher/postbacks/:id': {
    kind: 'tenant',
    roles: ['publisher'],
    isolation: async ({ t, a, b }) => {
      const theirs = await publisherPostbackOf(t, b.publisherId);
      expect((await call(t.api, 'DELETE', `/v1/publisher/postbacks/${theirs}`, a.publisherKey)).status).toBe(404);
      expect((await t.db.query(`SELECT count(*)::int AS n FROM postbacks WHERE id = $1`, [theirs])).rows[0].n).toBe(1);
    },
  },
};

/** Publisher B's global postback (made once, straight in the database: the probes only need it to exist). */
async function publisherPostbackOf(t: TestEngine, publisherId: string): Promise<string> {
  await t.db.query(
    `INSERT INTO postbacks (id, publisher_id, offer_id, url, secret) VALUES ($1, $2, NULL, 'http://127.0.0.1:9/b?cid={click_id}', 'whsec_probe')
     ON CONFLICT DO NOTHING`,
    [`probe-${publisherId}`, publisherId],
  );
  return `probe-${publisherId}`;
}

/** A concrete URL for a route pattern. */
function concrete(url: string, w: World): string {
  return url
    .replace(':offerId', w.a.offerId)
    .replace(':publisherId', w.a.publisherId)
    .replace(':id', 'no-such-id')
    .replace('*', 'swagger-ui.css');
}

describe('API access and tenant isolation (services booted)', () => {
  let w: World;
  let served: { base: 'api' | 'gateway'; method: string; url: string }[];

  beforeAll(async () => {
    const t = await bootEngine({ config: { ROLLUP_REFRESH_SECONDS: 1 } });
    const a = await seedTenant(t, 'ta');
    const b = await seedTenant(t, 'tb');
    await call(t.api, 'POST', '/v1/admin/advertisers', ADMIN_KEY, { id: a.advertiserId, name: 'A', webhookUrl: 'https://a.example/hook' });
    await call(t.api, 'POST', '/v1/admin/advertisers', ADMIN_KEY, { id: b.advertiserId, name: 'B', webhookUrl: 'https://b.example/hook' });
    const [trafficA, trafficB, cross] = [
      await sendTraffic(t, a),
      await sendTraffic(t, b),
      await sendTraffic(t, { offerId: b.offerId, publisherId: a.publisherId }, 'cross'),
    ];
    w = { t, a, b, trafficA, trafficB, cross };
    served = [
      ...routesOf(t.engine.http.api).map((r) => ({ base: 'api' as const, ...r })),
      ...routesOf(t.engine.http.gateway).map((r) => ({ base: 'gateway' as const, ...r })),
    ];
  });
  // Stopping drains every consumer and the webhook retries the probes left queued: it went over 60 s under load once.
  afterAll(async () => {
    await w?.t.stop();
  }, 180_000);

  it('classifies every route the api and the gateway serve (a new route must be added to ROUTES)', () => {
    const keys = new Set(served.map((r) => `${r.method} ${r.url}`));
    expect([...keys].filter((k) => !(k in ROUTES))).toEqual([]);
    expect(Object.keys(ROUTES).filter((k) => !keys.has(k))).toEqual([]);
  });

  it('answers 401 without a key, with an unknown key and with a revoked key, on every route that needs one', async () => {
    const revoked = await ok(call(w.t.api, 'POST', '/v1/admin/api-keys', ADMIN_KEY, { role: 'publisher', subjectId: w.a.publisherId }));
    expect((await call(w.t.api, 'DELETE', `/v1/admin/api-keys/${revoked.id}`, ADMIN_KEY)).status).toBe(204);
    for (const route of served) {
      const access = ROUTES[`${route.method} ${route.url}`];
      if (access.kind !== 'admin' && access.kind !== 'tenant') continue;
      const base = route.base === 'api' ? w.t.api : w.t.gateway;
      const body = route.method === 'GET' || route.method === 'DELETE' ? undefined : {};
      const path = concrete(route.url, w);
      for (const key of [undefined, 'not-a-key-0123456789', revoked.key]) {
        const res = await call(base, route.method, path, key, body);
        expect({ route: `${route.method} ${route.url}`, key, status: res.status }).toEqual({
          route: `${route.method} ${route.url}`,
          key,
          status: 401,
        });
        expect(res.body.error).toBe('unauthorized');
      }
    }
  });

  it('answers 403 to keys of a role the route is not for', async () => {
    const keys: Record<Role, string> = { admin: ADMIN_KEY, advertiser: w.a.advertiserKey, publisher: w.a.publisherKey };
    let checked = 0;
    for (const route of served) {
      const access = ROUTES[`${route.method} ${route.url}`];
      const allowed: Role[] = access.kind === 'admin' ? ['admin'] : access.kind === 'tenant' ? access.roles : [];
      if (access.kind !== 'admin' && access.kind !== 'tenant') continue;
      for (const role of (['admin', 'advertiser', 'publisher'] as const).filter((r) => !allowed.includes(r))) {
        const base = route.base === 'api' ? w.t.api : w.t.gateway;
        const body = route.method === 'GET' || route.method === 'DELETE' ? undefined : {};
        const res = await call(base, route.method, concrete(route.url, w), keys[role], body);
        expect({ route: `${route.method} ${route.url}`, role, status: res.status }).toEqual({
          route: `${route.method} ${route.url}`,
          role,
          status: 403,
        });
        checked++;
      }
    }
    expect(checked).toBeGreaterThan(60);
  });

  it('serves public routes without a key', async () => {
    for (const route of served) {
      const access = ROUTES[`${route.method} ${route.url}`];
      if (access.kind !== 'public' || route.url === '/docs/LICENSE') continue;
      const base = route.base === 'api' ? w.t.api : w.t.gateway;
      const res = await fetch(`${base}${concrete(route.url, w)}`);
      expect({ route: route.url, status: res.status }).toEqual({ route: route.url, status: 200 });
    }
  });

  // One test per tenant route and server, so that a failure names the route.
  const tenantRoutes = Object.entries(ROUTES).filter(([, a]) => a.kind === 'tenant') as [string, Extract<Access, { kind: 'tenant' }>][];
  it.each(tenantRoutes)('%s: tenant A cannot read or change tenant B’s data', async (key, access) => {
    const bases = served.filter((r) => `${r.method} ${r.url}` === key).map((r) => (r.base === 'api' ? w.t.api : w.t.gateway));
    expect(bases.length).toBeGreaterThan(0);
    for (const base of bases) await access.isolation(w, base);
  });
});
