import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { CHROME_UA, eventually, uid } from '@app/testing';
import { ADMIN_KEY, TestEngine, bootEngine, postJson, seedCatalog } from './support/engine';

/**
 * DESIGN §2 end to end: a click and a conversion go in over HTTP and come out as a decision on
 * NATS, rows in the database and an API answer.
 */
describe('walking skeleton (services booted, local NATS and PostgreSQL)', () => {
  let t: TestEngine;

  beforeAll(async () => {
    t = await bootEngine();
  });
  afterAll(async () => {
    await t.stop();
  });

  const clickBody = (ids: { offerId: string; publisherId: string }, overrides: Record<string, unknown> = {}): Record<string, any> => ({
    offerId: ids.offerId,
    publisherId: ids.publisherId,
    subId: 'spring-sale',
    ip: '8.8.8.8',
    userAgent: CHROME_UA,
    ts: new Date(Date.now() - 120_000).toISOString(),
    ...overrides,
  });

  async function rows(table: string, column: string, id: string): Promise<number> {
    const { rows } = await t.db.query(`SELECT count(*)::int AS n FROM ${table} WHERE ${column} = $1`, [id]);
    return rows[0].n;
  }

  it('turns a click and a conversion into a published, stored and queryable decision', async () => {
    const ids = await seedCatalog(t, uid('e2e'));
    const decisions = t.nc.subscribe(t.topology.decisions(ids.advertiserId), { max: 1, timeout: 15_000 });

    const click = await postJson(`${t.gateway}/v1/clicks`, clickBody(ids));
    expect(click.status).toBe(202);
    expect(click.body.id).toMatch(/^c0\./);
    const conversion = await postJson(`${t.gateway}/v1/conversions`, { clickId: click.body.id, amount: 80, orderId: uid('order') });
    expect(conversion.status).toBe(202);

    let published: any;
    for await (const m of decisions) published = m.json();
    expect(published).toMatchObject({
      conversionId: conversion.body.id,
      clickId: click.body.id,
      advertiserId: ids.advertiserId,
      publisherId: ids.publisherId,
      offerId: ids.offerId,
      subId: 'spring-sale',
      status: 'approved',
      score: 0,
      reasons: [],
      amount: 80,
      payout: 4.5,
      rulesetVersion: 'builtin-1',
    });
    expect(published.ctitSeconds).toBeGreaterThan(100);
    expect(published.latencyMs).toBeGreaterThanOrEqual(0);

    await eventually(
      async () => [
        await rows('clicks', 'id', click.body.id),
        await rows('click_verdicts', 'click_id', click.body.id),
        await rows('conversions', 'id', conversion.body.id),
        await rows('decisions', 'conversion_id', conversion.body.id),
      ],
      (counts) => counts.every((n) => n === 1),
    );

    const res = await fetch(`${t.api}/v1/conversions/${conversion.body.id}/decision`, {
      headers: { authorization: `Bearer ${ADMIN_KEY}` },
    });
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual(published);
  });

  it('rejects a conversion with reasons and evidence when its click was a bot', async () => {
    const ids = await seedCatalog(t, uid('bot'));
    const decisions = t.nc.subscribe(t.topology.decisions(ids.advertiserId), { max: 1, timeout: 15_000 });
    const click = await postJson(`${t.gateway}/v1/clicks`, clickBody(ids, { userAgent: 'python-requests/2.31.0' }));
    const conversion = await postJson(`${t.gateway}/v1/conversions`, { clickId: click.body.id, amount: 10 });
    let published: any;
    for await (const m of decisions) published = m.json();
    expect(published.conversionId).toBe(conversion.body.id);
    expect(published.status).toBe('rejected');
    expect(published.reasons).toEqual([
      expect.objectContaining({ code: 'INVALID_SOURCE_CLICK', evidence: expect.objectContaining({ clickReasons: 'NON_BROWSER_CLIENT' }) }),
    ]);
    const verdict = await eventually(
      async () =>
        (await t.db.query(`SELECT valid, category, reason_codes FROM click_verdicts WHERE click_id = $1`, [click.body.id])).rows[0],
    );
    expect(verdict).toEqual({ valid: false, category: 'GIVT', reason_codes: ['NON_BROWSER_CLIENT'] });
  });

  it('counts the same event once when it is sent twice, even past the stream de-duplication', async () => {
    const ids = await seedCatalog(t, uid('dup'));
    const body = clickBody(ids, { id: uid('client-click') });
    const first = await postJson(`${t.gateway}/v1/clicks`, body);
    const second = await postJson(`${t.gateway}/v1/clicks`, body);
    expect(first).toEqual({ status: 202, body: { id: body.id, duplicate: false } });
    expect(second).toEqual({ status: 202, body: { id: body.id, duplicate: true } });

    // A re-send after JetStream's duplicate window: the stream stores it again, storage must not.
    const late = {
      ...body,
      kind: 'click',
      ts: new Date(body.ts).toISOString(),
      receivedAt: new Date().toISOString(),
      partition: 0,
      ipCountry: 'US',
    };
    await jetstream(t.nc).publish(t.topology.event('click', 0), JSON.stringify(late), { msgID: uid('bypass') });
    await t.drained();
    expect(await rows('clicks', 'id', body.id)).toBe(1);
    expect(await rows('click_verdicts', 'click_id', body.id)).toBe(1);
  });

  it('stores a click the engine minted once when its message is delivered again, without a ledger entry', async () => {
    const ids = await seedCatalog(t, uid('minted'));
    const { body } = await postJson(`${t.gateway}/v1/clicks`, clickBody(ids, { ts: undefined }));
    await t.drained();
    // The very message the gateway stored, published again past the stream de-duplication (a
    // redelivery the recorder and the scorer see twice): its (id, ts) key keeps it once.
    const stored = await (
      await jetstreamManager(t.nc)
    ).streams.getMessage(t.topology.streams.events, {
      last_by_subj: t.topology.event('click', 0),
    });
    expect(stored!.json<{ id: string; idMinted?: boolean }>()).toMatchObject({ id: body.id, idMinted: true });
    await jetstream(t.nc).publish(t.topology.event('click', 0), stored!.data, { msgID: uid('bypass') });
    await t.drained();
    expect(await rows('clicks', 'id', body.id)).toBe(1);
    expect(await rows('click_verdicts', 'click_id', body.id)).toBe(1);
    expect(await rows('ingest_ledger', 'id', body.id)).toBe(0);
  });

  it('answers a malformed event with 400 naming the field', async () => {
    const ids = await seedCatalog(t, uid('bad'));
    const res = await postJson(`${t.gateway}/v1/clicks`, clickBody(ids, { offerId: undefined, country: 'usa' }));
    expect(res.status).toBe(400);
    expect(res.body.error).toBe('validation_failed');
    expect(res.body.errors).toEqual(
      expect.arrayContaining([{ field: 'offerId', message: 'is required' }, expect.objectContaining({ field: 'country' })]),
    );
  });

  it('keeps the valid events of a batch that also carries a malformed one', async () => {
    const ids = await seedCatalog(t, uid('batch'));
    const good = [clickBody(ids, { id: uid('good-a') }), clickBody(ids, { id: uid('good-b'), ip: '1.1.1.1' })];
    const res = await postJson(`${t.gateway}/v1/clicks`, [good[0], { ...clickBody(ids), amount: 3, ip: 42 }, good[1]]);
    expect(res.status).toBe(207);
    expect(res.body).toMatchObject({ accepted: 2, rejected: 1, failed: 0 });
    expect(res.body.results[1]).toEqual({
      index: 1,
      status: 'rejected',
      errors: expect.arrayContaining([
        { field: 'amount', message: 'is not a known field' },
        { field: 'ip', message: 'must be string' },
      ]),
    });
    await eventually(
      async () => (await rows('clicks', 'id', good[0].id)) + (await rows('clicks', 'id', good[1].id)),
      (n) => n === 2,
    );
  });

  it('refuses a batch above the limit and an oversized body', async () => {
    const ids = await seedCatalog(t, uid('big'));
    const tooMany = await postJson(
      `${t.gateway}/v1/clicks`,
      Array.from({ length: 1001 }, () => clickBody(ids)),
    );
    expect(tooMany.status).toBe(413);
    const huge = await postJson(`${t.gateway}/v1/clicks`, clickBody(ids, { referrer: 'x'.repeat(2_000_000) }));
    expect(huge.status).toBe(413);
    expect(huge.body.error).toBe('payload_too_large');
  });

  it('records a tracking-link click and redirects to the offer with the click id', async () => {
    const ids = await seedCatalog(t, uid('trk'));
    const res = await fetch(`${t.gateway}/c/${ids.offerId}?pub=${ids.publisherId}&sub=newsletter`, {
      redirect: 'manual',
      headers: { 'user-agent': CHROME_UA },
    });
    expect(res.status).toBe(302);
    const location = new URL(res.headers.get('location')!);
    expect(location.origin + location.pathname).toBe('https://shop.example/land');
    const clickId = location.searchParams.get('cid')!;
    const stored = await eventually(
      async () => (await t.db.query(`SELECT offer_id, publisher_id, sub_id, user_agent FROM clicks WHERE id = $1`, [clickId])).rows[0],
    );
    expect(stored).toEqual({ offer_id: ids.offerId, publisher_id: ids.publisherId, sub_id: 'newsletter', user_agent: CHROME_UA });
  });

  it('accepts an S2S postback for that click and decides it', async () => {
    const ids = await seedCatalog(t, uid('s2s'));
    const click = await postJson(`${t.gateway}/v1/clicks`, clickBody(ids));
    const admin = { headers: { authorization: `Bearer ${ADMIN_KEY}` } };
    const res = await fetch(
      `${t.gateway}/postback?click_id=${encodeURIComponent(click.body.id)}&amount=25.5&order_id=A-1&type=sale`,
      admin,
    );
    expect(res.status).toBe(200);
    const { id } = (await res.json()) as { id: string };
    const decision = await eventually(
      async () => (await t.db.query(`SELECT status, amount::float AS amount FROM decisions WHERE conversion_id = $1`, [id])).rows[0],
    );
    expect(decision).toEqual({ status: 'approved', amount: 25.5 });
    const bad = await fetch(`${t.gateway}/postback?click_id=x&amount=lots`, admin);
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as { errors: unknown[] }).errors).toEqual([{ field: 'amount', message: 'must be number' }]);
  });

  it('guards the API: no key 401, wrong role 403, another tenant 404', async () => {
    const ids = await seedCatalog(t, uid('auth'));
    const other = await seedCatalog(t, uid('other'));
    const noKey = await fetch(`${t.api}/v1/admin/publishers`, {
      method: 'POST',
      body: '{}',
      headers: { 'content-type': 'application/json' },
    });
    expect(noKey.status).toBe(401);
    const { body: pubKey } = await postJson(
      `${t.api}/v1/admin/api-keys`,
      { role: 'publisher', subjectId: ids.publisherId },
      { authorization: `Bearer ${ADMIN_KEY}` },
    );
    expect(pubKey.key).toMatch(/^arb_pub_/);
    const wrongRole = await postJson(`${t.api}/v1/admin/publishers`, { id: 'x', name: 'x' }, { authorization: `Bearer ${pubKey.key}` });
    expect(wrongRole.status).toBe(403);

    const click = await postJson(`${t.gateway}/v1/clicks`, clickBody(other));
    const conversion = await postJson(`${t.gateway}/v1/conversions`, { clickId: click.body.id, amount: 5 });
    await eventually(
      async () => rows('decisions', 'conversion_id', conversion.body.id),
      (n) => n === 1,
    );
    const foreign = await fetch(`${t.api}/v1/conversions/${conversion.body.id}/decision`, {
      headers: { authorization: `Bearer ${pubKey.key}` },
    });
    expect(foreign.status).toBe(404);
  });

  it('reports health of NATS and the database', async () => {
    for (const base of [t.gateway, t.api]) {
      const res = await fetch(`${base}/health`);
      expect(res.status).toBe(200);
      expect(await res.json()).toEqual({ status: 'up', checks: { nats: { status: 'up' }, database: { status: 'up' } } });
    }
    const metrics = await (await fetch(`${t.gateway}/metrics`)).text();
    expect(metrics).toContain('arbiter_events_ingested_total');
  });
});
