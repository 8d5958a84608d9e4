import { CHROME_UA, eventually } from '@app/testing';
import { ADMIN_KEY, TestEngine, bootEngine, postJson } from './support/engine';
import { Tenant, call, freshIp, seedTenant } from './support/tenants';

/**
 * Issue 16, exports: the lists that came after the first CSV exports (API keys, models, rule-set
 * history and quality, dead letters and their replays, backtests, webhook and postback attempts,
 * postbacks, enforcement blocks) answer `Accept: text/csv` too, with the rows and scoping of their JSON.
 */
/** RFC 4180 records (quoted fields, doubled quotes, commas and newlines inside quotes), the first line as the header. */
function parse(text: string): Record<string, string>[] {
  const records: string[][] = [];
  let record: string[] = [];
  let field = '';
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const ch = text[i];
    if (quoted) {
      if (ch === '"' && text[i + 1] === '"') ((field += '"'), i++);
      else if (ch === '"') quoted = false;
      else field += ch;
    } else if (ch === '"') quoted = true;
    else if (ch === ',') (record.push(field), (field = ''));
    else if (ch === '\n') (record.push(field), records.push(record), (record = []), (field = ''));
    else field += ch;
  }
  if (field || record.length) (record.push(field), records.push(record));
  const [header, ...rows] = records;
  return rows.map((r) => Object.fromEntries(header.map((h, i) => [h, r[i] ?? ''])));
}

async function csv(
  base: string,
  path: string,
  key: string,
): Promise<{ status: number; type: string | null; rows: Record<string, string>[]; text: string }> {
  const res = await fetch(`${base}${path}`, { headers: { authorization: `Bearer ${key}`, accept: 'text/csv' } });
  const text = await res.text();
  const rows = res.status === 200 ? parse(text) : [];
  return { status: res.status, type: res.headers.get('content-type'), rows, text };
}

describe('CSV exports of the admin lists, attempts and postbacks (services booted)', () => {
  let t: TestEngine;
  let a: Tenant;
  let b: Tenant;

  beforeAll(async () => {
    // The enforcement job every half second, for the blocks' export.
    t = await bootEngine({ config: { ENFORCEMENT_INTERVAL_SECONDS: 0.5 } });
    a = await seedTenant(t, 'csv2-a');
    b = await seedTenant(t, 'csv2-b');
  }, 120_000);
  afterAll(async () => {
    await t?.stop();
  });

  it('API keys: every key, never a key or its hash', async () => {
    const json = await call(t.api, 'GET', '/v1/admin/api-keys', ADMIN_KEY);
    const sut = await csv(t.api, '/v1/admin/api-keys', ADMIN_KEY);
    expect(sut.type).toMatch(/^text\/csv/);
    expect(sut.text.split('\n')[0]).toBe('id,role,subjectId,scope,label,createdAt,revokedAt');
    expect(sut.rows.map((r) => r.id).sort()).toEqual(json.body.map((k: { id: string }) => k.id).sort());
    expect(sut.rows.find((r) => r.id === a.publisherKeyId)).toMatchObject({ role: 'publisher', subjectId: a.publisherId, scope: 'api' });
    expect(sut.text).not.toContain(a.publisherKey);
    expect((await csv(t.api, '/v1/admin/api-keys', a.publisherKey)).status).toBe(403);
  });

  it('rule-set history: every version, newest first, `before` applies, the diff as JSON', async () => {
    for (const minSeconds of [5, 6, 7]) {
      const put = await call(t.api, 'PUT', `/v1/admin/rulesets/offers/${a.offerId}`, ADMIN_KEY, {
        rules: { CTIT_TOO_SHORT: { minSeconds: { sale: minSeconds } } },
      });
      expect(put.status).toBe(200);
    }
    const json = await call(t.api, 'GET', '/v1/admin/rulesets/history?limit=500', ADMIN_KEY);
    const sut = await csv(t.api, '/v1/admin/rulesets/history', ADMIN_KEY);
    expect(sut.rows.map((r) => Number(r.version))).toEqual(json.body.map((v: { version: number }) => v.version));
    expect(sut.rows.length).toBeGreaterThanOrEqual(3);
    expect(JSON.parse(sut.rows[0].diff)).toEqual(json.body[0].diff);
    expect(sut.rows[0]['changedBy.keyId']).toBe(json.body[0].changedBy.keyId);
    const newest = Number(sut.rows[0].version);
    const older = await csv(t.api, `/v1/admin/rulesets/history?before=${newest}`, ADMIN_KEY);
    expect(older.rows.map((r) => Number(r.version))).toEqual(sut.rows.slice(1).map((r) => Number(r.version)));
  });

  it('models, rule quality, dead letters, their replays and backtests: the JSON’s rows as CSV', async () => {
    const models = await call(t.api, 'GET', '/v1/admin/models', ADMIN_KEY);
    const modelCsv = await csv(t.api, '/v1/admin/models', ADMIN_KEY);
    expect(modelCsv.text.split('\n')[0]).toBe(
      'role,version,thresholds.click,thresholds.conversion,sizeBytes,publishedAt,publishedBy,trainedAt,validation',
    );
    expect(modelCsv.rows.map((r) => r.version)).toEqual(models.body.versions.map((v: { version: string }) => v.version));

    const quality = await call(t.api, 'GET', '/v1/admin/rulesets/quality', ADMIN_KEY);
    const qualityCsv = await csv(t.api, '/v1/admin/rulesets/quality', ADMIN_KEY);
    expect(qualityCsv.text.split('\n')[0]).toBe('kind,code,fired,truePositives,falsePositives,falseNegatives,precision,recall');
    expect(qualityCsv.rows).toHaveLength(quality.body.rules.length);

    const letters = await csv(t.api, '/v1/admin/dead-letters', ADMIN_KEY);
    expect(letters.type).toMatch(/^text\/csv/);
    expect(letters.text.split('\n')[0]).toBe(
      'id,stream,seq,at,consumer,subject,sourceStream,sourceSeq,eventId,error,errorType,deliveries,replays,bytes',
    );

    // A replay (of nothing) is audited all the same: the audit lists it.
    const replay = await call(t.api, 'POST', '/v1/admin/dead-letters/replay', ADMIN_KEY, { ids: ['DLQ:999999'] });
    expect(replay.status).toBe(200);
    const replays = await csv(t.api, '/v1/admin/dead-letters/replays', ADMIN_KEY);
    const audited = replays.rows.find((r) => r.id === replay.body.id)!;
    expect(audited).toMatchObject({ replayed: '0', missing: '["DLQ:999999"]' });
    expect(JSON.parse(audited.filter)).toEqual({ ids: ['DLQ:999999'] });

    const jobs = await call(t.api, 'GET', '/v1/admin/rulesets/backtest', ADMIN_KEY);
    const jobCsv = await csv(t.api, '/v1/admin/rulesets/backtest', ADMIN_KEY);
    expect(jobCsv.text.split('\n')[0]).toBe(
      'id,status,request,progress.done,progress.total,error,createdBy.keyId,createdBy.label,createdAt,updatedAt,finishedAt',
    );
    expect(jobCsv.rows).toHaveLength(jobs.body.length);
  });

  it('webhook attempts and postbacks: each advertiser and publisher gets its own rows only; admins get all', async () => {
    // Attempts as the notifier records them, for both advertisers and both publishers.
    for (const [owner, advertiserId, publisherId, conversionId] of [
      ['advertiser', a.advertiserId, null, 'conv-a'],
      ['advertiser', b.advertiserId, null, 'conv-b'],
      ['publisher', null, a.publisherId, 'conv-pa'],
      ['publisher', null, b.publisherId, 'conv-pb'],
    ]) {
      await t.db.query(
        `INSERT INTO webhook_attempts (delivery_id, attempt, owner_type, advertiser_id, publisher_id, postback_id, conversion_id, revision, url, status_code, duration_ms, outcome)
         VALUES ($1, 1, $2, $3, $4, $5, $6, 0, 'https://receiver.example/x', 200, 12, 'delivered')`,
        [`${conversionId}:0`, owner, advertiserId, publisherId, publisherId ? `pb-${publisherId}` : null, conversionId],
      );
    }
    const mine = await csv(t.api, '/v1/advertiser/webhook/attempts', a.advertiserKey);
    expect(mine.text.split('\n')[0]).toBe(
      'deliveryId,attempt,conversionId,revision,at,statusCode,error,durationMs,outcome,advertiserId,url',
    );
    expect(mine.rows.map((r) => r.conversionId)).toEqual(['conv-a']);
    const theirs = await csv(t.api, '/v1/publisher/postbacks/attempts', b.publisherKey);
    expect(theirs.rows.map((r) => r.conversionId)).toEqual(['conv-pb']);
    const admin = await csv(t.api, '/v1/admin/webhooks/attempts', ADMIN_KEY);
    expect(admin.rows.map((r) => r.conversionId).sort()).toEqual(['conv-a', 'conv-b', 'conv-pa', 'conv-pb']);
    const publishers = await csv(t.api, '/v1/admin/webhooks/attempts?owner=publisher', ADMIN_KEY);
    expect(publishers.rows.map((r) => r.conversionId).sort()).toEqual(['conv-pa', 'conv-pb']);

    for (const [tenant, host] of [
      [a, '8.8.8.8'],
      [b, '8.8.4.4'],
    ] as const) {
      const res = await call(t.api, 'POST', '/v1/publisher/postbacks', tenant.publisherKey, { url: `https://${host}/pb?cid={click_id}` });
      expect(res.status).toBe(201);
    }
    const ownPostbacks = await csv(t.api, '/v1/publisher/postbacks', a.publisherKey);
    expect(ownPostbacks.rows.map((r) => [r.publisherId, r.url])).toEqual([[a.publisherId, 'https://8.8.8.8/pb?cid={click_id}']]);
    expect(ownPostbacks.text).not.toContain('whsec_');
    const allPostbacks = await csv(t.api, '/v1/admin/postbacks', ADMIN_KEY);
    expect(allPostbacks.rows.map((r) => r.publisherId)).toEqual(expect.arrayContaining([a.publisherId, b.publisherId]));
    const onePublisher = await csv(t.api, `/v1/admin/postbacks?publisherId=${b.publisherId}`, ADMIN_KEY);
    expect(onePublisher.rows.map((r) => r.publisherId)).toEqual([b.publisherId]);
  });

  it('enforcement blocks: an admin exports every block, a publisher only its own in force', async () => {
    // Six bot clicks and one clean one on sub-id `bad`, then a policy that blocks a sub-id over 50 % invalid.
    const clicks: string[] = [];
    for (const userAgent of [CHROME_UA, ...Array(6).fill('python-requests/2.31.0')]) {
      const res = await postJson(`${t.gateway}/v1/clicks`, {
        offerId: a.offerId,
        publisherId: a.publisherId,
        subId: 'bad',
        ip: freshIp(),
        userAgent,
      });
      expect(res.status).toBe(202);
      clicks.push(res.body.id as string);
    }
    await eventually(
      async () => (await t.db.query(`SELECT count(*)::int AS n FROM click_verdicts WHERE click_id = ANY($1)`, [clicks])).rows[0].n,
      (n) => n === 7,
    );
    const policy = {
      id: 'bad-subs',
      entity: 'subId',
      metric: 'invalidRate',
      minSample: 5,
      windowHours: 1,
      maxRate: 0.5,
      blockOn: 'offer',
      blockHours: 24,
    };
    expect((await call(t.api, 'PUT', `/v1/admin/rulesets/offers/${a.offerId}`, ADMIN_KEY, { enforcement: [policy] })).status).toBe(200);
    const [block] = await eventually(
      async () =>
        (await call(t.api, 'GET', `/v1/admin/enforcement/blocks?publisherId=${a.publisherId}`, ADMIN_KEY)).body as { id: string }[],
      (b) => b.length > 0,
      30_000,
    );

    const admin = await csv(t.api, '/v1/admin/enforcement/blocks', ADMIN_KEY);
    expect(admin.text.split('\n')[0]).toBe(
      'id,publisherId,subId,offerId,policy,status,createdAt,until,reason.code,reason.message,evidence',
    );
    expect(admin.rows.find((r) => r.id === block.id)).toMatchObject({
      publisherId: a.publisherId,
      subId: 'bad',
      status: 'active',
      'reason.code': 'ENFORCEMENT_BLOCK',
    });
    expect(JSON.parse(admin.rows.find((r) => r.id === block.id)!.evidence)).toMatchObject({ metric: 'invalidRate', sample: 7 });
    const own = await csv(t.api, '/v1/publisher/blocks', a.publisherKey);
    expect(own.text.split('\n')[0]).toBe('id,offerId,subId,since,until,reason.code,reason.title,reason.message,reason.evidence');
    expect(own.rows.map((r) => [r.id, r.subId])).toEqual([[block.id, 'bad']]);
    const other = await csv(t.api, '/v1/publisher/blocks', b.publisherKey);
    expect(other.rows).toEqual([]);
    expect(other.text).not.toContain(block.id);
  });
});
