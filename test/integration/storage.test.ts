import { Pool } from 'pg';
import {
  ClickVerdict,
  Decision,
  compiled,
  decodeOutcomeItem,
  encodeOutcomeItem,
  encodedReasons,
  mintClickId,
  outcomeItemTexts,
  outcomeItemsBody,
} from '@app/contracts';
import {
  ClickRepository,
  EmbeddedDatabase,
  EventRepository,
  MIGRATIONS,
  OutcomeRepository,
  ShadowOutcomeRepository,
  createPool,
  migrate,
} from '@app/storage';
import { aClick, aConversion, aReason, at, createTestDatabase } from '@app/testing';

/** The storage layer on both targets: plain PostgreSQL 15 and TimescaleDB (PGlite build). */
type Target = { name: string; dialect: 'postgres' | 'timescaledb'; setup(): Promise<{ url: string; teardown(): Promise<void> }> };

const targets: Target[] = [
  {
    name: 'PostgreSQL 15',
    dialect: 'postgres',
    setup: async () => {
      const db = await createTestDatabase();
      return { url: db.url, teardown: db.drop };
    },
  },
  {
    name: 'TimescaleDB (PGlite)',
    dialect: 'timescaledb',
    setup: async () => {
      const db = await EmbeddedDatabase.start();
      return { url: db.url, teardown: () => db.stop() };
    },
  },
];

describe.each(targets)('storage on $name', ({ dialect, setup }) => {
  let pool: Pool;
  let teardown: () => Promise<void>;

  beforeAll(async () => {
    const target = await setup();
    teardown = target.teardown;
    pool = createPool({ url: target.url, max: 4, applicationName: 'storage-test' });
  });
  afterAll(async () => {
    await pool.end();
    await teardown();
  });

  it('applies the migrations, then finds nothing to do the second time', async () => {
    const first = await migrate(pool);
    expect(first.dialect).toBe(dialect);
    expect(first.applied.length).toBeGreaterThan(0);
    const second = await migrate(pool);
    expect(second.applied).toEqual([]);
    expect(second.alreadyApplied.sort()).toEqual(first.applied.sort());
  });

  it(dialect === 'timescaledb' ? 'makes the event and outcome tables hypertables' : 'keeps plain tables under the same names', async () => {
    const tables = ['clicks', 'conversions', 'feedback', 'click_verdicts', 'decisions', 'shadow_outcomes'];
    const { rows } = await pool.query(`SELECT tablename FROM pg_tables WHERE tablename = ANY ($1)`, [tables]);
    expect(rows.map((r) => r.tablename).sort()).toEqual([...tables].sort());
    if (dialect === 'timescaledb') {
      const hyper = await pool.query(`SELECT hypertable_name FROM timescaledb_information.hypertables`);
      expect(hyper.rows.map((r) => r.hypertable_name).sort()).toEqual([...tables].sort());
    }
  });

  it('indexes the recorded tables only as their readers need: every row pays for each index', async () => {
    const { rows } = await pool.query<{ tablename: string; indexname: string }>(
      `SELECT tablename, indexname FROM pg_indexes WHERE tablename = ANY ($1) ORDER BY 1, 2`,
      [['clicks', 'click_verdicts', 'feedback']],
    );
    // Clicks by id (their key), by time and by receipt (history in stream order, a page at a time);
    // a publisher's clicks are read through their verdicts.
    expect(rows.filter((r) => r.tablename === 'clicks').map((r) => r.indexname)).toEqual([
      'clicks_id_ts_key',
      'clicks_received_at_idx',
      'clicks_ts_idx',
    ]);
    expect(rows.filter((r) => r.tablename === 'click_verdicts').map((r) => r.indexname)).toEqual([
      'click_verdicts_click_ts_key',
      'click_verdicts_publisher_ts_idx',
      'click_verdicts_ts_idx',
    ]);
    // Feedback by conversion (a conversion's latest word) and by time (`train --from-db` reads the
    // history in time order a page at a time; on plain PostgreSQL since 0029, which dropped its BRIN one).
    expect(rows.filter((r) => r.tablename === 'feedback').map((r) => r.indexname)).toEqual(['feedback_conversion_idx', 'feedback_ts_idx']);
  });

  it('writes a batch of events once, however often it is delivered', async () => {
    const sut = new EventRepository(pool);
    const click = aClick();
    const conversion = aConversion(click, { orderId: 'o-1', amount: 19.99 });
    const first = await sut.insert([click, conversion, click]); // the same click twice in one batch
    expect(first).toEqual({ clicks: 1, conversions: 1, feedback: 0 });
    const again = await sut.insert([click, conversion]);
    expect(again).toEqual({ clicks: 0, conversions: 0, feedback: 0 });
    // Re-sent later without a client timestamp: another receive time, same id — still once.
    const resent = await sut.insert([{ ...click, ts: at(3_600_000), receivedAt: at(3_600_000) }]);
    expect(resent.clicks).toBe(0);
    const { rows } = await pool.query(`SELECT count(*)::int AS n, min(amount)::float AS amount FROM conversions WHERE id = $1`, [
      conversion.id,
    ]);
    expect(rows[0]).toEqual({ n: 1, amount: 19.99 });
    expect((await pool.query(`SELECT count(*)::int AS n FROM clicks WHERE id = $1`, [click.id])).rows[0].n).toBe(1);
  });

  it('writes a click the engine minted once on its (id, ts) key, without a ledger entry, and its verdict likewise', async () => {
    const events = new EventRepository(pool);
    const outcomes = new OutcomeRepository(pool);
    // Text that COPY's format must escape, JSON and an array: stored as given (both databases write by COPY).
    const click = aClick({ id: mintClickId(0), idMinted: true, userAgent: 'Mozilla\t5.0\\x\n"y"\r', subIds: { sub1: 'a,b' } });
    const verdict = aVerdict(click.id, click.ts, {
      idMinted: true,
      valid: false,
      reasons: [{ code: 'IP_VELOCITY', category: 'SIVT', severity: 'high', message: 'm\tn', evidence: { count: 21 }, monitorOnly: false }],
    });
    expect(await events.insert([click, click])).toEqual({ clicks: 1, conversions: 0, feedback: 0 });
    expect(await events.insert([click])).toEqual({ clicks: 0, conversions: 0, feedback: 0 }); // redelivered
    // A batch of which a part was stored before (a recorder stopped after its commit, before its ack).
    const next = aClick({ id: mintClickId(0), idMinted: true });
    expect(await events.insert([next, click])).toEqual({ clicks: 1, conversions: 0, feedback: 0 });
    expect(await outcomes.insert([verdict, verdict])).toEqual({ verdicts: 1, decisions: 0, revisions: 0 });
    expect(await outcomes.insert([{ ...verdict, decidedAt: at(99) }])).toEqual({ verdicts: 0, decisions: 0, revisions: 0 }); // scored again
    const ledger = await pool.query(`SELECT count(*)::int AS n FROM ingest_ledger WHERE id = $1`, [click.id]);
    expect(ledger.rows[0].n).toBe(0);
    // A sender sends the id it was answered, later, with another time (a file exported and replayed):
    // the ledger knows nothing of it, the stored click under the engine's key stops it.
    const resent = { ...click, idMinted: undefined, ts: at(7_200_000), receivedAt: at(7_200_000) };
    expect(await events.insert([resent])).toEqual({ clicks: 0, conversions: 0, feedback: 0 });
    expect(await outcomes.insert([aVerdict(click.id, resent.ts)])).toEqual({ verdicts: 0, decisions: 0, revisions: 0 });
    const stored = await pool.query(`SELECT user_agent, sub_ids, ts FROM clicks WHERE id = $1`, [click.id]);
    expect(stored.rows).toEqual([{ user_agent: click.userAgent, sub_ids: { sub1: 'a,b' }, ts: new Date(click.ts) }]);
    const verdicts = await pool.query(`SELECT valid, reason_codes, reasons FROM click_verdicts WHERE click_id = $1`, [click.id]);
    expect(verdicts.rows).toEqual([{ valid: false, reason_codes: ['IP_VELOCITY'], reasons: verdict.reasons }]);
  });

  it('writes the reasons of outcomes that came as outcome items from the text it parsed: as the scorer made them, whatever a sender put in them', async () => {
    const sut = new OutcomeRepository(pool);
    // What a sender chooses (a sub-id, echoed in evidence and messages), with everything the item and COPY framings use.
    const hostile = 'a\tb\nc\u001ed\\e"f\\t\\n","reasons":0\t[{"code":"X"}]\r\u2028é';
    const reasons = (n: number) => [
      {
        code: 'IP_VELOCITY' as const,
        category: 'SIVT' as const,
        severity: 'high' as const,
        message: `sub-id ${hostile} ${n}`,
        evidence: { subId: hostile, [hostile]: n, count: 21 },
        monitorOnly: false,
      },
    ];
    const minted = aVerdict(mintClickId(0), at(0), { idMinted: true, subId: hostile, valid: false, reasons: reasons(1) });
    const chosen = aVerdict(`chosen-${hostile.length}-${Date.now()}`, at(0), { subId: hostile, valid: false, reasons: reasons(2) });
    const decision = aDecision(chosen, { subId: hostile, status: 'rejected', reasons: reasons(3) });
    const revised = {
      ...decision,
      revision: 1,
      previousStatus: 'rejected' as const,
      status: 'approved' as const,
      resolvedBy: 'analyst' as const,
      reasons: reasons(4),
    };
    const sent = [minted, chosen, decision, revised];
    const received = outcomeItemTexts(outcomeItemsBody(sent.map((o) => encodeOutcomeItem(o)))).map(decodeOutcomeItem);
    expect(received.map((o) => compiled(o.kind === 'click' ? ClickVerdict : Decision).check(o).ok)).toEqual([true, true, true, true]);
    expect(received.map((o) => encodedReasons(o.reasons))).toEqual(sent.map((o) => JSON.stringify(o.reasons)));
    await sut.insert(received.slice(0, 3) as (ClickVerdict | Decision)[]);
    await sut.insert(received.slice(3) as Decision[]);
    const verdicts = await pool.query(`SELECT click_id, reasons FROM click_verdicts WHERE click_id = ANY($1) ORDER BY click_id = $2 DESC`, [
      [minted.clickId, chosen.clickId],
      minted.clickId,
    ]);
    expect(verdicts.rows.map((r) => r.reasons)).toEqual([minted.reasons, chosen.reasons]);
    const stored = await pool.query(`SELECT reasons, revision FROM decisions WHERE conversion_id = $1`, [decision.conversionId]);
    expect(stored.rows).toEqual([{ reasons: revised.reasons, revision: 1 }]);
  });

  it('reads back a verdict whose reasons the database compressed, as it was written', async () => {
    const outcomes = new OutcomeRepository(pool);
    const click = aClick({ id: mintClickId(0), idMinted: true });
    // Over 2 KB, like one verdict in eight with the model's contributions: the row is compressed.
    const reasons = Array.from({ length: 12 }, (_, i) => ({
      code: 'MODEL_RISK' as const,
      category: 'SIVT' as const,
      severity: 'high' as const,
      message: `The fraud model rates this ${i} % likely fraudulent; what raised this event's score most: rules_risk 0.75 +0.2909`,
      evidence: { probability: 0.8125 + i, contributions: [{ feature: 'ip_datacenter', value: 1, contribution: 0.1838 }] },
      monitorOnly: false,
    }));
    await outcomes.insert([aVerdict(click.id, click.ts, { idMinted: true, valid: false, reasons })]);
    const { rows } = await pool.query(
      `SELECT reasons, pg_column_compression(reasons) AS compression FROM click_verdicts WHERE click_id = $1`,
      [click.id],
    );
    expect(rows[0].reasons).toEqual(reasons);
    // Plain PostgreSQL built with LZ4 (the distributions' packages): LZ4, which costs the writer a
    // fifth less CPU per verdict than pglz (issue 19); built without, pglz as before (migration 0019
    // leaves the column alone). TimescaleDB's hypertables keep their own.
    const lz4 = (
      await pool.query<{ lz4: boolean }>(`SELECT 'lz4' = ANY (enumvals) AS lz4 FROM pg_settings WHERE name = 'default_toast_compression'`)
    ).rows[0].lz4;
    if (dialect === 'postgres') expect(rows[0].compression).toBe(lz4 ? 'lz4' : 'pglz');
  });

  it('writes verdicts and decisions once and reads a decision back as it was published', async () => {
    const sut = new OutcomeRepository(pool);
    const click = aClick();
    const verdict = aVerdict(click.id, click.ts, {
      subId: 's1',
      valid: false,
      score: 0.75,
      category: 'SIVT',
      reasons: [
        {
          code: 'IP_VELOCITY',
          category: 'SIVT',
          severity: 'high',
          message: 'm',
          evidence: { count: 21, limit: 20, window: 'minute' },
          monitorOnly: false,
        },
      ],
    });
    const decision = aDecision(verdict, {
      status: 'rejected',
      score: 1,
      reasons: [
        {
          code: 'INVALID_SOURCE_CLICK',
          category: 'SIVT',
          severity: 'high',
          message: 'm',
          evidence: { clickReasons: 'IP_VELOCITY' },
          monitorOnly: false,
        },
      ],
    });
    expect(await sut.insert([verdict, decision])).toEqual({ verdicts: 1, decisions: 1, revisions: 0 });
    expect(await sut.insert([verdict, decision, decision])).toEqual({ verdicts: 0, decisions: 0, revisions: 0 });
    expect(await sut.findDecision(decision.conversionId)).toEqual(decision);
    expect(await sut.findDecision(decision.conversionId, { advertiserId: 'someone-else' })).toBeNull();
    const codes = await pool.query(`SELECT reason_codes FROM click_verdicts WHERE click_id = $1`, [click.id]);
    expect(codes.rows[0].reason_codes).toEqual(['IP_VELOCITY']);
  });

  it('tells which clicks of a redelivery have a verdict recorded (minted ids and chosen ones), and which conversions a decision', async () => {
    const sut = new OutcomeRepository(pool);
    const minted = aClick({ id: mintClickId(0) });
    const chosen = aClick();
    const missing = aClick();
    const verdict = aVerdict(minted.id, minted.ts, { idMinted: true });
    await sut.insert([verdict, aVerdict(chosen.id, chosen.ts), aDecision(verdict)]);
    const asked = [minted, chosen, missing].map((c) => ({ id: c.id, ts: c.ts }));
    expect(await sut.recordedVerdicts(asked)).toEqual(new Set([minted.id, chosen.id]));
    expect(await sut.recordedVerdicts([])).toEqual(new Set());
    // A chosen id sent again through the gateway has a new time (its receipt): found by the time it was first held at.
    const later = new Date(Date.parse(chosen.ts) + 5 * 60_000).toISOString();
    const resent = [
      { id: chosen.id, ts: later },
      { id: chosen.id, ts: chosen.ts },
    ];
    expect(await sut.recordedVerdicts(resent)).toEqual(new Set([chosen.id]));
    // Matched pair by pair: not with another click's time of the batch.
    const other = aClick({ id: mintClickId(0), ts: later });
    const pairs = [
      { id: minted.id, ts: later },
      { id: other.id, ts: minted.ts },
    ];
    expect(await sut.recordedVerdicts(pairs)).toEqual(new Set());
    expect(await sut.decidedConversions([aDecision(verdict).conversionId, 'conv-none'])).toEqual(
      new Set([aDecision(verdict).conversionId]),
    );
  });

  it('keeps the first copy of an outcome that comes twice in one batch (re-scored after a crash): the one the notifier delivered', async () => {
    const sut = new OutcomeRepository(pool);
    const click = aClick();
    const verdict = aVerdict(click.id, click.ts, { score: 0.1 });
    const decision = aDecision(verdict);
    const rescored = { verdict: { ...verdict, valid: false, score: 0.9 }, decision: { ...decision, status: 'hold' as const, score: 0.6 } };
    expect(await sut.insert([verdict, decision, rescored.verdict, rescored.decision])).toEqual({ verdicts: 1, decisions: 1, revisions: 0 });
    expect(await sut.findDecision(decision.conversionId)).toMatchObject({ status: 'approved', score: decision.score });
    const stored = await pool.query(`SELECT valid FROM click_verdicts WHERE click_id = $1`, [click.id]);
    expect(stored.rows).toEqual([{ valid: true }]);
  });

  it('moves a decision forward through its revisions, whatever order they arrive in, and audits them', async () => {
    const sut = new OutcomeRepository(pool);
    const base: Decision = {
      kind: 'conversion',
      conversionId: `held-${Date.now()}-${Math.random()}`,
      clickId: 'c',
      ts: at(0),
      offerId: 'o',
      publisherId: 'p',
      advertiserId: 'a',
      subId: null,
      status: 'hold',
      score: 0.4,
      amount: 10,
      revenue: 10,
      payout: 1,
      currency: 'USD',
      ctitSeconds: 30,
      reasons: [{ code: 'GEO_MISMATCH', category: 'SIVT', severity: 'medium', message: 'm', evidence: {}, monitorOnly: false }],
      revision: 0,
      previousStatus: null,
      resolvedBy: 'engine',
      holdUntil: at(86_400_000),
      note: null,
      actor: null,
      partition: 3,
      rulesetVersion: 'v1',
      modelVersion: null,
      modelScore: null,
      shadowModelVersion: null,
      shadowScore: null,
      decidedAt: at(10),
      latencyMs: 10,
    };
    const approved: Decision = {
      ...base,
      revision: 1,
      previousStatus: 'hold',
      status: 'approved',
      resolvedBy: 'timer',
      holdUntil: null,
      decidedAt: at(86_400_001),
    };
    const rejected: Decision = {
      ...approved,
      revision: 2,
      previousStatus: 'approved',
      status: 'rejected',
      resolvedBy: 'advertiser',
      note: 'chargeback',
      actor: 'key-7',
      decidedAt: at(90_000_000),
    };
    await sut.insert([base]);
    expect((await sut.findOpenHolds([3])).map((d) => d.conversionId)).toContain(base.conversionId);
    expect(await sut.findOpenHolds([4])).not.toContainEqual(expect.objectContaining({ conversionId: base.conversionId }));
    await sut.insert([rejected]); // overtakes revision 1
    await sut.insert([approved, base]); // late arrivals change nothing
    expect(await sut.findDecision(base.conversionId)).toEqual(rejected);
    const audit = await pool.query(
      `SELECT revision, from_status, to_status, resolved_by, note FROM decision_transitions WHERE conversion_id = $1 ORDER BY revision`,
      [base.conversionId],
    );
    expect(audit.rows).toEqual([
      { revision: 1, from_status: 'hold', to_status: 'approved', resolved_by: 'timer', note: null },
      { revision: 2, from_status: 'approved', to_status: 'rejected', resolved_by: 'advertiser', note: 'chargeback' },
    ]);
    expect((await sut.findOpenHolds([3])).map((d) => d.conversionId)).not.toContain(base.conversionId);
  });

  it('finds a stored click with its verdict and how often it converted', async () => {
    const events = new EventRepository(pool);
    const clicks = new ClickRepository(pool);
    const click = aClick({ subId: 'sub-9' });
    await events.insert([click]);
    expect(await clicks.findClick(click.id)).toMatchObject({ id: click.id, subId: 'sub-9', valid: null, conversions: 0 });
    expect(await clicks.findClick('no-such-click')).toBeNull();
    // Counted as the scoring engine credits them: not a duplicate, nor a conversion that was not the
    // click's offer's to report (another advertiser's, which would otherwise use the click up).
    const verdict = aVerdict(click.id, click.ts);
    const rejected = (id: string, code: 'DUPLICATE_CONVERSION' | 'OFFER_MISMATCH') =>
      aDecision(verdict, { conversionId: id, status: 'rejected', reasons: [aReason(code, {})] });
    await new OutcomeRepository(pool).insert([
      verdict,
      rejected('cnv-foreign', 'OFFER_MISMATCH'),
      rejected('cnv-again', 'DUPLICATE_CONVERSION'),
      aDecision(verdict, { conversionId: 'cnv-own' }),
    ]);
    expect(await clicks.findClick(click.id)).toMatchObject({ id: click.id, conversions: 1 });
  });
});

describe.each(targets)('migration 0014 on existing data, $name', ({ setup }) => {
  it('keeps one copy of a click and a verdict stored twice with the same id and time, then enforces the key', async () => {
    const target = await setup();
    const pool = createPool({ url: target.url, max: 2, applicationName: 'storage-test' });
    try {
      const upTo = MIGRATIONS.findIndex((m) => m.id === '0014-minted-id-keys');
      await migrate(pool, MIGRATIONS.slice(0, upTo));
      const before = new EventRepository(pool);
      const twice = aClick();
      const once = aClick();
      await before.insert([twice, once]);
      await new OutcomeRepository(pool).insert([aVerdict(twice.id, twice.ts)]);
      // What a pruned ledger let through: the same click and verdict again, same time.
      await pool.query(`INSERT INTO clicks SELECT * FROM clicks WHERE id = $1`, [twice.id]);
      await pool.query(`INSERT INTO click_verdicts SELECT * FROM click_verdicts WHERE click_id = $1`, [twice.id]);
      expect((await migrate(pool)).applied).toContain('0014-minted-id-keys');
      const counts = await pool.query(
        `SELECT (SELECT count(*)::int FROM clicks WHERE id = $1) AS twice, (SELECT count(*)::int FROM clicks WHERE id = $2) AS once,
                (SELECT count(*)::int FROM click_verdicts WHERE click_id = $1) AS verdicts`,
        [twice.id, once.id],
      );
      expect(counts.rows[0]).toEqual({ twice: 1, once: 1, verdicts: 1 });
      await expect(pool.query(`INSERT INTO clicks SELECT * FROM clicks WHERE id = $1`, [once.id])).rejects.toThrow(
        /clicks_id_ts_key|duplicate key/,
      );
    } finally {
      await pool.end();
      await target.teardown();
    }
  });
});

function aVerdict(clickId: string, ts: string, overrides: Partial<ClickVerdict> = {}): ClickVerdict {
  return {
    kind: 'click',
    clickId,
    ts,
    offerId: 'offer-1',
    publisherId: 'pub-1',
    advertiserId: 'adv-1',
    subId: null,
    valid: true,
    score: 0,
    category: null,
    reasons: [],
    rulesetVersion: 'builtin-1',
    modelVersion: null,
    modelScore: null,
    shadowModelVersion: null,
    shadowScore: null,
    decidedAt: at(10),
    latencyMs: 10,
    ...overrides,
  };
}

/** The approved decision of a conversion on `verdict`'s click, a minute later. */
function aDecision(verdict: ClickVerdict, overrides: Partial<Decision> = {}): Decision {
  return {
    kind: 'conversion',
    conversionId: `cnv-${verdict.clickId}`,
    clickId: verdict.clickId,
    ts: at(60_000),
    offerId: verdict.offerId,
    publisherId: verdict.publisherId,
    advertiserId: verdict.advertiserId,
    subId: verdict.subId,
    status: 'approved',
    score: verdict.score,
    amount: 100,
    revenue: 100,
    payout: 12.5,
    currency: 'EUR',
    ctitSeconds: 60,
    revision: 0,
    previousStatus: null,
    resolvedBy: 'engine',
    holdUntil: null,
    note: null,
    actor: null,
    partition: 0,
    reasons: [],
    rulesetVersion: verdict.rulesetVersion,
    modelVersion: null,
    modelScore: null,
    shadowModelVersion: null,
    shadowScore: null,
    decidedAt: at(60_050),
    latencyMs: 50,
    ...overrides,
  };
}

/**
 * The admin's shadow report (`GET /v1/admin/rulesets/shadow`): its summary and its examples come from
 * one snapshot. On PostgreSQL only: PGlite serves one transaction at a time, so nothing can be
 * written between the two reads there.
 */
describe('shadow report on PostgreSQL 15', () => {
  let db: { url: string; drop(): Promise<void> };
  let pool: Pool;
  let writer: Pool;
  beforeAll(async () => {
    db = await createTestDatabase();
    pool = createPool({ url: db.url, max: 2, applicationName: 'storage-test' });
    writer = createPool({ url: db.url, max: 1, applicationName: 'storage-test-writer' });
    await migrate(pool);
  });
  afterAll(async () => {
    await pool.end();
    await writer.end();
    await db.drop();
  });

  const disagreement = (i: number) => ({
    eventId: `ev-${i}`,
    kind: 'click' as const,
    ts: at(i * 1000),
    decidedAt: at(i * 1000 + 5),
    publisherId: 'pub',
    offerId: 'offer',
    advertiserId: 'adv',
    activeVersion: '7',
    shadowVersion: 'shadow-7',
    activeStatus: 'valid',
    shadowStatus: 'invalid',
    agree: false,
    activeCodes: [],
    shadowCodes: ['IP_VELOCITY'],
    payout: null,
  });

  it('counts exactly the disagreements it lists, while the scorer records more between its reads', async () => {
    await new ShadowOutcomeRepository(writer).insert([disagreement(1)]);
    // After the report's first read, the scorer records another disagreement (committed at once).
    const connect = pool.connect.bind(pool);
    const spy = jest.spyOn(pool, 'connect').mockImplementation(async () => {
      const client = await connect();
      const query = client.query.bind(client) as (...args: unknown[]) => Promise<unknown>;
      let reads = 0;
      (client as unknown as { query: unknown }).query = async (...args: unknown[]) => {
        const result = await query(...args);
        if (/FROM shadow_outcomes/.test(String(args[0])) && ++reads === 1)
          await new ShadowOutcomeRepository(writer).insert([disagreement(2)]);
        return result;
      };
      return client;
    });
    try {
      const { summary, examples } = await new ShadowOutcomeRepository(pool).report('shadow-7', 50);
      expect(examples.map((e) => e.eventId)).toEqual(['ev-1']);
      expect(summary).toMatchObject({ events: 1, disagreements: 1 });
    } finally {
      spy.mockRestore();
    }
    const after = await new ShadowOutcomeRepository(writer).report('shadow-7', 50);
    expect(after.summary.disagreements).toBe(2);
    expect(after.examples).toHaveLength(2);
  });
});
