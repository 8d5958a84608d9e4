import { jetstreamManager } from '@nats-io/jetstream';
import { Client } from 'pg';
import { Topology } from '@app/contracts';
import { connectNats, drainNats } from '@app/messaging';
import { awaitStored, rowsWrittenSince, runStart } from './drain';
import { EngineProcess, childPids, processCpuSeconds } from './engine-process';
import { Percentiles, percentiles } from './percentiles';

const PUBLIC_PREFIXES = [8, 23, 31, 45, 52, 66, 81, 91, 103, 142, 176, 185, 203];
const AGENTS = [
  'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36',
  'Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1',
  'Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Mobile Safari/537.36',
  'Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Safari/605.1.15',
];

export interface IngestOptions {
  /** Clicks to send; with `seconds`, the most to send. */
  events: number;
  /** Keep sending for this long (sustained load), stopping early at `events`. */
  seconds?: number;
  batch: number;
  concurrency: number;
  /** Offered events/s (paced); as fast as the gateway takes them when absent. */
  rate?: number;
  /** Distinguishes runs on one engine (each run has its own offer). */
  label?: string;
  progress?: (done: number) => void;
  /** The postmaster of the engine's database when it runs on this machine: the scenario's own queries are then measured. */
  postgresPid?: number | null;
  /**
   * Called when every accepted event is stored, before the scenario reads their latencies: where the
   * engine's CPU is read, so that the read (on the embedded shape, on the engine's database thread) is not counted in.
   */
  drained?: () => void;
}

export interface IngestResult {
  events: number;
  /** How long traffic was offered. */
  sendSeconds: number;
  batch: number;
  concurrency: number;
  /** Offered rate (events/s) when paced; null when sent as fast as the gateway takes them. */
  offeredRate: number | null;
  /** Accepted by the gateway (stored on JetStream) per second. */
  ingestEventsPerSecond: number;
  /** First request sent → last click and verdict row in the database, per second. */
  endToEndEventsPerSecond: number;
  endToEndSeconds: number;
  /** Receive → verdict, as the scorer recorded it. */
  decisionLatencyMs: Percentiles;
  /**
   * Paced: how late each request left against its due time (null when not paced). The load is offered
   * open-loop, so this stays near 0 unless every connection is waiting for an answer; a late request
   * means the engine was offered less than the rate (and its latency hides that wait).
   */
  sendLagMs: Percentiles | null;
  /**
   * CPU seconds the database spent on this scenario's own queries until all its rows were stored
   * (counting them): load-generator work, not the engine's. Null when the
   * database is not a PostgreSQL server on this machine (`postgresPid`; the embedded one runs inside the engine).
   */
  benchQueryCpuSeconds: number | null;
}

/** Sends `events` clicks over HTTP in batches and waits until every one is decided and stored. */
export async function ingestScenario(engine: EngineProcess, options: IngestOptions): Promise<IngestResult> {
  const run = `${engine.namespace}${options.label ? `-${options.label}` : ''}`;
  const offerId = `bench-offer-${run}`;
  const publisherId = `bench-pub-${run}`;
  await seed(engine, run, offerId, publisherId);
  // One connection, its work in its own backend (no parallel workers), so that it can be told apart.
  // A database that stops answering fails the run instead of holding it for ever.
  const db = new Client({ connectionString: engine.databaseUrl, application_name: 'arbiter-bench', query_timeout: 300_000 });
  await db.connect();
  try {
    await db.query('SET max_parallel_workers_per_gather = 0');
    const pid = (await db.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0].pid;
    const backend = options.postgresPid != null && childPids(options.postgresPid).includes(pid) ? pid : null;
    const backendCpuBefore = backend === null ? null : processCpuSeconds(backend);
    const batches = Math.ceil(options.events / options.batch);
    // Built per request (not up front): a sustained run's upper bound can be large.
    const batch = (index: number) =>
      Array.from({ length: Math.min(options.batch, options.events - index * options.batch) }, (_, j) =>
        click(offerId, publisherId, index * options.batch + j),
      );
    // The run's rows are received from now on (their ts is their receive time): the drain counts
    // read them through the ts index, not every row earlier runs left in the tables.
    const since = await runStart(db);
    // The engine's own count of the rows it writes, from here on: the drain counts in the database
    // only when it says all are there (or the consumers do), not every few seconds while it writes.
    const written = await rowsWrittenSince(engine.recorderMetrics);
    const started = performance.now();
    const deadline = options.seconds ? started + options.seconds * 1000 : Infinity;
    let next = 0;
    let accepted = 0;
    const lags: number[] = [];
    await Promise.all(
      Array.from({ length: options.concurrency }, async () => {
        while (next < batches && performance.now() < deadline) {
          const index = next++;
          const body = batch(index);
          if (options.rate) {
            // Paced: batch i leaves at i·batch/rate seconds, whatever the previous answers took.
            const due = started + ((index * options.batch) / options.rate) * 1000;
            const wait = due - performance.now();
            if (wait > 0) await new Promise((r) => setTimeout(r, wait));
            lags.push(Math.max(0, performance.now() - due));
          }
          const res = await fetch(`${engine.gateway}/v1/clicks`, {
            method: 'POST',
            headers: { 'content-type': 'application/json', authorization: `Bearer ${engine.adminKey}` },
            body: JSON.stringify(body),
          });
          const out = (await res.json()) as { accepted?: number };
          if (res.status !== 202) throw new Error(`gateway answered ${res.status}: ${JSON.stringify(out).slice(0, 300)}`);
          accepted += out.accepted ?? 0;
          options.progress?.(accepted);
        }
      }),
    );
    const ingestSeconds = (performance.now() - started) / 1000;
    if (accepted === 0) throw new Error('the gateway accepted no events');
    const nc = await connectNats(engine.natsUrl, 'arbiter-bench-drain');
    try {
      await awaitStored(
        await jetstreamManager(nc),
        new Topology(engine.namespace),
        db,
        { offerId, since, accepted },
        {
          written,
          clues: { output: engine.recentOutput, metricsUrl: `${engine.gateway}/metrics` },
        },
      );
    } finally {
      await drainNats(nc);
    }
    const endToEndSeconds = (performance.now() - started) / 1000;
    const backendCpuAfter = backend === null ? null : processCpuSeconds(backend);
    options.drained?.();
    const latencies = (await db.query(`SELECT latency_ms FROM click_verdicts WHERE offer_id = $1 AND ts >= $2`, [offerId, since])).rows.map(
      (r) => r.latency_ms as number,
    );
    return {
      events: accepted,
      sendSeconds: Math.round(ingestSeconds * 100) / 100,
      batch: options.batch,
      concurrency: options.concurrency,
      offeredRate: options.rate ?? null,
      ingestEventsPerSecond: Math.round(accepted / ingestSeconds),
      endToEndEventsPerSecond: Math.round(accepted / endToEndSeconds),
      endToEndSeconds: Math.round(endToEndSeconds * 100) / 100,
      decisionLatencyMs: percentiles(latencies),
      sendLagMs: options.rate ? percentiles(lags) : null,
      benchQueryCpuSeconds:
        backendCpuBefore == null || backendCpuAfter == null ? null : Math.round((backendCpuAfter - backendCpuBefore) * 100) / 100,
    };
  } finally {
    await db.end();
  }
}

async function seed(engine: EngineProcess, run: string, offerId: string, publisherId: string) {
  const advertiserId = `bench-adv-${run}`;
  for (const [path, body] of [
    ['advertisers', { id: advertiserId, name: 'Bench advertiser' }],
    ['offers', { id: offerId, advertiserId, name: 'Bench offer', payout: 2 }],
    ['publishers', { id: publisherId, name: 'Bench publisher' }],
  ] as const) {
    const res = await fetch(`${engine.api}/v1/admin/${path}`, {
      method: 'POST',
      headers: { authorization: `Bearer ${engine.adminKey}`, 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    if (res.status >= 300) throw new Error(`seeding ${path}: ${res.status} ${await res.text()}`);
  }
}

export function click(offerId: string, publisherId: string, i: number) {
  // 20,000 distinct addresses: realistic repetition without tripping velocity rules wholesale.
  const n = (i * 2654435761) % 20_000;
  const ip = `${PUBLIC_PREFIXES[n % PUBLIC_PREFIXES.length]}.${(n >> 4) & 255}.${(n >> 8) & 255}.${(n % 250) + 1}`;
  return { offerId, publisherId, subId: `s${i % 50}`, ip, userAgent: AGENTS[i % AGENTS.length] };
}
