import { uid } from '@app/testing';
import { ADMIN_KEY, TestEngine, bootEngine } from './support/engine';
import { Tenant, call, seedTenant } from './support/tenants';

/**
 * Text PostgreSQL cannot store, sent to the API's admin, advertiser and publisher endpoints. A NUL
 * (U+0000) is refused by text columns and by jsonb; a lone surrogate (JSON `\ud800`, unpaired) is
 * refused by jsonb (a 500) and, sent to a text column, silently becomes U+FFFD (node-postgres
 * encodes the string as UTF-8): a catalog name, a webhook URL or a key label stored as something
 * nobody sent. Ingest refuses both (events.schema.ts, ingest-trust.test.ts); every other
 * endpoint must as well: a 400 naming the field, nothing stored, the engine still answering.
 */
describe('text PostgreSQL cannot store is refused by every API endpoint (services booted, real PostgreSQL)', () => {
  let t: TestEngine;
  let x: Tenant;
  let postbackId: string;

  beforeAll(async () => {
    t = await bootEngine();
    x = await seedTenant(t, 'unstorable');
    const pb = await call(t.api, 'POST', '/v1/publisher/postbacks', x.publisherKey, { url: 'https://tracker.example/pb?cid={click_id}' });
    expect(pb.status).toBe(201);
    postbackId = pb.body.id;
  });
  afterAll(async () => {
    await t?.stop();
  });

  // Every table the API writes: "nothing stored" is each of them unchanged, row for row.
  const TABLES = [
    'advertisers',
    'publishers',
    'offers',
    'offer_payouts',
    'api_keys',
    'ruleset_versions',
    'backtest_jobs',
    'postbacks',
    'review_actions',
    'feedback',
    'dead_letter_replays',
  ];
  const snapshot = async () => {
    const out: Record<string, string> = {};
    for (const table of TABLES) {
      const { rows } = await t.db.query(
        `SELECT count(*)::int AS n, md5(coalesce(string_agg(r::text, '|' ORDER BY r::text), '')) AS h FROM ${table} r`,
      );
      out[table] = `${rows[0].n}:${rows[0].h}`;
    }
    return out;
  };

  const NUL = 'Sho\u0000es';
  const HIGH = 'Sho\ud800es';
  const LOW = 'Shoes\udc00';
  const REVERSED = '\udc00\ud800';
  const BAD = [NUL, HIGH, LOW, REVERSED];

  type Case = [name: string, method: string, path: () => string, key: () => string, body: (bad: string) => unknown, field: string];
  const admin = () => ADMIN_KEY;
  const CASES: Case[] = [
    ['advertiser name', 'POST', () => '/v1/admin/advertisers', admin, (s) => ({ id: uid('adv'), name: s }), 'name'],
    [
      'advertiser webhook URL',
      'POST',
      () => '/v1/admin/advertisers',
      admin,
      (s) => ({ id: uid('adv'), name: 'Shop', webhookUrl: `https://shop.example/${s}` }),
      'webhookUrl',
    ],
    ['publisher name', 'POST', () => '/v1/admin/publishers', admin, (s) => ({ id: uid('pub'), name: s }), 'name'],
    ['offer name', 'POST', () => '/v1/admin/offers', admin, (s) => ({ id: uid('off'), advertiserId: x.advertiserId, name: s }), 'name'],
    [
      'offer landing URL',
      'POST',
      () => '/v1/admin/offers',
      admin,
      (s) => ({ id: uid('off'), advertiserId: x.advertiserId, name: 'Shoes', url: `https://shop.example/${s}?cid={click_id}` }),
      'url',
    ],
    [
      'API key label',
      'POST',
      () => '/v1/admin/api-keys',
      admin,
      (s) => ({ role: 'publisher', subjectId: x.publisherId, label: s }),
      'label',
    ],
    ['enforcement lift note', 'POST', () => '/v1/admin/enforcement/blocks/blk-0123456789abcdef/lift', admin, (s) => ({ note: s }), 'note'],
    [
      'review note',
      'POST',
      () => '/v1/review/decisions',
      admin,
      (s) => ({ decisions: [{ conversionId: 'no-such-conversion', status: 'approved' }], note: s }),
      'note',
    ],
    ['rule set description', 'PUT', () => '/v1/admin/rulesets/network', admin, (s) => ({ description: s }), 'description'],
    [
      'rule set deny list',
      'PUT',
      () => `/v1/admin/rulesets/offers/${x.offerId}`,
      admin,
      (s) => ({ lists: { denySubIds: ['fine', s] } }),
      'lists.denySubIds[1]',
    ],
    [
      'shadow rule set',
      'PUT',
      () => '/v1/admin/rulesets/shadow',
      admin,
      (s) => ({ scope: 'network', ruleset: { description: s } }),
      'ruleset.description',
    ],
    [
      'backtest rule set',
      'POST',
      () => '/v1/admin/rulesets/backtest',
      admin,
      (s) => ({ from: '2026-01-01T00:00:00Z', to: '2026-01-02T00:00:00Z', scope: 'network', ruleset: { description: s } }),
      'ruleset.description',
    ],
    ['model selection', 'PUT', () => '/v1/admin/models/selection', admin, (s) => ({ shadow: s }), 'shadow'],
    [
      'advertiser webhook',
      'PUT',
      () => '/v1/advertiser/webhook',
      () => x.advertiserKey,
      (s) => ({ url: `https://shop.example/${s}` }),
      'url',
    ],
    [
      'new partner postback',
      'POST',
      () => '/v1/publisher/postbacks',
      () => x.publisherKey,
      (s) => ({ url: `https://tracker.example/${s}?cid={click_id}`, offerId: x.offerId }),
      'url',
    ],
    [
      'changed partner postback',
      'PUT',
      () => `/v1/publisher/postbacks/${postbackId}`,
      () => x.publisherKey,
      (s) => ({ url: `https://tracker.example/${s}?cid={click_id}` }),
      'url',
    ],
    [
      'feedback reason',
      'POST',
      () => '/v1/feedback',
      () => x.advertiserKey,
      (s) => ({ conversionId: 'no-such-conversion', status: 'rejected', reason: s }),
      'reason',
    ],
    // Keys are text too (a jsonb key, or a field name echoed in an error).
    ['a key of the body', 'PUT', () => '/v1/admin/rulesets/network', admin, (s) => ({ [s]: 1 }), '*'],
  ];

  it.each(CASES)(
    'refuses NUL and lone surrogates in the %s: 400 naming the field, nothing stored',
    async (_, method, path, key, body, field) => {
      for (const bad of BAD) {
        const before = await snapshot();
        const res = await call(t.api, method, path(), key(), body(bad));
        expect({ bad: JSON.stringify(bad), status: res.status }).toEqual({ bad: JSON.stringify(bad), status: 400 });
        expect(res.body.error).toBe('validation_failed');
        const fields = (res.body.errors as { field: string }[]).map((e) => e.field);
        expect(fields).toEqual([field === '*' ? `[${JSON.stringify(bad)}]` : field]);
        expect(res.body.errors[0].message).toMatch(/U\+0000|surrogate/);
        expect(await snapshot()).toEqual(before);
      }
    },
  );

  it('refuses them in a query string', async () => {
    const query = await call(t.api, 'GET', '/v1/publisher/rejections?subId=spr%00ing', x.publisherKey);
    expect(query.status).toBe(400);
    expect(query.body.errors).toEqual([{ field: 'subId', message: 'must not contain the NUL character (U+0000)' }]);
  });

  it('answers a path whose percent-encoding is not UTF-8 (a lone surrogate) in the documented error shape', async () => {
    for (const base of [t.gateway, t.api]) {
      const res = await fetch(`${base}${base === t.gateway ? '/c/sh%ED%A0%80oes' : '/v1/conversions/sh%ED%A0%80oes/decision'}`, {
        headers: { authorization: `Bearer ${ADMIN_KEY}` },
        redirect: 'manual',
      });
      expect(res.status).toBe(400);
      expect(await res.json()).toEqual({ error: 'bad_request', message: expect.stringContaining('sh%ED%A0%80oes') });
    }
  });

  // A JS client cutting a user agent in the middle of an emoji pair leaves a lone surrogate: one bad
  // event of a batch is that event's problem (207, the others kept), as the ingest OpenAPI says.
  it.each([
    ['a lone surrogate', HIGH],
    ['a NUL', NUL],
  ])('answers a batch with one event holding %s per item: 207, that event rejected, the others stored', async (_, bad) => {
    const offerId = uid('off');
    expect(
      (await call(t.api, 'POST', '/v1/admin/offers', ADMIN_KEY, { id: offerId, advertiserId: x.advertiserId, name: 'Shoes' })).status,
    ).toBe(201);
    const click = { offerId, publisherId: x.publisherId, ip: '203.0.113.7', userAgent: 'Mozilla/5.0' };
    const batch = await call(t.gateway, 'POST', '/v1/clicks', x.publisherKey, [
      click,
      { ...click, userAgent: `Mozilla/5.0 ${bad}` },
      click,
    ]);
    expect(batch.status).toBe(207);
    expect(batch.body).toMatchObject({ accepted: 2, rejected: 1, failed: 0 });
    expect(batch.body.results[1]).toEqual({
      index: 1,
      status: 'rejected',
      errors: [{ field: 'userAgent', message: expect.stringMatching(/U\+0000|unpaired surrogate/) }],
    });
    await t.drained();
    expect((await t.db.query(`SELECT count(*)::int AS n FROM clicks WHERE offer_id = $1`, [offerId])).rows[0].n).toBe(2);
    // One event alone: ingest's 400 names every problem of it, not only the unstorable text.
    const one = await call(t.gateway, 'POST', '/v1/clicks', ADMIN_KEY, { publisherId: x.publisherId, userAgent: bad });
    expect(one.status).toBe(400);
    expect((one.body.errors as { field: string }[]).map((e) => e.field).sort()).toEqual(['ip', 'offerId', 'userAgent']);
  });

  // Bytes that are not UTF-8 (0xC3 0x28; an overlong "/"; a four-byte sequence cut short) were decoded as
  // U+FFFD and stored: two different byte strings became one sub-id or name, unnoticed (libs/http utf8-body.ts).
  const rawPost = (url: string, key: string, ...pieces: (string | number[])[]) =>
    fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${key}` },
      body: Buffer.concat(pieces.map((p) => Buffer.from(p as never))),
    });
  it.each([
    ['0xC3 0x28', [0xc3, 0x28]],
    ['an overlong "/" (0xC0 0xAF)', [0xc0, 0xaf]],
    ['a four-byte sequence cut short', [0xf0, 0x9f, 0x91]],
  ])('refuses raw bytes that are not UTF-8 (%s): the event holding them alone in a batch, the whole body elsewhere', async (_, seq) => {
    const offerId = uid('off');
    expect(
      (await call(t.api, 'POST', '/v1/admin/offers', ADMIN_KEY, { id: offerId, advertiserId: x.advertiserId, name: 'Shoes' })).status,
    ).toBe(201);
    const click = JSON.stringify({ offerId, publisherId: x.publisherId, ip: '203.0.113.7', userAgent: 'Mozilla/5.0' });
    const bad = `{"offerId":${JSON.stringify(offerId)},"publisherId":${JSON.stringify(x.publisherId)},"ip":"203.0.113.7","userAgent":"Mozilla/5.0","subId":"spring`;
    const batch = await rawPost(`${t.gateway}/v1/clicks`, x.publisherKey, `[${click},${bad}`, seq, `"},${click}]`);
    expect(batch.status).toBe(207);
    const body = (await batch.json()) as { accepted: number; rejected: number; results: unknown[] };
    expect(body).toMatchObject({ accepted: 2, rejected: 1 });
    expect(body.results[1]).toEqual({
      index: 1,
      status: 'rejected',
      errors: [{ field: 'subId', message: expect.stringMatching(/not UTF-8/) }],
    });
    await t.drained();
    expect((await t.db.query(`SELECT count(*)::int AS n FROM clicks WHERE offer_id = $1`, [offerId])).rows[0].n).toBe(2);
    const before = await snapshot();
    const name = await rawPost(`${t.api}/v1/admin/advertisers`, ADMIN_KEY, `{"id":"${uid('adv')}","name":"Sho`, seq, 'es"}');
    expect(name.status).toBe(400);
    expect(((await name.json()) as { errors: unknown[] }).errors).toEqual([{ field: 'name', message: expect.stringMatching(/not UTF-8/) }]);
    expect(await snapshot()).toEqual(before);
  });

  it('stays healthy, and stores text beyond the BMP (emoji, surrogate pairs) byte for byte', async () => {
    for (const base of [t.api, t.gateway]) expect((await call(base, 'GET', '/health')).status).toBe(200);
    const name = 'Shoes \u{1F45F} & more \u{1F600}\u{1F3F3}\u{FE0F}\u{200D}\u{1F308}';
    const id = uid('adv');
    expect(
      (await call(t.api, 'POST', '/v1/admin/advertisers', ADMIN_KEY, { id, name, webhookUrl: 'https://shop.example/\u{1F45F}' })).status,
    ).toBe(201);
    const note = 'verified by phone \u{1F4DE}';
    expect((await call(t.api, 'PUT', '/v1/admin/rulesets/network', ADMIN_KEY, { description: note })).status).toBe(200);
    const { rows } = await t.db.query(
      `SELECT convert_to(name, 'UTF8') AS name, convert_to(webhook_url, 'UTF8') AS url FROM advertisers WHERE id = $1`,
      [id],
    );
    expect(rows[0].name.equals(Buffer.from(name, 'utf8'))).toBe(true);
    expect(rows[0].url.equals(Buffer.from('https://shop.example/\u{1F45F}', 'utf8'))).toBe(true);
    expect((await call(t.api, 'GET', '/v1/admin/rulesets', ADMIN_KEY)).body.network.description).toBe(note);
  });
});
