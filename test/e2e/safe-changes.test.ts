import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CHROME_UA, eventually, uid } from '@app/testing';
import { ConfigKey, openConfigBucket } from '@app/live-config';
import { backtestCommand } from '../../apps/cli/src/commands/backtest.command';
import { ADMIN_KEY, TestEngine, bootEngine, postJson, seedCatalog } from './support/engine';

/**
 * Issue 17: a rule-set change is backtested on stored traffic (the scorer's own engine, the same
 * events), and the history says what changed and who changed it.
 */
describe('safe rule-set changes (services booted)', () => {
  let t: TestEngine;
  const admin = { authorization: `Bearer ${ADMIN_KEY}` };

  beforeAll(async () => {
    t = await bootEngine();
  });
  afterAll(async () => {
    await t.stop();
  });

  const call = async (method: string, path: string, body?: unknown) => {
    const res = await fetch(`${t.api}${path}`, {
      method,
      headers: body === undefined ? admin : { ...admin, 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    return { status: res.status, body: (await res.json()) as any };
  };

  async function activeVersion(offerId: string, expected: number, ids: { publisherId: string }) {
    // Every scorer follows the KV bucket: probe with clicks until one carries the new version.
    await eventually(
      async () => {
        const r = await postJson(
          `${t.gateway}/v1/clicks`,
          { offerId, publisherId: ids.publisherId, ip: '8.8.4.4', userAgent: `${CHROME_UA} probe-${uid('p')}` },
          admin,
        );
        return eventually(
          async () =>
            (await t.db.query(`SELECT ruleset_version FROM click_verdicts WHERE click_id = $1`, [r.body.id])).rows[0]?.ruleset_version,
        );
      },
      (v) => v === `v${expected}`,
    );
  }

  it('replays a stored day with a tightened rule and finds exactly the decisions the live run with that rule made', async () => {
    const ids = await seedCatalog(t, uid('bt'));
    const from = new Date(Date.now() - 700_000).toISOString();
    // The tightened rule: at most 3 clicks a minute from one IP on this offer (default 20).
    const tightened = { rules: { IP_VELOCITY: { perMinute: 3 } } };
    const put = await call('PUT', `/v1/admin/rulesets/offers/${ids.offerId}`, tightened);
    expect(put.status).toBe(200);
    await activeVersion(ids.offerId, put.body.version, ids);

    // The "day": a few visitors, one of them clicking again and again; each click converts once.
    const ips = ['81.2.69.160', '81.2.69.161', '81.2.69.162', '81.2.69.163', '81.2.69.164', '81.2.69.164', '81.2.69.164'];
    const clickIds: string[] = [];
    for (let i = 0; i < ips.length * 2; i++) {
      const ip = ips[i % ips.length];
      const r = await postJson(
        `${t.gateway}/v1/clicks`,
        {
          offerId: ids.offerId,
          publisherId: ids.publisherId,
          ip,
          userAgent: `${CHROME_UA} ${i}`,
          subId: `s${i % 3}`,
          // Clicked a while ago (an admin backfill may say so): the conversions below are not click injection.
          ts: new Date(Date.now() - 600_000 + i * 100).toISOString(),
        },
        admin,
      );
      expect(r.status).toBe(202);
      clickIds.push(r.body.id);
    }
    const conversionIds: string[] = [];
    for (const [i, clickId] of clickIds.entries()) {
      const r = await postJson(`${t.gateway}/v1/conversions`, { clickId, amount: 20 + i, orderId: uid('o') }, admin);
      expect(r.status).toBe(202);
      conversionIds.push(r.body.id);
    }
    await t.drained();
    const live = new Map(
      (
        await eventually(
          async () =>
            (
              await t.db.query(`SELECT conversion_id, status, payout::float8 AS payout FROM decisions WHERE conversion_id = ANY ($1)`, [
                conversionIds,
              ])
            ).rows,
          (rows) => rows.length === conversionIds.length,
        )
      ).map((r) => [r.conversion_id as string, r as { status: string; payout: number }]),
    );
    expect([...live.values()].filter((d) => d.status === 'rejected').length).toBeGreaterThan(0);
    // An advertiser's word on two conversions: labels for precision / recall (the decision gets revision 1).
    const rejectedId = conversionIds.find((id) => live.get(id)!.status === 'rejected')!;
    const approvedId = conversionIds.find((id) => live.get(id)!.status === 'approved')!;
    for (const [conversionId, status] of [
      [rejectedId, 'rejected'],
      [approvedId, 'approved'],
    ])
      expect((await postJson(`${t.gateway}/v1/feedback`, { conversionId, status, reason: 'checked' }, admin)).status).toBe(202);
    await t.drained();
    const to = new Date(Date.now() + 1000).toISOString();

    // Back to the defaults; the tightened rule becomes the candidate.
    const removed = await call('DELETE', `/v1/admin/rulesets/offers/${ids.offerId}`);
    expect(removed.status).toBe(200);

    const started = await call('POST', '/v1/admin/rulesets/backtest', {
      from,
      to,
      warmupHours: 1,
      scope: `offer:${ids.offerId}`,
      ruleset: tightened,
    });
    expect(started.status).toBe(202);
    expect(started.body).toMatchObject({ status: 'running', request: { candidate: `offer:${ids.offerId}` } });
    const job = await eventually(
      async () => (await call('GET', `/v1/admin/rulesets/backtest/${started.body.id}`)).body,
      (j) => j.status !== 'running',
      60_000,
    );
    expect(job.status).toBe('done');
    const r = job.result;
    // Every stored click and conversion of the range was replayed and compared with what was recorded.
    const stored = Number(
      (
        await t.db.query(
          `SELECT (SELECT count(*) FROM clicks WHERE ts >= $1 AND ts < $2) + (SELECT count(*) FROM conversions WHERE ts >= $1 AND ts < $2) AS n`,
          [from, to],
        )
      ).rows[0].n,
    );
    expect(r.events.clicks + r.events.conversions).toBe(stored);
    expect(r.recorded.compared).toBe(stored);
    // The candidate reproduces the live run with the same rule exactly; the active rules differ.
    expect(r.recorded.candidateSame).toBe(stored);
    expect(r.recorded.activeSame).toBeLessThan(stored);
    expect(r.candidateVersion).toBe(`v${removed.body.version + 1}`);

    const changed = r.conversions.examples as { conversionId: string; from: string; to: string; added: string[]; payout: number }[];
    expect(r.conversions.changed).toBe(changed.length);
    expect(changed.length).toBeGreaterThan(0);
    for (const c of changed) {
      expect(c.to).toBe(live.get(c.conversionId)!.status);
      expect(c.from).toBe('approved');
      expect(c.added).toContain('INVALID_SOURCE_CLICK');
    }
    // Without the tightened rule every one of these conversions is approved: the changes are exactly the rejections.
    expect(new Set(changed.map((c) => c.conversionId))).toEqual(new Set(conversionIds.filter((id) => live.get(id)!.status !== 'approved')));
    expect(r.conversions.money.payoutWithheld).toBeCloseTo(
      changed.reduce((sum, c) => sum + c.payout, 0),
      4,
    );
    expect(r.conversions.byOffer).toEqual([expect.objectContaining({ id: ids.offerId, changed: changed.length })]);
    expect(r.conversions.byReason.INVALID_SOURCE_CLICK.added).toBe(changed.length);
    expect(r.clicks.byReason.IP_VELOCITY.added).toBe(r.clicks.changed);
    // Two labels: the candidate rejects the one labelled fraud and approves the one labelled legit.
    expect(r.conversions.quality.candidate).toMatchObject({ labelled: 2, truePositives: 1, falsePositives: 0, precision: 1, recall: 1 });
    expect(r.conversions.quality.active).toMatchObject({ labelled: 2, truePositives: 0, falseNegatives: 1, recall: 0 });

    // Per-rule quality from the same labels: the code that fired on the fraud, none on the legit one.
    const quality = await call('GET', `/v1/admin/rulesets/quality?from=${from}&to=${to}&interval=hour`);
    expect(quality.status).toBe(200);
    expect(quality.body.labelled.conversion).toEqual({ labelled: 2, fraud: 1 });
    expect(quality.body.rules.filter((q: { kind: string }) => q.kind === 'conversion')).toEqual([
      {
        kind: 'conversion',
        code: 'INVALID_SOURCE_CLICK',
        fired: 1,
        truePositives: 1,
        falsePositives: 0,
        falseNegatives: 0,
        precision: 1,
        recall: 1,
      },
    ]);
    expect(quality.body.buckets.length).toBeGreaterThan(0);

    // The CLI drives the same job and prints the same answer.
    const dir = mkdtempSync(join(tmpdir(), 'arbiter-bt-'));
    const written: string[] = [];
    const write = process.stdout.write;
    try {
      writeFileSync(join(dir, 'layer.json'), JSON.stringify(tightened));
      process.stdout.write = ((chunk: string) => written.push(chunk) > 0) as typeof process.stdout.write;
      await backtestCommand().parseAsync(
        ['--ruleset', join(dir, 'layer.json'), '--layer', `offer:${ids.offerId}`, '--from', from, '--to', to, '--warmup-hours', '1'].concat(
          ['--api', t.api, '--admin-key', ADMIN_KEY, '--json', '--poll-ms', '100'],
        ),
        { from: 'user' },
      );
    } finally {
      process.stdout.write = write;
      rmSync(dir, { recursive: true, force: true });
    }
    const printed = JSON.parse(written.join(''));
    expect(printed.status).toBe('done');
    expect(printed.result.conversions.changed).toBe(r.conversions.changed);
    expect(printed.result.recorded).toEqual(r.recorded);
  });

  it('runs a candidate in shadow on live traffic: disagreements recorded and readable, nothing acted on; one call promotes it', async () => {
    const ids = await seedCatalog(t, uid('sh'));
    const started = await call('PUT', '/v1/admin/rulesets/shadow', {
      scope: `offer:${ids.offerId}`,
      ruleset: { rules: { IP_VELOCITY: { perMinute: 2 } } },
    });
    expect(started.status).toBe(200);
    const label = started.body.label as string;
    expect(started.body.diff).toEqual([{ path: `offers.${ids.offerId}`, op: 'added', to: { rules: { IP_VELOCITY: { perMinute: 2 } } } }]);
    // Scorers follow the bucket: probe with one-off visitors until the shadow's outcomes appear.
    let probe = 0;
    await eventually(
      async () => {
        await postJson(
          `${t.gateway}/v1/clicks`,
          { offerId: ids.offerId, publisherId: ids.publisherId, ip: `81.2.70.${++probe}`, userAgent: CHROME_UA },
          admin,
        );
        return (await call('GET', '/v1/admin/rulesets/shadow')).body.summary?.events ?? 0;
      },
      (n) => n > 0,
    );

    const ip = '81.2.71.9';
    const clickIds: string[] = [];
    for (let i = 0; i < 4; i++) {
      const r = await postJson(
        `${t.gateway}/v1/clicks`,
        {
          offerId: ids.offerId,
          publisherId: ids.publisherId,
          ip,
          userAgent: `${CHROME_UA} ${i}`,
          ts: new Date(Date.now() - 600_000 + i * 100).toISOString(),
        },
        admin,
      );
      clickIds.push(r.body.id);
    }
    const conversionIds: string[] = [];
    for (const clickId of clickIds)
      conversionIds.push((await postJson(`${t.gateway}/v1/conversions`, { clickId, amount: 30, orderId: uid('o') }, admin)).body.id);

    // The disagreements are readable as soon as the scorer has recorded them.
    const shadow = await eventually(
      async () => (await call('GET', '/v1/admin/rulesets/shadow?examples=50')).body,
      (b) => b.examples.filter((e: { eventId: string }) => conversionIds.includes(e.eventId)).length === 2,
    );
    const mine = (shadow.examples as { eventId: string; kind: string; activeStatus: string; shadowStatus: string; shadowCodes: string[] }[])
      .filter((e) => clickIds.includes(e.eventId) || conversionIds.includes(e.eventId))
      .map((e) => [e.eventId, e.activeStatus, e.shadowStatus]);
    expect(mine.sort()).toEqual(
      [
        [clickIds[2], 'valid', 'invalid'],
        [clickIds[3], 'valid', 'invalid'],
        [conversionIds[2], 'approved', 'rejected'],
        [conversionIds[3], 'approved', 'rejected'],
      ].sort(),
    );
    expect(shadow.summary.disagreements).toBe(4);
    expect(shadow.summary.events).toBeGreaterThanOrEqual(8);
    expect(shadow.summary.disagreementRate).toBeCloseTo(4 / shadow.summary.events, 4);
    expect(shadow.summary.transitions).toEqual({ 'valid→invalid': 2, 'approved→rejected': 2 });
    expect(shadow.summary.payoutWithheld).toBe(9);
    // Nothing the shadow said was acted on.
    const live = await eventually(
      async () => (await t.db.query(`SELECT status FROM decisions WHERE conversion_id = ANY ($1)`, [conversionIds])).rows,
      (rows) => rows.length === 4,
    );
    expect(live.map((r) => r.status)).toEqual(['approved', 'approved', 'approved', 'approved']);

    const promoted = await call('POST', '/v1/admin/rulesets/shadow/promote');
    expect(promoted.status).toBe(200);
    expect(promoted.body.promoted).toBe(label);
    expect(promoted.body.config.offers[ids.offerId]).toEqual({ rules: { IP_VELOCITY: { perMinute: 2 } } });
    expect((await call('GET', '/v1/admin/rulesets/shadow')).body.shadow).toBeNull();
    expect((await call('POST', '/v1/admin/rulesets/shadow/promote')).status).toBe(404);
    const history = await call('GET', '/v1/admin/rulesets/history?limit=1');
    expect(history.body[0]).toMatchObject({ version: promoted.body.config.version, scope: `promote:${label}` });
    await activeVersion(ids.offerId, promoted.body.config.version, ids);
    // The next click from the busy visitor is decided by the promoted rule.
    const next = await postJson(
      `${t.gateway}/v1/clicks`,
      {
        offerId: ids.offerId,
        publisherId: ids.publisherId,
        ip,
        userAgent: `${CHROME_UA} 5`,
        ts: new Date(Date.now() - 599_000).toISOString(),
      },
      admin,
    );
    const verdict = await eventually(
      async () => (await t.db.query(`SELECT valid, reason_codes FROM click_verdicts WHERE click_id = $1`, [next.body.id])).rows[0],
    );
    expect(verdict).toEqual({ valid: false, reason_codes: ['IP_VELOCITY'] });

    // A shadow built on rules that changed since is not promoted over that change.
    const again = await call('PUT', '/v1/admin/rulesets/shadow', {
      scope: `offer:${ids.offerId}`,
      ruleset: { rules: { IP_VELOCITY: { perMinute: 1 } } },
    });
    expect(again.status).toBe(200);
    expect((await call('PUT', `/v1/admin/rulesets/advertisers/${ids.advertiserId}`, { policy: { holdHours: 48 } })).status).toBe(200);
    const stale = await call('POST', '/v1/admin/rulesets/shadow/promote');
    expect(stale.status).toBe(409);
    expect((await call('GET', '/v1/admin/rulesets')).body.offers[ids.offerId]).toEqual({ rules: { IP_VELOCITY: { perMinute: 2 } } });
    expect((await call('DELETE', '/v1/admin/rulesets/shadow')).status).toBe(200);
  });

  it('refuses an invalid candidate or range with field errors, and an unknown job with 404', async () => {
    const bad = await call('POST', '/v1/admin/rulesets/backtest', {
      from: '2026-11-19T00:00:00Z',
      to: '2026-11-20T00:00:00Z',
      scope: 'network',
      ruleset: { rules: { IP_VELOCITY: { perMinute: 'many' } } },
    });
    expect(bad.status).toBe(400);
    expect(bad.body.errors[0].field).toBe('rules.IP_VELOCITY.perMinute');
    const backwards = await call('POST', '/v1/admin/rulesets/backtest', {
      from: '2026-11-20T00:00:00Z',
      to: '2026-11-19T00:00:00Z',
      scope: 'network',
      ruleset: {},
    });
    expect(backwards.status).toBe(400);
    expect((await call('GET', '/v1/admin/rulesets/backtest/bt_0000000000000000')).status).toBe(404);
  });

  it('refuses a backtest with 503 model_unavailable while the active model cannot be loaded, with /health degraded, and runs it once it loads', async () => {
    const kv = await openConfigBucket(t.nc, t.topology);
    const body = { from: new Date(Date.now() - 60_000).toISOString(), to: new Date().toISOString(), scope: 'network', ruleset: {} };
    const apiModel = (health: { degraded?: { component: string }[] }) =>
      health.degraded?.filter((d) => d.component === 'model active (api)');
    try {
      // A selection naming a version the object store does not hold (as after a lost bucket).
      await kv.put(ConfigKey.Model, JSON.stringify({ active: 'v-lost', shadow: null, updatedAt: new Date().toISOString() }));
      const refused = await call('POST', '/v1/admin/rulesets/backtest', body);
      expect(refused.status).toBe(503);
      expect(refused.body).toEqual({
        error: 'model_unavailable',
        message: expect.stringContaining('the active model v-lost could not be loaded'),
      });
      const health = await call('GET', '/health');
      expect(health.status).toBe(200);
      expect(health.body.status).toBe('degraded');
      expect(apiModel(health.body)).toEqual([
        expect.objectContaining({ cause: 'configuration', reason: 'model v-lost not loaded (backtests refused)' }),
      ]);
    } finally {
      await kv.put(ConfigKey.Model, JSON.stringify({ active: 'default', shadow: null, updatedAt: new Date().toISOString() }));
    }
    const started = await call('POST', '/v1/admin/rulesets/backtest', body);
    expect(started.status).toBe(202);
    expect(apiModel((await call('GET', '/health')).body) ?? []).toEqual([]);
  });

  it('shows each version’s structured diff and who made it, by key label', async () => {
    const ids = await seedCatalog(t, uid('hist'));
    const key = await postJson(`${t.api}/v1/admin/api-keys`, { role: 'admin', label: 'risk-team' }, admin);
    expect(key.status).toBe(201);
    const asRisk = { authorization: `Bearer ${key.body.key}`, 'content-type': 'application/json' };
    const put = (body: unknown) =>
      fetch(`${t.api}/v1/admin/rulesets/advertisers/${ids.advertiserId}`, { method: 'PUT', headers: asRisk, body: JSON.stringify(body) });
    expect((await put({ rules: { IP_VELOCITY: { perMinute: 10 } }, lists: { denyIps: ['203.0.113.1'] } })).status).toBe(200);
    const second = await put({ rules: { IP_VELOCITY: { perMinute: 5 } }, lists: { denyIps: ['203.0.113.2'] } });
    const version = ((await second.json()) as { version: number }).version;

    const history = await call('GET', '/v1/admin/rulesets/history?limit=2');
    expect(history.status).toBe(200);
    expect(history.body[0]).toMatchObject({
      version,
      scope: `advertiser:${ids.advertiserId}`,
      changedBy: { keyId: key.body.id, label: 'risk-team' },
      diff: [
        { path: `advertisers.${ids.advertiserId}.lists.denyIps`, op: 'list', added: ['203.0.113.2'], removed: ['203.0.113.1'] },
        { path: `advertisers.${ids.advertiserId}.rules.IP_VELOCITY.perMinute`, op: 'changed', from: 10, to: 5 },
      ],
    });
    expect(history.body[1].diff).toEqual([
      {
        path: `advertisers.${ids.advertiserId}`,
        op: 'added',
        to: { rules: { IP_VELOCITY: { perMinute: 10 } }, lists: { denyIps: ['203.0.113.1'] } },
      },
    ]);
    // The audit row itself keeps the diff and the label as they were.
    const audit = await t.db.query(`SELECT changed_by_label, diff FROM ruleset_versions WHERE version = $1`, [version]);
    expect(audit.rows[0]).toEqual({ changed_by_label: 'risk-team', diff: history.body[0].diff });
    const one = await call('GET', `/v1/admin/rulesets/history/${version}`);
    expect(one.body).toMatchObject({
      version,
      config: { advertisers: { [ids.advertiserId]: { rules: { IP_VELOCITY: { perMinute: 5 } } } } },
    });
    expect((await call('GET', '/v1/admin/rulesets/history/999999')).status).toBe(404);
  });
});
