import type { Pool } from 'pg';
import { ClickVerdict, Reason } from '@app/contracts';
import { createTestDatabase } from '@app/testing';
import { EmbeddedDatabase, MIGRATIONS, OutcomeRepository, createPool, migrate } from '@app/storage';

const FIRST_0026 = '0026-uncompressed-reasons';
const OUTCOME_TABLES = `SELECT relname, reloptions FROM pg_class WHERE relname IN ('click_verdicts', 'decisions') ORDER BY relname`;

/**
 * How verdict rows are stored (migration 0026, issue 19): on the embedded database, where PostgreSQL
 * would compress a row's `reasons` with pglz as it is written — most verdicts under load, whose model
 * and velocity reasons make rows of about 2 KB — it stores rows up to 4080 bytes as they are instead
 * (pglz was about a sixth of the CPU a verdict's COPY cost its single thread); larger rows are still
 * compressed. Rows already stored, compressed or in a compressed chunk, read back the same after the
 * migration. A PostgreSQL server keeps the default, and one that ran the first 0026 (8160 wherever
 * pglz compressed) is reset.
 */
describe('verdict rows: stored uncompressed up to 4080 bytes on the embedded database only', () => {
  let run = 0;
  /** A verdict with about 1.9 KB of reasons: a model explanation and a velocity rule, as under load. */
  function verdict(ts: Date, large = false): ClickVerdict {
    const id = `row-storage-${process.pid}-${run++}`;
    const contributions = [
      'sub_id_cr_vs_network_7d',
      'publisher_cr_vs_network_7d',
      'rules_risk',
      'seconds_since_ip_previous',
      'seconds_since_ip_offer_previous',
      ...(large ? Array.from({ length: 40 }, (_, i) => `velocity_feature_${i}_${run}`) : []),
    ].map((feature, i) => ({ feature, value: i * 1.25, typicalLegit: i * 2.5, contribution: 0.05 * i }));
    const reasons: Reason[] = [
      {
        code: 'MODEL_RISK',
        category: 'SIVT',
        severity: 'high',
        message: `The fraud model rates this ${run} % likely fraudulent, above its threshold; what raised this event's score most: ${contributions.map((c) => `${c.feature} ${c.value} (legitimate typically ${c.typicalLegit}) +${c.contribution}`).join('; ')}. It is advisory: on its own it holds for review, it does not reject.`,
        evidence: { probability: 0.5, threshold: 0.5, model: 'sim-default-4', authority: 'advisory', contributions },
        monitorOnly: false,
      },
      {
        code: 'IP_VELOCITY',
        category: 'SIVT',
        severity: 'medium',
        message: `This IP address sent ${run} clicks in the last minute, more than the 10 a person plausibly makes; clicks that come this fast are scripted or come from a shared proxy.`,
        evidence: { clicks: run, windowSeconds: 60, limit: 10, ip: '203.0.113.7', offers: 'o1,o2,o3', publishers: 'p1,p2' },
        monitorOnly: false,
      },
    ];
    return {
      kind: 'click',
      clickId: id,
      idMinted: true,
      offerId: 'row-storage-offer',
      publisherId: 'row-storage-pub',
      advertiserId: 'row-storage-adv',
      subId: 's1',
      valid: false,
      category: 'SIVT',
      score: 0.75,
      reasons,
      rulesetVersion: 'r1',
      modelVersion: 'sim-default-4',
      modelScore: 0.5,
      shadowModelVersion: null,
      shadowScore: null,
      ts: ts.toISOString(),
      decidedAt: new Date(ts.getTime() + 3).toISOString(),
      latencyMs: 1.5,
    };
  }

  /** Each verdict's stored reasons (as read back) and how its `reasons` value is compressed (null: not at all). */
  async function stored(pool: Pool, verdicts: ClickVerdict[]) {
    const { rows } = await pool.query<{ click_id: string; reasons: Reason[]; compression: string | null; bytes: number }>(
      `SELECT click_id, reasons, pg_column_compression(reasons) AS compression, pg_column_size(reasons) AS bytes
         FROM click_verdicts WHERE click_id = ANY($1::text[]) ORDER BY click_id`,
      [verdicts.map((v) => v.clickId)],
    );
    return rows;
  }

  it('on the embedded database (TimescaleDB, no LZ4): new rows up to 4080 bytes uncompressed, larger ones still compressed; rows of before 0026, and a compressed chunk, read back the same', async () => {
    const db = await EmbeddedDatabase.start();
    const pool = createPool({ url: db.url, max: 2, applicationName: 'row-storage-test' });
    try {
      await migrate(
        pool,
        MIGRATIONS.filter((m) => m.id !== '0026-embedded-uncompressed-reasons'),
      );
      const repository = new OutcomeRepository(pool);
      const old = [verdict(new Date(Date.now() - 10 * 86_400_000)), verdict(new Date(Date.now() - 10 * 86_400_000 + 1))];
      const before = [verdict(new Date()), verdict(new Date(Date.now() + 1))];
      await repository.insert([...old, ...before]);
      // Before 0026 a row of this size was compressed as it was written.
      expect((await stored(pool, before)).map((r) => r.compression)).toEqual(['pglz', 'pglz']);
      // The old rows' chunk compressed by TimescaleDB, as its policy does after 7 days on a server.
      const compressed = await pool.query(
        `SELECT compress_chunk(c) FROM show_chunks('click_verdicts', older_than => now() - INTERVAL '7 days') AS c`,
      );
      expect(compressed.rowCount).toBe(1);

      await migrate(pool);
      const { rows: options } = await pool.query(OUTCOME_TABLES);
      expect(options.map((o) => o.reloptions)).toEqual([['toast_tuple_target=4080'], ['toast_tuple_target=4080']]);
      const after = [verdict(new Date(Date.now() + 2)), verdict(new Date(Date.now() + 3))];
      const large = verdict(new Date(Date.now() + 4), true);
      await repository.insert([...after, large]);

      const rows = await stored(pool, [...old, ...before, ...after, large]);
      expect(rows.map((r) => r.reasons)).toEqual(
        [...old, ...before, ...after, large].sort((a, b) => a.clickId.localeCompare(b.clickId)).map((v) => v.reasons),
      );
      const byId = new Map(rows.map((r) => [r.click_id, r]));
      expect(after.map((v) => byId.get(v.clickId)!.compression)).toEqual([null, null]);
      // A row over 4080 bytes is compressed still (with 8160 it would take a page of its own).
      expect(JSON.stringify(large.reasons).length).toBeGreaterThan(4500);
      expect(byId.get(large.clickId)!.compression).toBe('pglz');
      expect(before.map((v) => byId.get(v.clickId)!.compression)).toEqual(['pglz', 'pglz']);
      // Still one row per (click_id, ts): the key that makes a redelivered verdict a no-op.
      expect(await repository.insert(after)).toEqual({ verdicts: 0, decisions: 0, revisions: 0 });
    } finally {
      await pool.end();
      await db.stop();
    }
  });

  it('on an embedded database that ran the first 0026 (8160): 4080', async () => {
    const db = await EmbeddedDatabase.start();
    const pool = createPool({ url: db.url, max: 2, applicationName: 'row-storage-test' });
    try {
      await migrate(
        pool,
        MIGRATIONS.filter((m) => m.id !== '0026-embedded-uncompressed-reasons'),
      );
      await ranFirst0026(pool);
      await migrate(pool);
      const { rows: options } = await pool.query(OUTCOME_TABLES);
      expect(options.map((o) => o.reloptions)).toEqual([['toast_tuple_target=4080'], ['toast_tuple_target=4080']]);
    } finally {
      await pool.end();
      await db.stop();
    }
  });

  /** What the first 0026 left on a database it ran on: 8160 on both tables, and its id recorded. */
  async function ranFirst0026(pool: Pool) {
    for (const table of ['click_verdicts', 'decisions']) await pool.query(`ALTER TABLE ${table} SET (toast_tuple_target = 8160)`);
    await pool.query(`INSERT INTO schema_migrations (id, description, dialect) VALUES ($1, 'first version', 'postgres')`, [FIRST_0026]);
  }

  it('on plain PostgreSQL built with LZ4 (the shared server): rows stay compressed with LZ4, before and after', async () => {
    const target = await createTestDatabase();
    const pool = createPool({ url: target.url, max: 2, applicationName: 'row-storage-test' });
    try {
      const { rows: lz4 } = await pool.query(
        `SELECT 'lz4' = ANY (enumvals) AS lz4 FROM pg_settings WHERE name = 'default_toast_compression'`,
      );
      expect(lz4[0].lz4).toBe(true);
      await migrate(
        pool,
        MIGRATIONS.filter((m) => m.id !== '0026-embedded-uncompressed-reasons'),
      );
      const repository = new OutcomeRepository(pool);
      const before = [verdict(new Date())];
      await repository.insert(before);
      await migrate(pool);
      const after = [verdict(new Date(Date.now() + 1))];
      await repository.insert(after);
      const rows = await stored(pool, [...before, ...after]);
      expect(rows.map((r) => r.compression)).toEqual(['lz4', 'lz4']);
      expect(rows.map((r) => r.reasons)).toEqual([...before, ...after].map((v) => v.reasons));
      const { rows: options } = await pool.query(`SELECT reloptions FROM pg_class WHERE relname IN ('click_verdicts', 'decisions')`);
      expect(options.map((o) => o.reloptions)).toEqual([null, null]);
    } finally {
      await pool.end();
      await target.drop();
    }
  });

  it('on PostgreSQL that ran the first 0026 (8160): reset, and new rows are compressed again', async () => {
    const target = await createTestDatabase();
    const pool = createPool({ url: target.url, max: 2, applicationName: 'row-storage-test' });
    try {
      await migrate(
        pool,
        MIGRATIONS.filter((m) => m.id !== '0026-embedded-uncompressed-reasons'),
      );
      await ranFirst0026(pool);
      const repository = new OutcomeRepository(pool);
      const before = [verdict(new Date())];
      await repository.insert(before);
      expect((await stored(pool, before)).map((r) => r.compression)).toEqual([null]);
      await migrate(pool);
      const { rows: options } = await pool.query(OUTCOME_TABLES);
      expect(options.map((o) => o.reloptions)).toEqual([null, null]);
      const after = [verdict(new Date(Date.now() + 1))];
      await repository.insert(after);
      const byId = new Map((await stored(pool, [...before, ...after])).map((r) => [r.click_id, r]));
      expect([...before, ...after].map((v) => byId.get(v.clickId)!.compression)).toEqual([null, 'lz4']);
      expect([...before, ...after].map((v) => byId.get(v.clickId)!.reasons)).toEqual([...before, ...after].map((v) => v.reasons));
    } finally {
      await pool.end();
      await target.drop();
    }
  });
});
