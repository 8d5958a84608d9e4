import { AckPolicy, JetStreamClient, JetStreamManager, jetstream, jetstreamManager } from '@nats-io/jetstream';
import { headers } from '@nats-io/nats-core';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { Pool } from 'pg';
import { Topology } from '@app/contracts';
import { DEAD_LETTER_HEADERS, connectNats, drainNats } from '@app/messaging';
import { migrate } from '@app/storage';
import { TEST_NATS_URL, createTestDatabase, deleteNamespace, testNamespace } from '@app/testing';
import { DrainFailedError, awaitStored, consumersIdle, runStart, storedCounts } from '../../apps/cli/src/bench/drain';
import { benchCommand } from '../../apps/cli/src/commands/bench.command';

/** What `arbiter bench` with these arguments prints on stdout. */
async function printed(args: string[]): Promise<string> {
  let out = '';
  const write = jest.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
    out += chunk.toString();
    return true;
  });
  try {
    await benchCommand().parseAsync(args, { from: 'user' });
  } finally {
    write.mockRestore();
  }
  return out;
}

/** `arbiter bench --json` with small sizes: one JSON object, every figure present, nothing left behind. */
describe('arbiter bench', () => {
  let db: { url: string; drop(): Promise<void> };
  beforeAll(async () => (db = await createTestDatabase()));
  afterAll(() => db.drop());

  it('prints the figures, their targets and same-run baselines as one JSON object and cleans up', async () => {
    const out = await printed([
      '--json',
      '--scenarios',
      'baselines,scoring,model,recorder',
      '--baseline-messages',
      '2000',
      '--scoring-events',
      '3000',
      '--recorder-rows',
      '3000',
      '--repeat',
      '2',
      '--database-url',
      db.url,
      '--nats-url',
      TEST_NATS_URL,
    ]);
    expect(out.trim().split('\n')).toHaveLength(1);
    const result = JSON.parse(out);
    expect(result.repeat).toBe(2);
    expect(result.baselines.publishesPerSecond).toBeGreaterThan(0);
    expect(result.baselines.enginePublisherPerSecond).toBeGreaterThan(0);
    expect(result.recorder).toMatchObject({ database: 'external', rows: 3000 });
    expect(result.recorder.rowsPerSecond).toBeGreaterThan(0);
    expect(result.recorder.rawUnnestRowsPerSecond).toBeGreaterThan(0);
    expect(result.recorder.senderIdRowsPerSecond).toBeGreaterThan(0);
    expect(result.model.identical).toBe(result.model.compared);
    expect(result.scoring.events).toBeGreaterThan(2000);
    const figures = Object.fromEntries(result.figures.map((f: { figure: string }) => [f.figure, f]));
    expect(figures['recorder writes (external db)']).toMatchObject({
      target: '≥ 50,000 and ≥ 0.8 × raw',
      baseline: 'raw unnest insert',
    });
    expect(figures['recorder writes (external db)'].met).toBe(
      result.recorder.rowsPerSecond >= 50_000 && figures['recorder writes (external db)'].ratio >= 0.8,
    );
    expect(figures['recorder writes (external db)'].ratio).toBeCloseTo(
      result.recorder.rowsPerSecond / result.recorder.rawUnnestRowsPerSecond,
      1,
    );
    expect(figures['scoring hot path, one core'].met).toBe(result.scoring.eventsPerSecond >= 150_000);
    // The same rounds in a child started with the scorer's Node flags (from dist/: CI builds before it tests).
    if (existsSync(join(__dirname, '../../dist/apps/cli/src/bench/scoring.scenario.js'))) {
      expect(result.scoring.nodeFlags).toEqual(process.execArgv);
      expect(result.scoring.asScorer).toMatchObject({ events: result.scoring.events, nodeFlags: ['--max-semi-space-size=32'] });
      expect(result.scoring.asScorer.eventsPerCpuSecond).toBeGreaterThan(0);
      const asScorer = figures["scoring hot path, one core, with the scorer's Node flags (--max-semi-space-size=32)"];
      expect(asScorer).toMatchObject({ value: result.scoring.asScorer.eventsPerSecond, target: '≥ 150,000' });
      expect(asScorer.baselineValue).toBe(result.scoring.asScorer.rulesOnlyEventsPerSecond);
    } else expect(result.scoring.asScorer).toBeNull();
    expect(figures['model predictions, one core'].baseline).toBe('ml-random-forest');
    expect(figures["JetStream acked publishes, engine's publisher"]).toMatchObject({
      value: result.baselines.enginePublisherPerSecond,
      baselineValue: result.baselines.publishesPerSecond,
    });

    // The recorder's rows and ledger entries and the scratch table are gone.
    const pool = new Pool({ connectionString: db.url });
    try {
      const { rows } = await pool.query(
        `SELECT (SELECT count(*) FROM clicks)::int AS clicks, (SELECT count(*) FROM ingest_ledger)::int AS ledger,
                (SELECT count(*) FROM pg_tables WHERE tablename LIKE 'bench_raw_%')::int AS scratch`,
      );
      expect(rows[0]).toEqual({ clicks: 0, ledger: 0, scratch: 0 });
    } finally {
      await pool.end();
    }
    // Two rounds of four scenarios (the recorder's three passes among them) on a shared machine.
  }, 180_000);

  it('measures both engine shapes in one run: their figures under shapes, each labelled', async () => {
    const result = JSON.parse(
      await printed([
        '--json',
        '--scenarios',
        'recorder',
        '--recorder-rows',
        '2000',
        '--shapes',
        'embedded,split',
        '--database-url',
        db.url,
      ]),
    );
    expect(result.recorder).toBeUndefined();
    expect(result.shapes.embedded.recorder).toMatchObject({ database: 'embedded', rows: 2000 });
    expect(result.shapes.split.recorder).toMatchObject({ database: 'external', rows: 2000 });
    const figures = Object.fromEntries(result.figures.map((f: { figure: string }) => [f.figure, f]));
    expect(figures['recorder writes (embedded db)']).toMatchObject({
      value: result.shapes.embedded.recorder.rowsPerSecond,
      target: '≥ 0.8 × raw',
    });
    expect(figures['recorder writes (embedded db)'].met).toBe(figures['recorder writes (embedded db)'].ratio >= 0.8);
    expect(figures['recorder writes (external db)'].value).toBe(result.shapes.split.recorder.rowsPerSecond);
  }, 180_000);

  it('refuses a shape it does not know, and the split shape without a database', async () => {
    await expect(benchCommand().parseAsync(['--shapes', 'cluster'], { from: 'user' })).rejects.toThrow(
      'unknown shape(s): cluster (known: embedded, split)',
    );
    await expect(benchCommand().parseAsync(['--shapes', 'embedded,split'], { from: 'user' })).rejects.toThrow(
      'the split shape needs --database-url (PostgreSQL)',
    );
    await expect(benchCommand().parseAsync(['--shapes', 'split', '--split', '--database-url', db.url], { from: 'user' })).rejects.toThrow(
      '--shapes names the shapes itself',
    );
  });

  it('refuses an unknown scenario', async () => {
    await expect(benchCommand().parseAsync(['--scenarios', 'warp'], { from: 'user' })).rejects.toThrow('unknown scenario(s): warp');
  });
});

/**
 * The end-to-end run's drain poll counts the run's rows until every one is stored: it reads the
 * rows received since the run started, not every row earlier runs left in the (shared, growing)
 * bench database — its cost, and the wait between polls that follows it, stay those of the run.
 */
describe('arbiter bench: the drain count', () => {
  let db: { url: string; drop(): Promise<void> };
  let pool: Pool;
  beforeAll(async () => {
    db = await createTestDatabase();
    pool = new Pool({ connectionString: db.url, max: 1 });
    await migrate(pool);
  });
  afterAll(async () => {
    await pool.end();
    await db.drop();
  });

  it("reads the run's rows, not the tables", async () => {
    // Earlier runs: 5,000 clicks and verdicts of other offers, an hour old.
    const old = `now() - INTERVAL '1 hour'`;
    const cols = `id, ts, received_at, offer_id, publisher_id, ip, user_agent, partition`;
    await pool.query(
      `INSERT INTO clicks (${cols}) SELECT 'old-' || i, ${old}, ${old}, 'offer-old', 'pub', '203.0.113.7', 'ua', 0 FROM generate_series(1, 5000) i`,
    );
    await pool.query(
      `INSERT INTO click_verdicts (click_id, ts, offer_id, publisher_id, advertiser_id, valid, score, reason_codes, reasons, ruleset_version, decided_at, latency_ms)
       SELECT 'old-' || i, ${old}, 'offer-old', 'pub', 'adv', true, 0, '{}', '[]', 'r', now(), 1 FROM generate_series(1, 5000) i`,
    );
    const since = await runStart(pool);
    await pool.query(
      `INSERT INTO clicks (${cols}) SELECT 'new-' || i, now(), now(), 'offer-run', 'pub', '203.0.113.7', 'ua', 0 FROM generate_series(1, 10) i`,
    );
    await pool.query(
      `INSERT INTO click_verdicts (click_id, ts, offer_id, publisher_id, advertiser_id, valid, score, reason_codes, reasons, ruleset_version, decided_at, latency_ms)
       SELECT 'new-' || i, now(), 'offer-run', 'pub', 'adv', true, 0, '{}', '[]', 'r', now(), 1 FROM generate_series(1, 10) i`,
    );
    await pool.query('ANALYZE clicks, click_verdicts');
    const client = await pool.connect();
    try {
      await client.query('BEGIN');
      const read = async () =>
        Number(
          (
            await client.query(
              `SELECT sum(coalesce(seq_tup_read, 0) + coalesce(idx_tup_fetch, 0)) AS n FROM pg_stat_xact_user_tables WHERE relname IN ('clicks', 'click_verdicts')`,
            )
          ).rows[0].n,
        );
      const before = await read();
      expect(await storedCounts(client, 'offer-run', since)).toEqual({ verdicts: 10, clicks: 10 });
      expect((await read()) - before).toBeLessThan(200);
      await client.query('COMMIT');
    } finally {
      client.release();
    }
  });
});

/**
 * The drain poll only counts rows when the engine's consumers have nothing left: it must not call an
 * engine idle while an event waits on EVENTS or a verdict on VERDICTS, or while either is delivered
 * and not acknowledged.
 */
describe('arbiter bench: when the engine looks drained', () => {
  const namespace = testNamespace();
  const topology = new Topology(namespace);
  afterAll(() => deleteNamespace(namespace));

  it('is idle only when every consumer of EVENTS and VERDICTS has nothing pending or unacknowledged', async () => {
    const nc = await connectNats(TEST_NATS_URL, 'bench-drain-test');
    try {
      const jsm = await jetstreamManager(nc);
      const js = jetstream(nc);
      // No streams or no consumers: it cannot tell, so it does not say idle.
      expect(await consumersIdle(jsm, topology).catch(() => false)).toBe(false);
      for (const [name, subjects] of [
        [topology.streams.events, [topology.allEvents]],
        [topology.streams.verdicts, [topology.allVerdicts]],
      ] as const) {
        await jsm.streams.add({ name, subjects: [...subjects] });
        await jsm.consumers.add(name, { durable_name: 'sink', ack_policy: AckPolicy.Explicit, ack_wait: 60_000_000_000 });
      }
      expect(await consumersIdle(jsm, topology)).toBe(true);

      const drain = async (stream: string) => {
        const consumer = await js.consumers.get(stream, 'sink');
        const m = await consumer.next({ expires: 2_000 });
        expect(m).not.toBeNull();
        return m!;
      };
      await js.publish(topology.event('click', 0), '{}');
      expect(await consumersIdle(jsm, topology)).toBe(false); // waiting on EVENTS
      const event = await drain(topology.streams.events);
      expect(await consumersIdle(jsm, topology)).toBe(false); // delivered, not acknowledged
      await js.publish(topology.verdict('click'), '{}');
      await event.ackAck();
      expect(await consumersIdle(jsm, topology)).toBe(false); // the verdict waits on VERDICTS
      const verdict = await drain(topology.streams.verdicts);
      expect(await consumersIdle(jsm, topology)).toBe(false);
      await verdict.ackAck();
      expect(await consumersIdle(jsm, topology)).toBe(true);
    } finally {
      await drainNats(nc);
    }
  });
});

/**
 * A drain that cannot finish (the engine's consumers idle, rows missing) fails instead of waiting for
 * ever, and says what is missing and where the events went: in the database, on EVENTS and VERDICTS,
 * in the dead letters. A run whose rows are all there is not held up by any of it.
 */
describe('arbiter bench: a drain with rows missing', () => {
  const namespace = testNamespace();
  const topology = new Topology(namespace);
  let db: { url: string; drop(): Promise<void> };
  let pool: Pool;
  let nc: Awaited<ReturnType<typeof connectNats>>;
  let jsm: JetStreamManager;
  let js: JetStreamClient;
  beforeAll(async () => {
    db = await createTestDatabase();
    pool = new Pool({ connectionString: db.url, max: 1 });
    await migrate(pool);
    nc = await connectNats(TEST_NATS_URL, 'bench-drain-missing-test');
    jsm = await jetstreamManager(nc);
    js = jetstream(nc);
    for (const [name, subjects] of [
      [topology.streams.events, [topology.allEvents]],
      [topology.streams.verdicts, [topology.allVerdicts]],
      [topology.streams.dlq, [topology.allDlq]],
    ] as const) {
      await jsm.streams.add({ name, subjects: [...subjects] });
      if (name !== topology.streams.dlq)
        await jsm.consumers.add(name, { durable_name: 'sink', ack_policy: AckPolicy.Explicit, ack_wait: 60_000_000_000 });
    }
  });
  afterAll(async () => {
    await drainNats(nc);
    await deleteNamespace(namespace);
    await pool.end();
    await db.drop();
  });

  const clicks = (offerId: string, ids: string[]) => ids.map((id) => ({ kind: 'click', id, offerId, publisherId: 'pub' }));
  const verdicts = (offerId: string, ids: string[]) => ids.map((clickId) => ({ kind: 'click', clickId, offerId, publisherId: 'pub' }));
  /** Reads and acks everything waiting for the durable: the engine's consumers, done with their work. */
  const consumeAll = async (stream: string) => {
    const consumer = await js.consumers.get(stream, 'sink');
    for (;;) {
      const m = await consumer.next({ expires: 1_000 });
      if (!m) return;
      await m.ackAck();
    }
  };
  const store = async (offerId: string, clickIds: string[], verdictIds: string[]) => {
    const cols = `id, ts, received_at, offer_id, publisher_id, ip, user_agent, partition`;
    await pool.query(`INSERT INTO clicks (${cols}) SELECT id, now(), now(), $1, 'pub', '203.0.113.7', 'ua', 0 FROM unnest($2::text[]) id`, [
      offerId,
      clickIds,
    ]);
    await pool.query(
      `INSERT INTO click_verdicts (click_id, ts, offer_id, publisher_id, advertiser_id, valid, score, reason_codes, reasons, ruleset_version, decided_at, latency_ms)
       SELECT id, now(), $1, 'pub', 'adv', true, 0, '{}', '[]', 'r', now(), 1 FROM unnest($2::text[]) id`,
      [offerId, verdictIds],
    );
  };
  const quick = { idleShortMs: 500, stalledMs: 60_000, countEveryMs: 100 };

  it('fails once the consumers are idle with verdicts missing, naming what is missing and where the events went', async () => {
    const since = await runStart(pool);
    // Four clicks accepted, three in one batch message; the scorer published two verdicts and parked one click.
    await js.publish(topology.event('click', 0), JSON.stringify(clicks('offer-short', ['a', 'b', 'c'])));
    await js.publish(topology.event('click', 0), JSON.stringify(clicks('offer-short', ['d'])[0]));
    await js.publish(topology.verdict('click'), JSON.stringify(verdicts('offer-short', ['a', 'b'])));
    const h = headers();
    h.set(DEAD_LETTER_HEADERS.source, 'scorer-events');
    h.set(DEAD_LETTER_HEADERS.eventId, 'click:c');
    h.set(DEAD_LETTER_HEADERS.error, 'score is not a number');
    await js.publish(topology.dlq('scorer-events'), JSON.stringify(clicks('offer-short', ['c'])[0]), { headers: h });
    await consumeAll(topology.streams.events);
    await consumeAll(topology.streams.verdicts);
    await store('offer-short', ['a', 'b', 'c', 'd'], ['a', 'b']);

    const drained = awaitStored(
      jsm,
      topology,
      pool,
      { offerId: 'offer-short', since, accepted: 4 },
      {
        ...quick,
        clues: { output: () => 'scorer: dead-lettered' },
      },
    );
    await expect(drained).rejects.toThrow(DrainFailedError);
    const message = await drained.catch((e: Error) => e.message);
    expect(message).toContain('4 events accepted, 4 clicks and 2 verdicts stored (0 clicks and 2 verdicts missing)');
    expect(message).toContain("the engine's consumers of EVENTS and VERDICTS have had nothing pending or unacknowledged");
    expect(message).toMatch(
      /clicks 4 since .*\(4 from a day before it on, earliest .*\); click_verdicts 2 since .*\(2 from a day before it on/,
    );
    // Other tests' messages may be on the streams too: only this offer's items are counted.
    expect(message).toMatch(/the run's clicks on EVENTS: 4 \(4 distinct ids\) in \d+ messages read\n/);
    expect(message).toMatch(/the run's verdicts on VERDICTS: 2 \(2 distinct ids\) in \d+ messages read\n/);
    expect(message).toMatch(
      /stream \w+_EVENTS: \d+ messages, \d+ bytes, sequences 1-\d+, 0 deleted; consumers: sink \(pending 0, unacknowledged 0/,
    );
    expect(message).toContain('dead letters: 1 on');
    expect(message).toContain('scorer-events parked click:c: score is not a number');
    expect(message).toContain("end of the engine's log:\nscorer: dead-lettered");
    // The diagnosis left no consumer of its own behind.
    expect((await (await jsm.consumers.list(topology.streams.events)).next()).map((c) => c.name)).toEqual(['sink']);
  }, 60_000);

  it('fails when nothing more is stored for a while, even while a consumer still holds a message', async () => {
    const since = await runStart(pool);
    await js.publish(topology.event('click', 0), JSON.stringify(clicks('offer-stuck', ['e', 'f'])));
    await store('offer-stuck', ['e'], ['e']);
    // Delivered and never acknowledged: the engine looks busy, and stores nothing more.
    const held = await (await js.consumers.get(topology.streams.events, 'sink')).next({ expires: 2_000 });
    expect(held).not.toBeNull();
    await expect(
      awaitStored(jsm, topology, pool, { offerId: 'offer-stuck', since, accepted: 2 }, { ...quick, stalledMs: 1_000 }),
    ).rejects.toThrow(/2 events accepted, 1 clicks and 1 verdicts stored \(1 clicks and 1 verdicts missing\): no row was added for/);
    held!.ack();
  }, 60_000);

  it('says when a stream dropped its oldest messages for its limits before they were read', async () => {
    const small = new Topology(testNamespace());
    try {
      for (const [name, subjects, maxBytes] of [
        [small.streams.events, [small.allEvents], -1],
        [small.streams.verdicts, [small.allVerdicts], 16 * 1024],
      ] as const) {
        await jsm.streams.add({ name, subjects: [...subjects], max_bytes: maxBytes });
        await jsm.consumers.add(name, { durable_name: 'sink', ack_policy: AckPolicy.Explicit, ack_wait: 60_000_000_000 });
      }
      const since = await runStart(pool);
      const ids = Array.from({ length: 20 }, (_, i) => `o${i}`);
      await js.publish(small.event('click', 0), JSON.stringify(clicks('offer-overflow', ids)));
      // Twenty verdicts of 2 KB, one a message, acknowledged by JetStream: a 16 KB stream keeps the last few.
      for (const v of verdicts('offer-overflow', ids))
        await js.publish(small.verdict('click'), JSON.stringify({ ...v, reasons: 'x'.repeat(2000) }));
      const kept: string[] = [];
      const consumer = await js.consumers.get(small.streams.verdicts, 'sink');
      for (let m = await consumer.next({ expires: 1_000 }); m; m = await consumer.next({ expires: 1_000 })) {
        kept.push((m.json() as { clickId: string }).clickId);
        await m.ackAck();
      }
      expect(kept.length).toBeLessThan(20);
      await (await (await js.consumers.get(small.streams.events, 'sink')).next({ expires: 2_000 }))!.ackAck();
      await store('offer-overflow', ids, kept);

      const message = await awaitStored(jsm, small, pool, { offerId: 'offer-overflow', since, accepted: 20 }, quick).then(
        () => 'drained',
        (e: Error) => e.message,
      );
      expect(message).toContain(`20 clicks and ${kept.length} verdicts stored (0 clicks and ${20 - kept.length} verdicts missing)`);
      expect(message).toContain(`the run's verdicts on VERDICTS: ${kept.length} (${kept.length} distinct ids)`);
      expect(message).toMatch(
        new RegExp(
          `_VERDICTS: ${kept.length} messages, \\d+ bytes, sequences ${21 - kept.length}-20 \\(its first ${20 - kept.length} messages are gone: trimmed once consumed, or discarded for its limits, max_bytes 16384, discard old`,
        ),
      );
    } finally {
      await deleteNamespace(small.namespace);
    }
  }, 60_000);

  it('returns as soon as every accepted event is stored and decided', async () => {
    const since = await runStart(pool);
    await store('offer-done', ['g', 'h'], ['g', 'h']);
    await expect(awaitStored(jsm, topology, pool, { offerId: 'offer-done', since, accepted: 2 }, quick)).resolves.toBeUndefined();
  });
});
