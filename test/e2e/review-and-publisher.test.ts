import type { Decision } from '@app/contracts';
import { hashKey } from '@app/storage';
import { eventually } from '@app/testing';
import { ADMIN_KEY, TestEngine, bootEngine } from './support/engine';
import { Tenant, Traffic, call, seedTenant, sendTraffic } from './support/tenants';

/** Issue 5: the analysts' review queue, and what publishers read about their rejected traffic. */
describe('review queue and publisher API (services booted)', () => {
  let t: TestEngine;

  beforeAll(async () => {
    t = await bootEngine({ config: { ROLLUP_REFRESH_SECONDS: 1 } });
  });
  afterAll(async () => {
    await t?.stop();
  });

  describe('review queue', () => {
    let r: Tenant;
    let traffic: Traffic[];

    beforeAll(async () => {
      r = await seedTenant(t, 'rv');
      traffic = [await sendTraffic(t, r), await sendTraffic(t, r)];
    });

    it('lists holds with their evidence, soonest to resolve first', async () => {
      const queue = await call(t.api, 'GET', `/v1/review/queue?advertiserId=${r.advertiserId}`, ADMIN_KEY);
      expect(queue.status).toBe(200);
      expect(queue.body.items.map((d: Decision) => d.conversionId)).toEqual(traffic.map((x) => x.held.conversionId));
      const [first, second] = queue.body.items as Decision[];
      expect(first).toMatchObject({ status: 'hold', advertiserId: r.advertiserId, publisherId: r.publisherId });
      expect(first.reasons[0]).toMatchObject({ code: 'GEO_MISMATCH', evidence: { conversionCountry: 'GB', clickCountry: 'US' } });
      expect(Date.parse(first.holdUntil!)).toBeLessThanOrEqual(Date.parse(second.holdUntil!));

      const paged = await call(t.api, 'GET', `/v1/review/queue?advertiserId=${r.advertiserId}&limit=1`, ADMIN_KEY);
      expect(paged.body.items).toHaveLength(1);
      const rest = await call(t.api, 'GET', `/v1/review/queue?advertiserId=${r.advertiserId}&limit=1&cursor=${paged.body.next}`, ADMIN_KEY);
      expect(rest.body.items.map((d: Decision) => d.conversionId)).toEqual([traffic[1].held.conversionId]);
    });

    it('settles many at once with a note: each published as a revision, and audited', async () => {
      const [one, two] = traffic.map((x) => x.held.conversionId);
      const sub = t.nc.subscribe(t.topology.decisions(r.advertiserId), { max: 2, timeout: 15_000 });
      const res = await call(t.api, 'POST', '/v1/review/decisions', ADMIN_KEY, {
        decisions: [
          { conversionId: one, status: 'approved' },
          { conversionId: two, status: 'rejected' },
          { conversionId: 'no-such-conversion', status: 'approved' },
        ],
        note: 'called the buyers',
      });
      expect(res.status).toBe(202);
      expect(res.body.results).toEqual([
        { conversionId: one, result: 'accepted', previousStatus: 'hold' },
        { conversionId: two, result: 'accepted', previousStatus: 'hold' },
        { conversionId: 'no-such-conversion', result: 'not_found' },
      ]);

      const adminKeyId = (await t.db.query(`SELECT id FROM api_keys WHERE key_hash = $1`, [hashKey(ADMIN_KEY)])).rows[0].id as string;
      const published = new Map<string, Decision>();
      for await (const m of sub) published.set(m.json<Decision>().conversionId, m.json<Decision>());
      expect(published.get(one)).toMatchObject({
        status: 'approved',
        previousStatus: 'hold',
        revision: 1,
        resolvedBy: 'analyst',
        actor: adminKeyId,
        note: 'called the buyers',
      });
      expect(published.get(two)).toMatchObject({ status: 'rejected', previousStatus: 'hold', revision: 1, resolvedBy: 'analyst' });
      expect(published.get(two)!.reasons.map((x) => x.code)).toEqual(['GEO_MISMATCH', 'ANALYST_OVERRIDE']);

      // Audit: who asked for what, when, from which status; and the transitions it caused.
      const actions = await call(t.api, 'GET', `/v1/review/actions?conversionId=${one}`, ADMIN_KEY);
      expect(actions.body.items).toEqual([
        expect.objectContaining({
          actor: adminKeyId,
          conversionId: one,
          previousStatus: 'hold',
          requestedStatus: 'approved',
          note: 'called the buyers',
        }),
      ]);
      expect(Date.parse(actions.body.items[0].at)).toBeGreaterThan(Date.now() - 60_000);
      const byActor = await call(t.api, 'GET', `/v1/review/actions?actor=${adminKeyId}&limit=500`, ADMIN_KEY);
      expect(byActor.body.items.map((a: { conversionId: string }) => a.conversionId)).toEqual(expect.arrayContaining([one, two]));
      const transitions = await eventually(
        async () =>
          (
            await t.db.query(
              `SELECT conversion_id, from_status, to_status, actor FROM decision_transitions WHERE conversion_id = ANY($1) AND revision = 1 ORDER BY to_status`,
              [[one, two]],
            )
          ).rows,
        (rows) => rows.length === 2,
      );
      expect(transitions).toEqual([
        { conversion_id: one, from_status: 'hold', to_status: 'approved', actor: adminKeyId },
        { conversion_id: two, from_status: 'hold', to_status: 'rejected', actor: adminKeyId },
      ]);

      // Settled holds leave the queue.
      await eventually(
        async () => (await call(t.api, 'GET', `/v1/review/queue?advertiserId=${r.advertiserId}`, ADMIN_KEY)).body.items.length,
        (n) => n === 0,
      );
    });

    it.each([
      [{ decisions: [] }, 'decisions'],
      [{ decisions: [{ conversionId: 'x', status: 'maybe' }] }, 'decisions[0].status'],
      [{ decisions: [{ conversionId: 'x', status: 'approved' }], note: 7 }, 'note'],
      // Longer than a feedback reason: it used to be audited, then refused item by item without a reason.
      [{ decisions: [{ conversionId: 'x', status: 'approved' }], note: 'n'.repeat(501) }, 'note'],
    ])('refuses %j, naming %s', async (body, field) => {
      const res = await call(t.api, 'POST', '/v1/review/decisions', ADMIN_KEY, body);
      expect(res.status).toBe(400);
      expect(res.body.errors.map((e: { field: string }) => e.field)).toContain(field);
    });
  });

  describe('publisher rejections and stats', () => {
    let p: Tenant;
    let traffic: Traffic[];

    beforeAll(async () => {
      p = await seedTenant(t, 'pb');
      traffic = [await sendTraffic(t, p, 'summer'), await sendTraffic(t, p, 'winter'), await sendTraffic(t, p, 'winter')];
    });

    const rejections = (query: string) => call(t.api, 'GET', `/v1/publisher/rejections${query}`, p.publisherKey);

    it('lists every rejected click and conversion with reasons, plain messages and masked IPs', async () => {
      const res = await rejections('');
      expect(res.status).toBe(200);
      const expected = traffic.flatMap((x) => [x.botClickId, x.rejected.conversionId]);
      expect(res.body.items.map((i: { id: string }) => i.id).sort()).toEqual(expected.sort());
      const click = res.body.items.find((i: { id: string }) => i.id === traffic[0].botClickId);
      expect(click).toMatchObject({ kind: 'click', status: 'invalid', offerId: p.offerId, subId: 'summer', country: 'US' });
      expect(click.ip).toMatch(/^8\.8\.\d+\.x$/);
      expect(click.reasons.length).toBeGreaterThan(0);
      for (const reason of click.reasons) {
        expect(reason).toEqual({
          code: expect.any(String),
          title: expect.any(String),
          category: expect.any(String),
          message: expect.any(String),
          evidence: expect.any(Object),
        });
      }
      const conversion = res.body.items.find((i: { id: string }) => i.id === traffic[0].rejected.conversionId);
      expect(conversion).toMatchObject({ kind: 'conversion', status: 'rejected', payout: 4.5 });
      expect(conversion.reasons[0]).toMatchObject({ code: 'CTIT_TOO_SHORT', title: expect.any(String), evidence: { minSeconds: 15 } });
      expect(conversion.reasons[0].message).toMatch(/after the click/);
      // No visitor's full address anywhere in the answer.
      expect(JSON.stringify(res.body)).not.toMatch(/\b\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}\b/);
    });

    it('shows a publisher one decision without the advertiser’s amount, notes, actors or model scores', async () => {
      const res = await call(t.api, 'GET', `/v1/conversions/${traffic[0].rejected.conversionId}/decision`, p.publisherKey);
      expect(res.status).toBe(200);
      expect(res.body).toMatchObject({ conversionId: traffic[0].rejected.conversionId, status: 'rejected', payout: 4.5 });
      expect(res.body.reasons[0]).toMatchObject({ code: 'CTIT_TOO_SHORT', title: expect.any(String), message: expect.any(String) });
      for (const hidden of ['amount', 'note', 'actor', 'modelScore', 'modelVersion', 'shadowScore', 'latencyMs']) {
        expect(res.body).not.toHaveProperty(hidden);
      }
      // The advertiser sees the whole decision.
      const full = await call(t.api, 'GET', `/v1/conversions/${traffic[0].rejected.conversionId}/decision`, p.advertiserKey);
      expect(full.body).toMatchObject({ amount: 40, actor: null });
    });

    it('pages with a cursor, newest first, without gaps or repeats', async () => {
      const seen: { id: string; ts: string }[] = [];
      let cursor: string | null = null;
      let pages = 0;
      do {
        const page: { body: { items: { id: string; ts: string }[]; next: string | null } } = await rejections(
          `?limit=2${cursor ? `&cursor=${cursor}` : ''}`,
        );
        expect(page.body.items.length).toBeLessThanOrEqual(2);
        seen.push(...page.body.items);
        cursor = page.body.next;
        pages++;
      } while (cursor && pages < 10);
      expect(pages).toBe(3);
      expect(new Set(seen.map((s) => s.id)).size).toBe(6);
      const times = seen.map((s) => Date.parse(s.ts));
      expect(times).toEqual([...times].sort((a, b) => b - a));
    });

    it('filters by kind, sub-id, offer and time range', async () => {
      const clicks = await rejections('?kind=click');
      expect(clicks.body.items.map((i: { id: string }) => i.id).sort()).toEqual(traffic.map((x) => x.botClickId).sort());
      const winter = await rejections('?subId=winter');
      expect(winter.body.items).toHaveLength(4);
      expect((await rejections('?offerId=another-offer')).body.items).toEqual([]);
      const future = new Date(Date.now() + 3_600_000).toISOString();
      expect((await rejections(`?from=${future}&to=${new Date(Date.now() + 7_200_000).toISOString()}`)).body.items).toEqual([]);
    });

    it.each([
      ['?kind=visit', 'kind'],
      ['?limit=0', 'limit'],
      ['?limit=lots', 'limit'],
      ['?from=yesterday', 'from'],
      [`?from=${new Date().toISOString()}&to=${new Date(Date.now() - 86_400_000).toISOString()}`, 'from'],
      ['?cursor=not-a-cursor', 'cursor'],
      // Valid-looking, but PostgreSQL was given instants it cannot hold (these answered 500).
      ['?from=2016-12-31T23:59:60Z', 'from'],
      ['?to=0000-01-01T00:00:00Z', 'to'],
      [`?cursor=${Buffer.from(JSON.stringify(['2026-02-30T00:00:00.000Z', 'c1'])).toString('base64url')}`, 'cursor'],
      ['?offerId=has%20space', 'offerId'],
    ])('refuses %s, naming %s', async (query, field) => {
      const res = await rejections(query);
      expect(res.status).toBe(400);
      expect(res.body.error).toBe('validation_failed');
      expect(res.body.errors.map((e: { field: string }) => e.field)).toContain(field);
    });

    it('reports KPIs per sub-id and hour', async () => {
      const rows = await eventually(
        async () => (await call(t.api, 'GET', '/v1/publisher/stats?interval=hour&groupBy=sub_id', p.publisherKey)).body.rows as any[],
        (rs) => rs.reduce((s, x) => s + x.conversions, 0) === 9,
      );
      const by = (sub: string) => {
        const mine = rows.filter((x) => x.subId === sub);
        return {
          clicks: mine.reduce((s, x) => s + x.clicks, 0),
          invalidClicks: mine.reduce((s, x) => s + x.invalidClicks, 0),
          approved: mine.reduce((s, x) => s + x.approved, 0),
          rejected: mine.reduce((s, x) => s + x.rejected, 0),
          held: mine.reduce((s, x) => s + x.held, 0),
        };
      };
      expect(by('summer')).toEqual({ clicks: 4, invalidClicks: 1, approved: 1, rejected: 1, held: 1 });
      expect(by('winter')).toEqual({ clicks: 8, invalidClicks: 2, approved: 2, rejected: 2, held: 2 });
      expect(rows.every((x) => typeof x.bucket === 'string' && x.epc !== undefined)).toBe(true);
    });
  });
});
