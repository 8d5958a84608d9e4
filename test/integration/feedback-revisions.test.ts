import type { Pool } from 'pg';
import { Decision } from '@app/contracts';
import { createTestDatabase, uid } from '@app/testing';
import { EmbeddedDatabase, MIGRATIONS, OutcomeRepository, createPool, migrate } from '@app/storage';

/**
 * A feedback revision is stored with the feedback that made it (migration 0027): a restarted scorer
 * finds a redelivered feedback's revision there and does not apply it again (docs/trust.md). On the
 * PostgreSQL server and on the embedded database alike.
 */
describe.each([
  [
    'PostgreSQL',
    async () => {
      const db = await createTestDatabase();
      return { url: db.url, stop: db.drop };
    },
  ],
  [
    'the embedded database (PGlite)',
    async () => {
      const db = await EmbeddedDatabase.start();
      return { url: db.url, stop: () => db.stop() };
    },
  ],
])('feedback revisions on %s', (_name, open) => {
  let pool: Pool;
  let stop: () => Promise<void>;
  let sut: OutcomeRepository;

  beforeAll(async () => {
    const db = await open();
    stop = db.stop;
    pool = createPool({ url: db.url, max: 2, applicationName: 'feedback-revisions-test' });
    await migrate(pool);
    sut = new OutcomeRepository(pool);
  });
  afterAll(async () => {
    await pool.end();
    await stop();
  });

  function decision(conversionId: string, overrides: Partial<Decision> = {}): Decision {
    const ts = new Date().toISOString();
    return {
      kind: 'conversion',
      conversionId,
      clickId: uid('click'),
      ts,
      offerId: 'o1',
      publisherId: 'p1',
      advertiserId: 'a1',
      subId: null,
      status: 'approved',
      score: 0.1,
      reasons: [],
      amount: 10,
      revenue: 10,
      payout: 5,
      currency: 'USD',
      ctitSeconds: 30,
      revision: 0,
      previousStatus: null,
      resolvedBy: 'engine',
      holdUntil: null,
      note: null,
      actor: null,
      partition: 0,
      rulesetVersion: 'v1',
      modelVersion: null,
      modelScore: null,
      shadowModelVersion: null,
      shadowScore: null,
      decidedAt: ts,
      latencyMs: 1,
      ...overrides,
    };
  }
  const revision = (first: Decision, revision: number, status: Decision['status'], feedbackId?: string): Decision => ({
    ...first,
    revision,
    previousStatus: first.status,
    status,
    resolvedBy: feedbackId ? 'analyst' : 'timer',
    ...(feedbackId ? { feedbackId } : {}),
  });

  it('finds the feedback that made a recorded revision, by conversion and id, and nothing else', async () => {
    const conversion = uid('conv');
    const other = uid('conv');
    const first = decision(conversion);
    const rejection = uid('fb');
    const approval = uid('fb');
    await sut.insert([first, decision(other)]);
    await sut.insert([revision(first, 1, 'rejected', rejection), revision(first, 2, 'approved', approval)]);
    // Stored a second time (a publish that timed out and was sent again past the de-duplication window): one row.
    await sut.insert([revision(first, 1, 'rejected', rejection)]);

    const found = await sut.recordedFeedback([
      { conversionId: conversion, id: rejection },
      { conversionId: conversion, id: approval },
      { conversionId: other, id: rejection }, // the same id on another conversion: another feedback
      { conversionId: conversion, id: uid('fb') },
    ]);

    expect([...found].sort()).toEqual([`${conversion}\u0000${approval}`, `${conversion}\u0000${rejection}`].sort());
    const { rows } = await pool.query('SELECT revision, feedback_id FROM decision_transitions WHERE conversion_id = $1 ORDER BY revision', [
      conversion,
    ]);
    expect(rows).toEqual([
      { revision: 1, feedback_id: rejection },
      { revision: 2, feedback_id: approval },
    ]);
    expect(await sut.findDecision(conversion)).toMatchObject({ revision: 2, status: 'approved' });
  });

  it('migrates a database holding revisions from before 0027: they keep no feedback id, so their feedback is not found (trust.md limits)', async () => {
    const db = await open();
    const older = createPool({ url: db.url, max: 2, applicationName: 'feedback-revisions-test-0027' });
    try {
      const at = MIGRATIONS.findIndex((m) => m.id === '0027-feedback-on-revisions');
      await migrate(older, MIGRATIONS.slice(0, at));
      const conversion = uid('conv');
      // A revision an analyst's feedback made, recorded by a recorder of before 0027.
      await older.query(
        `INSERT INTO decision_transitions (conversion_id, revision, ts, from_status, to_status, resolved_by, reason_codes, decided_at)
         VALUES ($1, 1, now(), 'approved', 'rejected', 'analyst', ARRAY['ANALYST_OVERRIDE'], now())`,
        [conversion],
      );
      expect((await migrate(older)).applied).toEqual(MIGRATIONS.slice(at).map((m) => m.id));

      const { rows } = await older.query('SELECT revision, feedback_id FROM decision_transitions WHERE conversion_id = $1', [conversion]);
      expect(rows).toEqual([{ revision: 1, feedback_id: null }]);
      expect(await new OutcomeRepository(older).recordedFeedback([{ conversionId: conversion, id: uid('fb') }])).toEqual(new Set());
    } finally {
      await older.end();
      await db.stop();
    }
  });

  it('keeps no feedback id on a revision that no feedback made', async () => {
    const first = decision(uid('conv'));
    await sut.insert([first, revision(first, 1, 'approved')]);
    const { rows } = await pool.query('SELECT feedback_id FROM decision_transitions WHERE conversion_id = $1', [first.conversionId]);
    expect(rows).toEqual([{ feedback_id: null }]);
    expect(await sut.recordedFeedback([])).toEqual(new Set());
  });
});
