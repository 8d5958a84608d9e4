import { randomBytes } from 'node:crypto';
import type { Pool } from 'pg';
import type { ClickEvent } from '@app/contracts';
import { EventNormalizer } from '@app/ingest';
import { EmbeddedDatabase, EventRepository, createPool, migrate, rawClickInsert } from '@app/storage';
import { click } from './ingest.scenario';

export interface RecorderBenchResult {
  database: 'embedded' | 'external';
  rows: number;
  batch: number;
  concurrency: number;
  /** The recorder's write path for clicks whose id the engine minted (idempotent on the (id, ts) key), rows per second. */
  rowsPerSecond: number;
  /** The same for clicks whose id their sender chose (idempotent through the ledger). */
  senderIdRowsPerSecond: number;
  /** The same rows as bare `INSERT … SELECT FROM unnest` into a plain copy of the table (the baseline). */
  rawUnnestRowsPerSecond: number;
  ratioToRaw: number;
}

/**
 * The recorder's database write path (what `EventsConsumer` does per pulled batch, with its batch
 * size and concurrency) against the raw batch-insert rate of the same database. Rows are removed
 * afterwards; an external database only gains (and loses) a scratch table.
 */
export async function recorderScenario(options: {
  databaseUrl?: string;
  rows: number;
  batch: number;
  concurrency: number;
}): Promise<RecorderBenchResult> {
  const embedded = options.databaseUrl ? null : await EmbeddedDatabase.start();
  const pool = createPool({ url: options.databaseUrl ?? embedded!.url, max: options.concurrency + 1, applicationName: 'arbiter-bench' });
  const run = randomBytes(4).toString('hex');
  const scratch = `bench_raw_clicks_${run}`;
  try {
    await migrate(pool);
    const events = clicks(`bench-offer-${run}`, `bench-pub-${run}`, options.rows);
    const chosen = clicks(`bench-offer-${run}`, `bench-pub-${run}`, options.rows, `bench-${run}-`);
    const batches = inBatches(events, options.batch);
    const repository = new EventRepository(pool);
    const raw = rawClickInsert(scratch);
    await pool.query(`CREATE TABLE ${scratch} (LIKE clicks)`);
    // Baseline first, recorder second: neither benefits from the other's warm cache more than once.
    const rawSeconds = await timed(batches, options.concurrency, (b) => pool.query(raw.sql, raw.params(b)));
    const recorderSeconds = await timed(batches, options.concurrency, (b) => repository.insert(b));
    const ledgeredSeconds = await timed(inBatches(chosen, options.batch), options.concurrency, (b) => repository.insert(b));
    const written = await pool.query(`SELECT count(*)::int AS n FROM clicks WHERE offer_id = $1`, [`bench-offer-${run}`]);
    const expected = events.length + chosen.length;
    if (written.rows[0].n !== expected) throw new Error(`recorder path wrote ${written.rows[0].n} of ${expected} rows`);
    await cleanUp(pool, run, chosen);
    const rowsPerSecond = Math.round(events.length / recorderSeconds);
    const rawUnnestRowsPerSecond = Math.round(events.length / rawSeconds);
    return {
      database: embedded ? 'embedded' : 'external',
      rows: events.length,
      batch: options.batch,
      concurrency: options.concurrency,
      rowsPerSecond,
      senderIdRowsPerSecond: Math.round(chosen.length / ledgeredSeconds),
      rawUnnestRowsPerSecond,
      ratioToRaw: Math.round((rowsPerSecond / rawUnnestRowsPerSecond) * 100) / 100,
    };
  } finally {
    await pool.query(`DROP TABLE IF EXISTS ${scratch}`).catch(() => undefined);
    await pool.end();
    await embedded?.stop();
  }
}

function inBatches<T>(rows: T[], size: number): T[][] {
  const batches: T[][] = [];
  for (let i = 0; i < rows.length; i += size) batches.push(rows.slice(i, i + size));
  return batches;
}

/**
 * Normalised click events, as the recorder receives them from the EVENTS stream: ids minted by the
 * engine, or chosen by the sender (`idPrefix`).
 */
function clicks(offerId: string, publisherId: string, n: number, idPrefix?: string): ClickEvent[] {
  const normalizer = new EventNormalizer({ partitions: 1, maxFutureSkewMs: 0 });
  const now = Date.now();
  return Array.from({ length: n }, (_, i) => {
    const received = new Date(now - 3_600_000 + Math.floor((i / n) * 3_600_000));
    const raw = click(offerId, publisherId, i);
    const out = normalizer.normalize('click', idPrefix ? { ...raw, id: `${idPrefix}${i}` } : raw, received);
    if (!out.ok || out.event.kind !== 'click') throw new Error(`bench click ${i} is invalid`);
    return out.event;
  });
}

async function timed<T>(batches: T[], concurrency: number, write: (batch: T) => Promise<unknown>): Promise<number> {
  let next = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < batches.length) await write(batches[next++]);
    }),
  );
  return (performance.now() - started) / 1000;
}

async function cleanUp(pool: Pool, run: string, events: ClickEvent[]): Promise<void> {
  await pool.query(`DELETE FROM clicks WHERE offer_id = $1`, [`bench-offer-${run}`]);
  for (let i = 0; i < events.length; i += 10_000) {
    const ids = events.slice(i, i + 10_000).map((e) => e.id);
    await pool.query(`DELETE FROM ingest_ledger WHERE kind = 'click' AND id = ANY($1::text[])`, [ids]);
  }
}
