import { Decision } from '@app/contracts';
import { CHROME_UA, IPHONE_UA, eventually, uid } from '@app/testing';
import { ADMIN_KEY, TestEngine, bootEngine, postJson, seedCatalog } from './support/engine';

/**
 * Issue 3 through the booted engine: rule sets change without a restart, holds resolve by
 * themselves or by a person, and a restarted scorer keeps counting where it stopped.
 */
describe('rule sets, holds and scorer restarts (services booted)', () => {
  let t: TestEngine;
  const admin = { authorization: `Bearer ${ADMIN_KEY}` };

  beforeAll(async () => {
    // Holds resolve on the timer's next tick: a short one keeps the hold test short.
    t = await bootEngine({ config: { SCORER_HOLD_TICK_MS: 250 } });
  });
  afterAll(async () => {
    await t.stop();
  });

  const put = (path: string, body: unknown) =>
    fetch(`${t.api}${path}`, { method: 'PUT', headers: { ...admin, 'content-type': 'application/json' }, body: JSON.stringify(body) });

  async function verdict(clickId: string) {
    return eventually(
      async () => (await t.db.query(`SELECT reason_codes, ruleset_version FROM click_verdicts WHERE click_id = $1`, [clickId])).rows[0],
    );
  }

  /** Resolves once the scorer scores with rule-set `version` (it follows the KV bucket). */
  async function scorerApplies(version: number): Promise<void> {
    const gauge = 'arbiter_ruleset_version{service="scorer"}';
    await eventually(
      async () => (await (await fetch(`${t.api}/metrics`)).text()).split('\n').find((l) => l.startsWith(gauge)),
      (line) => line === `${gauge} ${version}`,
    );
  }

  async function decisions(advertiserId: string, count: number, send: () => Promise<void>): Promise<Decision[]> {
    const sub = t.nc.subscribe(t.topology.decisions(advertiserId), { max: count, timeout: 30_000 });
    await send();
    const out: Decision[] = [];
    for await (const m of sub) out.push(m.json<Decision>());
    return out;
  }

  it('applies a rule-set change to the next events without a restart, and refuses an invalid one', async () => {
    const ids = await seedCatalog(t, uid('rs'));
    const ip = '8.8.7.7';
    const click = (n: number) => ({
      offerId: ids.offerId,
      publisherId: ids.publisherId,
      ip,
      userAgent: `${CHROME_UA} ${n}`,
      ts: new Date(Date.now() - 30_000 + n * 100).toISOString(),
    });
    const before = await postJson(`${t.gateway}/v1/clicks`, [click(1), click(2), click(3)]);
    expect((await verdict(before.body.results[2].id)).reason_codes).toEqual([]);

    const bad = await put(`/v1/admin/rulesets/offers/${ids.offerId}`, { rules: { IP_VELOCITY: { perMinute: 'many' } } });
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as { errors: { field: string }[] }).errors[0].field).toBe('rules.IP_VELOCITY.perMinute');

    const res = await put(`/v1/admin/rulesets/offers/${ids.offerId}`, { rules: { IP_VELOCITY: { perMinute: 2 } } });
    expect(res.status).toBe(200);
    const config = (await res.json()) as { version: number };
    // Every scorer follows the KV bucket: the change is live within moments.
    let n = 10;
    await eventually(
      async () => {
        const r = await postJson(`${t.gateway}/v1/clicks`, click(n++));
        return (await verdict(r.body.id)).ruleset_version;
      },
      (v) => v === `v${config.version}`,
    );
    const after = await postJson(`${t.gateway}/v1/clicks`, click(99));
    expect(await verdict(after.body.id)).toEqual({ reason_codes: ['IP_VELOCITY'], ruleset_version: `v${config.version}` });

    const effective = await (
      await fetch(`${t.api}/v1/admin/rulesets/effective?advertiserId=${ids.advertiserId}&offerId=${ids.offerId}`, { headers: admin })
    ).json();
    expect(effective).toMatchObject({ version: `v${config.version}`, rules: { IP_VELOCITY: { params: { perMinute: 2, perHour: 200 } } } });
    const history = (await (await fetch(`${t.api}/v1/admin/rulesets/history`, { headers: admin })).json()) as { scope: string }[];
    expect(history[0].scope).toBe(`offer:${ids.offerId}`);
  });

  it('holds a doubtful conversion, then lets an analyst approve it: revision published, stored and audited', async () => {
    const ids = await seedCatalog(t, uid('hold'));
    const click = await postJson(`${t.gateway}/v1/clicks`, {
      offerId: ids.offerId,
      publisherId: ids.publisherId,
      ip: '8.8.8.8',
      userAgent: CHROME_UA,
      ts: new Date(Date.now() - 600_000).toISOString(),
    });
    let conversionId = '';
    const [held] = await decisions(ids.advertiserId, 1, async () => {
      // The buyer's phone is in the UK, the click came from the US: a country mismatch, held.
      conversionId = (await postJson(`${t.gateway}/v1/conversions`, { clickId: click.body.id, amount: 20, ip: '81.2.69.142' })).body.id;
    });
    expect(held).toMatchObject({ conversionId, status: 'hold', revision: 0, resolvedBy: 'engine' });
    expect(held.holdUntil).not.toBeNull();
    await eventually(
      async () => (await t.db.query(`SELECT status FROM decisions WHERE conversion_id = $1`, [conversionId])).rows[0]?.status,
      (s) => s === 'hold',
    );

    const [approved] = await decisions(ids.advertiserId, 1, async () => {
      const res = await postJson(
        `${t.gateway}/v1/feedback`,
        { conversionId, status: 'approved', reason: 'customer verified by phone' },
        admin,
      );
      expect(res.status).toBe(202);
    });
    expect(approved).toMatchObject({
      conversionId,
      status: 'approved',
      previousStatus: 'hold',
      revision: 1,
      resolvedBy: 'analyst',
      note: 'customer verified by phone',
    });
    expect(approved.reasons.map((r) => r.code)).toEqual(['GEO_MISMATCH', 'ANALYST_OVERRIDE']);
    const row = await eventually(
      async () =>
        (await t.db.query(`SELECT status, revision, resolved_by FROM decisions WHERE conversion_id = $1`, [conversionId])).rows[0],
      (r) => r.revision === 1,
    );
    expect(row).toEqual({ status: 'approved', revision: 1, resolved_by: 'analyst' });
    const audit = await t.db.query(`SELECT from_status, to_status, resolved_by, note FROM decision_transitions WHERE conversion_id = $1`, [
      conversionId,
    ]);
    expect(audit.rows).toEqual([
      { from_status: 'hold', to_status: 'approved', resolved_by: 'analyst', note: 'customer verified by phone' },
    ]);
    const api = await (await fetch(`${t.api}/v1/conversions/${conversionId}/decision`, { headers: admin })).json();
    expect(api).toMatchObject({ status: 'approved', revision: 1 });
  });

  it("lets the advertiser reject its conversion, not another advertiser's", async () => {
    const ids = await seedCatalog(t, uid('fb'));
    const other = await seedCatalog(t, uid('fb-other'));
    const keys = await Promise.all(
      [ids.advertiserId, other.advertiserId].map(
        async (a) => (await postJson(`${t.api}/v1/admin/api-keys`, { role: 'advertiser', subjectId: a }, admin)).body.key as string,
      ),
    );
    const click = await postJson(`${t.gateway}/v1/clicks`, {
      offerId: ids.offerId,
      publisherId: ids.publisherId,
      ip: '8.8.8.8',
      userAgent: IPHONE_UA,
      ts: new Date(Date.now() - 600_000).toISOString(),
    });
    const conversion = await postJson(`${t.gateway}/v1/conversions`, { clickId: click.body.id, amount: 20, orderId: uid('o') });
    await eventually(
      async () => (await t.db.query(`SELECT status FROM decisions WHERE conversion_id = $1`, [conversion.body.id])).rows[0]?.status,
      (s) => s === 'approved',
    );
    const foreign = await postJson(
      `${t.gateway}/v1/feedback`,
      { conversionId: conversion.body.id, status: 'rejected' },
      { authorization: `Bearer ${keys[1]}` },
    );
    expect(foreign.status).toBe(404);
    const [rejected] = await decisions(ids.advertiserId, 1, async () => {
      const res = await postJson(
        `${t.gateway}/v1/feedback`,
        { conversionId: conversion.body.id, status: 'rejected', reason: 'chargeback' },
        { authorization: `Bearer ${keys[0]}` },
      );
      expect(res.status).toBe(202);
    });
    expect(rejected).toMatchObject({ status: 'rejected', previousStatus: 'approved', resolvedBy: 'advertiser', revision: 1 });
    expect(rejected.reasons.at(-1)).toMatchObject({ code: 'ADVERTISER_REJECTED', evidence: { reason: 'chargeback' } });
    const label = await eventually(
      async () => (await t.db.query(`SELECT status, source FROM feedback WHERE conversion_id = $1`, [conversion.body.id])).rows[0],
    );
    expect(label).toEqual({ status: 'rejected', source: 'advertiser' });
  });

  it('resolves a hold by itself when its time is up', async () => {
    const ids = await seedCatalog(t, uid('timer'));
    const changed = await put(`/v1/admin/rulesets/advertisers/${ids.advertiserId}`, { policy: { holdHours: 0.001 } });
    expect(changed.status).toBe(200);
    await scorerApplies(((await changed.json()) as { version: number }).version);
    const click = await postJson(`${t.gateway}/v1/clicks`, {
      offerId: ids.offerId,
      publisherId: ids.publisherId,
      ip: '8.8.8.8',
      userAgent: CHROME_UA,
      ts: new Date(Date.now() - 600_000).toISOString(),
    });
    const [held, resolved] = await decisions(ids.advertiserId, 2, async () => {
      await postJson(`${t.gateway}/v1/conversions`, { clickId: click.body.id, amount: 20, ip: '81.2.69.142' });
    });
    expect(held.status).toBe('hold');
    expect(Date.parse(held.holdUntil!) - Date.parse(held.decidedAt)).toBe(3600);
    expect(resolved).toMatchObject({ conversionId: held.conversionId, status: 'approved', resolvedBy: 'timer', revision: 1 });
  });

  it('keeps velocity windows across a scorer restart (rebuilt from JetStream)', async () => {
    const ids = await seedCatalog(t, uid('restart'));
    const ip = '8.8.6.6';
    const base = Date.now() - 40_000;
    const click = (n: number) => ({
      offerId: ids.offerId,
      publisherId: ids.publisherId,
      ip,
      userAgent: `${IPHONE_UA} #${n}`,
      ts: new Date(base + n * 500).toISOString(),
    });
    const first = await postJson(
      `${t.gateway}/v1/clicks`,
      Array.from({ length: 15 }, (_, n) => click(n)),
    );
    await eventually(
      async () =>
        (
          await t.db.query(`SELECT count(*)::int AS n FROM click_verdicts WHERE click_id = ANY ($1)`, [
            first.body.results.map((r: { id: string }) => r.id),
          ])
        ).rows[0].n,
      (n) => n === 15,
    );
    await t.engine.restart('scorer');
    const second = await postJson(
      `${t.gateway}/v1/clicks`,
      Array.from({ length: 10 }, (_, n) => click(15 + n)),
    );
    const last = await verdict(second.body.results[9].id);
    // 25 clicks from the IP within the minute: only a scorer that remembers the first 15 sees it.
    expect(last.reason_codes).toEqual(['IP_VELOCITY']);
  });
});
