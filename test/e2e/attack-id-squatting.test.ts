import { CHROME_UA, eventually, uid } from '@app/testing';
import { partitionOfClickId, scopedEventId } from '@app/contracts';
import { TestEngine, bootEngine, postJson } from './support/engine';
import { Tenant, call, freshIp, seedTenant } from './support/tenants';

/**
 * Sender-chosen event ids are ids within their sender (attack review 2026-12-04, findings 1 and 2):
 * one partner cannot take an id another partner will use. Before, a publisher that sent a click
 * under another publisher's (predictable) transaction id first was paid for that publisher's
 * conversion, and the honest click was answered `duplicate` and dropped; an advertiser (or an
 * anonymous pixel) that sent a conversion under another advertiser's next order number made the
 * real one a silent duplicate, never decided.
 */
describe('attack: click and conversion ids chosen by one sender cannot be taken by another', () => {
  let t: TestEngine;
  let victim: Tenant; // advertiser + offer + the honest publisher (S2S, its own click ids)
  let attacker: Tenant; // another tenant: its publisher key and its advertiser key are the attacker's
  let open: Tenant; // a third advertiser with an offer open to pixel conversions

  beforeAll(async () => {
    t = await bootEngine();
    victim = await seedTenant(t, 'victim');
    attacker = await seedTenant(t, 'attacker');
    open = await seedTenant(t, 'open', { openConversions: true });
  }, 120_000);
  afterAll(() => t?.stop());

  const bearer = (key: string) => ({ authorization: `Bearer ${key}` });
  const decisionRow = (conversionId: string) =>
    eventually(
      async () =>
        (
          await t.db.query(
            `SELECT conversion_id, status, publisher_id, advertiser_id, offer_id, payout::float AS payout, reason_codes
               FROM decisions WHERE conversion_id = $1 ORDER BY decided_at`,
            [conversionId],
          )
        ).rows,
      (rows) => rows.length > 0,
    );

  it('a publisher that sends another publisher’s click id first takes neither the click nor its conversion', async () => {
    // The honest publisher's tracking platform numbers its clicks (a transaction id): predictable.
    const clickId = `txn-${uid('n')}`;
    // The attacker's publisher key sends a click under that id first, on the victim's offer, as itself.
    const squat = await postJson(
      `${t.gateway}/v1/clicks`,
      { id: clickId, offerId: victim.offerId, publisherId: attacker.publisherId, ip: freshIp(), userAgent: CHROME_UA },
      bearer(attacker.publisherKey),
    );
    expect(squat.status).toBe(202);
    expect(squat.body.id).toBe(scopedEventId(`publisher:${attacker.publisherId}`, clickId));
    // The honest publisher's real click is a click of its own, answered with the id to pass on.
    const sent = {
      id: clickId,
      offerId: victim.offerId,
      publisherId: victim.publisherId,
      subId: 'honest',
      ip: freshIp(),
      userAgent: CHROME_UA,
    };
    const honest = await postJson(`${t.gateway}/v1/clicks`, sent, bearer(victim.publisherKey));
    console.log('honest publisher click answer', honest.status, JSON.stringify(honest.body));
    expect(honest.status).toBe(202);
    expect(honest.body).toEqual({ id: scopedEventId(`publisher:${victim.publisherId}`, clickId), duplicate: false });
    // Its own retry is still the same click.
    const retry = await postJson(`${t.gateway}/v1/clicks`, sent, bearer(victim.publisherKey));
    expect(retry.body).toEqual({ id: honest.body.id, duplicate: true });

    await new Promise((r) => setTimeout(r, 16_000)); // past CTIT_TOO_SHORT, an ordinary shopper
    // The advertiser reports the sale on the click id its landing page received: the answered one.
    const conv = await postJson(
      `${t.gateway}/v1/conversions`,
      { clickId: honest.body.id, amount: 80, orderId: uid('order'), type: 'sale' },
      bearer(victim.advertiserKey),
    );
    expect(conv.status).toBe(202);
    const rows = await decisionRow(conv.body.id);
    console.log('decision on the honest publisher’s sale', JSON.stringify(rows));
    expect(rows[0]).toMatchObject({ publisher_id: victim.publisherId, advertiser_id: victim.advertiserId, status: 'approved' });

    const clicks = await t.db.query(`SELECT id, publisher_id FROM clicks WHERE id = ANY($1) ORDER BY publisher_id = $2`, [
      [clickId, honest.body.id, squat.body.id],
      victim.publisherId,
    ]);
    expect(clicks.rows).toEqual([
      { id: squat.body.id, publisher_id: attacker.publisherId },
      { id: honest.body.id, publisher_id: victim.publisherId },
    ]);
    // The honest publisher reads its decision; the attacker's publisher does not.
    expect((await call(t.api, 'GET', `/v1/conversions/${conv.body.id}/decision`, victim.publisherKey)).status).toBe(200);
    expect((await call(t.api, 'GET', `/v1/conversions/${conv.body.id}/decision`, attacker.publisherKey)).status).toBe(404);
  }, 60_000);

  it('a publisher cannot send a derived id as its own (it names nobody else’s click either)', async () => {
    const derived = scopedEventId(`publisher:${victim.publisherId}`, 'txn-1');
    const res = await postJson(
      `${t.gateway}/v1/clicks`,
      { id: derived, offerId: attacker.offerId, publisherId: attacker.publisherId, ip: freshIp(), userAgent: CHROME_UA },
      bearer(attacker.publisherKey),
    );
    expect(res.status).toBe(400);
    expect(res.body.errors).toEqual([{ field: 'id', message: expect.stringContaining('derives') }]);
  });

  it('another advertiser (or anybody, through an open offer) sending an advertiser’s conversion id first does not silence it', async () => {
    const clickOf = async (tenant: Tenant) =>
      (
        await postJson(
          `${t.gateway}/v1/clicks`,
          { offerId: tenant.offerId, publisherId: tenant.publisherId, ip: freshIp(), userAgent: CHROME_UA },
          bearer(tenant.publisherKey),
        )
      ).body.id as string;
    const [victimClick, attackerClick, openClick] = [await clickOf(victim), await clickOf(attacker), await clickOf(open)];

    // (a) another advertiser's key
    const orderA = `order-${uid('a')}`;
    const squatA = await postJson(
      `${t.gateway}/v1/conversions`,
      { id: orderA, clickId: attackerClick, amount: 1 },
      bearer(attacker.advertiserKey),
    );
    expect(squatA.status).toBe(202);
    // (b) nobody at all: an open pixel on some other advertiser's open offer
    const orderB = `order-${uid('b')}`;
    const squatB = await fetch(
      `${t.gateway}/postback?id=${orderB}&click_id=${encodeURIComponent(openClick)}&offer_id=${open.offerId}&amount=1`,
    );
    const pixel = (await squatB.json()) as { id: string; duplicate: boolean };
    expect(squatB.status).toBe(200);
    expect(pixel).toEqual({ id: scopedEventId(`pixel:${open.offerId}`, orderB), duplicate: false });

    for (const id of [orderA, orderB]) {
      const res = await postJson(
        `${t.gateway}/v1/conversions`,
        { id, clickId: victimClick, amount: 500, type: 'sale' },
        bearer(victim.advertiserKey),
      );
      console.log(`victim advertiser's conversion ${id}`, res.status, JSON.stringify(res.body));
      expect(res.status).toBe(202);
      expect(res.body).toEqual({ id: scopedEventId(`advertiser:${victim.advertiserId}`, id), duplicate: false });
      const rows = await decisionRow(res.body.id);
      expect(rows).toHaveLength(1);
      expect(rows[0]).toMatchObject({ advertiser_id: victim.advertiserId, publisher_id: victim.publisherId });
      // The victim reads and labels it by the answered id, or by the id it chose itself.
      for (const name of [res.body.id, id]) {
        const read = await call(t.api, 'GET', `/v1/conversions/${encodeURIComponent(name)}/decision`, victim.advertiserKey);
        expect([read.status, (read.body as { conversionId?: string }).conversionId]).toEqual([200, res.body.id]);
      }
      const label = await call(t.api, 'POST', '/v1/feedback', victim.advertiserKey, { conversionId: id, status: 'rejected', id: 'fb-1' });
      const again = await call(t.api, 'POST', '/v1/feedback', victim.advertiserKey, {
        conversionId: res.body.id,
        status: 'rejected',
        id: 'fb-1',
      });
      // One conversion, one feedback namespace: the same label by either name is one label.
      expect([label.status, again.status, (again.body as { id: string }).id]).toEqual([202, 202, (label.body as { id: string }).id]);
    }
    // The squatters' own conversions are theirs; the attacker's advertiser reads its own under orderA, not the victim's.
    const own = await call(t.api, 'GET', `/v1/conversions/${orderA}/decision`, attacker.advertiserKey);
    expect([own.status, (own.body as { advertiserId?: string }).advertiserId]).toEqual([200, attacker.advertiserId]);
    expect((await decisionRow(pixel.id))[0].advertiser_id).toBe(open.advertiserId);
    const decided = await t.db.query(`SELECT count(*)::int AS n FROM decisions WHERE click_id = $1`, [victimClick]);
    expect(decided.rows[0].n).toBe(2);
  }, 60_000);

  const clickOf = async (tenant: Tenant) =>
    (
      await postJson(
        `${t.gateway}/v1/clicks`,
        { offerId: tenant.offerId, publisherId: tenant.publisherId, ip: freshIp(), userAgent: CHROME_UA },
        bearer(tenant.publisherKey),
      )
    ).body.id as string;

  /**
   * The order id is the other id a sender chooses, and DUPLICATE_CONVERSION keys it by the click's
   * advertiser, so it is not scoped by the sender: a conversion somebody sends on a click of the
   * victim's offer must not use the victim's order number up (review of idscope, 2026-12-05, finding 1;
   * main 0ac151a: a conversion rejected OFFER_MISMATCH credits neither the click nor its order id).
   */
  it('nobody takes an advertiser’s next order number through a click of its offer (order id, not id)', async () => {
    const partitions = t.engine.config.ARBITER_PARTITIONS;
    // (a) anybody: a click on the victim's offer through the public tracking link, then an open pixel of
    // another offer naming it; the victim's honest click is in the same scorer partition.
    const link = await fetch(`${t.gateway}/c/${victim.offerId}?pub=${victim.publisherId}`, { redirect: 'manual' });
    expect(link.status).toBe(302);
    const linkClick = new URL(link.headers.get('location')!).searchParams.get('cid')!;
    let victimClick = '';
    do victimClick = await clickOf(victim);
    while (partitionOfClickId(victimClick, partitions) !== partitionOfClickId(linkClick, partitions));
    const orderA = `ORDER-${uid('n')}`;
    const squatA = await fetch(
      `${t.gateway}/postback?click_id=${encodeURIComponent(linkClick)}&offer_id=${open.offerId}&amount=1&order_id=${orderA}`,
    );
    expect(squatA.status).toBe(200);
    expect((await decisionRow(((await squatA.json()) as { id: string }).id))[0].reason_codes).toContain('OFFER_MISMATCH');
    // (b) another advertiser's key naming the victim's click itself.
    const victimClick2 = await clickOf(victim);
    const orderB = `ORDER-${uid('n')}`;
    const squatB = await postJson(
      `${t.gateway}/v1/conversions`,
      { clickId: victimClick2, amount: 1, orderId: orderB },
      bearer(attacker.advertiserKey),
    );
    expect(squatB.status).toBe(202);
    expect((await decisionRow(squatB.body.id))[0].reason_codes).toContain('OFFER_MISMATCH');

    await new Promise((r) => setTimeout(r, 16_000)); // past CTIT_TOO_SHORT
    for (const [click, orderId] of [
      [victimClick, orderA],
      [victimClick2, orderB],
    ]) {
      const real = await postJson(
        `${t.gateway}/v1/conversions`,
        { clickId: click, amount: 80, orderId, type: 'sale' },
        bearer(victim.advertiserKey),
      );
      expect(real.status).toBe(202);
      const [decision] = await decisionRow(real.body.id);
      console.log(`victim’s real sale ${orderId}`, JSON.stringify(decision));
      expect(decision).toMatchObject({ status: 'approved', reason_codes: [] });
    }
  }, 90_000);

  it('a label sent by the advertiser’s own conversion id revises that conversion and is stored against it', async () => {
    const click = await clickOf(victim);
    await new Promise((r) => setTimeout(r, 16_000)); // past CTIT_TOO_SHORT: approved
    const order = `ORDER-${uid('f')}`;
    const conv = await postJson(`${t.gateway}/v1/conversions`, { id: order, clickId: click, amount: 80 }, bearer(victim.advertiserKey));
    expect(conv.status).toBe(202);
    await eventually(
      () => call(t.api, 'GET', `/v1/conversions/${conv.body.id}/decision`, victim.advertiserKey),
      (r) => r.status === 200,
    );
    const label = await call(t.api, 'POST', '/v1/feedback', victim.advertiserKey, {
      conversionId: order,
      status: 'rejected',
      reason: 'chargeback',
    });
    expect(label.status).toBe(202);
    const revised = await eventually(
      async () => (await call(t.api, 'GET', `/v1/conversions/${conv.body.id}/decision`, victim.advertiserKey)).body,
      (d: { revision?: number }) => (d.revision ?? 0) >= 1,
      10_000,
    ).catch(() => null);
    expect(revised).toMatchObject({ status: 'rejected', revision: 1, resolvedBy: 'advertiser' });
    const stored = await t.db.query(`SELECT conversion_id FROM feedback WHERE id = $1`, [(label.body as { id: string }).id]);
    expect(stored.rows).toEqual([{ conversion_id: conv.body.id }]);
  }, 90_000);

  it('a conversion an open pixel sent is read by the answered id only: a pixel’s id is anybody’s, not the advertiser’s', async () => {
    const click = await clickOf(open);
    const px = `PX-${uid('p')}`;
    const res = await fetch(`${t.gateway}/postback?id=${px}&click_id=${encodeURIComponent(click)}&offer_id=${open.offerId}&amount=5`);
    expect(res.status).toBe(200);
    const answered = ((await res.json()) as { id: string }).id;
    await eventually(
      () => call(t.api, 'GET', `/v1/conversions/${answered}/decision`, open.advertiserKey),
      (r) => r.status === 200,
    );
    expect((await call(t.api, 'GET', `/v1/conversions/${px}/decision`, open.advertiserKey)).status).toBe(404);
  }, 60_000);
});
