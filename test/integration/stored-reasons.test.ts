import type { Pool } from 'pg';
import {
  ClickVerdict,
  REASON_CODES,
  Reason,
  StoredClickVerdict,
  compiled,
  decodeOutcomeItem,
  encodeOutcomeItem,
  encodeOutcomeItemWith,
  storedReasons,
} from '@app/contracts';
import type { Evidence } from '@app/contracts';
import { ScoringEngine } from '@app/decisions';
import { DEFAULT_RULESET } from '@app/rules';
import { aCatalog, aClick, aReason, createTestDatabase } from '@app/testing';
import { EmbeddedDatabase, OutcomeRepository, QueryRepository, createPool, migrate } from '@app/storage';
import { PUBLISHER_REJECTION_CSV, publisherRejection } from '../../apps/api/src/publisher/publisher-view';

/**
 * Click verdicts' reasons stored without what the reason-code catalogue gives back (session 9,
 * issue 19): the scorer sends them so on VERDICTS, the recorder checks them against its own schema
 * and writes them as they came, and the repositories read them back whole. What a reader is served
 * must be what it was served when the same reasons were stored whole, byte for byte.
 */
describe('click verdicts’ reasons stored without their derivable text', () => {
  const engine = new ScoringEngine(DEFAULT_RULESET);
  const catalog = aCatalog();
  const recorderCheck = compiled(StoredClickVerdict);
  const publisherId = `stored-reasons-${process.pid}`;
  let run = 0;

  const contributions = [
    { feature: 'sub_id_cr_vs_network_7d', value: 2.5, typicalLegit: 0.75, contribution: 0.1234 },
    { feature: 'rules_risk', value: null, typicalLegit: 0, contribution: 0.05 },
    { feature: 'payout_share', value: 0.1, typicalLegit: 0.1, contribution: -0.02 },
  ];
  const explained = {
    probability: 0.93,
    threshold: 0.5,
    model: 'sim-default-4',
    authority: 'advisory',
    basis: "trained on simulated traffic, not this network's labels",
    explanation: 'per-event',
    bias: 0.33,
    contributions,
    drivers: 'sub_id_cr_vs_network_7d 2.5 (legitimate typically 0.75) +0.1234; rules_risk unknown (legitimate typically 0) +0.05',
  };
  const unexplained = { ...explained, explanation: 'none', drivers: 'ip_clicks_1h, ctit_log_seconds' };
  delete (unexplained as Partial<typeof explained>).bias;
  delete (unexplained as Partial<typeof explained>).contributions;

  /** Invalid verdicts the engine built, with a MODEL_RISK of each kind and a message from an older release. */
  function verdicts(): ClickVerdict[] {
    return [
      [aReason('MODEL_RISK', explained)],
      [aReason('MODEL_RISK', unexplained, { monitorOnly: true })],
      [aReason('IP_VELOCITY', { window: 'minute', count: 37, limit: 20 }, { message: 'Too many clicks from this IP (release 0.9).' })],
    ].map((extra) => {
      const click = aClick({ userAgent: 'curl/8.4.0', publisherId, id: `stored-reasons-${process.pid}-${run++}` });
      const verdict = engine.scoreClick(click, catalog, Date.parse(click.receivedAt));
      expect(verdict.valid).toBe(false);
      return { ...verdict, reasons: [...verdict.reasons, ...extra] };
    });
  }

  /** As the recorder gets it: one outcome item, decoded and checked against its schema. */
  function received(item: string): StoredClickVerdict {
    const checked = recorderCheck.check(decodeOutcomeItem(item));
    if (!checked.ok) throw new Error(JSON.stringify(checked.errors));
    return checked.value;
  }

  async function servedAndStored(pool: Pool) {
    await migrate(pool);
    const outcomes = new OutcomeRepository(pool);
    const query = new QueryRepository(pool);
    const built = verdicts();
    // The same verdicts twice: stored whole (as before) and as the scorer now sends them.
    const whole = built.map((v) => ({ ...v, clickId: `${v.clickId}-whole` }));
    const slim = built.map((v) => received(encodeOutcomeItemWith(v, storedReasons(v.reasons))));
    // A slim reason passes only the recorder's schema, not the published contract.
    expect(compiled(ClickVerdict).check(slim[0]).ok).toBe(false);
    await outcomes.insert([...whole.map((v) => received(encodeOutcomeItem(v))), ...slim]);

    const from = new Date(Date.parse(built[0].ts) - 60_000);
    const page = await query.rejections({ publisherId, from, to: new Date(from.getTime() + 3_600_000), kind: 'click', limit: 100 });
    const byId = new Map(page.items.map((r) => [r.id, r.reasons]));
    for (const v of built) {
      const served = byId.get(v.clickId)!;
      // Byte for byte what the same reasons stored whole are served as (jsonb's key order)…
      expect(JSON.stringify(served)).toBe(JSON.stringify(byId.get(`${v.clickId}-whole`)));
      // …which is the outcome the engine built.
      expect(served).toEqual(v.reasons);
    }
    const { rows } = await pool.query<{ slim: boolean; bytes: number }>(
      `SELECT click_id NOT LIKE '%-whole' AS slim, avg(pg_column_size(reasons))::float8 AS bytes
         FROM click_verdicts WHERE publisher_id = $1 GROUP BY 1 ORDER BY 1`,
      [publisherId],
    );
    expect(rows[1].bytes).toBeLessThan(rows[0].bytes * 0.8);
  }

  it('on PostgreSQL', async () => {
    const target = await createTestDatabase();
    const pool = createPool({ url: target.url, max: 2, applicationName: 'stored-reasons-test' });
    try {
      await servedAndStored(pool);
    } finally {
      await pool.end();
      await target.drop();
    }
  });

  it('serves a slim reason of a code this release does not know (a later release’s, after a rollback) on the publisher’s page and CSV', async () => {
    const target = await createTestDatabase();
    const pool = createPool({ url: target.url, max: 2, applicationName: 'stored-reasons-test' });
    try {
      await migrate(pool);
      const [v] = verdicts();
      const later = { code: 'LATER_CODE', severity: 'high', evidence: { ip: '198.51.100.7', n: 3 }, monitorOnly: false };
      // As a later release's recorder wrote it (this release's schema refuses the code).
      await new OutcomeRepository(pool).insert([{ ...v, reasons: [later, ...storedReasons(v.reasons)] } as unknown as StoredClickVerdict]);
      const from = new Date(Date.parse(v.ts) - 60_000);
      const page = await new QueryRepository(pool).rejections({
        publisherId,
        from,
        to: new Date(from.getTime() + 3_600_000),
        kind: 'click',
        limit: 10,
      });
      const row = publisherRejection(page.items[0]);
      expect(row.reasons[0]).toEqual({
        code: 'LATER_CODE',
        title: 'LATER_CODE',
        category: null,
        message: expect.stringContaining('LATER_CODE'),
        evidence: { ip: '198.51.100.x', n: 3 },
      });
      expect(row.reasons.slice(1).map((r) => r.code)).toEqual(v.reasons.filter((r) => !r.monitorOnly).map((r) => r.code));
      const messages = PUBLISHER_REJECTION_CSV.find((c) => c.header === 'messages')!.value(row) as string;
      expect(messages).toContain('LATER_CODE');
    } finally {
      await pool.end();
      await target.drop();
    }
  });

  it('on the embedded database (PGlite)', async () => {
    const db = await EmbeddedDatabase.start();
    const pool = createPool({ url: db.url, max: 2, applicationName: 'stored-reasons-test' });
    try {
      await servedAndStored(pool);
    } finally {
      await pool.end();
      await db.stop();
    }
  });
});
