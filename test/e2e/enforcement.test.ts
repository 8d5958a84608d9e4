import { CHROME_UA, eventually } from '@app/testing';
import { ADMIN_KEY, TestEngine, bootEngine, postJson } from './support/engine';
import { Tenant, call, freshIp, seedTenant } from './support/tenants';

const BOT_UA = 'python-requests/2.31.0';

/**
 * DESIGN §12 end to end: an enforcement policy in a rule set blocks a sub-id whose clicks are too
 * often invalid — the periodic job finds it in the recorded verdicts and writes the block (a rule-set
 * version, audited as the system's); the next click of that sub-id goes to the fallback and is
 * invalid with ENFORCEMENT_BLOCK, its conversions are rejected with it; the publisher reads the
 * block and why; an admin lifts it; a short block expires by itself; neither comes back on the
 * evidence it already used.
 */
describe('automatic enforcement (services booted, local NATS and PostgreSQL)', () => {
  let t: TestEngine;

  beforeAll(async () => {
    // The job every half second; one trusted proxy hop, so each visit can come from its own address.
    t = await bootEngine({ config: { ENFORCEMENT_INTERVAL_SECONDS: 0.5, GATEWAY_TRUST_PROXY: '1' } });
  });
  afterAll(async () => {
    await t?.stop();
  });

  /** A visit to the tracking link; answers where the visitor was sent. */
  const visit = async (x: Tenant, subId: string, userAgent = CHROME_UA) => {
    const res = await fetch(`${t.gateway}/c/${x.offerId}?pub=${x.publisherId}&sub=${subId}`, {
      redirect: 'manual',
      headers: { 'user-agent': userAgent, 'x-forwarded-for': freshIp() },
    });
    expect(res.status).toBe(302);
    const url = new URL(res.headers.get('location')!);
    return { url, clickId: url.searchParams.get('cid') ?? url.searchParams.get('click_id')! };
  };
  const verdict = (clickId: string) =>
    eventually(async () => (await t.db.query(`SELECT valid, reason_codes FROM click_verdicts WHERE click_id = $1`, [clickId])).rows[0]);
  const decision = (conversionId: string) =>
    eventually(
      async () =>
        (await t.db.query(`SELECT status, reason_codes, reasons FROM decisions WHERE conversion_id = $1`, [conversionId])).rows[0],
    );
  const blocksOf = async (publisherId: string) =>
    (await call(t.api, 'GET', `/v1/admin/enforcement/blocks?publisherId=${publisherId}`, ADMIN_KEY)).body as any[];

  const POLICY = { id: 'bad-subs', entity: 'subId', metric: 'invalidRate', minSample: 5, windowHours: 1, maxRate: 0.5, blockOn: 'offer' };
  const FALLBACK = { mode: 'fallback', fallbackUrl: 'https://network.example/blocked' };

  /**
   * An offer whose layer sends invalid clicks to the fallback; one clean click on sub-id `bad` (kept
   * for a conversion) and six bots, recorded; then the policy "a sub-id with > 50 % invalid clicks
   * over ≥ 5 in the last hour is blocked on the offer for `blockHours`" (set after the traffic, so
   * the job sees all seven clicks at once).
   */
  const misbehave = async (name: string, blockHours: number) => {
    const x = await seedTenant(t, name);
    const layer = (extra: object) =>
      call(t.api, 'PUT', `/v1/admin/rulesets/offers/${x.offerId}`, ADMIN_KEY, { clickBlocking: FALLBACK, ...extra });
    expect((await layer({})).status).toBe(200);
    const clean = await visit(x, 'bad');
    expect(clean.url.origin).toBe('https://shop.example');
    const bots = [];
    for (let i = 0; i < 6; i++) bots.push(await visit(x, 'bad', BOT_UA));
    for (const b of bots) expect((await verdict(b.clickId)).valid).toBe(false);
    expect((await verdict(clean.clickId)).valid).toBe(true);
    expect((await layer({ enforcement: [{ ...POLICY, blockHours }] })).status).toBe(200);
    return { x, cleanClickId: clean.clickId };
  };

  it('blocks a sub-id that exceeds the policy, enforces the block on clicks and conversions, shows it to the publisher; an admin lifts it', async () => {
    const { x, cleanClickId } = await misbehave('enf', 24);

    // The job finds 6 invalid of 7 clicks (86 % > 50 %, 7 ≥ 5) and blocks the sub-id on the offer.
    const [block] = await eventually(
      () => blocksOf(x.publisherId),
      (b) => b.length > 0,
      30_000,
    );
    expect(block).toMatchObject({
      publisherId: x.publisherId,
      subId: 'bad',
      offerId: x.offerId,
      policy: `offer:${x.offerId}/bad-subs`,
      status: 'active',
      evidence: { metric: 'invalidRate', sample: 7, maxRate: 0.5, minSample: 5, windowHours: 1 },
      reason: { code: 'ENFORCEMENT_BLOCK' },
    });
    expect(block.evidence.rate).toBeCloseTo(6 / 7, 6);
    expect(Date.parse(block.until) - Date.parse(block.createdAt)).toBe(24 * 3_600_000);

    // Audited as the system's change, naming the policy.
    const history = (await call(t.api, 'GET', '/v1/admin/rulesets/history?limit=5', ADMIN_KEY)).body as any[];
    // The diff adds the block (the list's first entry, or one more).
    const made = history.find((h) =>
      h.diff.some((d: any) => d.path === 'blocks' && [...(d.added ?? []), ...(d.to ?? [])].some((b: any) => b.id === block.id)),
    );
    expect(made).toMatchObject({
      scope: 'enforcement',
      changedBy: { keyId: null, system: { system: 'enforcement', policies: [`offer:${x.offerId}/bad-subs`], blocks: [block.id] } },
    });

    // The next click of the sub-id goes to the fallback (the gateway follows the rule sets), invalid with the block's reason.
    const blocked = await eventually(
      () => visit(x, 'bad'),
      (v) => v.url.origin === 'https://network.example',
    );
    expect(await verdict(blocked.clickId)).toEqual({ valid: false, reason_codes: ['ENFORCEMENT_BLOCK'] });
    // Another sub-id of the same publisher still reaches the offer.
    const other = await visit(x, 'good');
    expect(other.url.origin).toBe('https://shop.example');
    expect((await verdict(other.clickId)).valid).toBe(true);

    // A conversion of the sub-id's earlier (valid) click is rejected with the block's reason and evidence.
    const conversion = await postJson(
      `${t.gateway}/v1/conversions`,
      { clickId: cleanClickId, amount: 30 },
      {
        authorization: `Bearer ${x.advertiserKey}`,
      },
    );
    expect(conversion.status).toBe(202);
    const rejected = await decision(conversion.body.id);
    expect(rejected.status).toBe('rejected');
    expect(rejected.reason_codes).toContain('ENFORCEMENT_BLOCK');
    expect(rejected.reasons.find((r: any) => r.code === 'ENFORCEMENT_BLOCK').evidence).toMatchObject({ block: block.id, sample: 7 });

    // The publisher sees its block and why; the rejection lists it too.
    const mine = await call(t.api, 'GET', '/v1/publisher/blocks', x.publisherKey);
    expect(mine.status).toBe(200);
    expect(mine.body).toEqual([
      {
        id: block.id,
        offerId: x.offerId,
        subId: 'bad',
        since: block.createdAt,
        until: block.until,
        reason: {
          code: 'ENFORCEMENT_BLOCK',
          title: 'Blocked by an enforcement policy',
          message: expect.stringMatching(
            /^Sub-id "bad" of publisher ".+" is blocked on offer .+: its invalid click rate was 85\.7 % over 7 clicks in the last 1 hours \(limit 50\.0 %\)\.$/,
          ),
          evidence: expect.objectContaining({ block: block.id, rate: 0.8571, sample: 7, maxRate: 0.5, windowHours: 1, until: block.until }),
        },
      },
    ]);
    const rejections = await eventually(
      async () => (await call(t.api, 'GET', `/v1/publisher/rejections?kind=conversion`, x.publisherKey)).body.items as any[],
      (items) => items.length > 0,
    );
    expect(rejections[0].reasons.map((r: any) => r.code)).toContain('ENFORCEMENT_BLOCK');
    // Another publisher sees none of it.
    const stranger = await seedTenant(t, 'enf-other');
    expect((await call(t.api, 'GET', '/v1/publisher/blocks', stranger.publisherKey)).body).toEqual([]);

    // An admin lifts it: audited with the key and note; the sub-id's clicks reach the offer again.
    const lift = await call(t.api, 'POST', `/v1/admin/enforcement/blocks/${block.id}/lift`, ADMIN_KEY, { note: 'placement fixed' });
    expect(lift.status).toBe(200);
    expect(lift.body).toMatchObject({ id: block.id, status: 'lifted', liftNote: 'placement fixed' });
    expect((await call(t.api, 'POST', `/v1/admin/enforcement/blocks/${block.id}/lift`, ADMIN_KEY)).status).toBe(409);
    expect((await call(t.api, 'POST', `/v1/admin/enforcement/blocks/blk-00000000/lift`, ADMIN_KEY)).status).toBe(404);
    const lifted = (await call(t.api, 'GET', '/v1/admin/rulesets/history?limit=5', ADMIN_KEY)).body.find(
      (h: any) => h.scope === 'enforcement:lift',
    );
    expect(lifted.changedBy.keyId).toEqual(expect.any(String));
    expect(lifted.changedBy.system).toBeUndefined();
    const after = await eventually(
      () => visit(x, 'bad'),
      (v) => v.url.origin === 'https://shop.example',
    );
    expect((await verdict(after.clickId)).valid).toBe(true);
    expect((await call(t.api, 'GET', '/v1/publisher/blocks', x.publisherKey)).body).toEqual([]);

    // The evidence it was made on does not block the sub-id again: a run now makes nothing for it.
    const run = await call(t.api, 'POST', '/v1/admin/enforcement/run', ADMIN_KEY);
    expect(run.status).toBe(200);
    expect(run.body.made.filter((b: any) => b.publisherId === x.publisherId)).toEqual([]);
    expect((await blocksOf(x.publisherId)).map((b) => [b.id, b.status])).toEqual([[block.id, 'lifted']]);
  }, 120_000);

  it('lets a block expire by itself after its hours, and does not block again on the same evidence', async () => {
    // Four seconds: long enough to be seen, short enough to wait for.
    const { x } = await misbehave('enf-exp', 4 / 3600);
    const [block] = await eventually(
      () => blocksOf(x.publisherId),
      (b) => b.length > 0,
      30_000,
    );
    expect(Date.parse(block.until) - Date.parse(block.createdAt)).toBe(4000);

    // It expires: listed as expired, gone from the publisher's view, the sub-id's clicks reach the offer and are valid.
    await eventually(
      () => blocksOf(x.publisherId),
      (b) => b.length === 1 && b[0].status === 'expired',
      30_000,
    );
    expect((await call(t.api, 'GET', '/v1/publisher/blocks', x.publisherKey)).body).toEqual([]);
    const after = await eventually(
      () => visit(x, 'bad'),
      (v) => v.url.origin === 'https://shop.example',
    );
    expect((await verdict(after.clickId)).valid).toBe(true);
    const run = await call(t.api, 'POST', '/v1/admin/enforcement/run', ADMIN_KEY);
    expect(run.body.made.filter((b: any) => b.publisherId === x.publisherId)).toEqual([]);
    expect((await blocksOf(x.publisherId)).map((b) => b.id)).toEqual([block.id]);
  }, 120_000);
});
